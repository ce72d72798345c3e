// RMSNorm and rotary embeddings, rounded as llama.cpp rounds them: the sum of
// squares in double, 1/sqrtf(mean + eps) in f32, x*scale then *w; RoPE angles
// by repeated f32 multiplication from (float)pos, glibc's sincosf, and the
// rotation with one fused multiply-add per output. The fused kernels
// (rms_norm_add, rms_norm_rope) round every step as the separate ops do
// (the runtime is built with -ffp-contract=off).

#include "formats/formats.h"
#include "runtime/src/rt.h"

#include <algorithm>
#include <cmath>
#include <math.h>
#include <vector>

using namespace gemmac::fmt;

namespace {

/// The f32 values of a norm's weight (null when unweighted).
std::vector<float> normWeight(const uint8_t *weight, int32_t format,
                              int64_t n) {
  std::vector<float> w;
  if (weight) {
    w.resize(n);
    dequantizeRow(static_cast<Type>(format), weight, w.data(), n);
  }
  return w;
}

/// 1/sqrt(mean(x^2) + eps) of one group.
float rmsScale(const float *x, int64_t n, float eps) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i)
    sum += static_cast<double>(x[i] * x[i]);
  const float mean = static_cast<float>(sum / n);
  return 1.0f / std::sqrt(mean + eps);
}

/// y = RMSNorm(x) [* w] over one group; y may alias x.
void normGroup(float *y, const float *x, int64_t n, const float *w, float eps) {
  const float scale = rmsScale(x, n, eps);
  if (w)
    for (int64_t i = 0; i < n; ++i)
      y[i] = (x[i] * scale) * w[i];
  else
    for (int64_t i = 0; i < n; ++i)
      y[i] = x[i] * scale;
}

/// The RoPE of one token: its (cos, sin) pairs at `pos`.
struct RopeTable {
  RopeTable(float theta, int64_t freqDim, int64_t pairs)
      : half(freqDim / 2), freqDim(freqDim), pairs(pairs),
        thetaScale(std::pow(theta, -2.0f / static_cast<float>(freqDim))),
        cs(2 * pairs) {}

  void at(int64_t pos) {
    float angle = static_cast<float>(pos);
    for (int64_t j = 0; j < pairs; ++j) {
      ::sincosf(angle, &cs[2 * j + 1], &cs[2 * j]);
      angle = angle * thetaScale;
    }
  }

  /// Rotates one head; y may alias x.
  void rotate(float *y, const float *x, int64_t headDim) const {
    for (int64_t j = 0; j < pairs; ++j) {
      const float a = x[j], b = x[j + half];
      const float c = cs[2 * j], s = cs[2 * j + 1];
      y[j] = std::fma(a, c, -(b * s));
      y[j + half] = std::fma(a, s, b * c);
    }
    if (y != x) {
      for (int64_t j = pairs; j < half; ++j) {
        y[j] = x[j];
        y[j + half] = x[j + half];
      }
      for (int64_t i = freqDim; i < headDim; ++i)
        y[i] = x[i];
    }
  }

  int64_t half, freqDim, pairs;
  float thetaScale;
  std::vector<float> cs;
};

} // namespace

extern "C" void gmk_rms_norm(gemmac_rt *rt, float *out, const float *in,
                             int64_t rows, int64_t width, int64_t group,
                             const uint8_t *weight, int32_t weight_format,
                             float eps) {
  const std::vector<float> w = normWeight(weight, weight_format, group);
  const int64_t groups = rows * (width / group);
  rt->pool.parallelFor(groups, 16, [&](int64_t g0, int64_t g1) {
    for (int64_t g = g0; g < g1; ++g)
      normGroup(out + g * group, in + g * group, group,
                weight ? w.data() : nullptr, eps);
  });
}

extern "C" void gmk_rms_norm_unweighted(gemmac_rt *rt, float *out,
                                        const float *in, int64_t rows,
                                        int64_t width, int64_t group,
                                        float eps) {
  gmk_rms_norm(rt, out, in, rows, width, group, nullptr, 0, eps);
}

