// GELU as llama.cpp's CPU backend computes it: f16 in, f16 out through a
// table, exact outside +-10. Shared by the GELU and fused GeGLU kernels.
#pragma once

#include "formats/formats.h"

#include "runtime/kernels/x86_intrinsics.h"

#include <cstdint>

namespace gemmac::rt {

/// gelu_tanh(x) for every f16 bit pattern x, as f16 bits, and one padding
/// entry after them (so that a 32-bit gather of the last entry stays in
/// bounds).
const uint16_t *geluTanhTable();

inline float geluTanhLookup(const uint16_t *table, float x) {
  if (x <= -10.0f)
    return 0.0f;
  if (x >= 10.0f)
    return x;
  return fmt::f16ToF32(table[fmt::f32ToF16(x)]);
}

/// gelu(gate) * up, rounded as llama.cpp's fused geglu: one product.
inline float gegluLookup(const uint16_t *table, float gate, float up) {
  if (gate <= -10.0f)
    return 0.0f;
  if (gate >= 10.0f)
    return gate * up;
  return fmt::f16ToF32(table[fmt::f32ToF16(gate)]) * up;
}

/// gegluLookup of n pairs, eight at a time: vcvtps2ph rounds to nearest
/// even as fmt::f32ToF16 does (and as llama.cpp converts, with F16C), the
/// table entries come through a gather, and the +-10 cases are blended in.
/// `up` null: geluTanhLookup of `gate`.
inline void gegluRows(const uint16_t *table, const float *gate, const float *up,
                      float *out, int64_t n) {
  int64_t j = 0;
  const __m256 lo = _mm256_set1_ps(-10.0f), hi = _mm256_set1_ps(10.0f);
  for (; j + 8 <= n; j += 8) {
    const __m256 x = _mm256_loadu_ps(gate + j);
    const __m256 y = up ? _mm256_loadu_ps(up + j) : _mm256_set1_ps(1.0f);
    const __m256i idx = _mm256_cvtepu16_epi32(
        _mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    const __m256i e = _mm256_and_si256(
        _mm256_i32gather_epi32(reinterpret_cast<const int *>(table), idx, 2),
        _mm256_set1_epi32(0xFFFF));
    const __m128i h = _mm_packus_epi32(_mm256_castsi256_si128(e),
                                       _mm256_extracti128_si256(e, 1));
    __m256 r = _mm256_cvtph_ps(h);
    if (up)
      r = _mm256_mul_ps(r, y);
    const __m256 big = up ? _mm256_mul_ps(x, y) : x;
    r = _mm256_blendv_ps(r, big, _mm256_cmp_ps(x, hi, _CMP_GE_OQ));
    r = _mm256_andnot_ps(_mm256_cmp_ps(x, lo, _CMP_LE_OQ), r);
    _mm256_storeu_ps(out + j, r);
  }
  for (; j < n; ++j)
    out[j] = up ? gegluLookup(table, gate[j], up[j])
                : geluTanhLookup(table, gate[j]);
}

} // namespace gemmac::rt
