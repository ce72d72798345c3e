// The SIMD matrix-product kernels against the scalar references of
// dot_reference.h, bit for bit: every format, row counts with and without the
// x8 layout, token counts that exercise every tile size, 1-3 threads, and
// weights at the edges of their ranges. Also the x8 layout's packing.

#include "formats/formats.h"
#include "formats/repack.h"
#include "runtime/kernels/dot_reference.h"
#include "runtime/kernels/half.h"
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

#include <xmmintrin.h>

using namespace gemmac::fmt;
namespace ref = gemmac::rt::ref;

namespace {

using gemmac::test::randn;
using gemmac::rt::KernelSet;
using gemmac::test::kernelSetName;
using gemmac::test::kernelSets;


std::vector<uint8_t> quantizeRows(Type t, const std::vector<float> &w,
                                  int64_t N, int64_t K) {
  std::vector<uint8_t> q(rowBytes(t, K) * N);
  for (int64_t n = 0; n < N; ++n)
    quantizeRow(t, w.data() + n * K, q.data() + n * rowBytes(t, K), K);
  return q;
}

std::vector<uint8_t> packAll(Type t, const std::vector<uint8_t> &rows,
                             int64_t N, int64_t K) {
  std::vector<uint8_t> out(rows.size());
  const size_t g = x8GroupBytes(t, K);
  for (int64_t n = 0; n < N; n += 8)
    packX8(t, rows.data() + (n / 8) * g, out.data() + (n / 8) * g, K);
  return out;
}

/// One output of the scalar reference, from the row layout, for a program
/// of kernel set `set` (float weights: llama.cpp's AVX2 or AVX-512 sums).
float reference(Type t, const uint8_t *row, const float *x, int64_t N,
                int64_t K, KernelSet set = KernelSet::Avx2) {
  const bool repacked = N % 8 == 0;
  const bool zen4 = set == KernelSet::Avx512;
  const bool tiny = K % (zen4 ? (t == Type::BF16 ? 32 : 16) : 8) == 0 && N % 4 == 0;
  auto floatDot = [&](const auto *w, const auto *a) {
    if (zen4)
      return tiny ? ref::dotTinyZen4(w, a, K) : ref::dotVecZen4(w, a, K);
    return tiny ? ref::dotTiny(w, a, K) : ref::dotVec(w, a, K);
  };
  switch (t) {
  case Type::F32:
    return floatDot(reinterpret_cast<const float *>(row), x);
  case Type::F16:
  case Type::BF16: {
    std::vector<ref::F16> a(K);
    for (int64_t i = 0; i < K; ++i)
      a[i].bits = t == Type::F16 ? f32ToF16(x[i]) : f32ToBF16(x[i]);
    if (t == Type::F16)
      return floatDot(reinterpret_cast<const ref::F16 *>(row), a.data());
    std::vector<ref::BF16> b(K);
    for (int64_t i = 0; i < K; ++i)
      b[i].bits = a[i].bits;
    auto *w = reinterpret_cast<const ref::BF16 *>(row);
    if (!zen4 && !tiny)
      return ref::dotVec<ref::BF16, ref::hsum8>(w, b.data(), K);
    return floatDot(w, b.data());
  }
  case Type::Q8_0:
  case Type::Q4_0:
  case Type::Q5_0: {
    std::vector<BlockQ8_0> a(K / QK);
    quantizeRowQ8_0(x, a.data(), K);
    if (t == Type::Q8_0)
      return ref::dotLanes<BlockQ8_0, ref::unpackQ8_0>(
          reinterpret_cast<const BlockQ8_0 *>(row), a.data(), K / QK);
    if (t == Type::Q5_0)
      return ref::dotLanes<BlockQ5_0, ref::unpackQ5_0>(
          reinterpret_cast<const BlockQ5_0 *>(row), a.data(), K / QK);
    auto *w = reinterpret_cast<const BlockQ4_0 *>(row);
    return repacked ? ref::dotQ4_0Chain(w, a.data(), K / QK)
                    : ref::dotLanes<BlockQ4_0, ref::unpackQ4_0>(w, a.data(),
                                                                K / QK);
  }
  case Type::Q4_K:
  case Type::Q6_K: {
    std::vector<BlockQ8_K> a(K / QK_K);
    quantizeRowQ8_K(x, a.data(), K);
    if (t == Type::Q6_K)
      return ref::dotQ6_K(reinterpret_cast<const BlockQ6_K *>(row), a.data(),
                          K / QK_K);
    auto *w = reinterpret_cast<const BlockQ4_K *>(row);
    return repacked ? ref::dotQ4_KGemm(w, a.data(), K / QK_K)
                    : ref::dotK<false, BlockQ4_K>(w, a.data(), K / QK_K);
  }
  case Type::NVFP4: {
    std::vector<BlockQ8_0> a(K / QK);
    quantizeRowQ8_0(x, a.data(), K);
    return ref::dotNVFP4(reinterpret_cast<const BlockNVFP4 *>(row), a.data(),
                         K / 64);
  }
  case Type::Q4_0_F32:
  case Type::Q8_0_F32:
  case Type::NVFP4_F32:
    return ref::dotDecoded(t, row, x, K);
  case Type::F8_B64:
    return ref::dotF8_B64(reinterpret_cast<const BlockF8_B64 *>(row), x,
                          K / 64);
  default: ADD_FAILURE() << "no reference for " << typeName(t); return 0;
  }
}

using LinearFn = void (*)(gemmac_rt *, float *, const float *, int64_t,
                          const uint8_t *, int64_t, int64_t);

struct Case {
  Type type;
  LinearFn rows, x8; // x8: the kernel for the interleaved layout, if any
};

class Matmul : public ::testing::TestWithParam<Case> {};


TEST_P(Matmul, BitExactWithScalarReference) {
  const Case c = GetParam();
  // Float weights also at widths whose tinyBLAS or vec_dot leftovers differ
  // between the AVX2 and the AVX-512 arithmetic.
  const bool isFloat = c.type == Type::F32 || c.type == Type::F16 || c.type == Type::BF16;
  for (int64_t K : isFloat ? std::vector<int64_t>{512, 520, 200, 96}
                           : std::vector<int64_t>{512})
  for (int64_t N : {40, 36, 27, 48}) {
    std::vector<float> w = randn(N * K, 11, 0.05f);
    std::vector<uint8_t> q = quantizeRows(c.type, w, N, K);
    const bool x8 = c.x8 && N % 8 == 0;
    std::vector<uint8_t> packed = x8 ? packAll(c.type, q, N, K) : q;
    for (int threads : {1, 3})
    for (KernelSet set : kernelSets()) {
      gemmac_rt rt(threads);
      rt.kernels = set;
      for (int64_t T : {1, 2, 3, 4, 5, 9}) {
        std::vector<float> x = randn(T * K, 100 + T, 1.0f);
        std::vector<float> y(T * N, -1.0f);
        (x8 ? c.x8 : c.rows)(&rt, y.data(), x.data(), T, packed.data(), N, K);
        for (int64_t t = 0; t < T; ++t)
          for (int64_t n = 0; n < N; ++n) {
            const float want = reference(c.type, q.data() + n * rowBytes(c.type, K),
                                         x.data() + t * K, N, K, set);
            ASSERT_EQ(std::memcmp(&y[t * N + n], &want, 4), 0)
                << typeName(c.type) << (x8 ? " x8" : "") << " K=" << K << " N=" << N
                << " T=" << T << " threads=" << threads
                << " " << kernelSetName(set) << " t=" << t
                << " n=" << n << ": " << y[t * N + n] << " vs " << want;
          }
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    Formats, Matmul,
    ::testing::Values(Case{Type::F32, gmk_linear_f32, nullptr},
                      Case{Type::F16, gmk_linear_f16, nullptr},
                      Case{Type::BF16, gmk_linear_bf16, nullptr},
                      Case{Type::Q8_0, gmk_linear_q8_0, nullptr},
                      Case{Type::Q4_0, gmk_linear_q4_0, gmk_linear_q4_0_x8},
                      Case{Type::Q5_0, gmk_linear_q5_0, nullptr},
                      Case{Type::Q4_K, gmk_linear_q4_k, gmk_linear_q4_k_x8},
                      Case{Type::Q6_K, gmk_linear_q6_k, nullptr},
                      Case{Type::NVFP4, gmk_linear_nvfp4, nullptr},
                      Case{Type::Q4_0_F32, gmk_linear_q4_0_f32, nullptr},
                      Case{Type::Q8_0_F32, gmk_linear_q8_0_f32, nullptr},
                      Case{Type::NVFP4_F32, gmk_linear_nvfp4_f32, nullptr},
                      Case{Type::F8_B64, gmk_linear_f8_b64, nullptr}),
    [](const auto &info) { return std::string(typeName(info.param.type)); });

/// Extreme stored values: Q8_0 quants of -128 and +127 (a file may hold
/// either), Q6_K scales of -128, maximal nibbles; and activations whose
/// blocks hit +-127 everywhere.
TEST(Matmul, ExtremeQuantsStayExact) {
  const int64_t N = 8, K = 256;
  std::mt19937 rng(5);
  gemmac_rt rt(2);
  std::vector<float> x(K);
  for (int64_t i = 0; i < K; ++i)
    x[i] = (i % 3 == 0) ? -1.0f : 1.0f;
  // Q8_0 with -128/127 quants.
  std::vector<uint8_t> q8(rowBytes(Type::Q8_0, K) * N);
  for (int64_t b = 0; b < N * K / QK; ++b) {
    BlockQ8_0 blk;
    blk.d = f32ToF16(0.01f);
    for (int j = 0; j < QK; ++j)
      blk.qs[j] = (j + b) % 2 ? -128 : 127;
    std::memcpy(q8.data() + b * sizeof blk, &blk, sizeof blk);
  }
  // Q6_K with scales of -128 and all-ones quants, Q4_K/Q4_0 all-15 nibbles.
  std::vector<uint8_t> q6(rowBytes(Type::Q6_K, K) * N);
  for (int64_t b = 0; b < N; ++b) {
    BlockQ6_K blk;
    std::memset(blk.ql, 0xFF, sizeof blk.ql);
    std::memset(blk.qh, 0xFF, sizeof blk.qh);
    for (int s = 0; s < 16; ++s)
      blk.scales[s] = static_cast<int8_t>(s % 2 ? -128 : 127);
    blk.d = f32ToF16(0.001f);
    std::memcpy(q6.data() + b * sizeof blk, &blk, sizeof blk);
  }
  std::vector<uint8_t> q40(rowBytes(Type::Q4_0, K) * N);
  for (int64_t b = 0; b < N * K / QK; ++b) {
    BlockQ4_0 blk;
    blk.d = f32ToF16(0.01f);
    std::memset(blk.qs, b % 2 ? 0xFF : 0x00, sizeof blk.qs);
    std::memcpy(q40.data() + b * sizeof blk, &blk, sizeof blk);
  }
  std::vector<uint8_t> q4k(rowBytes(Type::Q4_K, K) * N);
  for (int64_t b = 0; b < N; ++b) {
    BlockQ4_K blk;
    blk.d = f32ToF16(0.01f);
    blk.dmin = f32ToF16(0.02f);
    std::memset(blk.scales, 0xFF, sizeof blk.scales);
    std::memset(blk.qs, 0xFF, sizeof blk.qs);
    std::memcpy(q4k.data() + b * sizeof blk, &blk, sizeof blk);
  }
  struct {
    Type t;
    std::vector<uint8_t> &rows;
    LinearFn fn;
    bool x8;
  } cases[] = {{Type::Q8_0, q8, gmk_linear_q8_0, false},
               {Type::Q6_K, q6, gmk_linear_q6_k, false},
               {Type::Q4_K, q4k, gmk_linear_q4_k_x8, true},
               {Type::Q4_0, q40, gmk_linear_q4_0_x8, true}};
  for (KernelSet set : kernelSets())
  for (auto &c : cases) {
    rt.kernels = set;
    std::vector<uint8_t> w = c.x8 ? packAll(c.t, c.rows, N, K) : c.rows;
    std::vector<float> y(N);
    c.fn(&rt, y.data(), x.data(), 1, w.data(), N, K);
    for (int64_t n = 0; n < N; ++n) {
      const float want = reference(c.t, c.rows.data() + n * rowBytes(c.t, K),
                                   x.data(), N, K, set);
      EXPECT_EQ(std::memcmp(&y[n], &want, 4), 0)
          << typeName(c.t) << " " << kernelSetName(set) << " n=" << n << ": " << y[n] << " vs " << want;
    }
  }
}

TEST(Matmul, GegluAndEmbedReadTheX8Layout) {
  const int64_t N = 24, K = 256, T = 5;
  for (Type t : {Type::Q4_0, Type::Q4_K}) {
    std::vector<uint8_t> gate = quantizeRows(t, randn(N * K, 1, 0.1f), N, K);
    std::vector<uint8_t> up = quantizeRows(t, randn(N * K, 2, 0.1f), N, K);
    std::vector<uint8_t> gateX8 = packAll(t, gate, N, K),
                         upX8 = packAll(t, up, N, K);
    std::vector<float> x = randn(T * K, 3, 1.0f), a(T * N), b(T * N);
    gemmac_rt rt(2);
    auto geglu = t == Type::Q4_0 ? gmk_geglu_q4_0 : gmk_geglu_q4_k;
    auto gegluX8 = t == Type::Q4_0 ? gmk_geglu_q4_0_x8 : gmk_geglu_q4_k_x8;
    geglu(&rt, a.data(), x.data(), T, gate.data(), up.data(), N, K);
    gegluX8(&rt, b.data(), x.data(), T, gateX8.data(), upX8.data(), N, K);
    EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * 4), 0) << typeName(t);

    auto embed = t == Type::Q4_0 ? gmk_embed_q4_0 : gmk_embed_q4_k;
    auto embedX8 = t == Type::Q4_0 ? gmk_embed_q4_0_x8 : gmk_embed_q4_k_x8;
    const int32_t tokens[] = {0, 7, 8, 23, 13};
    std::vector<float> e(5 * K), f(5 * K);
    embed(&rt, e.data(), tokens, 5, gate.data(), N, K, 2.0f);
    embedX8(&rt, f.data(), tokens, 5, gateX8.data(), N, K, 2.0f);
    EXPECT_EQ(std::memcmp(e.data(), f.data(), e.size() * 4), 0) << typeName(t);
  }
}

TEST(Half, F16CConversionsEqualThePortableOnes) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float a = gemmac::rt::halfToFloat(static_cast<uint16_t>(h));
    const float b = f16ToF32(static_cast<uint16_t>(h));
    if (a == a || b == b) // NaN payloads may differ; every number must not
      ASSERT_EQ(std::memcmp(&a, &b, 4), 0) << "half " << h;
  }
  std::mt19937 rng(3);
  for (int i = 0; i < 1000000; ++i) {
    uint32_t bits = rng();
    float f;
    std::memcpy(&f, &bits, 4);
    if (f != f)
      continue;
    ASSERT_EQ(gemmac::rt::floatToHalf(f), f32ToF16(f)) << "float bits " << bits;
  }
}

