// GELU. The tanh form goes through a table of f16 results indexed by the f16
// input, the way llama.cpp's CPU backend computes it: models are checked
// against llama.cpp, and a table lookup is also cheaper than tanhf.

#include "runtime/kernels/gelu.h"
#include "runtime/src/rt.h"

#include <algorithm>
#include <cmath>
#include <memory>

using namespace gemmac::fmt;

namespace {

/// The tanh GELU with llama.cpp's operation order (its 1 + A*x*x is fused).
float geluTanh(float x) {
  const float kSqrt2OverPi = 0.79788456080286535587989211986876f;
  const float kA = 0.044715f;
  const float inner = std::fma(kA * x, x, 1.0f);
  const float t = std::tanh((kSqrt2OverPi * x) * inner);
  return (0.5f * x) * (1.0f + t);
}

} // namespace

const uint16_t *gemmac::rt::geluTanhTable() {
  static const std::unique_ptr<uint16_t[]> table = [] {
    std::unique_ptr<uint16_t[]> t(new uint16_t[(1 << 16) + 1]);
    for (uint32_t h = 0; h < (1u << 16); ++h)
      t[h] = f32ToF16(geluTanh(f16ToF32(static_cast<uint16_t>(h))));
    t[1 << 16] = 0;
    return t;
  }();
  return table.get();
}

extern "C" void gmk_gelu_tanh(gemmac_rt *rt, float *out, const float *in,
                              int64_t n) {
  const uint16_t *table = gemmac::rt::geluTanhTable();
  rt->pool.parallelFor(n, 4096, [&](int64_t i0, int64_t i1) {
    gemmac::rt::gegluRows(table, in + i0, nullptr, out + i0, i1 - i0);
  });
}

extern "C" void gmk_gelu_erf(gemmac_rt *rt, float *out, const float *in,
                             int64_t n) {
  rt->pool.parallelFor(n, 4096, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      out[i] = 0.5f * in[i] * (1.0f + std::erf(in[i] * 0.70710678118654752f));
  });
}

/// NVFP4 activations as Blackwell's W4A4 kernels quantize them (vLLM's
/// run_nvfp4_emulations; G = 1 / input_scale): per 16 consecutive values,
/// the E4M3 scale s = e4m3(G * amax * (1/6)) and each value's E2M1 code of
/// x * (G / s), both rounded to nearest even and saturating; the result is
/// the value the code stands for, code * s / G (0 where s is 0).
extern "C" void gmk_quantize_fp4(gemmac_rt *rt, float *out, const float *in,
                                 int64_t n, float global_scale) {
  const float G = global_scale;
  rt->pool.parallelFor(n / 16, 256, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const float *x = in + 16 * b;
      float *y = out + 16 * b;
      float amax = 0;
      for (int j = 0; j < 16; ++j)
        amax = std::max(amax, std::fabs(x[j]));
      const float s = e4m3ToF32(f32ToE4M3(G * amax * (1.0f / 6.0f)));
      for (int j = 0; j < 16; ++j)
        y[j] = s == 0 ? 0.0f : e2m1ToF32(f32ToE2M1(x[j] * (G / s))) * s / G;
    }
  });
}
