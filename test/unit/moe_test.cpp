// The mixture-of-experts kernels: routing against a direct computation,
// hostile logits, and the expert products' batch invariance (a row's result
// never depends on the other rows of the batch or their experts).

#include "formats/formats.h"
#include "runtime/kernels/kernels.h"
#include "runtime/src/rt.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

using namespace gemmac::fmt;

namespace {

TEST(MoERoute, TopKOfTheSoftmaxRenormalized) {
  gemmac_rt rt(2);
  const int64_t T = 40, E = 20, K = 6; // 20: a tail after two groups of 8
  std::mt19937 rng(7);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> logits(T * E), routing(T * 2 * K);
  for (float &v : logits)
    v = normal(rng);
  gmk_moe_route(&rt, routing.data(), logits.data(), T, E, K);
  for (int64_t t = 0; t < T; ++t) {
    const float *l = logits.data() + t * E;
    std::vector<int> order(E);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return l[a] > l[b]; });
    double top = 0;
    for (int k = 0; k < K; ++k)
      top += std::exp(double(l[order[k]]) - l[order[0]]);
    for (int k = 0; k < K; ++k) {
      const float *r = routing.data() + t * 2 * K;
      EXPECT_EQ(r[K + k], float(order[k])) << "token " << t << " slot " << k;
      const double want = std::exp(double(l[order[k]]) - l[order[0]]) / top;
      EXPECT_NEAR(r[k], want, 1e-5) << "token " << t << " slot " << k;
    }
  }
}

TEST(MoERoute, NonFiniteLogitsStayInRange) {
  gemmac_rt rt(1);
  const int64_t E = 16, K = 4;
  std::vector<float> logits(E, 0.5f), routing(2 * K);
  logits[3] = NAN;
  logits[7] = INFINITY;
  logits[9] = -INFINITY;
  gmk_moe_route(&rt, routing.data(), logits.data(), 1, E, K);
  for (int64_t k = 0; k < K; ++k) {
    const float id = routing[K + k];
    EXPECT_TRUE(id >= 0 && id < E && id == std::floor(id)) << id;
  }
}

/// Random routing rows: k distinct experts per token, weights summing to 1.
std::vector<float> randomRouting(std::mt19937 &rng, int64_t T, int64_t E,
                                 int64_t K) {
  std::vector<float> r(T * 2 * K);
  for (int64_t t = 0; t < T; ++t) {
    std::vector<int> e(E);
    std::iota(e.begin(), e.end(), 0);
    std::shuffle(e.begin(), e.end(), rng);
    for (int64_t k = 0; k < K; ++k) {
      r[t * 2 * K + k] = 1.0f / K;
      r[t * 2 * K + K + k] = float(e[k]);
    }
  }
  return r;
}