TEST(Repack, X8KeepsEveryBitAndUnpacksEveryRow) {
  for (Type t : {Type::Q4_0, Type::Q4_K}) {
    const int64_t K = 512;
    const size_t rb = rowBytes(t, K);
    std::vector<uint8_t> rows(8 * rb), group(8 * rb), back(rb);
    std::mt19937 rng(9);
    for (uint8_t &v : rows)
      v = static_cast<uint8_t>(rng());
    packX8(t, rows.data(), group.data(), K);
    if (t == Type::Q4_0) { // Q4_K regroups the bits of its scales
      std::vector<uint8_t> a = rows, b = group;
      std::sort(a.begin(), a.end());
      std::sort(b.begin(), b.end());
      EXPECT_EQ(a, b) << "a permutation of the bytes";
    }
    for (int r = 0; r < 8; ++r) {
      unpackX8Row(t, group.data(), r, back.data(), K);
      EXPECT_EQ(std::memcmp(back.data(), rows.data() + r * rb, rb), 0)
          << typeName(t) << " row " << r;
    }
  }
}

} // namespace

/// F8_B64's dot (gemmac's own arithmetic) against its definition,
/// sum_b d_b * sum_j e4m3(q_j) * x_j: exact where every product and partial
/// sum is representable, and within f32 rounding of a double-precision sum
/// otherwise.
TEST(MatmulF8, DotIsTheDefinition) {
  const int64_t K = 256;
  std::vector<BlockF8_B64> w(K / 64);
  std::vector<float> x(K);
  std::mt19937 rng(9);
  // Small integers times powers of two: every operation is exact.
  for (int64_t b = 0; b < K / 64; ++b) {
    w[b].d = std::ldexp(1.0f, static_cast<int>(rng() % 5) - 2);
    for (int j = 0; j < 64; ++j)
      w[b].qs[j] = f32ToE4M3(static_cast<float>(static_cast<int>(rng() % 9) - 4));
  }
  for (float &v : x)
    v = static_cast<float>(static_cast<int>(rng() % 7) - 3);
  double exact = 0;
  for (int64_t k = 0; k < K; ++k)
    exact += double(e4m3ToF32(w[k / 64].qs[k % 64])) * w[k / 64].d * x[k];
  EXPECT_EQ(ref::dotF8_B64(w.data(), x.data(), K / 64), static_cast<float>(exact));
  // Random codes and activations: f32 rounding only.
  std::vector<float> floats = randn(K, 3, 1.0f);
  std::vector<uint8_t> row(rowBytes(Type::F8_B64, K));
  quantizeRow(Type::F8_B64, floats.data(), row.data(), K);
  std::vector<float> wv(K);
  dequantizeRow(Type::F8_B64, row.data(), wv.data(), K);
  double want = 0, mass = 0;
  for (int64_t k = 0; k < K; ++k) {
    want += double(wv[k]) * x[k];
    mass += std::fabs(double(wv[k]) * x[k]);
  }
  const float got = ref::dotF8_B64(reinterpret_cast<const BlockF8_B64 *>(row.data()),
                                   x.data(), K / 64);
  EXPECT_NEAR(got, want, 1e-5 * mass);
}

