// Runs a PTX program image through the CUDA driver API. libcuda.so.1 is
// opened at run time, so a program starts (and says so clearly) on a machine
// without NVIDIA's driver; the few entry points used are declared here, so
// building needs no CUDA toolkit. The driver JIT-compiles the PTX for the
// device (and caches the result in its compute cache). A decode step (a
// token of each of N sequences, each wanting its logits) is captured once
// per session and N as a CUDA graph and replayed: its launches and buffer
// pointers never change, only the token and params buffers' contents.

#include "runtime/gpu/gpu_backend.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <map>
#include <vector>

namespace gemmac::gpu {
namespace {

using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
using CUcontext = struct CUctx_st *;
using CUmodule = struct CUmod_st *;
using CUfunction = struct CUfunc_st *;
using CUstream = struct CUstream_st *;
using CUgraph = struct CUgraph_st *;
using CUgraphExec = struct CUgraphExec_st *;
constexpr int kJitErrorLogBuffer = 5;          // CU_JIT_ERROR_LOG_BUFFER
constexpr int kJitErrorLogBufferBytes = 6;     // ..._SIZE_BYTES
constexpr int kCaptureModeThreadLocal = 1;     // CU_STREAM_CAPTURE_MODE_THREAD_LOCAL
constexpr int kDeviceNameBytes = 256;

#define GEMMAC_CUDA_FNS(X)                                                     \
  X(cuInit, CUresult (*)(unsigned))                                            \
  X(cuGetErrorString, CUresult (*)(CUresult, const char **))                   \
  X(cuDeviceGetCount, CUresult (*)(int *))                                     \
  X(cuDeviceGet, CUresult (*)(CUdevice *, int))                                \
  X(cuDeviceGetName, CUresult (*)(char *, int, CUdevice))                      \
  X(cuDevicePrimaryCtxRetain, CUresult (*)(CUcontext *, CUdevice))             \
  X(cuDevicePrimaryCtxRelease_v2, CUresult (*)(CUdevice))                      \
  X(cuCtxSetCurrent, CUresult (*)(CUcontext))                                  \
  X(cuModuleLoadDataEx,                                                        \
    CUresult (*)(CUmodule *, const void *, unsigned, int *, void **))          \
  X(cuModuleUnload, CUresult (*)(CUmodule))                                    \
  X(cuModuleGetFunction, CUresult (*)(CUfunction *, CUmodule, const char *))   \
  X(cuMemAlloc_v2, CUresult (*)(CUdeviceptr *, size_t))                        \
  X(cuMemFree_v2, CUresult (*)(CUdeviceptr))                                   \
  X(cuMemsetD8_v2, CUresult (*)(CUdeviceptr, unsigned char, size_t))           \
  X(cuMemcpyHtoD_v2, CUresult (*)(CUdeviceptr, const void *, size_t))          \
  X(cuMemcpyHtoDAsync_v2,                                                      \
    CUresult (*)(CUdeviceptr, const void *, size_t, CUstream))                 \
  X(cuMemcpyDtoHAsync_v2,                                                      \
    CUresult (*)(void *, CUdeviceptr, size_t, CUstream))                       \
  X(cuLaunchKernel,                                                            \
    CUresult (*)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, \
                 unsigned, unsigned, CUstream, void **, void **))              \
  X(cuStreamCreate, CUresult (*)(CUstream *, unsigned))                        \
  X(cuStreamDestroy_v2, CUresult (*)(CUstream))                                \
  X(cuStreamSynchronize, CUresult (*)(CUstream))                               \
  X(cuStreamBeginCapture_v2, CUresult (*)(CUstream, int))                      \
  X(cuStreamEndCapture, CUresult (*)(CUstream, CUgraph *))                     \
  X(cuGraphInstantiateWithFlags,                                               \
    CUresult (*)(CUgraphExec *, CUgraph, unsigned long long))                  \
  X(cuGraphLaunch, CUresult (*)(CUgraphExec, CUstream))                        \
  X(cuGraphExecDestroy, CUresult (*)(CUgraphExec))                             \
  X(cuGraphDestroy, CUresult (*)(CUgraph))

struct Driver {
  void *library = nullptr;
#define X(name, type)                                                          \
  using name##_fn = type;                                                      \
  name##_fn name = nullptr;
  GEMMAC_CUDA_FNS(X)
#undef X

