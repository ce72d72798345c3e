// Mixture-of-experts routing and the per-slot steps around the expert
// products (gmk_expert_linear_* / gmk_expert_geglu_* are in linear.cpp).
//
// A routing row holds, per token, the k renormalized weights of the chosen
// experts followed by their k indices (exact small integers in f32), in slot
// order: descending probability, which fixes the order the experts' outputs
// are summed in. Every step follows llama.cpp's CPU graph for Gemma 4
// (build_moe_ffn with SOFTMAX gating and norm_w), operation by operation.

#include "formats/formats.h"
#include "runtime/kernels/attention_reference.h"
#include "runtime/src/rt.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

using namespace gemmac::fmt;
using namespace gemmac::rt;

namespace {

/// ggml_soft_max over one row of n logits into p: the running maximum, the
/// exponentials in groups (ggml_v_expf's lanes: eight in llama.cpp's AVX2
/// build, sixteen in its AVX-512 build, KernelSet::Avx512, four in its Arm
/// build, KernelSet::Arm) with each group's float sum in that build's
/// horizontal-sum order added into a double, libm expf for a tail, then a
/// multiply by the f32 reciprocal of the sum.
void softmaxRow(const float *x, float *p, int64_t n, KernelSet set) {
  const bool zen4 = set == KernelSet::Avx512;
  const int64_t group = zen4 ? 16 : set == KernelSet::Arm ? 4 : 8;
  float max = -INFINITY;
  for (int64_t i = 0; i < n; ++i)
    max = x[i] > max ? x[i] : max;
  double sum = 0;
  int64_t i = 0;
  for (; i + group <= n; i += group) {
    for (int64_t l = 0; l < group; ++l)
      p[i + l] = zen4 ? ref::polyExpZen4(x[i + l] - max)
                      : ref::polyExp(x[i + l] - max);
    sum += static_cast<double>(zen4         ? ref::hsum16(p + i)
                               : group == 4 ? ref::hsum4(p + i)
                                            : ref::hsum8(p + i));
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
      softmaxRow(logits + t * n_experts, p.data(), n_experts, rt->kernels);
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