TEST(ExpertProducts, EveryRowIndependentOfTheBatch) {
  gemmac_rt rt(2);
  const int64_t E = 8, K = 3, N = 64, C = 256, T = 9;
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (Type type : {Type::Q4_0, Type::Q8_0, Type::Q4_K, Type::Q6_K, Type::BF16,
                    Type::F32}) {
    // A fused gate_up weight: 2N rows per expert.
    std::vector<float> w(E * 2 * N * C);
    for (float &v : w)
      v = u(rng);
    std::vector<uint8_t> q(rowBytes(type, C) * E * 2 * N);
    for (int64_t r = 0; r < E * 2 * N; ++r)
      quantizeRow(type, w.data() + r * C, q.data() + r * rowBytes(type, C), C);
    std::vector<float> x(T * C);
    for (float &v : x)
      v = u(rng);
    const std::vector<float> routing = randomRouting(rng, T, E, K);
    std::vector<float> all(T * K * N), one(K * N), glu(T * K * N),
        gluOne(K * N);
    auto linear = type == Type::Q4_0   ? gmk_expert_linear_q4_0
                  : type == Type::Q8_0 ? gmk_expert_linear_q8_0
                  : type == Type::Q4_K ? gmk_expert_linear_q4_k
                  : type == Type::Q6_K ? gmk_expert_linear_q6_k
                  : type == Type::BF16 ? gmk_expert_linear_bf16
                                       : gmk_expert_linear_f32;
    auto geglu = type == Type::Q4_0   ? gmk_expert_geglu_q4_0
                 : type == Type::Q8_0 ? gmk_expert_geglu_q8_0
                 : type == Type::Q4_K ? gmk_expert_geglu_q4_k
                 : type == Type::Q6_K ? gmk_expert_geglu_q6_k
                 : type == Type::BF16 ? gmk_expert_geglu_bf16
                                      : gmk_expert_geglu_f32;
    linear(&rt, all.data(), x.data(), T, q.data(), N, C, routing.data(), K,
           2 * N, N, 0);
    geglu(&rt, glu.data(), x.data(), T, q.data(), q.data(), N, C,
          routing.data(), K, 2 * N, 0, 2 * N, N);
    for (int64_t t = 0; t < T; ++t) {
      linear(&rt, one.data(), x.data() + t * C, 1, q.data(), N, C,
             routing.data() + t * 2 * K, K, 2 * N, N, 0);
      geglu(&rt, gluOne.data(), x.data() + t * C, 1, q.data(), q.data(), N, C,
            routing.data() + t * 2 * K, K, 2 * N, 0, 2 * N, N);
      EXPECT_EQ(0, std::memcmp(one.data(), all.data() + t * K * N, 4 * K * N))
          << "expert_linear, format " << int(type) << ", token " << t;
      EXPECT_EQ(0, std::memcmp(gluOne.data(), glu.data() + t * K * N,
                               4 * K * N))
          << "expert_geglu, format " << int(type) << ", token " << t;
      // And against the weight rows dequantized: the product is a dot
      // product of the chosen expert's up rows (first_row N).
      for (int64_t k = 0; k < K; ++k) {
        const int64_t e = int64_t(routing[t * 2 * K + K + k]);
        for (int64_t n = 0; n < N; n += 17) {
          std::vector<float> row(C);
          dequantizeRow(type, q.data() + (e * 2 * N + N + n) * rowBytes(type, C),
                        row.data(), C);
          double want = 0, mag = 0;
          for (int64_t c = 0; c < C; ++c) {
            want += double(row[c]) * x[t * C + c];
            mag += std::fabs(double(row[c]) * x[t * C + c]);
          }
          EXPECT_NEAR(all[(t * K + k) * N + n], want, 0.02 * mag + 1e-6)
              << "format " << int(type) << " token " << t << " slot " << k;
        }
      }
    }
  }
}

TEST(MoECombine, SlotsWeightedAndSummedInOrder) {
  gemmac_rt rt(1);
  const int64_t K = 3, W = 5;
  std::vector<float> d(K * W), routing = {0.5f, 0.25f, 0.25f, 4, 1, 9}, y(W);
  for (int64_t i = 0; i < K * W; ++i)
    d[i] = float(i) - 3.5f;
  gmk_moe_combine(&rt, y.data(), d.data(), 1, W, routing.data(), K);
  for (int64_t j = 0; j < W; ++j) {
    float want = d[j] * 0.5f;
    want = want + d[W + j] * 0.25f;
    want = want + d[2 * W + j] * 0.25f;
    EXPECT_EQ(y[j], want);
  }
  // The per-expert scale reads the slot's expert index.
  std::vector<float> s(10), out(K * W);
  for (int i = 0; i < 10; ++i)
    s[i] = float(i + 1);
  gmk_expert_scale(&rt, out.data(), d.data(), 1, W, routing.data(), K,
                   reinterpret_cast<const uint8_t *>(s.data()), 0, 10);
  for (int64_t k = 0; k < K; ++k)
    for (int64_t j = 0; j < W; ++j)
      EXPECT_EQ(out[k * W + j], d[k * W + j] * s[int(routing[K + k])]);
}

} // namespace
