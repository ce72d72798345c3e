// Half-precision conversions for the kernels' inner loops: single F16C
// instructions (the runtime targets x86-64-v3), exactly the conversions of
// fmt::f16ToF32/f32ToF16 (round to nearest even), inlined.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace gemmac::rt {

inline float halfToFloat(uint16_t h) { return _cvtsh_ss(h); }
inline uint16_t floatToHalf(float f) {
  return static_cast<uint16_t>(_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT));
}

} // namespace gemmac::rt
