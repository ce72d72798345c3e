// Limits and runtime scalars a compiled program and the runtime share.
#pragma once

#include <cstdint>

namespace gemmac::abi {

/// Tokens one forward call takes at most; the runtime splits longer
/// prompts into chunks (gemmac_model_meta[kMetaMaxBatch] records it).
inline constexpr int64_t kMaxBatch = 512;

/// The params buffer of a GPU program (i32[kParamsWords]), which the
/// runtime fills before each step (runtime/gpu/gpu_backend.h stepParams)
/// and the kernels read: scalars, then a row table and an output table, so
/// that one step can hold rows of several sequences (abi/step.h).
enum GpuParam : int32_t {
  kTokens = 0,      // rows in the step
  kOutRows = 2,     // rows of the output (n_out)
  kContextRows = 3, // rows of per-context KV caches (n_ctx)
  kNumParams = 8,
  /// Row t's fields at kRowTable + t * kRowFields + field: its sequence's KV
  /// slot (a cache of R rows holds slot s's rows at s x R), the step row and
  /// position where its sequence's rows begin, and how many rows of that
  /// sequence the step holds.
  kRowTable = kNumParams,
  kRowSlot = 0,
  kRowSegRow0 = 1,
  kRowSegPos0 = 2,
  kRowSegRows = 3,
  kRowFields = 4,
  /// Output row j's step row at kOutTable + j.
  kOutTable = kRowTable + kRowFields * static_cast<int32_t>(kMaxBatch),
  kParamsWords = kOutTable + static_cast<int32_t>(kMaxBatch),
};

} // namespace gemmac::abi