// The SIMD kernel decodes E4M3 bytes with integer arithmetic: every byte
// (subnormals, -0, the NaN codes) against the reference's table lookup, one
// weight at a time (row r: byte r in place j of its block, x one-hot at j).
TEST(MatmulF8, EveryByteDecodesAsTheTable) {
  const int64_t K = 64, N = 256;
  std::vector<BlockF8_B64> w(N);
  for (int64_t r = 0; r < N; ++r) {
    w[r].d = 1.0f;
    std::memset(w[r].qs, 0, 64);
    w[r].qs[(r * 7) % 64] = static_cast<uint8_t>(r);
  }
  std::vector<float> x(K * 64, 0.0f); // token j: one-hot at j
  for (int64_t j = 0; j < 64; ++j)
    x[j * K + j] = 1.0f;
  std::vector<float> y(64 * N);
  gemmac_rt rt(1);
  // Also with DAZ set, as an application built with fast math runs: the
  // kernel must not read its subnormal codes as f32 denormals then.
  const unsigned csr = _mm_getcsr();
  for (bool daz : {false, true}) {
  _mm_setcsr(daz ? csr | 0x0040 : csr);
  gmk_linear_f8_b64(&rt, y.data(), x.data(), 64, reinterpret_cast<const uint8_t *>(w.data()), N, K);
  _mm_setcsr(csr);
  for (int64_t r = 0; r < N; ++r) {
    const int64_t j = (r * 7) % 64;
    const float want = ref::dotF8_B64(&w[r], x.data() + j * K, 1),
                got = y[j * N + r];
    EXPECT_EQ(std::isnan(want), std::isnan(ref::e4m3Table()[r]));
    if (std::isnan(want))
      EXPECT_TRUE(std::isnan(got)) << "byte " << r;
    else
      EXPECT_EQ(std::memcmp(&got, &want, 4), 0)
          << "byte " << r << (daz ? " (DAZ)" : "") << ": " << got << " vs "
          << want;
  }
  }
}