  bool load(std::string &error) {
    // GEMMAC_CUDA_DRIVER names another driver library (a non-standard
    // install, or a test that needs its absence).
    const char *path = std::getenv("GEMMAC_CUDA_DRIVER");
    if (!path || !*path)
      path = "libcuda.so.1";
    library = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!library) {
      error = "CUDA driver not found (" + std::string(dlerror()) +
              "); this program needs an NVIDIA GPU and its driver";
      return false;
    }
#define X(name, type)                                                          \
  name = reinterpret_cast<name##_fn>(dlsym(library, #name));                        \
  if (!name) {                                                                 \
    error = "the CUDA driver lacks " #name " (too old?)";                      \
    return false;                                                              \
  }
    GEMMAC_CUDA_FNS(X)
#undef X
    return true;
  }

  /// True on success; else `error` = what + the driver's message.
  bool check(CUresult r, const char *what, std::string &error) const {
    if (r == 0)
      return true;
    const char *message = nullptr;
    if (cuGetErrorString)
      cuGetErrorString(r, &message);
    error = std::string(what) + " failed: " +
            (message ? message : "CUDA error " + std::to_string(r));
    return false;
  }
};

class CudaBackend;

class CudaSession : public Session {
public:
  CudaSession(CudaBackend &backend, int64_t nCtx, const KVSlots &slots)
      : backend(backend), nCtx(nCtx), slots(slots) {}
  ~CudaSession() override;
  bool init(std::string &error);
  bool forward(const Step &step, std::string &error) override;
  uint64_t kvBytes() const override { return slots.bytes; }
  bool readKV(int64_t slot, void *dst, std::string &error) override;
  bool writeKV(int64_t slot, const void *src, std::string &error) override;

private:
  bool launchAll(const Step &step, std::string &error);

  CudaBackend &backend;
  int64_t nCtx;
  KVSlots slots;
  std::vector<int32_t> paramWords;
  CUstream stream = nullptr;
  CUdeviceptr arena = 0, kv = 0, tokens = 0, params = 0, rope = 0;
  // Per launch, its kernel's arguments (device pointers) and pointers to
  // them, as cuLaunchKernel takes them.
  std::vector<std::vector<CUdeviceptr>> args;
  std::vector<std::vector<void *>> argPointers;
  /// Decode steps (every row wants its logits, up to kGraphRows rows: one
  /// token of each of that many sequences) replay a graph captured once
  /// per row count; the row tables are in the params buffer.
  static constexpr int64_t kGraphRows = 64;
  struct Graph {
    CUgraph graph = nullptr;
    CUgraphExec exec = nullptr;
  };
  std::map<int64_t, Graph> decodeGraphs;
};

class CudaBackend : public Backend {
public:
  CudaBackend(const ProgramView &program, uint64_t weightsBytes)
      : program(program), weightsBytes(weightsBytes) {}
  ~CudaBackend() override {
    if (!context)
      return;
    driver.cuCtxSetCurrent(context);
    if (weights)
      driver.cuMemFree_v2(weights);
    if (constants)
      driver.cuMemFree_v2(constants);
    if (tables)
      driver.cuMemFree_v2(tables);
    if (module)
      driver.cuModuleUnload(module);
    driver.cuDevicePrimaryCtxRelease_v2(device);
  }

  bool open(const uint8_t *weightData, int index, std::string &error) {
    if (!driver.load(error) || !driver.check(driver.cuInit(0), "cuInit", error))
      return false;
    int count = 0;
    if (!driver.check(driver.cuDeviceGetCount(&count), "cuDeviceGetCount",
                      error))
      return false;
    if (index < 0 || index >= count) {
      error = "no CUDA device " + std::to_string(index) + " (" +
              std::to_string(count) + " present)";
      return false;
    }
    char nameBuf[kDeviceNameBytes] = {};
    if (!driver.check(driver.cuDeviceGet(&device, index), "cuDeviceGet", error) ||
        !driver.check(driver.cuDeviceGetName(nameBuf, sizeof nameBuf - 1, device),
                      "cuDeviceGetName", error) ||
        !driver.check(driver.cuDevicePrimaryCtxRetain(&context, device),
                      "cuDevicePrimaryCtxRetain", error) ||
        !driver.check(driver.cuCtxSetCurrent(context), "cuCtxSetCurrent",
                      error))
      return false;
    name = nameBuf;
    std::vector<char> log(16384, 0);
    int options[] = {kJitErrorLogBuffer, kJitErrorLogBufferBytes};
    void *values[] = {log.data(), reinterpret_cast<void *>(log.size() - 1)};
    if (!driver.check(driver.cuModuleLoadDataEx(&module, program.code, 2,
                                                options, values),
                      "loading the PTX (cuModuleLoadDataEx)", error)) {
      if (log[0])
        error += ": " + std::string(log.data());
      return false;
    }
    const ProgramHeader &h = *program.header;
    for (uint32_t i = 0; i < h.numKernels; ++i) {
      CUfunction f = nullptr;
      if (!driver.check(driver.cuModuleGetFunction(&f, module,
                                                   program.kernels[i].name),
                        "cuModuleGetFunction", error)) {
        error += std::string(" (") + program.kernels[i].name + ")";
        return false;
      }
      functions.push_back(f);
    }
    return allocUpload(weights, weightsBytes, weightData, error) &&
           allocUpload(constants, h.numConstants * 4, program.constants,
                       error) &&
           allocUpload(tables, kGeluTableBytes, modelTables(), error);
  }

