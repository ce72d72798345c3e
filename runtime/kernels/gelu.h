// GELU as llama.cpp's CPU backend computes it: f16 in, f16 out through a
// table, exact outside +-10. Shared by the GELU and fused GeGLU kernels.
#pragma once

#include "formats/formats.h"

#include <cstdint>

namespace gemmac::rt {

/// gelu_tanh(x) for every f16 bit pattern x, as f16 bits.
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

} // namespace gemmac::rt
