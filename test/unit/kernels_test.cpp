// CPU kernels against scalar references: matrix products for every weight
// format (with the activation rounding each format pairs with), RMSNorm,
// RoPE, attention over a KV cache including sliding-window rings evaluated
// in several steps, and GELU.

#include "abi/step.h"
#include "formats/formats.h"
#include "runtime/kernels/gelu.h"
#include "runtime/kernels/half.h"
#include "runtime/kernels/attention_reference.h"
#include "runtime/kernels/kernels.h"
#include "runtime/src/rt.h"
#include "test/unit/kernel_sets.h"
#include "test/unit/random_values.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <vector>

using namespace gemmac::fmt;

namespace {

using gemmac::test::randn;


/// The activation row as the kernel sees it after its format's rounding.
std::vector<float> roundedActivation(Type w, const float *x, int64_t k) {
  std::vector<float> out(k);
  switch (w) {
  case Type::F32:
  case Type::Q4_0_F32: // the float-activation forms: f32 as it is
  case Type::Q8_0_F32:
  case Type::NVFP4_F32:
    out.assign(x, x + k);
    break;
  case Type::F16:
    for (int64_t i = 0; i < k; ++i)
      out[i] = roundToF16(x[i]);
    break;
  case Type::BF16:
    for (int64_t i = 0; i < k; ++i)
      out[i] = roundToBF16(x[i]);
    break;
  case Type::Q4_1:
  case Type::Q5_1: {
    std::vector<BlockQ8_1> q(k / 32);
    quantizeRowQ8_1(x, q.data(), k);
    for (int64_t i = 0; i < k; ++i)
      out[i] = f16ToF32(q[i / 32].d) * q[i / 32].qs[i % 32];
    break;
  }
  case Type::Q4_K:
  case Type::Q5_K:
  case Type::Q6_K: {
    std::vector<BlockQ8_K> q(k / 256);
    quantizeRowQ8_K(x, q.data(), k);
    for (int64_t i = 0; i < k; ++i)
      out[i] = q[i / 256].d * q[i / 256].qs[i % 256];
    break;
  }
  default: {
    std::vector<BlockQ8_0> q(k / 32);
    quantizeRowQ8_0(x, q.data(), k);
    for (int64_t i = 0; i < k; ++i)
      out[i] = f16ToF32(q[i / 32].d) * q[i / 32].qs[i % 32];
  }
  }
  return out;
}

using LinearFn = void (*)(gemmac_rt *, float *, const float *, int64_t,
                          const uint8_t *, int64_t, int64_t);

struct LinearCase {
  Type type;
  LinearFn fn;
};

class Linear : public ::testing::TestWithParam<LinearCase> {};

TEST_P(Linear, MatchesDequantizedReference) {
  const auto [type, fn] = GetParam();
  const int64_t T = 3, N = 40, K = 512;
  std::vector<float> w = randn(N * K, 1, 0.05f), x = randn(T * K, 2);
  std::vector<uint8_t> wq(rowBytes(type, K) * N);
  for (int64_t n = 0; n < N; ++n)
    quantizeRow(type, w.data() + n * K, wq.data() + n * rowBytes(type, K), K);
  gemmac_rt rt(2);
  std::vector<float> y(T * N);
  fn(&rt, y.data(), x.data(), T, wq.data(), N, K);
  std::vector<float> wd(K);
  const bool affine = type == Type::Q4_1 || type == Type::Q5_1;
  for (int64_t t = 0; t < T; ++t) {
    std::vector<float> a = roundedActivation(type, x.data() + t * K, K);
    // Q4_1/Q5_1 pair with Q8_1, whose block sum s is stored as f16: the
    // minimum's term uses that rounded sum.
    std::vector<BlockQ8_1> q81(K / 32);
    quantizeRowQ8_1(x.data() + t * K, q81.data(), K);
    for (int64_t n = 0; n < N; ++n) {
      dequantizeRow(type, wq.data() + n * rowBytes(type, K), wd.data(), K);
      double ref = 0, mag = 0;
      for (int64_t k = 0; k < K; ++k) {
        ref += static_cast<double>(wd[k]) * a[k];
        mag += std::fabs(static_cast<double>(wd[k]) * a[k]);
      }
      if (affine) {
        const uint8_t *row = wq.data() + n * rowBytes(type, K);
        const size_t bb = blockBytes(type);
        for (int64_t blk = 0; blk < K / 32; ++blk) {
          uint16_t mh;
          std::memcpy(&mh, row + blk * bb + 2, 2);
          double exactSum = 0;
          for (int j = 0; j < 32; ++j)
            exactSum += a[blk * 32 + j];
          ref += f16ToF32(mh) * (f16ToF32(q81[blk].s) - exactSum);
        }
      }
      EXPECT_NEAR(y[t * N + n], ref, 1e-5 * mag + 1e-7)
          << typeName(type) << " t=" << t << " n=" << n;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    All, Linear,
    ::testing::Values(LinearCase{Type::F32, gmk_linear_f32},
                      LinearCase{Type::F16, gmk_linear_f16},
                      LinearCase{Type::BF16, gmk_linear_bf16},
                      LinearCase{Type::Q8_0, gmk_linear_q8_0},
                      LinearCase{Type::Q4_0, gmk_linear_q4_0},
                      LinearCase{Type::Q4_1, gmk_linear_q4_1},
                      LinearCase{Type::Q5_0, gmk_linear_q5_0},
                      LinearCase{Type::Q5_1, gmk_linear_q5_1},
                      LinearCase{Type::Q4_K, gmk_linear_q4_k},
                      LinearCase{Type::Q5_K, gmk_linear_q5_k},
                      LinearCase{Type::Q6_K, gmk_linear_q6_k},
                      LinearCase{Type::NVFP4, gmk_linear_nvfp4},
                      LinearCase{Type::Q4_0_F32, gmk_linear_q4_0_f32},
                      LinearCase{Type::Q8_0_F32, gmk_linear_q8_0_f32},
                      LinearCase{Type::NVFP4_F32, gmk_linear_nvfp4_f32}),
    [](const auto &info) { return std::string(typeName(info.param.type)); });

TEST(Embed, DequantizesAndScales) {
  const int64_t V = 10, H = 64;
  std::vector<float> table = randn(V * H, 5);
  std::vector<uint8_t> q(rowBytes(Type::Q8_0, H) * V);
  for (int64_t v = 0; v < V; ++v)
    quantizeRow(Type::Q8_0, table.data() + v * H,
                q.data() + v * rowBytes(Type::Q8_0, H), H);
  gemmac_rt rt(1);
  int32_t tokens[2] = {7, 3};
  std::vector<float> out(2 * H), row(H);
  gmk_embed_q8_0(&rt, out.data(), tokens, 2, q.data(), V, H, 2.0f);
  dequantizeRow(Type::Q8_0, q.data() + 3 * rowBytes(Type::Q8_0, H), row.data(), H);
  for (int64_t i = 0; i < H; ++i)
    EXPECT_EQ(out[H + i], row[i] * 2.0f);
}

TEST(RMSNorm, PerGroupWithWeightAndWithout) {
  const int64_t rows = 2, width = 8, group = 4;
  std::vector<float> x = randn(rows * width, 9), w = {0.5f, 1, 2, 3};
  gemmac_rt rt(1);
  std::vector<float> y(rows * width), u(rows * width);
  gmk_rms_norm(&rt, y.data(), x.data(), rows, width, group,
               reinterpret_cast<const uint8_t *>(w.data()), 0, 1e-6f);
  gmk_rms_norm_unweighted(&rt, u.data(), x.data(), rows, width, group, 1e-6f);
  for (int64_t g = 0; g < rows * width / group; ++g) {
    double ss = 0;
    for (int i = 0; i < group; ++i)
      ss += x[g * group + i] * x[g * group + i];
    double s = 1.0 / std::sqrt(ss / group + 1e-6);
    for (int i = 0; i < group; ++i) {
      EXPECT_NEAR(u[g * group + i], x[g * group + i] * s, 1e-5);
      EXPECT_NEAR(y[g * group + i], x[g * group + i] * s * w[i], 1e-5);
    }
  }
}

TEST(Rope, RotatesLeadingPairsAndPassesTheRest) {
  const int64_t T = 3, heads = 2, hd = 16, freqDim = 16, pairs = 4;
  std::vector<float> x = randn(T * heads * hd, 11), y(x.size());
  gemmac_rt rt(1);
  const int64_t positions[T] = {5, 9, 2}; // rows of several sequences
  gmk_rope(&rt, y.data(), x.data(), T, heads, hd, positions, 10000.0f, freqDim,
           pairs);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < heads; ++h) {
      const float *a = x.data() + (t * heads + h) * hd;
      const float *b = y.data() + (t * heads + h) * hd;
      for (int64_t j = 0; j < freqDim / 2; ++j) {
        double ang = j < pairs ? positions[t] * std::pow(10000.0, -2.0 * j / freqDim) : 0.0;
        double e0 = a[j] * std::cos(ang) - a[j + 8] * std::sin(ang);
        double e1 = a[j] * std::sin(ang) + a[j + 8] * std::cos(ang);
        EXPECT_NEAR(b[j], e0, 1e-4);
        EXPECT_NEAR(b[j + 8], e1, 1e-4);
      }
    }
}

/// Naive attention over full-precision keys and values rounded as the cache
/// stores them (rk, rv).
std::vector<float> naiveAttention(const std::vector<float> &q,
                                  const std::vector<float> &k,
                                  const std::vector<float> &v, int64_t T,
                                  int64_t nh, int64_t nkv, int64_t hd,
                                  int64_t window,
                                  const std::function<float(float)> &rk,
                                  const std::function<float(float)> &rv) {
  auto r = [&](float x) { return rk(x); };
  std::vector<float> out(T * nh * hd);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < nh; ++h) {
      int64_t g = h / (nh / nkv);
      int64_t first = window ? std::max<int64_t>(0, t - window + 1) : 0;
      std::vector<double> s;
      double mx = -1e30;
      for (int64_t j = first; j <= t; ++j) {
        double d = 0;
        for (int64_t i = 0; i < hd; ++i)
          d += q[(t * nh + h) * hd + i] * r(k[(j * nkv + g) * hd + i]);
        s.push_back(d);
        mx = std::max(mx, d);
      }
      double sum = 0;
      for (double &e : s)
        sum += (e = std::exp(e - mx));
      for (int64_t i = 0; i < hd; ++i) {
        double acc = 0;
        for (int64_t j = first; j <= t; ++j)
          acc += s[j - first] * rv(v[(j * nkv + g) * hd + i]);
        out[(t * nh + h) * hd + i] = static_cast<float>(acc / sum);
      }
    }
  return out;
}

std::vector<float> naiveAttention(const std::vector<float> &q,
                                  const std::vector<float> &k,
                                  const std::vector<float> &v, int64_t T,
                                  int64_t nh, int64_t nkv, int64_t hd,
                                  int64_t window, bool f16) {
  auto r = [&](float x) { return f16 ? roundToF16(x) : x; };
  return naiveAttention(q, k, v, T, nh, nkv, hd, window, r, r);
}

/// A kernel of the step's segment table (abi/step.h) called in the
/// single-sequence form (rt, out, q, k, v, n, pos0, ...): one segment at pos0.
template <typename Fn> auto oneSegment(Fn fn) {
  return [fn](gemmac_rt *rt, float *out, const float *q, const float *k,
              const float *v, int64_t n, int64_t pos0, int64_t nh, int64_t nkv,
              int64_t hd, int64_t window, const auto *kc, const auto *vc,
              int64_t capacity, float scale, auto... kvScales) {
    const int64_t seg[GEMMAC_SEQ_FIELDS] = {0, pos0, 0, n};
    fn(rt, out, q, k, v, n, seg, 1, nh, nkv, hd, window, kc, vc, capacity, 0,
       scale, kvScales...);
  };
}
template <typename Fn> auto oneSegmentStore(Fn fn) {
  return [fn](gemmac_rt *rt, auto *kc, auto *vc, const float *k,
              const float *v, int64_t n, int64_t pos0, int64_t width,
              int64_t window, int64_t capacity, auto... kvScales) {
    const int64_t seg[GEMMAC_SEQ_FIELDS] = {0, pos0, 0, n};
    fn(rt, kc, vc, k, v, n, seg, 1, width, window, capacity, 0, kvScales...);
  };
}

/// Runs attention over T tokens fed in steps of `step`, as the runtime does
/// for a prompt followed by decoding, through a cache of `capacity` rows.
template <typename CT, typename Att, typename Store>
std::vector<float> stepped(Att att, Store store, const std::vector<float> &q,
                           const std::vector<float> &k,
                           const std::vector<float> &v, int64_t T, int64_t nh,
                           int64_t nkv, int64_t hd, int64_t window,
                           int64_t step,
                           gemmac::rt::KernelSet set = gemmac::rt::KernelSet::Avx2) {
  gemmac_rt rt(2);
  rt.kernels = set;
  const int64_t width = nkv * hd, capacity = window ? window : T;
  std::vector<CT> kc(capacity * width), vc(capacity * width);
  std::vector<float> out(T * nh * hd);
  for (int64_t p = 0; p < T; p += step) {
    int64_t n = std::min(step, T - p);
    att(&rt, out.data() + p * nh * hd, q.data() + p * nh * hd,
        k.data() + p * width, v.data() + p * width, n, p, nh, nkv, hd, window,
        kc.data(), vc.data(), capacity, 1.0f);
    store(&rt, kc.data(), vc.data(), k.data() + p * width,
          v.data() + p * width, n, p, width, window, capacity);
  }
  return out;
}

TEST(Attention, SlidingWindowRingMatchesNaiveForEveryStepSize) {
  const int64_t T = 50, nh = 4, nkv = 2, hd = 16, window = 8;
  auto q = randn(T * nh * hd, 21, 0.3f), k = randn(T * nkv * hd, 22),
       v = randn(T * nkv * hd, 23);
  for (bool f16 : {true, false}) {
    auto ref = naiveAttention(q, k, v, T, nh, nkv, hd, window, f16);
    for (int64_t step : {1, 3, 7, 8, 50}) {
      std::vector<float> got =
          f16 ? stepped<uint16_t>(oneSegment(gmk_attention_f16),
                                  oneSegmentStore(gmk_kv_store_f16), q, k, v,
                                  T, nh, nkv, hd, window, step)
              : stepped<float>(oneSegment(gmk_attention_f32),
                               oneSegmentStore(gmk_kv_store_f32), q, k, v, T,
                               nh, nkv, hd, window, step);
      for (size_t i = 0; i < ref.size(); ++i)
        ASSERT_NEAR(got[i], ref[i], 1e-5)
            << (f16 ? "f16" : "f32") << " step " << step << " at " << i;
    }
  }
}

TEST(Attention, GlobalCausalMatchesNaive) {
  const int64_t T = 20, nh = 2, nkv = 1, hd = 32;
  auto q = randn(T * nh * hd, 31, 0.2f), k = randn(T * nkv * hd, 32),
       v = randn(T * nkv * hd, 33);
  auto ref = naiveAttention(q, k, v, T, nh, nkv, hd, 0, true);
  auto got = stepped<uint16_t>(oneSegment(gmk_attention_f16),
                                  oneSegmentStore(gmk_kv_store_f16), q, k, v, T,
                               nh, nkv, hd, 0, 6);
  for (size_t i = 0; i < ref.size(); ++i)
    ASSERT_NEAR(got[i], ref[i], 1e-5);
}

/// The vectorized kernel against the scalar statement of llama.cpp's
/// arithmetic, bit for bit: head dims with and without an instantiation,
/// sliding and global, grouped heads, prompts then steps, both cache types.
TEST(Attention, BitExactWithScalarReference) {
  struct Shape {
    int64_t T, nh, nkv, hd, window, step;
  } shapes[] = {{150, 4, 2, 64, 40, 150}, {150, 4, 2, 64, 40, 1},
                {90, 8, 1, 128, 0, 7},    {70, 4, 4, 256, 0, 70},
                {130, 16, 1, 512, 0, 33}, {40, 6, 3, 24, 16, 5}};
  for (gemmac::rt::KernelSet set : gemmac::test::kernelSets())
  for (const Shape &sh : shapes)
    for (bool f16 : {true, false}) {
      auto q = randn(sh.T * sh.nh * sh.hd, 41, 0.3f),
           k = randn(sh.T * sh.nkv * sh.hd, 42),
           v = randn(sh.T * sh.nkv * sh.hd, 43);
      auto refAtt = [&](gemmac_rt *rt, float *out, const float *qq,
                        const float *kk, const float *vv, int64_t n,
                        int64_t pos0, int64_t nh, int64_t nkv, int64_t hd,
                        int64_t window, const auto *kc, const auto *vc,
                        int64_t cap, float scale) {
        gemmac::rt::ref::attention(rt, out, qq, kk, vv, n, pos0, nh, nkv, hd,
                                   window, kc, vc, cap, scale);
      };
      std::vector<float> want, got;
      if (f16) {
        auto att = sh.hd == 512 ? gmk_attention_f16_d512 : gmk_attention_f16;
        want = stepped<uint16_t>(refAtt, oneSegmentStore(gmk_kv_store_f16), q, k, v, sh.T, sh.nh,
                                 sh.nkv, sh.hd, sh.window, sh.step, set);
        got = stepped<uint16_t>(oneSegment(att), oneSegmentStore(gmk_kv_store_f16), q, k, v, sh.T, sh.nh,
                                sh.nkv, sh.hd, sh.window, sh.step, set);
      } else {
        auto att = sh.hd == 64 ? gmk_attention_f32_d64 : gmk_attention_f32;
        want = stepped<float>(refAtt, oneSegmentStore(gmk_kv_store_f32), q, k, v, sh.T, sh.nh,
                              sh.nkv, sh.hd, sh.window, sh.step, set);
        got = stepped<float>(oneSegment(att), oneSegmentStore(gmk_kv_store_f32), q, k, v, sh.T, sh.nh,
                             sh.nkv, sh.hd, sh.window, sh.step, set);
      }
      ASSERT_EQ(std::memcmp(want.data(), got.data(), want.size() * 4), 0)
          << "T=" << sh.T << " hd=" << sh.hd << " window=" << sh.window
          << " step=" << sh.step << (f16 ? " f16" : " f32") << " "
          << gemmac::test::kernelSetName(set);
    }
}

/// stepped() over an E4M3 cache with scales ks, vs.
template <typename Att>
std::vector<float> steppedF8(Att att, const std::vector<float> &q,
                             const std::vector<float> &k,
                             const std::vector<float> &v, int64_t T,
                             int64_t nh, int64_t nkv, int64_t hd,
                             int64_t window, int64_t step, float ks,
                             float vs) {
  auto bound = [&](gemmac_rt *rt, float *out, const float *qq,
                   const float *kk, const float *vv, int64_t n, int64_t pos0,
                   int64_t h, int64_t g, int64_t d, int64_t w,
                   const uint8_t *kc, const uint8_t *vc, int64_t cap,
                   float scale) {
    att(rt, out, qq, kk, vv, n, pos0, h, g, d, w, kc, vc, cap, scale, ks, vs);
  };
  auto store = [&](gemmac_rt *rt, uint8_t *kc, uint8_t *vc, const float *kk,
                   const float *vv, int64_t n, int64_t pos0, int64_t width,
                   int64_t w, int64_t cap) {
    oneSegmentStore(gmk_kv_store_f8)(rt, kc, vc, kk, vv, n, pos0, width, w, cap,
                                     ks, vs);
  };
  return stepped<uint8_t>(bound, store, q, k, v, T, nh, nkv, hd, window, step);
}

/// The E4M3 cache (--kv-cache f8): the vectorized kernel equals the scalar
/// reference bit for bit, in a batch and in steps alike; it computes
/// attention over keys e4m3(k / ks) * ks and values e4m3(v / vs) * vs
/// (checked against the naive definition), saturating at 448 * scale.
TEST(Attention, F8CacheBitExactWithScalarReferenceAndDefinition) {
  struct Shape {
    int64_t T, nh, nkv, hd, window, step;
  } shapes[] = {{150, 4, 2, 64, 40, 150}, {150, 4, 2, 64, 40, 1},
                {90, 8, 1, 128, 0, 7},    {70, 4, 4, 256, 0, 70},
                {40, 6, 3, 24, 16, 5}};
  // Scales that keep every value in range, and ones that saturate some.
  const float scales[][2] = {{0.02f, 0.03f}, {1.0f, 1.0f}, {0.004f, 0.006f}};
  for (const Shape &sh : shapes)
    for (const auto &sc : scales) {
      const float ks = sc[0], vs = sc[1];
      auto q = randn(sh.T * sh.nh * sh.hd, 51, 0.3f),
           k = randn(sh.T * sh.nkv * sh.hd, 52),
           v = randn(sh.T * sh.nkv * sh.hd, 53);
      auto refAtt = [](gemmac_rt *rt, float *out, const float *qq,
                       const float *kk, const float *vv, int64_t n,
                       int64_t pos0, int64_t nh, int64_t nkv, int64_t hd,
                       int64_t window, const uint8_t *kc, const uint8_t *vc,
                       int64_t cap, float scale, float kScale, float vScale) {
        gemmac::rt::ref::attention(rt, out, qq, kk, vv, n, pos0, nh, nkv, hd,
                                   window, kc, vc, cap, scale,
                                   {kScale, vScale});
      };
      auto att = sh.hd == 128 ? gmk_attention_f8_d128 : gmk_attention_f8;
      auto want = steppedF8(refAtt, q, k, v, sh.T, sh.nh, sh.nkv, sh.hd,
                            sh.window, sh.step, ks, vs);
      auto got = steppedF8(oneSegment(att), q, k, v, sh.T, sh.nh, sh.nkv, sh.hd,
                           sh.window, sh.step, ks, vs);
      auto whole = steppedF8(oneSegment(att), q, k, v, sh.T, sh.nh, sh.nkv, sh.hd,
                             sh.window, sh.T, ks, vs);
      ASSERT_EQ(std::memcmp(want.data(), got.data(), want.size() * 4), 0)
          << "T=" << sh.T << " hd=" << sh.hd << " step=" << sh.step
          << " k_scale=" << ks;
      ASSERT_EQ(std::memcmp(whole.data(), got.data(), got.size() * 4), 0)
          << "a batch and steps differ: T=" << sh.T << " hd=" << sh.hd;
      auto e4m3 = [](float x, float s) {
        return e4m3ToF32(f32ToE4M3(x / s)) * s;
      };
      auto naive = naiveAttention(
          q, k, v, sh.T, sh.nh, sh.nkv, sh.hd, sh.window,
          [&](float x) { return e4m3(x, ks); },
          [&](float x) { return e4m3(x, vs); });
      // (f32 sums over up to 256 dims against double ones)
      for (size_t i = 0; i < naive.size(); ++i)
        ASSERT_NEAR(got[i], naive[i], 3e-5)
            << "T=" << sh.T << " hd=" << sh.hd << " k_scale=" << ks
            << " at " << i;
    }
  // The saturating scales did saturate: 448 * 0.004 = 1.79 < max |k|.
  auto k = randn(150 * 2 * 64, 52);
  EXPECT_GT(*std::max_element(k.begin(), k.end()), 448 * 0.004f);
}

/// Several sequences in one step (abi/step.h): each segment's outputs and
/// cache rows equal, bit for bit, those of the same rows evaluated alone on
/// that sequence's cache, whatever else is in the step: single-row and
/// multi-row segments, rings wrapped several times, 1 and 4 threads (the
/// work split changes), head dims with and without an instantiation.
template <typename CT, typename Att, typename Store>
void checkSegmentsAsIfAlone(Att att, Store store, int64_t nh, int64_t nkv,
                            int64_t hd, int64_t window, int64_t nSeq,
                            int threads, uint32_t seed) {
  const int64_t width = nkv * hd, capacity = window ? window : 160;
  const int64_t stride = capacity * width + 24; // slots need not be packed
  std::mt19937 rng(seed);
  auto toCache = [](float x) {
    if constexpr (sizeof(CT) == 2)
      return gemmac::rt::floatToHalf(x);
    else
      return x;
  };
  std::vector<CT> kc(nSeq * stride), vc(nSeq * stride);
  std::vector<float> fill = randn(2 * kc.size(), seed);
  for (size_t i = 0; i < kc.size(); ++i) {
    kc[i] = toCache(fill[i]);
    vc[i] = toCache(fill[kc.size() + i]);
  }
  std::vector<int64_t> slots(nSeq), seqs;
  for (int64_t i = 0; i < nSeq; ++i)
    slots[i] = i;
  std::shuffle(slots.begin(), slots.end(), rng);
  int64_t T = 0;
  for (int64_t i = 0; i < nSeq; ++i) {
    const int64_t rows = i % 3 == 0 ? 1 + rng() % 9 : 1;
    const int64_t pos0 =
        window ? rng() % (5 * capacity) : rng() % (capacity - rows);
    seqs.insert(seqs.end(), {slots[i], pos0, T, rows});
    T += rows;
  }
  auto q = randn(T * nh * hd, seed + 1, 0.3f), k = randn(T * width, seed + 2),
       v = randn(T * width, seed + 3);
  gemmac_rt rt(threads);
  std::vector<float> out(T * nh * hd), alone(out.size());
  std::vector<CT> kb = kc, vb = vc;
  att(&rt, out.data(), q.data(), k.data(), v.data(), T, seqs.data(), nSeq, nh,
      nkv, hd, window, kb.data(), vb.data(), capacity, stride, 0.125f);
  store(&rt, kb.data(), vb.data(), k.data(), v.data(), T, seqs.data(), nSeq,
        width, window, capacity, stride);
  for (int64_t i = 0; i < nSeq; ++i) {
    const int64_t *g = seqs.data() + i * GEMMAC_SEQ_FIELDS;
    const int64_t one[GEMMAC_SEQ_FIELDS] = {0, g[1], 0, g[3]};
    const int64_t row0 = g[2];
    CT *ks = kc.data() + g[0] * stride, *vs = vc.data() + g[0] * stride;
    att(&rt, alone.data() + row0 * nh * hd, q.data() + row0 * nh * hd,
        k.data() + row0 * width, v.data() + row0 * width, g[3], one, 1, nh,
        nkv, hd, window, ks, vs, capacity, 0, 0.125f);
    store(&rt, ks, vs, k.data() + row0 * width, v.data() + row0 * width, g[3],
          one, 1, width, window, capacity, 0);
  }
  ASSERT_EQ(std::memcmp(out.data(), alone.data(), out.size() * 4), 0)
      << "hd=" << hd << " window=" << window << " seqs=" << nSeq
      << " threads=" << threads;
  ASSERT_EQ(std::memcmp(kb.data(), kc.data(), kc.size() * sizeof(CT)), 0);
  ASSERT_EQ(std::memcmp(vb.data(), vc.data(), vc.size() * sizeof(CT)), 0);
}

TEST(AttentionSeqs, EachSegmentAsIfAlone) {
  struct Shape {
    int64_t nh, nkv, hd, window;
  } shapes[] = {{4, 2, 64, 16}, {8, 1, 128, 0}, {4, 2, 24, 16}, {2, 1, 256, 0}};
  uint32_t seed = 100;
  for (const Shape &sh : shapes)
    for (int64_t nSeq : {1, 2, 7, 32})
      for (int threads : {1, 4}) {
        checkSegmentsAsIfAlone<uint16_t>(
            sh.hd == 128 ? gmk_attention_f16_d128 : gmk_attention_f16,
            gmk_kv_store_f16, sh.nh, sh.nkv, sh.hd, sh.window, nSeq, threads,
            ++seed);
        checkSegmentsAsIfAlone<float>(gmk_attention_f32, gmk_kv_store_f32,
                                      sh.nh, sh.nkv, sh.hd, sh.window, nSeq,
                                      threads, ++seed);
      }
}

TEST(GatherRows, CopiesTheWantedRowsInOrder) {
  gemmac_rt rt(1);
  const std::vector<float> in = randn(6 * 5, 7);
  const int64_t rows[] = {0, 3, 5};
  std::vector<float> out(3 * 5);
  gmk_gather_rows(&rt, out.data(), in.data(), rows, 3, 5);
  for (int j = 0; j < 3; ++j)
    EXPECT_EQ(std::memcmp(out.data() + j * 5, in.data() + rows[j] * 5, 20), 0);
}

TEST(Gelu, TanhTableMatchesFormulaOnHalfInputs) {
  gemmac_rt rt(1);
  std::vector<float> x = {-12.0f, -3.0f, -0.5f, 0.0f, 0.25f, 1.0f, 4.0f, 11.0f};
  std::vector<float> y(x.size());
  gmk_gelu_tanh(&rt, y.data(), x.data(), x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    double a = x[i];
    double ref = 0.5 * a * (1 + std::tanh(0.7978845608 * (a + 0.044715 * a * a * a)));
    if (a <= -10) ref = 0;
    if (a >= 10) ref = a;
    EXPECT_NEAR(y[i], ref, 2e-3 * std::fabs(ref) + 1e-6) << x[i];
  }
  gmk_gelu_erf(&rt, y.data(), x.data(), x.size());
  for (size_t i = 0; i < x.size(); ++i)
    EXPECT_NEAR(y[i], 0.5 * x[i] * (1 + std::erf(x[i] / std::sqrt(2.0))), 1e-6);
}

/// The eight-wide GeGLU (F16C conversions, a gather from the table) against
/// the scalar lookup, value for value: every f16-representable magnitude
/// band, the +-10 edges, halfway cases between two f16 values, infinities,
/// NaN and f16 overflow, at lengths that leave scalar tails.
TEST(Gelu, EightWideRowsMatchTheScalarLookup) {
  const uint16_t *table = gemmac::rt::geluTanhTable();
  std::mt19937 rng(9);
  std::vector<float> gate, up;
  for (int i = 0; i < 200000; ++i) {
    const float mag = std::ldexp(1.0f, static_cast<int>(rng() % 40) - 30);
    gate.push_back(std::uniform_real_distribution<float>(-1, 1)(rng) * mag);
    up.push_back(std::uniform_real_distribution<float>(-4, 4)(rng));
  }
  // Every f16 value and the midpoint to the next one in magnitude (a tie
  // that round-to-nearest-even must break the same way).
  for (uint32_t h = 0; h < (1u << 16); ++h) {
    const float v = f16ToF32(static_cast<uint16_t>(h));
    const float next = f16ToF32(static_cast<uint16_t>(h + 1));
    gate.push_back(std::isfinite(v) && std::isfinite(next) &&
                           std::signbit(v) == std::signbit(next)
                       ? (v + next) / 2
                       : v);
    gate.push_back(v);
    up.push_back(1.5f);
    up.push_back(-0.75f);
  }
  for (float v : {-10.0f, 10.0f, std::nextafter(-10.0f, 0.0f),
                  std::nextafter(10.0f, 0.0f), 65520.0f, 1e30f, -1e30f,
                  INFINITY, -INFINITY, NAN, 0.0f, -0.0f, 1e-40f}) {
    gate.push_back(v);
    up.push_back(2.0f);
  }
  for (bool withUp : {true, false})
    for (int64_t n : {static_cast<int64_t>(gate.size()), int64_t{13}}) {
      std::vector<float> y(n);
      gemmac::rt::gegluRows(table, gate.data(), withUp ? up.data() : nullptr,
                            y.data(), n);
      for (int64_t j = 0; j < n; ++j) {
        const float want =
            withUp ? gemmac::rt::gegluLookup(table, gate[j], up[j])
                   : gemmac::rt::geluTanhLookup(table, gate[j]);
        if (std::isnan(want))
          ASSERT_TRUE(std::isnan(y[j])) << gate[j];
        else
          ASSERT_EQ(std::memcmp(&y[j], &want, 4), 0)
              << "gate " << gate[j] << " up " << up[j] << ": " << y[j]
              << " vs " << want;
      }
    }
}

/// --nvfp4-activations fp4: the quantization as its definition states it
/// (safetensors-formats.md 3.5), its E2M1 rounding written here apart from
/// formats.h's (E4M3's has tests of its own): per 16, s = e4m3(G * amax *
/// (1/6)); each value the E2M1 grid point nearest x * (G / s), ties to the
/// even code, saturating at 6, times s / G.
float e2m1Nearest(float v) {
  static const float grid[8] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
  const float a = std::fabs(v);
  int best = 7; // saturates
  for (int c = 0; c < 7; ++c) {
    const float mid = 0.5f * (grid[c] + grid[c + 1]);
    if (a < mid || (a == mid && c % 2 == 0)) {
      best = c;
      break;
    }
  }
  return std::copysign(grid[best], v);
}

TEST(QuantizeFP4, IsTheDefinition) {
  // G = 1 and amax 6: s = 1, so each value lands on its grid point.
  const std::vector<float> x = {6,    0.75f, 1.25f, 2.5f, 5,    0.25f,
                                -0.75f, 3.5f, 1.75f, 0.1f, -6,  2.9f,
                                4.9f,  5.1f,  0.5f,  1.5f};
  const std::vector<float> want = {6, 1, 1, 2, 4, 0, -1, 4,
                                   2, 0, -6, 3, 4, 6, 0.5f, 1.5f};
  gemmac_rt rt(2);
  std::vector<float> y(16);
  gmk_quantize_fp4(&rt, y.data(), x.data(), 16, 1.0f);
  for (int j = 0; j < 16; ++j)
    EXPECT_EQ(y[j], want[j]) << j << ": " << x[j];

  // Random rows at many magnitudes, and an all-zero 16 (s = 0: zeros).
  std::vector<float> in = randn(64 * 16, 31);
  for (int b = 0; b < 64; ++b)
    for (int j = 0; j < 16; ++j)
      in[16 * b + j] *= std::ldexp(1.0f, b % 13 - 6);
  std::fill(in.begin() + 16 * 5, in.begin() + 16 * 6, 0.0f);
  for (float G : {1.0f, 168.0f, 0.01f}) {
    std::vector<float> out(in.size());
    gmk_quantize_fp4(&rt, out.data(), in.data(),
                     static_cast<int64_t>(in.size()), G);
    for (size_t b = 0; b < in.size() / 16; ++b) {
      float amax = 0;
      for (int j = 0; j < 16; ++j)
        amax = std::max(amax, std::fabs(in[16 * b + j]));
      const float s = e4m3ToF32(f32ToE4M3(G * amax * (1.0f / 6.0f)));
      for (int j = 0; j < 16; ++j) {
        const float xj = in[16 * b + j];
        const float ref = s == 0 ? 0.0f : e2m1Nearest(xj * (G / s)) * s / G;
        ASSERT_EQ(out[16 * b + j], ref) << "G=" << G << " block " << b;
      }
    }
  }
}

TEST(ThreadPool, CoversEveryIndexOnce) {
  gemmac::rt::ThreadPool pool(4);
  for (int64_t n : {1, 7, 1000, 12345}) {
    std::vector<std::atomic<int>> hits(n);
    pool.parallelFor(n, 1, [&](int64_t a, int64_t b) {
      for (int64_t i = a; i < b; ++i)
        hits[i]++;
    });
    for (int64_t i = 0; i < n; ++i)
      ASSERT_EQ(hits[i].load(), 1);
  }
}

TEST(ThreadPool, ChunksAreExactlyTheSizeAsked) {
  gemmac::rt::ThreadPool pool(4);
  for (int64_t chunk : {1, 3, 64}) {
    const int64_t n = 1000;
    std::vector<std::atomic<int>> hits(n);
    std::atomic<int> wrongSize{0};
    pool.parallelChunks(n, chunk, [&](int64_t a, int64_t b) {
      if (b - a != std::min(chunk, n - a) || a % chunk != 0)
        wrongSize++;
      for (int64_t i = a; i < b; ++i)
        hits[i]++;
    });
    EXPECT_EQ(wrongSize.load(), 0) << "chunk " << chunk;
    for (int64_t i = 0; i < n; ++i)
      ASSERT_EQ(hits[i].load(), 1);
  }
}

} // namespace
