// Horizontal sums of a register in the orders llama.cpp's builds use
// (ref::hsum8 and ref::hsum16 in dot_reference.h are the scalar forms).
#pragma once

#include "runtime/kernels/avx512.h"

#include "runtime/kernels/x86_intrinsics.h"

namespace gemmac::rt {

/// ((v0+v4)+(v2+v6)) + ((v1+v5)+(v3+v7)), as ref::hsum8.
inline float hsum8(__m256 v) {
  __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  x = _mm_add_ss(x, _mm_movehdup_ps(x));
  return _mm_cvtss_f32(x);
}

/// _mm512_reduce_add_ps's order, as ref::hsum16: the halves added lane by
/// lane, then hsum8.
#if GEMMAC_HAVE_AVX512
GEMMAC_AVX512 inline float hsum16(__m512 v) {
  return hsum8(
      _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1)));
}
#endif

} // namespace gemmac::rt
