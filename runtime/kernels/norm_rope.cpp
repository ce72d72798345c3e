// RMSNorm and rotary embeddings, rounded as llama.cpp rounds them: the sum of
// squares in double, 1/sqrtf(mean + eps) in f32, x*scale then *w; RoPE angles
// by repeated f32 multiplication from (float)pos, glibc's sincosf, and the
// rotation with one fused multiply-add per output.

#include "formats/formats.h"
#include "runtime/src/rt.h"

#include <cmath>
#include <math.h>
#include <vector>

using namespace gemmac::fmt;

extern "C" void gmk_rms_norm(gemmac_rt *rt, float *out, const float *in,
                             int64_t rows, int64_t width, int64_t group,
                             const uint8_t *weight, int32_t weight_format,
                             float eps) {
  std::vector<float> w;
  if (weight) {
    w.resize(group);
    dequantizeRow(static_cast<Type>(weight_format), weight, w.data(), group);
  }
  const int64_t groups = rows * (width / group);
  rt->pool.parallelFor(groups, 16, [&](int64_t g0, int64_t g1) {
    for (int64_t g = g0; g < g1; ++g) {
      const float *x = in + g * group;
      float *y = out + g * group;
      double sum = 0;
      for (int64_t i = 0; i < group; ++i)
        sum += static_cast<double>(x[i] * x[i]);
      const float mean = static_cast<float>(sum / group);
      const float scale = 1.0f / std::sqrt(mean + eps);
      if (weight)
        for (int64_t i = 0; i < group; ++i)
          y[i] = (x[i] * scale) * w[i];
      else
        for (int64_t i = 0; i < group; ++i)
          y[i] = x[i] * scale;
    }
  });
}

extern "C" void gmk_rms_norm_unweighted(gemmac_rt *rt, float *out,
                                        const float *in, int64_t rows,
                                        int64_t width, int64_t group,
                                        float eps) {
  gmk_rms_norm(rt, out, in, rows, width, group, nullptr, 0, eps);
}

extern "C" void gmk_rope(gemmac_rt *rt, float *out, const float *in,
                         int64_t n_tokens, int64_t n_heads, int64_t head_dim,
                         int64_t pos0, float theta, int64_t freq_dim,
                         int64_t rotated_pairs) {
  const int64_t half = freq_dim / 2;
  const float thetaScale =
      std::pow(theta, -2.0f / static_cast<float>(freq_dim));
  rt->pool.parallelFor(n_tokens, 1, [&](int64_t t0, int64_t t1) {
    std::vector<float> cs(2 * rotated_pairs);
    for (int64_t t = t0; t < t1; ++t) {
      float angle = static_cast<float>(pos0 + t);
      for (int64_t j = 0; j < rotated_pairs; ++j) {
        ::sincosf(angle, &cs[2 * j + 1], &cs[2 * j]);
        angle = angle * thetaScale;
      }
      for (int64_t h = 0; h < n_heads; ++h) {
        const float *x = in + (t * n_heads + h) * head_dim;
        float *y = out + (t * n_heads + h) * head_dim;
        for (int64_t j = 0; j < rotated_pairs; ++j) {
          const float a = x[j], b = x[j + half];
          const float c = cs[2 * j], s = cs[2 * j + 1];
          y[j] = std::fma(a, c, -(b * s));
          y[j + half] = std::fma(a, s, b * c);
        }
        if (y != x) {
          for (int64_t j = rotated_pairs; j < half; ++j) {
            y[j] = x[j];
            y[j + half] = x[j + half];
          }
          for (int64_t i = freq_dim; i < head_dim; ++i)
            y[i] = x[i];
        }
      }
    }
  });
}