  bool allocUpload(CUdeviceptr &ptr, uint64_t bytes, const void *data,
                   std::string &error) {
    if (!driver.check(driver.cuMemAlloc_v2(&ptr, std::max<uint64_t>(bytes, 4)),
                      "cuMemAlloc", error)) {
      error += " (" + std::to_string(bytes) + " bytes)";
      return false;
    }
    return bytes == 0 ||
           driver.check(driver.cuMemcpyHtoD_v2(ptr, data, bytes),
                        "cuMemcpyHtoD", error);
  }

  std::string deviceName() const override { return "cuda: " + name; }

  std::unique_ptr<Session> newSession(int64_t nCtx, int64_t nSlots,
                                      std::string &error) override {
    return startSession<CudaSession>(*this, nCtx, nSlots, error);
  }

  Driver driver;
  ProgramView program;
  uint64_t weightsBytes;
  CUdevice device = 0;
  CUcontext context = nullptr;
  CUmodule module = nullptr;
  std::string name;
  std::vector<CUfunction> functions;
  CUdeviceptr weights = 0, constants = 0, tables = 0;
};

CudaSession::~CudaSession() {
  const Driver &d = backend.driver;
  d.cuCtxSetCurrent(backend.context);
  for (auto &[rows, g] : decodeGraphs) {
    if (g.exec)
      d.cuGraphExecDestroy(g.exec);
    if (g.graph)
      d.cuGraphDestroy(g.graph);
  }
  for (CUdeviceptr p : {arena, kv, tokens, params, rope})
    if (p)
      d.cuMemFree_v2(p);
  if (stream)
    d.cuStreamDestroy_v2(stream);
}

bool CudaSession::init(std::string &error) {
  const Driver &d = backend.driver;
  const ProgramView &p = backend.program;
  if (!d.check(d.cuCtxSetCurrent(backend.context), "cuCtxSetCurrent", error) ||
      !d.check(d.cuStreamCreate(&stream, 0), "cuStreamCreate", error))
    return false;
  SpaceSizes sizes = spaceSizes(p, backend.weightsBytes, nCtx, slots);
  struct {
    CUdeviceptr *ptr;
    Space space;
  } owned[] = {{&arena, Space::Arena},
               {&kv, Space::KV},
               {&tokens, Space::Tokens},
               {&params, Space::Params}};
  for (auto &o : owned) {
    uint64_t bytes = sizes.bytes[static_cast<int>(o.space)];
    if (!d.check(d.cuMemAlloc_v2(o.ptr, bytes), "cuMemAlloc", error)) {
      error += " (" + std::to_string(bytes) + " bytes)";
      return false;
    }
  }
  // Unwritten cache rows are never read; zero them anyway.
  if (!d.check(d.cuMemsetD8_v2(kv, 0, sizes.bytes[static_cast<int>(Space::KV)]),
               "cuMemsetD8", error))
    return false;
  std::vector<float> ropeData = ropeTables(p, nCtx);
  if (!backend.allocUpload(rope, ropeData.size() * 4, ropeData.data(), error))
    return false;
  const CUdeviceptr bases[kNumSpaces] = {
      backend.weights, arena,  kv, tokens, params, backend.constants,
      backend.tables,  rope};
  args.resize(p.header->numLaunches);
  argPointers.resize(p.header->numLaunches);
  for (uint32_t i = 0; i < p.header->numLaunches; ++i) {
    const LaunchEntry &l = p.launches[i];
    for (uint32_t j = 0; j < l.numBindings; ++j) {
      const BindingEntry &b = p.bindings[l.firstBinding + j];
      uint64_t offset, bytes;
      if (!bindingRange(b, nCtx, slots, sizes, offset, bytes, error))
        return false;
      args[i].push_back(bases[b.space] + offset);
    }
    for (CUdeviceptr &a : args[i])
      argPointers[i].push_back(&a);
  }
  return true;
}

