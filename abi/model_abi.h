// The symbols compile-model generates for every model: their names, which
// the compiler emits (passes/LowerToCPU.cpp, compiler/targets/gpu/
// GpuProgram.cpp), and their declarations, which the runtime calls.
#pragma once

#include "abi/model_meta.h"

#include <cstdint>

namespace gemmac::abi {
inline constexpr char kForwardSymbol[] = "gemmac_forward";
inline constexpr char kKVBytesSymbol[] = "gemmac_kv_bytes";
inline constexpr char kArenaBytesSymbol[] = "gemmac_arena_bytes";
inline constexpr char kModelMetaSymbol[] = "gemmac_model_meta";
inline constexpr char kGpuProgramSymbol[] = "gemmac_gpu_program";
inline constexpr char kGpuProgramBytesSymbol[] = "gemmac_gpu_program_bytes";
} // namespace gemmac::abi

extern "C" {
/// The runtime's per-call state, which kernels receive (runtime/kernels/
/// kernels.h).
typedef struct gemmac_rt gemmac_rt;

/// Model facts, indexed by gemmac::abi::MetaIndex.
extern const int64_t gemmac_model_meta[gemmac::abi::kMetaCount];

// A CPU program defines the three functions below; a GPU program defines
// instead its image (abi/gpu_program.h) and the image's size. Both
// sides are weak so that the runtime links with either.

extern const uint8_t gemmac_gpu_program[] __attribute__((weak));
extern const int64_t gemmac_gpu_program_bytes __attribute__((weak));

/// One forward step over n_tokens tokens at positions pos0..; writes the
/// logits of the last n_out tokens.
void gemmac_forward(gemmac_rt *rt, const uint8_t *weights, uint8_t *kv,
                    uint8_t *arena, const int32_t *tokens, float *logits,
                    int64_t n_tokens, int64_t pos0, int64_t n_ctx,
                    int64_t n_out) __attribute__((weak));
/// Bytes of KV cache for a context of n_ctx tokens.
int64_t gemmac_kv_bytes(int64_t n_ctx) __attribute__((weak));
/// Bytes of scratch arena for a forward step of n_tokens tokens.
int64_t gemmac_arena_bytes(int64_t n_tokens) __attribute__((weak));
}