/// NVFP4's dot against the format's definition, sum over 16s of
/// ue4m3(d) * d_q8 * sum(2*E2M1 * q8): exact when every product and partial
/// sum is representable (small integers, power-of-two scales), within f32
/// rounding of a double-precision sum otherwise. The lane structure itself
/// (ggml_vec_dot_nvfp4_q8_0's) is held to llama.cpp by the parity suite.
TEST(MatmulNVFP4, DotIsTheDefinition) {
  const int64_t K = 256;
  std::mt19937 rng(12);
  auto dot = [&](const std::vector<BlockNVFP4> &w,
                 const std::vector<BlockQ8_0> &a) {
    double sum = 0;
    for (int64_t k = 0; k < K; ++k) {
      const BlockNVFP4 &b = w[k / 64];
      const int e = static_cast<int>(k % 64), s = e / 16, j = e % 16;
      const uint8_t byte = b.qs[8 * s + j % 8];
      const int code = j < 8 ? byte & 15 : byte >> 4;
      sum += double(kE2M1Doubled[code]) * ue4m3ToF32(b.d[s]) *
             f16ToF32(a[k / 32].d) * a[k / 32].qs[k % 32];
    }
    return sum;
  };
  std::vector<BlockNVFP4> w(K / 64);
  std::vector<BlockQ8_0> a(K / 32);
  for (BlockNVFP4 &b : w) {
    for (uint8_t &d : b.d) // E4M3 powers of two: 2^-3 .. 2^1
      d = static_cast<uint8_t>((4 + rng() % 5) << 3);
    for (uint8_t &q : b.qs)
      q = static_cast<uint8_t>(rng());
  }
  for (BlockQ8_0 &b : a) {
    b.d = f32ToF16(std::ldexp(1.0f, static_cast<int>(rng() % 3) - 1));
    for (int8_t &q : b.qs)
      q = static_cast<int8_t>(static_cast<int>(rng() % 21) - 10);
  }
  EXPECT_EQ(ref::dotNVFP4(w.data(), a.data(), K / 64),
            static_cast<float>(dot(w, a)));
  // Random weights and activations: f32 rounding only.
  std::vector<float> wf = randn(K, 5, 0.1f), xf = randn(K, 6, 1.0f);
  quantizeRow(Type::NVFP4, wf.data(), w.data(), K);
  quantizeRowQ8_0(xf.data(), a.data(), K);
  double mass = 0;
  for (int64_t k = 0; k < K; ++k)
    mass += std::fabs(double(wf[k]) * xf[k]);
  EXPECT_NEAR(ref::dotNVFP4(w.data(), a.data(), K / 64), dot(w, a),
              1e-5 * mass);
}

