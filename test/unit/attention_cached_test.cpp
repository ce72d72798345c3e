// gmk_attention_cached_* (the MTP drafter's query-only attention over the KV
// cache) against a scalar transcription of llama.cpp's single-row
// flash-attention arithmetic (ggml_compute_forward_flash_attn_ext_f16_one_chunk
// on the AVX2 build), bit for bit: the per-lane accumulators of
// ggml_vec_dot_f16 / ggml_vec_dot_f32 and their reduction, the online
// softmax with expf, V accumulated in f16 (f16 cache) or f32. Also: the
// visible keys against a plain double-precision softmax, rows independent
// of the rest of the step, any thread count giving the same bits.
// Compiled with -ffp-contract=off: every fused multiply-add below is
// written out.

#include "abi/step.h"
#include "formats/formats.h"
#include "runtime/kernels/dot_reference.h"
#include "runtime/kernels/kernels.h"
#include "runtime/src/rt.h"
#include "test/unit/kernel_sets.h"
#include "test/unit/random_values.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

using namespace gemmac::fmt;

namespace {

using gemmac::test::randn;


// ---- The reference: llama.cpp's arithmetic, one element at a time. ----

/// GGML_F32x8_REDUCE of four eight-lane accumulators.
float reduce(const float acc[4][8]) {
  float x[8];
  for (int l = 0; l < 8; ++l)
    x[l] = (acc[0][l] + acc[2][l]) + (acc[1][l] + acc[3][l]);
  float t[4];
  for (int l = 0; l < 4; ++l)
    t[l] = x[l] + x[l + 4];
  return (t[0] + t[1]) + (t[2] + t[3]);
}

/// ggml_vec_dot_f16 (AVX2: GGML_F16_STEP 32, EPR 8, four accumulators):
/// lane l of accumulator j sums elements i + 8j + l over blocks of 32; the
/// leftovers go into a double, each product a float.
float refDotF16(const uint16_t *k, const float *q, int64_t n) {
  const int64_t np = n - n % 32;
  float acc[4][8] = {};
  for (int64_t i = 0; i < np; i += 32)
    for (int j = 0; j < 4; ++j)
      for (int l = 0; l < 8; ++l)
        acc[j][l] =
            std::fma(f16ToF32(k[i + 8 * j + l]), q[i + 8 * j + l], acc[j][l]);
  double sum = reduce(acc);
  for (int64_t i = np; i < n; ++i) {
    const float p = f16ToF32(k[i]) * q[i];
    sum = sum + static_cast<double>(p);
  }
  return static_cast<float>(sum);
}

/// ggml_vec_dot_f32: the same blocks; the float leftovers as the pinned
/// binary adds them (products rounded, added in order, except the last
/// n % 4, fused).
float refDotF32(const float *k, const float *q, int64_t n) {
  const int64_t np = n - n % 32;
  float acc[4][8] = {};
  for (int64_t i = 0; i < np; i += 32)
    for (int j = 0; j < 4; ++j)
      for (int l = 0; l < 8; ++l)
        acc[j][l] = std::fma(k[i + 8 * j + l], q[i + 8 * j + l], acc[j][l]);
  float sum = reduce(acc);
  const int64_t rem = n - np;
  for (int64_t i = np; i < n; ++i) {
    if (i - np < rem - rem % 4) {
      const float p = k[i] * q[i];
      sum = sum + p;
    } else {
      sum = std::fma(k[i], q[i], sum);
    }
  }
  return sum;
}

/// The same in llama.cpp's AVX-512 build (KernelSet::Avx512): sixteen lanes.
float refDotF16Zen4(const uint16_t *k, const float *q, int64_t n) {
  std::vector<gemmac::rt::ref::F16> kh(n), qh(n);
  for (int64_t i = 0; i < n; ++i) {
    kh[i].bits = k[i];
    qh[i].bits = f32ToF16(q[i]); // q is f16-rounded already: exact
  }
  return gemmac::rt::ref::dotVecZen4(kh.data(), qh.data(), n);
}
float refDotF32Zen4(const float *k, const float *q, int64_t n) {
  return gemmac::rt::ref::dotVecZen4(k, q, n);
}

struct Segment {
  int64_t slot, pos0, row0, rows;
};

struct Shape {
  int64_t nh, nkv, hd, window, capacity;
};

/// The reference of one step. T: the cache's element type.
template <typename T>
std::vector<float> reference(const Shape &sh, const std::vector<Segment> &segs,
                             const std::vector<float> &q, const T *kCache,
                             const T *vCache, int64_t stride, float scale,
                             float kScale, float vScale,
                             gemmac::rt::KernelSet set) {
  const bool zen4 = set == gemmac::rt::KernelSet::Avx512;
  const int64_t hd = sh.hd, width = sh.nkv * hd, group = sh.nh / sh.nkv;
  int64_t nTokens = 0;
  for (const Segment &g : segs)
    nTokens += g.rows;
  std::vector<float> out(nTokens * sh.nh * hd);
  std::vector<float> qh(hd), kf(hd), vf(hd), acc(hd);
  for (const Segment &g : segs)
    for (int64_t r = g.row0; r < g.row0 + g.rows; ++r)
      for (int64_t h = 0; h < sh.nh; ++h) {
        const int64_t p = g.pos0 + (r - g.row0), kvh = h / group;
        const int64_t first =
            sh.window > 0 ? std::max<int64_t>(0, p - sh.window + 1) : 0;
        // Q as the K type's vec_dot_type: f16 for the f16 cache.
        for (int64_t i = 0; i < hd; ++i) {
          const float x = q[(r * sh.nh + h) * hd + i];
          qh[i] = sizeof(T) == 2 ? f16ToF32(f32ToF16(x)) : x;
        }
        float M = -INFINITY, S = 0.0f;
        std::fill(acc.begin(), acc.end(), 0.0f); // VKQ16 or VKQ32
        for (int64_t kp = first; kp < p; ++kp) {
          const int64_t row = sh.window > 0 ? kp % sh.capacity : kp;
          const T *kr = kCache + g.slot * stride + row * width + kvh * hd;
          const T *vr = vCache + g.slot * stride + row * width + kvh * hd;
          float s;
          if constexpr (sizeof(T) == 2) {
            s = (zen4 ? refDotF16Zen4 : refDotF16)(kr, qh.data(), hd);
          } else if constexpr (sizeof(T) == 1) {
            for (int64_t i = 0; i < hd; ++i)
              kf[i] = e4m3ToF32(kr[i]) * kScale;
            s = (zen4 ? refDotF32Zen4 : refDotF32)(kf.data(), qh.data(), hd);
          } else {
            s = (zen4 ? refDotF32Zen4 : refDotF32)(kr, qh.data(), hd);
          }
          s = s * scale;
          s = s + 0.0f; // the mask
          const float Mold = M;
          float ms = 1.0f, vs = 1.0f;
          if (s > M) {
            M = s;
            ms = std::exp(Mold - M);
            for (int64_t i = 0; i < hd; ++i) {
              acc[i] = acc[i] * ms;
              if (sizeof(T) == 2)
                acc[i] = f16ToF32(f32ToF16(acc[i]));
            }
          } else {
            vs = std::exp(s - M);
          }
          for (int64_t i = 0; i < hd; ++i) {
            float x;
            if constexpr (sizeof(T) == 2)
              x = f16ToF32(vr[i]);
            else if constexpr (sizeof(T) == 1)
              x = e4m3ToF32(vr[i]) * vScale;
            else
              x = vr[i];
            acc[i] = std::fma(x, vs, acc[i]);
            if (sizeof(T) == 2)
              acc[i] = f16ToF32(f32ToF16(acc[i]));
          }
          const float Sms = S * ms;
          S = Sms + vs;
        }
        const float inv = S == 0.0f ? 0.0f : 1.0f / S;
        for (int64_t i = 0; i < hd; ++i)
          out[(r * sh.nh + h) * hd + i] = acc[i] * inv;
      }
  return out;
}

// ---- The kernel, through one C signature for the three caches. ----

template <typename T> struct Kernel;
template <> struct Kernel<uint16_t> {
  static void run(gemmac_rt *rt, float *out, const float *q, int64_t n,
                  const int64_t *seqs, int64_t nSeqs, const Shape &sh,
                  const uint16_t *k, const uint16_t *v, int64_t stride,
                  float scale, float, float) {
    gmk_attention_cached_f16(rt, out, q, n, seqs, nSeqs, sh.nh, sh.nkv, sh.hd,
                             sh.window, k, v, sh.capacity, stride, scale);
  }
};
template <> struct Kernel<float> {
  static void run(gemmac_rt *rt, float *out, const float *q, int64_t n,
                  const int64_t *seqs, int64_t nSeqs, const Shape &sh,
                  const float *k, const float *v, int64_t stride, float scale,
                  float, float) {
    gmk_attention_cached_f32(rt, out, q, n, seqs, nSeqs, sh.nh, sh.nkv, sh.hd,
                             sh.window, k, v, sh.capacity, stride, scale);
  }
};
template <> struct Kernel<uint8_t> {
  static void run(gemmac_rt *rt, float *out, const float *q, int64_t n,
                  const int64_t *seqs, int64_t nSeqs, const Shape &sh,
                  const uint8_t *k, const uint8_t *v, int64_t stride,
                  float scale, float ks, float vs) {
    gmk_attention_cached_f8(rt, out, q, n, seqs, nSeqs, sh.nh, sh.nkv, sh.hd,
                            sh.window, k, v, sh.capacity, stride, scale, ks,
                            vs);
  }
};

/// n cache elements of type T from random normal values (an E4M3 cache
/// stores e4m3(x / cacheScale)).
template <typename T>
std::vector<T> randomCache(size_t n, uint32_t seed, float cacheScale) {
  const std::vector<float> x = randn(n, seed);
  std::vector<T> c(n);
  for (size_t i = 0; i < n; ++i) {
    if constexpr (sizeof(T) == 2)
      c[i] = f32ToF16(x[i]);
    else if constexpr (sizeof(T) == 1)
      c[i] = f32ToE4M3(x[i] / cacheScale);
    else
      c[i] = x[i];
  }
  return c;
}

std::vector<int64_t> table(std::vector<Segment> &segs) {
  std::vector<int64_t> t;
  int64_t row = 0;
  for (Segment &g : segs) {
    g.row0 = row;
    row += g.rows;
    t.insert(t.end(), {g.slot, g.pos0, g.row0, g.rows});
  }
  return t;
}

/// The step's segments for a shape: three sequences in shuffled slots, one
/// far into its history (a ring wrapped several times), one at its start
/// (position 0: no key), one single row.
std::vector<Segment> segmentsFor(const Shape &sh) {
  std::vector<Segment> segs;
  if (sh.window > 0) {
    segs.push_back({2, 3 * sh.capacity + 7, 0, 3});
    segs.push_back({0, 0, 0, 2});
    segs.push_back({1, sh.capacity + 2, 0, 1});
  } else {
    segs.push_back({2, sh.capacity - 40, 0, 3});
    segs.push_back({0, 0, 0, 2});
    segs.push_back({1, sh.capacity - 1, 0, 1});
  }
  return segs;
}

/// Runs the kernel on 1, 2 and 3 threads against the reference, bit for bit.
template <typename T>
void checkAgainstReference(const Shape &sh, uint32_t seed, float scale,
                           float ks = 1.0f, float vs = 1.0f) {
  std::vector<Segment> segs = segmentsFor(sh);
  const std::vector<int64_t> seqs = table(segs);
  int64_t nTokens = 0;
  for (const Segment &g : segs)
    nTokens += g.rows;
  const int64_t width = sh.nkv * sh.hd;
  const int64_t stride = sh.capacity * width + 40; // slots need not be packed
  const std::vector<T> kc = randomCache<T>(3 * stride, seed, ks);
  const std::vector<T> vc = randomCache<T>(3 * stride, seed + 1, vs);
  const std::vector<float> q = randn(nTokens * sh.nh * sh.hd, seed + 2);
  for (gemmac::rt::KernelSet set : gemmac::test::kernelSets()) {
    const std::vector<float> want = reference<T>(
        sh, segs, q, kc.data(), vc.data(), stride, scale, ks, vs, set);
    for (int threads : {1, 2, 3}) {
      gemmac_rt rt(threads);
      rt.kernels = set;
      std::vector<float> got(want.size(), NAN);
      Kernel<T>::run(&rt, got.data(), q.data(), nTokens, seqs.data(),
                     static_cast<int64_t>(segs.size()), sh, kc.data(),
                     vc.data(), stride, scale, ks, vs);
      for (size_t i = 0; i < want.size(); ++i)
        ASSERT_EQ(std::memcmp(&got[i], &want[i], 4), 0)
            << "hd=" << sh.hd << " heads=" << sh.nh << "/" << sh.nkv
            << " window=" << sh.window << " capacity=" << sh.capacity
            << " threads=" << threads << " " << gemmac::test::kernelSetName(set)
            << " at " << i << " (row " << i / (sh.nh * sh.hd) << "): " << got[i]
            << " vs " << want[i];
    }
  }
  const std::vector<float> want =
      reference<T>(sh, segs, q, kc.data(), vc.data(), stride, scale, ks, vs,
                   gemmac::rt::KernelSet::Avx2);
  // Position 0 (the second segment's first row) sees no key: zeros.
  const int64_t row = segs[1].row0;
  for (int64_t i = 0; i < sh.nh * sh.hd; ++i)
    ASSERT_EQ(want[row * sh.nh * sh.hd + i], 0.0f);
}

TEST(AttentionCached, F16IsGgmlsOneRowArithmetic) {
  // Head dims of the model and ones with leftovers past the blocks of 32
  // (and of 8); GQA ratios 1 to 8; windows with rings wrapped, global.
  const int64_t dims[] = {64, 128, 256, 512, 40, 20};
  const int64_t heads[][2] = {{4, 4}, {8, 2}, {8, 1}, {6, 3}};
  uint32_t seed = 10;
  for (int64_t hd : dims)
    for (const auto &nh : heads)
      for (const auto &wc :
           {std::pair<int64_t, int64_t>{16, 21}, {32, 32 + 9}, {0, 300}}) {
        const Shape sh{nh[0], nh[1], hd, wc.first, wc.second};
        checkAgainstReference<uint16_t>(sh, seed += 3, 1.0f);
        if (::testing::Test::HasFatalFailure())
          return;
      }
  // A scale other than 1, and scores large enough for many new maxima.
  checkAgainstReference<uint16_t>({8, 2, 256, 0, 200}, 99, 0.0625f);
  checkAgainstReference<uint16_t>({8, 2, 128, 24, 30}, 98, 3.0f);
}

TEST(AttentionCached, F32IsGgmlsOneRowArithmetic) {
  const int64_t dims[] = {64, 128, 256, 512, 40, 44, 20, 7};
  uint32_t seed = 200;
  for (int64_t hd : dims)
    for (const auto &wc : {std::pair<int64_t, int64_t>{16, 21}, {0, 150}}) {
      checkAgainstReference<float>({8, 2, hd, wc.first, wc.second}, seed += 3,
                                   1.0f);
      checkAgainstReference<float>({4, 4, hd, wc.first, wc.second}, seed += 3,
                                   0.5f);
      if (::testing::Test::HasFatalFailure())
        return;
    }
}

TEST(AttentionCached, F8IsTheF32PathOnScaledE4M3) {
  const int64_t dims[] = {64, 128, 256, 512, 40};
  uint32_t seed = 300;
  for (int64_t hd : dims)
    for (const auto &wc : {std::pair<int64_t, int64_t>{16, 21}, {0, 150}}) {
      checkAgainstReference<uint8_t>({8, 2, hd, wc.first, wc.second}, seed += 3,
                                     1.0f, 0.02f, 0.05f);
      checkAgainstReference<uint8_t>({4, 1, hd, wc.first, wc.second}, seed += 3,
                                     1.0f, 1.0f, 0.004f);
      if (::testing::Test::HasFatalFailure())
        return;
    }
}

/// Every row of a step equals the same query evaluated alone (a one-row
/// step at its position, in its slot), whatever the other rows and
/// segments are; and changing the other rows' queries changes nothing.
template <typename T> void checkRowsIndependent(const Shape &sh) {
  std::vector<Segment> segs = segmentsFor(sh);
  segs.push_back({3, sh.window > 0 ? 5 * sh.capacity : sh.capacity / 2, 0, 4});
  const std::vector<int64_t> seqs = table(segs);
  int64_t nTokens = 0;
  for (const Segment &g : segs)
    nTokens += g.rows;
  const int64_t width = sh.nkv * sh.hd, rowWidth = sh.nh * sh.hd;
  const int64_t stride = sh.capacity * width + 8;
  const std::vector<T> kc = randomCache<T>(4 * stride, 7, 0.05f);
  const std::vector<T> vc = randomCache<T>(4 * stride, 8, 0.05f);
  std::vector<float> q = randn(nTokens * rowWidth, 9);
  gemmac_rt rt(4);
  std::vector<float> all(q.size());
  Kernel<T>::run(&rt, all.data(), q.data(), nTokens, seqs.data(),
                 static_cast<int64_t>(segs.size()), sh, kc.data(), vc.data(),
                 stride, 1.0f, 0.05f, 0.05f);
  std::vector<float> one(rowWidth);
  for (const Segment &g : segs)
    for (int64_t r = g.row0; r < g.row0 + g.rows; ++r) {
      const int64_t alone[GEMMAC_SEQ_FIELDS] = {g.slot, g.pos0 + (r - g.row0),
                                                0, 1};
      Kernel<T>::run(&rt, one.data(), q.data() + r * rowWidth, 1, alone, 1, sh,
                     kc.data(), vc.data(), stride, 1.0f, 0.05f, 0.05f);
      ASSERT_EQ(
          std::memcmp(one.data(), all.data() + r * rowWidth, rowWidth * 4), 0)
          << "row " << r << " window=" << sh.window;
    }
  // Other queries changed: row 1 of the first segment is the same.
  std::vector<float> q2 = randn(q.size(), 10);
  std::copy(q.begin() + rowWidth, q.begin() + 2 * rowWidth,
            q2.begin() + rowWidth);
  std::vector<float> all2(q.size());
  Kernel<T>::run(&rt, all2.data(), q2.data(), nTokens, seqs.data(),
                 static_cast<int64_t>(segs.size()), sh, kc.data(), vc.data(),
                 stride, 1.0f, 0.05f, 0.05f);
  EXPECT_EQ(
      std::memcmp(all2.data() + rowWidth, all.data() + rowWidth, rowWidth * 4),
      0);
}

TEST(AttentionCached, RowsDoNotDependOnTheRestOfTheStep) {
  checkRowsIndependent<uint16_t>({8, 2, 128, 16, 20});
  checkRowsIndependent<uint16_t>({8, 1, 256, 0, 120});
  checkRowsIndependent<float>({4, 2, 64, 16, 20});
  checkRowsIndependent<uint8_t>({4, 2, 64, 0, 90});
}

/// The visible keys: a double-precision softmax over exactly the cached
/// positions kp < p with p - kp < window (window > 0), read from ring row
/// kp % capacity, agrees to rounding; no key (p == 0, window == 1): zeros.
TEST(AttentionCached, AttendsToThePreviousPositionsInTheWindow) {
  for (const Shape &sh : {Shape{4, 2, 64, 16, 19}, Shape{4, 2, 64, 0, 100},
                          Shape{2, 1, 32, 1, 4}, Shape{2, 2, 32, 3, 3}}) {
    std::vector<Segment> segs = {{1, sh.window > 0 ? 41 : 60, 0, 5},
                                 {0, 0, 0, 3}};
    const std::vector<int64_t> seqs = table(segs);
    const int64_t nTokens = 8, width = sh.nkv * sh.hd, rw = sh.nh * sh.hd;
    const int64_t stride = sh.capacity * width;
    const std::vector<float> kc = randomCache<float>(2 * stride, 21, 1.0f);
    const std::vector<float> vc = randomCache<float>(2 * stride, 22, 1.0f);
    const std::vector<float> q = randn(nTokens * rw, 23, 0.3f);
    gemmac_rt rt(2);
    std::vector<float> got(q.size());
    gmk_attention_cached_f32(&rt, got.data(), q.data(), nTokens, seqs.data(), 2,
                             sh.nh, sh.nkv, sh.hd, sh.window, kc.data(),
                             vc.data(), sh.capacity, stride, 1.0f);
    for (const Segment &g : segs)
      for (int64_t r = g.row0; r < g.row0 + g.rows; ++r)
        for (int64_t h = 0; h < sh.nh; ++h) {
          const int64_t p = g.pos0 + r - g.row0, kvh = h / (sh.nh / sh.nkv);
          std::vector<double> w;
          std::vector<const float *> vrows;
          for (int64_t kp = 0; kp < p; ++kp) {
            if (sh.window > 0 && p - kp >= sh.window)
              continue;
            const int64_t row = sh.window > 0 ? kp % sh.capacity : kp;
            const float *k =
                kc.data() + g.slot * stride + row * width + kvh * sh.hd;
            double s = 0;
            for (int64_t i = 0; i < sh.hd; ++i)
              s += double(q[(r * sh.nh + h) * sh.hd + i]) * k[i];
            w.push_back(s);
            vrows.push_back(vc.data() + g.slot * stride + row * width +
                            kvh * sh.hd);
          }
          const double m =
              w.empty() ? 0 : *std::max_element(w.begin(), w.end());
          double sum = 0;
          for (double &x : w)
            sum += (x = std::exp(x - m));
          for (int64_t i = 0; i < sh.hd; ++i) {
            double o = 0;
            for (size_t j = 0; j < w.size(); ++j)
              o += w[j] * vrows[j][i];
            const double want = w.empty() ? 0 : o / sum;
            const float v = got[(r * sh.nh + h) * sh.hd + i];
            if (w.empty())
              ASSERT_EQ(v, 0.0f) << "p=" << p;
            else
              ASSERT_NEAR(v, want, 2e-5)
                  << "p=" << p << " window=" << sh.window << " head " << h;
          }
        }
  }
}

} // namespace
