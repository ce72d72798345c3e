//===- SRDBlock.h - one SRD group of 64 weights and its 104-byte block ----===//
//
// SRD ("SRD-4" in the Orivael tools) stores each row of a weight W[out, in]
// in groups of 64 columns: an int4 base W4 with an f32 scale S4 and an int8
// residual D8 with an f32 scale S8. The corrected weight is
//
//   W' = S4 * W4 + alpha * (S8 * D8)
//
// computed in f32 in that order (base, then residual, then the sum), as the
// reference loader does in PyTorch. Every reader decodes into SRDGroup and
// every consumer applies the formula through applyGroup, so there is one
// definition of W'.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <cstdint>
#include <cstring>

namespace gemmac::srd {

constexpr int kGroupSize = 64;
/// w4[32] (value+8, even element in the low nibble) | f32 s4 | i8 d8[64] | f32
/// s8
constexpr int kBlockBytes = 104;
constexpr int kBlockS4Offset = 32;
constexpr int kBlockD8Offset = 36;
constexpr int kBlockS8Offset = 100;

struct SRDGroup {
  int8_t w4[kGroupSize]; // in [-8, 7]
  float s4;
  int8_t d8[kGroupSize];
  float s8;
};

inline void decodeBlock(const uint8_t *block, SRDGroup &g) {
  for (int j = 0; j < kGroupSize / 2; ++j) {
    g.w4[2 * j] = static_cast<int8_t>((block[j] & 0x0F) - 8);
    g.w4[2 * j + 1] = static_cast<int8_t>((block[j] >> 4) - 8);
  }
  std::memcpy(&g.s4, block + kBlockS4Offset, 4);
  std::memcpy(g.d8, block + kBlockD8Offset, kGroupSize);
  std::memcpy(&g.s8, block + kBlockS8Offset, 4);
}

inline void encodeBlock(const SRDGroup &g, uint8_t *block) {
  for (int j = 0; j < kGroupSize / 2; ++j)
    block[j] = static_cast<uint8_t>(((g.w4[2 * j] + 8) & 0x0F) |
                                    (((g.w4[2 * j + 1] + 8) & 0x0F) << 4));
  std::memcpy(block + kBlockS4Offset, &g.s4, 4);
  std::memcpy(block + kBlockD8Offset, g.d8, kGroupSize);
  std::memcpy(block + kBlockS8Offset, &g.s8, 4);
}

/// W' for the 64 weights of one group. Separate statements keep the compiler
/// from contracting the sum into an FMA (the reference rounds each step).
inline void applyGroup(const SRDGroup &g, float alpha, float *out) {
  for (int k = 0; k < kGroupSize; ++k) {
    float base = static_cast<float>(g.w4[k]) * g.s4;
    float residual = static_cast<float>(g.d8[k]) * g.s8;
    float scaled = alpha * residual;
    out[k] = base + scaled;
  }
}

} // namespace gemmac::srd
