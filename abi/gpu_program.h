// The GPU program a compiled CUDA or Vulkan model carries: its device code
// (PTX or SPIR-V) and the launch plan, the straight line of kernel launches
// one forward step makes. compile-model writes it (compiler/targets/gpu/
// GpuProgram.cpp) into the executable as the byte array `gemmac_gpu_program`;
// the runtime's backends (runtime/gpu/) read it with `parseGpuProgram`, which
// checks every count and offset before anything is used. Little-endian.
// Header only: both sides compile it.
//
//   ProgramHeader
//   KernelEntry[numKernels]      entry points and their buffer counts
//   LaunchEntry[numLaunches]     in execution order
//   BindingEntry[numBindings]    the buffer ranges of every launch
//   float constants[numConstants]
//   RopeEntry[numRopes]          the RoPE tables a session fills
//   device code (codeBytes)
#pragma once

#include "abi/formats.h"
#include "abi/gpu_params.h"

#include <cstdint>
#include <cstring>
#include <string>

namespace gemmac::gpu {

inline constexpr char kProgramMagic[8] = {'G', 'M', 'C', 'G', 'P', 'U', '1', '\0'};
// 2: a step's rows may belong to several sequences (the params' row and
// output tables, KV slots).
inline constexpr uint32_t kProgramVersion = 2;

enum class CodeKind : uint32_t { SPIRV = 1, PTX = 2 };

/// The buffer a binding points into.
enum class Space : uint32_t {
  Weights = 0,   // the weight blob (OUT.weights), uploaded once
  Arena = 1,     // activations: each value a slot of max_batch rows
  KV = 2,        // the KV caches: slot s's at s x the slot stride
  Tokens = 3,    // the step's token ids (i32, max_batch)
  Params = 4,    // i32[abi::kParamsWords], slots abi::GpuParam
  Constants = 5, // the program's f32 constants
  Tables = 6,    // model-wide tables: llama.cpp's GELU (65536 f16 results)
  Rope = 7,      // per session: each RoPE's (cos, sin) per position and pair
};
inline constexpr uint32_t kNumSpaces = 8;
inline constexpr uint64_t kGeluTableBytes = 65536 * 2;

/// How many rows a launch covers along grid.y.
enum class Rows : uint32_t { One = 0, Tokens = 1, Outputs = 2 };

struct ProgramHeader {
  char magic[8];
  uint32_t version;
  uint32_t codeKind;
  uint32_t numKernels, numLaunches, numBindings, numConstants, numRopes;
  uint32_t reserved;
  uint32_t maxBatch;
  uint32_t workgroupSize; // threads per workgroup along x
  uint64_t codeOffset, codeBytes;
  uint64_t arenaBytes;                   // the whole arena (max_batch rows)
  uint64_t kvFixedBytes, kvPerCtxBytes;  // KV bytes = fixed + perCtx x n_ctx
  uint64_t logitsOffset;                 // arena offset of the output rows
  uint64_t logitsWidth;                  // floats per output row (vocab)
};

struct KernelEntry {
  char name[120];
  uint32_t numBuffers;
  uint32_t reserved;
};

struct LaunchEntry {
  uint32_t kernel;
  uint32_t gridX;
  uint32_t rows; // Rows
  uint32_t firstBinding;
  uint32_t numBindings;
  uint32_t tokensPerGroup; // grid.y = ceil(rows / this); 0 reads as 1
};

/// Offset and size of a range, each `fixed + perCtx x n_ctx` bytes (only KV
/// ranges depend on the context length).
struct BindingEntry {
  uint32_t space; // Space
  uint32_t reserved;
  uint64_t offset, offsetPerCtx;
  uint64_t bytes, bytesPerCtx;
};

/// One RoPE's table: for every position p < n_ctx and pair j < pairs,
/// (cos, sin) of p * theta^(-2j/freqDim), the angle by repeated f32
/// multiplication and the host's sincosf, as llama.cpp computes them.
struct RopeEntry {
  float theta;
  uint32_t freqDim;
  uint32_t pairs;
  uint32_t reserved;
};

/// Output rows one workgroup of a linear/geglu kernel computes (grid.x is
/// rows / this, rounded up): float weights take 8 (tinyBLAS's eight lanes
/// per row) or 2 (vec_dot's 32 lanes), quantized weights 2 (32 threads
/// each).
inline int64_t matvecRowsPerGroup(bool floatWeights, int64_t rows,
                                  int64_t cols) {
  return floatWeights && abi::isTinyMatmulShape(rows, cols) ? 8 : 2;
}
/// Tokens one workgroup of a quantized linear/geglu kernel computes.
constexpr int64_t kQuantMatvecTokensPerGroup = 4;
/// Rows of every slot of one token an expert product's workgroup computes
/// (vec_dot's lanes for float weights, the quantized matvec's rows).
constexpr int64_t kExpertMatvecRowsPerGroup = 2;

/// A checked view of a program image.
struct ProgramView {
  const ProgramHeader *header = nullptr;
  const KernelEntry *kernels = nullptr;
  const LaunchEntry *launches = nullptr;
  const BindingEntry *bindings = nullptr;
  const float *constants = nullptr;
  const RopeEntry *ropes = nullptr;
  const uint8_t *code = nullptr;
};

/// Validates `bytes` bytes at `data` (alignment, magic, version, counts,
/// every index and offset in range) into `view`; false + `error` otherwise.
inline bool parseGpuProgram(const uint8_t *data, uint64_t bytes,
                            ProgramView &view, std::string &error) {
  auto fail = [&](const std::string &what) {
    error = "GPU program: " + what;
    return false;
  };
  if (!data || bytes < sizeof(ProgramHeader))
    return fail("missing or shorter than its header");
  if (reinterpret_cast<uintptr_t>(data) % alignof(ProgramHeader) != 0)
    return fail("misaligned");
  const auto *h = reinterpret_cast<const ProgramHeader *>(data);
  if (std::memcmp(h->magic, kProgramMagic, sizeof kProgramMagic) != 0)
    return fail("bad magic");
  if (h->version != kProgramVersion)
    return fail("version " + std::to_string(h->version) + ", runtime knows " +
                std::to_string(kProgramVersion));
  if (h->codeKind != static_cast<uint32_t>(CodeKind::SPIRV) &&
      h->codeKind != static_cast<uint32_t>(CodeKind::PTX))
    return fail("unknown code kind " + std::to_string(h->codeKind));
  if (h->maxBatch == 0 || h->workgroupSize == 0)
    return fail("zero batch or workgroup size");
  uint64_t at = sizeof(ProgramHeader);
  auto table = [&](uint64_t count, uint64_t size, const char *what,
                   const void *&out) {
    if (count > (bytes - at) / size)
      return fail(std::string(what) + " table runs past the end");
    out = data + at;
    at += count * size;
    return true;
  };
  const void *k, *l, *b, *c, *r;
  if (!table(h->numKernels, sizeof(KernelEntry), "kernel", k) ||
      !table(h->numLaunches, sizeof(LaunchEntry), "launch", l) ||
      !table(h->numBindings, sizeof(BindingEntry), "binding", b) ||
      !table(h->numConstants, sizeof(float), "constant", c) ||
      !table(h->numRopes, sizeof(RopeEntry), "rope", r))
    return false;
  if (h->codeOffset < at || h->codeOffset > bytes ||
      h->codeBytes > bytes - h->codeOffset || h->codeBytes == 0)
    return fail("device code outside the image");
  view = {h, static_cast<const KernelEntry *>(k),
          static_cast<const LaunchEntry *>(l),
          static_cast<const BindingEntry *>(b), static_cast<const float *>(c),
          static_cast<const RopeEntry *>(r), data + h->codeOffset};
  for (uint32_t i = 0; i < h->numRopes; ++i) {
    const RopeEntry &e = view.ropes[i];
    if (e.freqDim == 0 || e.pairs == 0 || e.pairs > e.freqDim / 2 ||
        !(e.theta > 0))
      return fail("RoPE table " + std::to_string(i) + " is malformed");
  }
  for (uint32_t i = 0; i < h->numKernels; ++i) {
    const KernelEntry &e = view.kernels[i];
    if (std::memchr(e.name, 0, sizeof e.name) == nullptr || e.name[0] == 0)
      return fail("kernel " + std::to_string(i) + " has no valid name");
    if (e.numBuffers == 0 || e.numBuffers > 16)
      return fail(std::string("kernel ") + e.name + " takes " +
                  std::to_string(e.numBuffers) + " buffers");
  }
  for (uint32_t i = 0; i < h->numLaunches; ++i) {
    const LaunchEntry &e = view.launches[i];
    if (e.kernel >= h->numKernels)
      return fail("launch " + std::to_string(i) + " names kernel " +
                  std::to_string(e.kernel));
    if (e.rows > static_cast<uint32_t>(Rows::Outputs) || e.gridX == 0)
      return fail("launch " + std::to_string(i) + " has a bad grid");
    if (e.numBindings != view.kernels[e.kernel].numBuffers ||
        e.firstBinding > h->numBindings ||
        e.numBindings > h->numBindings - e.firstBinding)
      return fail("launch " + std::to_string(i) + " (" +
                  view.kernels[e.kernel].name + ") has bad bindings");
  }
  for (uint32_t i = 0; i < h->numBindings; ++i)
    if (view.bindings[i].space >= kNumSpaces)
      return fail("binding " + std::to_string(i) + " names space " +
                  std::to_string(view.bindings[i].space));
  return true;
}

} // namespace gemmac::gpu
