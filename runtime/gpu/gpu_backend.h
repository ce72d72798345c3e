// The runtime's GPU backends: they run a program image (gpu_program.h) on a
// CUDA device (driver API, libcuda opened at run time) or a Vulkan device
// (vulkan_device.h), with the weights uploaded once per model and the KV
// cache, activation arena, tokens and params buffers per session.
#pragma once

#include "abi/gpu_program.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace gemmac::gpu {

/// One forward step: nTokens rows of one or more sequences, as the CPU
/// forward takes them (abi/step.h: nSeqs segments, each {slot, pos0, row0,
/// rows} with `slot` a KV slot of the session); the logits of rows
/// outRows[0..nOut) (nOut x vocab floats) go to `logits`.
struct Step {
  const int32_t *tokens = nullptr;
  int64_t nTokens = 0;
  const int64_t *seqs = nullptr;
  int64_t nSeqs = 0;
  const int64_t *outRows = nullptr;
  int64_t nOut = 0;
  float *logits = nullptr;
};

/// Workgroup rows of a launch in a step (grid.y); 0: the launch is skipped.
inline int64_t launchRows(const LaunchEntry &l, const Step &step) {
  int64_t rows = 1;
  if (l.rows == static_cast<uint32_t>(Rows::Tokens))
    rows = step.nTokens;
  else if (l.rows == static_cast<uint32_t>(Rows::Outputs))
    rows = step.nOut;
  const int64_t group = l.tokensPerGroup > 1 ? l.tokensPerGroup : 1;
  return (rows + group - 1) / group;
}

/// A session's KV caches for `slots` sequences, laid out cache by cache:
/// each range [offset, +bytes) of the single-sequence layout (`bytes` in
/// all, one K or V cache each) becomes `slots` copies at slots x offset,
/// slot s's at slots x offset + s x bytes. So a kernel binds one range per
/// cache whatever the pool's size (Vulkan caps a binding's range), and finds
/// its row's slot at slot x the cache's rows.
struct KVSlots {
  struct Range {
    uint64_t offset, bytes;
  };
  int64_t slots = 1;
  uint64_t bytes = 0;
  std::vector<Range> ranges; // ascending, disjoint
  /// Where slot `slot`'s copy of `r` begins in the KV buffer.
  uint64_t at(const Range &r, int64_t slot) const {
    return r.offset * static_cast<uint64_t>(slots) +
           static_cast<uint64_t>(slot) * r.bytes;
  }
};
/// The KV layout of `nSlots` sequences of nCtx tokens; false + `error` when
/// it cannot be addressed or the program's KV ranges overlap.
bool kvSlots(const ProgramView &program, int64_t nCtx, int64_t nSlots,
             KVSlots &kv, std::string &error);

/// The params buffer of a step (abi::GpuParam: scalars, row table, output
/// table); false + `error` unless the step keeps abi/step.h's rules for a
/// session of `kv` slots of nCtx positions and the program's batch.
bool stepParams(const Step &step, int64_t nCtx, int64_t maxBatch,
                const KVSlots &kv, std::vector<int32_t> &words,
                std::string &error);

class Session {
public:
  virtual ~Session();
  virtual bool forward(const Step &step, std::string &error) = 0;
  /// One slot's KV cache bytes.
  virtual uint64_t kvBytes() const = 0;
  /// Slot `slot`'s KV cache (kvBytes()) to or from host memory, for a saved
  /// session state (runtime/src/session_state.cpp).
  virtual bool readKV(int64_t slot, void *dst, std::string &error) = 0;
  virtual bool writeKV(int64_t slot, const void *src, std::string &error) = 0;
};

class Backend {
public:
  virtual ~Backend();
  /// e.g. "vulkan: llvmpipe (LLVM 15.0.6, 256 bits)", "cuda: NVIDIA H100".
  virtual std::string deviceName() const = 0;
  /// A session of `nSlots` sequences of nCtx tokens (KV slots 0..nSlots-1).
  virtual std::unique_ptr<Session> newSession(int64_t nCtx, int64_t nSlots,
                                              std::string &error) = 0;
};

/// A backend's session S(backend, nCtx, kv), or null + `error` when its
/// slots cannot be addressed or its init (buffers, bindings) fails.
template <typename S, typename B>
std::unique_ptr<Session> startSession(B &backend, int64_t nCtx, int64_t nSlots,
                                      std::string &error) {
  KVSlots kv;
  if (!kvSlots(backend.program, nCtx, nSlots, kv, error))
    return nullptr;
  auto s = std::make_unique<S>(backend, nCtx, kv);
  if (!s->init(error))
    return nullptr;
  return s;
}

/// The backend for the image's code kind on device `device`, with the
/// weights uploaded; null + `error` when the image is malformed, the driver
/// or the device is missing, or the upload fails.
std::unique_ptr<Backend> openBackend(const uint8_t *image, uint64_t imageBytes,
                                     const uint8_t *weights,
                                     uint64_t weightsBytes, int device,
                                     std::string &error);

/// Sizes of the buffers a session binds, indexed by Space.
struct SpaceSizes {
  uint64_t bytes[kNumSpaces] = {};
};
SpaceSizes spaceSizes(const ProgramView &program, uint64_t weightsBytes,
                      int64_t nCtx, const KVSlots &kv);

/// Model-wide tables (Space::Tables): llama.cpp's GELU table.
const void *modelTables();
/// A session's RoPE tables (Space::Rope) for a context of n_ctx tokens.
std::vector<float> ropeTables(const ProgramView &program, int64_t nCtx);

/// The byte range of a binding for a context of n_ctx tokens (a KV range
/// spans the same range of every slot), checked against its buffer's size.
bool bindingRange(const BindingEntry &b, int64_t nCtx, const KVSlots &kv,
                  const SpaceSizes &sizes, uint64_t &offset, uint64_t &bytes,
                  std::string &error);

/// Backends by code kind (the ones not built in say so).
std::unique_ptr<Backend> openVulkanBackend(const ProgramView &program,
                                           const uint8_t *weights,
                                           uint64_t weightsBytes, int device,
                                           std::string &error);
std::unique_ptr<Backend> openCudaBackend(const ProgramView &program,
                                         const uint8_t *weights,
                                         uint64_t weightsBytes, int device,
                                         std::string &error);

} // namespace gemmac::gpu