/// ggml's UE4M3 reading of a scale byte: the E4M3 value halved, the sign
/// bit ignored, 0x00 and 0x7F zero; and its encoder inverts it below 256.
TEST(MatmulNVFP4, ScalesReadAsGgmlDoes) {
  EXPECT_EQ(ue4m3ToF32(0x38), 0.5f);        // E4M3 1.0
  EXPECT_EQ(ue4m3ToF32(0x80 | 0x38), 0.5f); // the sign bit is not read
  EXPECT_EQ(ue4m3ToF32(0x7F), 0.0f);
  EXPECT_EQ(ue4m3ToF32(0x00), 0.0f);
  EXPECT_EQ(ue4m3ToF32(0x01), std::ldexp(1.0f, -10));
  EXPECT_EQ(ue4m3ToF32(0x7E), 224.0f);
  for (int b = 1; b < 0x78; ++b)
    EXPECT_EQ(f32ToUE4M3(e4m3ToF32(static_cast<uint8_t>(b))), b) << b;
  EXPECT_EQ(f32ToUE4M3(1e9f), 0x7E);
  EXPECT_EQ(f32ToUE4M3(-1.0f), 0);
  EXPECT_EQ(f32ToUE4M3(std::nanf("")), 0);
}

/// The float-activation forms (q4_0_f32, q8_0_f32, nvfp4_f32) are defined as
/// tinyBLAS's f32 dot of the decoded row: their dot equals it bit for bit
/// (decoding is exact: a scale times a small integer), and is the W4A16 /
/// W8A16 product within f32 rounding.
TEST(MatmulDecoded, DotIsTinyBLASOfTheDecodedRow) {
  const int64_t K = 512;
  std::vector<float> w = randn(K, 21, 0.05f), x = randn(K, 22, 1.0f);
  for (Type t : {Type::Q4_0_F32, Type::Q8_0_F32, Type::NVFP4_F32}) {
    std::vector<uint8_t> row(rowBytes(t, K));
    quantizeRow(t, w.data(), row.data(), K);
    std::vector<float> decoded(K);
    dequantizeRow(t, row.data(), decoded.data(), K);
    const float got = ref::dotDecoded(t, row.data(), x.data(), K);
    const float tiny = ref::dotTiny(decoded.data(), x.data(), K);
    EXPECT_EQ(std::memcmp(&got, &tiny, 4), 0)
        << typeName(t) << ": " << got << " vs " << tiny;
    double exact = 0, mass = 0;
    for (int64_t k = 0; k < K; ++k) {
      exact += double(decoded[k]) * x[k];
      mass += std::fabs(double(decoded[k]) * x[k]);
    }
    EXPECT_NEAR(got, exact, 1e-5 * mass) << typeName(t);
    // The same blocks as their ggml format: the values are the same.
    std::vector<float> asGgml(K);
    dequantizeRow(blockFormat(t), row.data(), asGgml.data(), K);
    EXPECT_EQ(asGgml, decoded) << typeName(t);
  }
}

