// Half-precision conversions for the kernels' inner loops: single F16C
// instructions (the runtime targets x86-64-v3), exactly the conversions of
// fmt::f16ToF32/f32ToF16 (round to nearest even), inlined.
#pragma once

#include "formats/formats.h"
#include "runtime/kernels/x86_intrinsics.h"

#include <cstdint>

namespace gemmac::rt {

/// Through a zero-extending vmovd that the empty asm keeps: _cvtsh_ss, or any
/// form LLVM sees through, compiles to a vpinsrw merging into whatever
/// register is free, often a loop's accumulator, which chains each block's
/// scale to the previous block's sum (the AVX-512 Q4_0 decode kernel ran 25%
/// slower from L1 with it).
inline float halfToFloat(uint16_t h) {
#if defined(__x86_64__) || defined(__i386__)
  __m128i v = _mm_cvtsi32_si128(h);
  asm("" : "+x"(v));
  return _mm_cvtss_f32(_mm_cvtph_ps(v));
#else
  return fmt::f16ToF32(h);
#endif
}
/// halfToFloat(h) in every lane, from one broadcast of the half.
inline __m256 splatHalf(uint16_t h) {
  return _mm256_cvtph_ps(_mm_set1_epi16(static_cast<short>(h)));
}

inline uint16_t floatToHalf(float f) {
#if defined(__x86_64__) || defined(__i386__)
  return static_cast<uint16_t>(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT));
#else
  return fmt::f32ToF16(f);
#endif
}

} // namespace gemmac::rt
