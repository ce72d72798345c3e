// Mixture-of-experts routing and the per-slot steps around the expert
// products (gmk_expert_linear_* / gmk_expert_geglu_* are in linear.cpp).
//
// A routing row holds, per token, the k renormalized weights of the chosen
// experts followed by their k indices (exact small integers in f32), in slot
// order: descending probability, which fixes the order the experts' outputs
// are summed in. Every step follows llama.cpp's CPU graph for Gemma 4
// (build_moe_ffn with SOFTMAX gating and norm_w), operation by operation.

#include "formats/formats.h"
#include "runtime/src/rt.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

using namespace gemmac::fmt;

namespace {

/// exp(x) as ggml's AVX2 ggml_v_expf computes one lane: a degree-5
/// polynomial on the reduced argument and a scale by 2^n built in the
/// exponent bits, with the two extra scalings it takes for |n| > 126.
float expLane(float x) {
  const float r = 0x1.8p23f;
  const float z = std::fma(x, 0x1.715476p+0f, r);
  const float n = z - r;
  const float b =
      std::fma(-n, 0x1.7f7d1cp-20f, std::fma(-n, 0x1.62e4p-1f, x));
  const uint32_t e = std::bit_cast<uint32_t>(z) << 23;
  const float k = std::bit_cast<float>(e + std::bit_cast<uint32_t>(1.0f));
  const float u = b * b;
  const float j = std::fma(
      std::fma(std::fma(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u,
               std::fma(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
      u, 0x1.ffffecp-1f * b);
  const float an = std::fabs(n);
  if (!(an > 126))
    return std::fma(k, j, k);
  const uint32_t g = n <= 0 ? 0x82000000u : 0u;
  const float s1 = std::bit_cast<float>(g + 0x7f000000u);
  const float s2 = std::bit_cast<float>(e - g);
  if (an > 192)
    return s1 * s1;
  return std::fma(s2, j, s2) * s1;
}

/// ggml_soft_max over one row of n logits into p: the running maximum, the
/// exponentials eight at a time with each group's float sum (the AVX2
/// horizontal-sum order) added into a double, libm expf for a tail, then a
/// multiply by the f32 reciprocal of the sum.
void softmaxRow(const float *x, float *p, int64_t n) {
  float max = -INFINITY;
  for (int64_t i = 0; i < n; ++i)
    max = x[i] > max ? x[i] : max;
  double sum = 0;
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    float v[8];
    for (int l = 0; l < 8; ++l)
      p[i + l] = v[l] = expLane(x[i + l] - max);
    const float s = ((v[0] + v[4]) + (v[2] + v[6])) +
                    ((v[1] + v[5]) + (v[3] + v[7]));
    sum += static_cast<double>(s);
  }
  for (; i < n; ++i) {
    p[i] = std::exp(x[i] - max);
    sum += static_cast<double>(p[i]);
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (int64_t j = 0; j < n; ++j)
    p[j] *= inv;
}

} // namespace

extern "C" void gmk_moe_route(gemmac_rt *rt, float *out, const float *logits,
                              int64_t n_tokens, int64_t n_experts,
                              int64_t n_used) {
  rt->pool.parallelFor(n_tokens, 4, [&](int64_t t0, int64_t t1) {
    std::vector<float> p(n_experts);
    std::vector<int32_t> order(n_experts);
    for (int64_t t = t0; t < t1; ++t) {
      softmaxRow(logits + t * n_experts, p.data(), n_experts);
      // llama.cpp sorts all indices by descending probability with
      // std::sort (ggml_argsort): the same call orders ties the same way.
      // A NaN would make the comparison inconsistent (std::sort may then
      // read out of range): it ranks last instead.
      for (float &v : p)
        if (std::isnan(v))
          v = -INFINITY;
      std::iota(order.begin(), order.end(), 0);
      std::sort(order.begin(), order.end(),
                [&](int32_t a, int32_t b) { return p[a] > p[b]; });
      float *row = out + t * 2 * n_used;
      double sum = 0; // ggml_sum_rows: a double, in slot order
      for (int64_t k = 0; k < n_used; ++k)
        sum += static_cast<double>(p[order[k]]);
      const float s = std::max(static_cast<float>(sum), 6.103515625e-5f);
      for (int64_t k = 0; k < n_used; ++k) {
        row[k] = p[order[k]] / s;
        row[n_used + k] = static_cast<float>(order[k]);
      }
    }
  });
}

extern "C" void gmk_expert_scale(gemmac_rt *rt, float *out, const float *in,
                                 int64_t n_tokens, int64_t width,
                                 const float *routing, int64_t n_used,
                                 const uint8_t *scales, int32_t scales_format,
                                 int64_t n_experts) {
  std::vector<float> s(n_experts);
  dequantizeRow(static_cast<Type>(scales_format), scales, s.data(), n_experts);
  rt->pool.parallelFor(n_tokens * n_used, 4, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t t = r / n_used, k = r % n_used;
      const float f = s[static_cast<int64_t>(routing[(2 * t + 1) * n_used + k])];
      for (int64_t j = 0; j < width; ++j)
        out[r * width + j] = in[r * width + j] * f;
    }
  });
}

extern "C" void gmk_moe_combine(gemmac_rt *rt, float *out, const float *in,
                                int64_t n_tokens, int64_t width,
                                const float *routing, int64_t n_used) {
  rt->pool.parallelFor(n_tokens, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const float *w = routing + 2 * t * n_used;
      const float *d = in + t * n_used * width;
      float *y = out + t * width;
      // ggml_mul by the weights, then ggml_add of slot 0 and slot 1, of
      // that and slot 2, ...: each product and sum rounded in f32.
      for (int64_t j = 0; j < width; ++j) {
        float acc = d[j] * w[0];
        for (int64_t k = 1; k < n_used; ++k)
          acc = acc + d[k * width + j] * w[k];
        y[j] = acc;
      }
    }
  });
}

extern "C" void gmk_scale_columns(gemmac_rt *rt, float *out, const float *in,
                                  int64_t rows, int64_t width,
                                  const uint8_t *weight,
                                  int32_t weight_format) {
  std::vector<float> w(width);
  dequantizeRow(static_cast<Type>(weight_format), weight, w.data(), width);
  rt->pool.parallelFor(rows, 16, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t j = 0; j < width; ++j)
        out[r * width + j] = in[r * width + j] * w[j];
  });
}