/// The centroid head (gmk_masked_logits_*): per token the top_k clusters of
/// the scores (ties to the lower cluster, NaN last), their tokens' logits
/// exactly as the dense head computes them (gmk_logits_*, itself held to the
/// scalar reference above), -inf everywhere else.
TEST(MaskedLogits, TopClustersScoredAsTheDenseHead) {
  using Masked = void (*)(gemmac_rt *, float *, const float *, int64_t,
                          const uint8_t *, int64_t, int64_t, const float *,
                          int64_t, int64_t, const uint8_t *);
  const struct {
    Type type;
    LinearFn dense;
    Masked masked;
  } cases[] = {{Type::Q8_0, gmk_logits_q8_0, gmk_masked_logits_q8_0},
               {Type::Q4_0, gmk_logits_q4_0, gmk_masked_logits_q4_0},
               {Type::Q6_K, gmk_logits_q6_k, gmk_masked_logits_q6_k},
               {Type::F16, gmk_logits_f16_vec, gmk_masked_logits_f16_vec},
               {Type::BF16, gmk_logits_bf16_vec, gmk_masked_logits_bf16_vec}};
  const int64_t V = 256, K = 256, C = 16, topK = 3, per = V / C, T = 3;
  std::vector<float> order(V);
  for (int64_t i = 0; i < V; ++i)
    order[i] = static_cast<float>((i * 37 + 11) % V); // a permutation
  std::vector<float> scores = randn(T * C, 7, 1.0f);
  scores[0 * C + 5] = scores[0 * C + 9] = 10.0f; // a tie: 5 before 9
  scores[1 * C + 2] = NAN;                       // never chosen
  scores[1 * C + 3] = 9.0f;
  std::vector<float> x = randn(T * K, 8, 1.0f);
  for (const auto &c : cases) {
    std::vector<float> w = randn(V * K, 12, 0.05f);
    std::vector<uint8_t> q = quantizeRows(c.type, w, V, K);
    for (KernelSet set : kernelSets()) {
      gemmac_rt rt(2);
      rt.kernels = set;
      std::vector<float> dense(T * V), masked(T * V, 0.0f);
      c.dense(&rt, dense.data(), x.data(), T, q.data(), V, K);
      c.masked(&rt, masked.data(), x.data(), T, q.data(), V, K, scores.data(),
               C, topK, reinterpret_cast<const uint8_t *>(order.data()));
      for (int64_t t = 0; t < T; ++t) {
        std::vector<int64_t> ranked(C);
        for (int64_t i = 0; i < C; ++i)
          ranked[i] = i;
        const float *s = scores.data() + t * C;
        std::stable_sort(ranked.begin(), ranked.end(),
                         [&](int64_t a, int64_t b) {
                           if (std::isnan(s[a]) || std::isnan(s[b]))
                             return !std::isnan(s[a]) && std::isnan(s[b]);
                           return s[a] > s[b];
                         });
        std::vector<bool> chosen(V);
        for (int64_t r = 0; r < topK; ++r)
          for (int64_t j = 0; j < per; ++j)
            chosen[static_cast<int64_t>(order[ranked[r] * per + j])] = true;
        if (t == 0)
          EXPECT_TRUE(ranked[0] == 5 && ranked[1] == 9);
        for (int64_t n = 0; n < V; ++n) {
          const float got = masked[t * V + n],
                      want = chosen[n] ? dense[t * V + n] : -INFINITY;
          ASSERT_EQ(std::memcmp(&got, &want, 4), 0)
              << typeName(c.type) << " " << kernelSetName(set) << " t=" << t
              << " n=" << n << ": " << got << " vs " << want;
        }
      }
    }
  }
}
