// The inner matrix-product kernels behind gmk_linear_*/gmk_logits_*/
// gmk_geglu_*: each computes out[t, n] for every token t and a range of
// weight rows n from activations already converted for its format
// (linear.cpp converts them once per call and splits the rows over threads).
//
// Every kernel keeps the floating-point operations of its scalar reference
// in dot_reference.h -- lane structure, FMAs, horizontal sums -- and so of
// llama.cpp's AVX2 kernels: the SIMD code only changes how the exact integer
// parts are computed and how many rows or tokens share a pass over the data.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace gemmac::rt {

/// Four bytes (an int32 of activation quants, for a broadcast) from p.
inline int32_t load32(const void *p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

struct MatmulTask {
  const uint8_t *weight = nullptr; // rows, or x8 groups of 8 rows
  size_t rowBytes = 0;             // bytes of one row in its storage format
  const uint8_t *act = nullptr;    // converted activation rows
  size_t actStride = 0;
  const uint8_t *aux = nullptr;    // per-token block sums (see ActAux)
  size_t auxStride = 0;
  int64_t K = 0;                   // elements per row
  int64_t T = 0;                   // tokens
  float *out = nullptr;            // out[t * outStride + n - outFirstRow]
  int64_t outStride = 0;
  int64_t outFirstRow = 0;
};

/// Computes rows [n0, n1) for every token. x8 kernels need n0, n1 to be
/// multiples of 8.
using RowsKernel = void (*)(const MatmulTask &task, int64_t n0, int64_t n1);

/// Per-token side data some kernels need, computed with the activations:
/// for Q8_0 the int32 sum of each block's quants; for Q8_K the eight int16
/// sums of adjacent pairs of its 16-element sums.
enum class ActAux { None, Q8_0Sums, Q8_KPairSums };

// AVX2 kernels (matmul_avx2.cpp). The "x8" ones read the interleaved layout
// of formats/repack.h.
void rowsQ4_0x8(const MatmulTask &, int64_t, int64_t);
void rowsQ4_Kx8(const MatmulTask &, int64_t, int64_t);
void rowsQ8_0(const MatmulTask &, int64_t, int64_t);
void rowsQ4_0Lanes(const MatmulTask &, int64_t, int64_t);
void rowsQ5_0(const MatmulTask &, int64_t, int64_t);
void rowsQ6_K(const MatmulTask &, int64_t, int64_t);
void rowsNVFP4(const MatmulTask &, int64_t, int64_t);
// The float-activation forms: blocks decoded, f32 activations.
void rowsQ4_0F32(const MatmulTask &, int64_t, int64_t);
void rowsQ8_0F32(const MatmulTask &, int64_t, int64_t);
void rowsNVFP4F32(const MatmulTask &, int64_t, int64_t);
void rowsF8_B64(const MatmulTask &, int64_t, int64_t);
void rowsF32Tiny(const MatmulTask &, int64_t, int64_t);
void rowsF16Tiny(const MatmulTask &, int64_t, int64_t);
void rowsBF16Tiny(const MatmulTask &, int64_t, int64_t);

// llama.cpp's Arm build's products where they differ (KernelSet::Arm; in
// matmul_avx2.cpp, plain x86 intrinsics, SIMDe's NEON on aarch64):
// tinyBLAS's four-lane F32 sums, the repacked Q8_0 batch product.
void rowsF32TinyArm(const MatmulTask &, int64_t, int64_t);
void rowsQ8_0Arm(const MatmulTask &, int64_t, int64_t);

// AVX-512 kernels (matmul_avx512.cpp), for a KernelSet::Avx512 program. The
// x8 ones compute what their AVX2 counterparts compute, 16 rows at a time
// (8 at the end of a range of an odd count of groups), Q8_0 and Q6_K what
// rowsQ8_0 and rowsQ6_K compute, two rows per register (one to three tokens
// run those AVX2 kernels); the float ones tinyBLAS's sixteen-lane sums
// (ref::dotTinyZen4).
void rowsQ4_0x8Avx512(const MatmulTask &, int64_t, int64_t);
void rowsQ4_Kx8Avx512(const MatmulTask &, int64_t, int64_t);
void rowsQ8_0Avx512(const MatmulTask &, int64_t, int64_t);
void rowsQ6_KAvx512(const MatmulTask &, int64_t, int64_t);
void rowsF32TinyAvx512(const MatmulTask &, int64_t, int64_t);
void rowsF16TinyAvx512(const MatmulTask &, int64_t, int64_t);
void rowsBF16TinyAvx512(const MatmulTask &, int64_t, int64_t);
void rowsF32VecAvx512(const MatmulTask &, int64_t, int64_t);
void rowsF16VecAvx512(const MatmulTask &, int64_t, int64_t);
void rowsBF16VecAvx512(const MatmulTask &, int64_t, int64_t);

} // namespace gemmac::rt