bool CudaSession::launchAll(const Step &step, std::string &error) {
  const Driver &d = backend.driver;
  const ProgramView &p = backend.program;
  const unsigned threads = p.header->workgroupSize;
  for (uint32_t i = 0; i < p.header->numLaunches; ++i) {
    const LaunchEntry &l = p.launches[i];
    const int64_t rows = launchRows(l, step);
    if (rows == 0)
      continue;
    if (!d.check(d.cuLaunchKernel(backend.functions[l.kernel], l.gridX,
                                  static_cast<unsigned>(rows), 1, threads, 1, 1,
                                  0, stream, argPointers[i].data(), nullptr),
                 "cuLaunchKernel", error)) {
      error += std::string(" (") + p.kernels[l.kernel].name + ")";
      return false;
    }
  }
  return true;
}

bool CudaSession::forward(const Step &step, std::string &error) {
  const Driver &d = backend.driver;
  const ProgramView &p = backend.program;
  if (!stepParams(step, nCtx, p.header->maxBatch, slots, paramWords, error))
    return false;
  if (!d.check(d.cuCtxSetCurrent(backend.context), "cuCtxSetCurrent", error) ||
      !d.check(d.cuMemcpyHtoDAsync_v2(tokens, step.tokens, step.nTokens * 4,
                                      stream),
               "uploading tokens", error) ||
      !d.check(d.cuMemcpyHtoDAsync_v2(params, paramWords.data(),
                                      paramWords.size() * 4, stream),
               "uploading params", error))
    return false;
  const bool decode = step.nOut == step.nTokens && step.nTokens <= kGraphRows;
  Graph *g = decode ? &decodeGraphs[step.nTokens] : nullptr;
  if (g && !g->exec) {
    if (!d.check(d.cuStreamBeginCapture_v2(stream, kCaptureModeThreadLocal),
                 "cuStreamBeginCapture", error))
      return false;
    bool launched = launchAll(step, error);
    CUresult ended = d.cuStreamEndCapture(stream, &g->graph);
    if (!launched || !d.check(ended, "cuStreamEndCapture", error) ||
        !d.check(d.cuGraphInstantiateWithFlags(&g->exec, g->graph, 0),
                 "cuGraphInstantiate", error))
      return false;
  }
  if (g) {
    if (!d.check(d.cuGraphLaunch(g->exec, stream), "cuGraphLaunch", error))
      return false;
  } else if (!launchAll(step, error)) {
    return false;
  }
  if (step.nOut > 0 &&
      !d.check(d.cuMemcpyDtoHAsync_v2(
                   step.logits, arena + p.header->logitsOffset,
                   step.nOut * p.header->logitsWidth * sizeof(float), stream),
               "downloading logits", error))
    return false;
  return d.check(d.cuStreamSynchronize(stream), "running the step", error);
}

// A slot's caches, one range at a time, at their single-sequence offsets.
bool CudaSession::readKV(int64_t slot, void *dst, std::string &error) {
  const Driver &d = backend.driver;
  auto *out = static_cast<uint8_t *>(dst);
  std::memset(out, 0, slots.bytes); // bytes between caches
  if (!d.check(d.cuCtxSetCurrent(backend.context), "cuCtxSetCurrent", error))
    return false;
  for (const KVSlots::Range &r : slots.ranges)
    if (!d.check(d.cuMemcpyDtoHAsync_v2(out + r.offset, kv + slots.at(r, slot),
                                        r.bytes, stream),
                 "downloading the KV cache", error))
      return false;
  return d.check(d.cuStreamSynchronize(stream), "downloading the KV cache",
                 error);
}

bool CudaSession::writeKV(int64_t slot, const void *src, std::string &error) {
  const Driver &d = backend.driver;
  const auto *in = static_cast<const uint8_t *>(src);
  if (!d.check(d.cuCtxSetCurrent(backend.context), "cuCtxSetCurrent", error))
    return false;
  for (const KVSlots::Range &r : slots.ranges)
    if (!d.check(d.cuMemcpyHtoDAsync_v2(kv + slots.at(r, slot), in + r.offset,
                                        r.bytes, stream),
                 "uploading the KV cache", error))
      return false;
  return d.check(d.cuStreamSynchronize(stream), "uploading the KV cache",
                 error);
}

} // namespace

std::unique_ptr<Backend> openCudaBackend(const ProgramView &program,
                                         const uint8_t *weights,
                                         uint64_t weightsBytes, int device,
                                         std::string &error) {
  if (program.code[program.header->codeBytes - 1] != 0) {
    error = "GPU program: PTX text is not NUL-terminated";
    return nullptr;
  }
  auto backend = std::make_unique<CudaBackend>(program, weightsBytes);
  if (!backend->open(weights, device, error))
    return nullptr;
  return backend;
}

} // namespace gemmac::gpu
