// Limits and runtime scalars a compiled program and the runtime share.
#pragma once

#include <cstdint>

namespace gemmac::abi {

/// Tokens one forward call takes at most; the runtime splits longer
/// prompts into chunks (gemmac_model_meta[kMetaMaxBatch] records it).
inline constexpr int64_t kMaxBatch = 512;

/// Slots of a GPU program's params buffer (i32[kNumParams]), which the
/// runtime fills before each step (runtime/gpu/gpu_backend.h stepParams)
/// and the kernels read.
enum GpuParam : int32_t {
  kTokens = 0,      // tokens in the batch
  kPos0 = 1,        // position of the first token
  kOutRows = 2,     // rows of the output (n_out)
  kContextRows = 3, // rows of per-context KV caches (n_ctx)
  kNumParams = 8,
};

} // namespace gemmac::abi
