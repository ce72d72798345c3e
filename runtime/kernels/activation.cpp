// GELU. The tanh form goes through a table of f16 results indexed by the f16
// input, the way llama.cpp's CPU backend computes it: models are checked
// against llama.cpp, and a table lookup is also cheaper than tanhf.

#include "runtime/kernels/gelu.h"
#include "runtime/src/rt.h"

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
    std::unique_ptr<uint16_t[]> t(new uint16_t[1 << 16]);
    for (uint32_t h = 0; h < (1u << 16); ++h)
      t[h] = f32ToF16(geluTanh(f16ToF32(static_cast<uint16_t>(h))));
    return t;
  }();
  return table.get();
}

extern "C" void gmk_gelu_tanh(gemmac_rt *rt, float *out, const float *in,
                              int64_t n) {
  const uint16_t *table = gemmac::rt::geluTanhTable();
  rt->pool.parallelFor(n, 4096, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      out[i] = gemmac::rt::geluTanhLookup(table, in[i]);
  });
}

extern "C" void gmk_gelu_erf(gemmac_rt *rt, float *out, const float *in,
                             int64_t n) {
  rt->pool.parallelFor(n, 4096, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i)
      out[i] = 0.5f * in[i] * (1.0f + std::erf(in[i] * 0.70710678118654752f));
  });
}