extern "C" void gmk_rms_norm_add(gemmac_rt *rt, float *out, const float *in,
                                 const float *residual, int64_t rows,
                                 int64_t width, const uint8_t *weight,
                                 int32_t weight_format, float eps,
                                 float scale) {
  const std::vector<float> w = normWeight(weight, weight_format, width);
  rt->pool.parallelFor(rows, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float *x = in + r * width, *res = residual + r * width;
      float *y = out + r * width;
      const float s = rmsScale(x, width, eps);
      // Rounded as rms_norm, add and scale round one after the other.
      if (weight)
        for (int64_t i = 0; i < width; ++i)
          y[i] = ((x[i] * s) * w[i] + res[i]) * scale;
      else
        for (int64_t i = 0; i < width; ++i)
          y[i] = (x[i] * s + res[i]) * scale;
    }
  });
}

extern "C" void gmk_rms_norm_add_unweighted(gemmac_rt *rt, float *out,
                                            const float *in,
                                            const float *residual, int64_t rows,
                                            int64_t width, float eps,
                                            float scale) {
  gmk_rms_norm_add(rt, out, in, residual, rows, width, nullptr, 0, eps, scale);
}

extern "C" void gmk_rope(gemmac_rt *rt, float *out, const float *in,
                         int64_t n_tokens, int64_t n_heads, int64_t head_dim,
                         const int64_t *positions, float theta,
                         int64_t freq_dim, int64_t rotated_pairs) {
  rt->pool.parallelFor(n_tokens, 1, [&](int64_t t0, int64_t t1) {
    RopeTable rope(theta, freq_dim, rotated_pairs);
    for (int64_t t = t0; t < t1; ++t) {
      rope.at(positions[t]);
      for (int64_t h = 0; h < n_heads; ++h)
        rope.rotate(out + (t * n_heads + h) * head_dim,
                    in + (t * n_heads + h) * head_dim, head_dim);
    }
  });
}

extern "C" void gmk_rms_norm_rope(gemmac_rt *rt, float *out, const float *in,
                                  int64_t n_tokens, int64_t n_heads,
                                  int64_t head_dim, const int64_t *positions,
                                  float theta, int64_t freq_dim,
                                  int64_t rotated_pairs,
                                  const uint8_t *weight, int32_t weight_format,
                                  float eps) {
  const std::vector<float> w = normWeight(weight, weight_format, head_dim);
  rt->pool.parallelFor(n_tokens, 1, [&](int64_t t0, int64_t t1) {
    RopeTable rope(theta, freq_dim, rotated_pairs);
    for (int64_t t = t0; t < t1; ++t) {
      rope.at(positions[t]);
      for (int64_t h = 0; h < n_heads; ++h) {
        float *y = out + (t * n_heads + h) * head_dim;
        normGroup(y, in + (t * n_heads + h) * head_dim, head_dim,
                  weight ? w.data() : nullptr, eps);
        rope.rotate(y, y, head_dim);
      }
    }
  });
}

extern "C" void gmk_rms_norm_rope_unweighted(gemmac_rt *rt, float *out,
                                             const float *in, int64_t n_tokens,
                                             int64_t n_heads, int64_t head_dim,
                                             const int64_t *positions,
                                             float theta, int64_t freq_dim,
                                             int64_t rotated_pairs, float eps) {
  gmk_rms_norm_rope(rt, out, in, n_tokens, n_heads, head_dim, positions, theta,
                    freq_dim, rotated_pairs, nullptr, 0, eps);
}

extern "C" void gmk_gather_rows(gemmac_rt *, float *out, const float *in,
                                const int64_t *rows, int64_t n_rows,
                                int64_t width) {
  for (int64_t j = 0; j < n_rows; ++j)
    std::copy(in + rows[j] * width, in + (rows[j] + 1) * width, out + j * width);
}
