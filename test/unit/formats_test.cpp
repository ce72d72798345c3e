// Block formats: every dequantizer against an element-by-element reference
// written from the format description (docs: quant-formats.md section 2),
// half-precision conversions, the activation quantizers' rounding, and the
// format table (abi/formats.def) against the code that implements it.

#include "abi/ggml_types.h"
#include "formats/formats.h"
#include "formats/repack.h"

#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

using namespace gemmac::fmt;

namespace {

std::vector<uint8_t> randomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> b(n);
  for (auto &x : b)
    x = static_cast<uint8_t>(rng());
  return b;
}

/// A small, finite f16 (scales): exponent kept in a sane range.
uint16_t halfScale(std::mt19937 &rng) {
  float v = std::ldexp(1.0f + (rng() % 1024) / 1024.0f, -int(rng() % 8) - 2);
  return f32ToF16((rng() & 1) ? -v : v);
}

/// Reference value of element i of a block, straight from the layout.
float refElement(Type t, const uint8_t *b, int i) {
  auto h = [&](int off) {
    uint16_t v;
    std::memcpy(&v, b + off, 2);
    return f16ToF32(v);
  };
  switch (t) {
  case Type::Q4_0: {
    int q = i < 16 ? (b[2 + i] & 15) : (b[2 + i - 16] >> 4);
    return h(0) * (q - 8);
  }
  case Type::Q4_1: {
    int q = i < 16 ? (b[4 + i] & 15) : (b[4 + i - 16] >> 4);
    return h(0) * q + h(2);
  }
  case Type::Q5_0: {
    uint32_t qh;
    std::memcpy(&qh, b + 2, 4);
    int lo = i < 16 ? (b[6 + i] & 15) : (b[6 + i - 16] >> 4);
    int q = lo | static_cast<int>(((qh >> i) & 1) << 4);
    return h(0) * (q - 16);
  }
  case Type::Q5_1: {
    uint32_t qh;
    std::memcpy(&qh, b + 4, 4);
    int lo = i < 16 ? (b[8 + i] & 15) : (b[8 + i - 16] >> 4);
    int q = lo | static_cast<int>(((qh >> i) & 1) << 4);
    return h(0) * q + h(2);
  }
  case Type::Q8_0:
    return h(0) * static_cast<int8_t>(b[2 + i]);
  case Type::F8_B64: {
    // E4M3: sign, 4 exponent bits (bias 7), 3 mantissa bits; subnormals
    // below exponent 1; 0x7F/0xFF NaN. Times the block's f32 scale.
    float d;
    std::memcpy(&d, b, 4);
    const uint8_t q = b[4 + i];
    const int e = (q >> 3) & 15, m = q & 7;
    if (e == 15 && m == 7)
      return std::nanf("");
    const float mag = e == 0 ? m / 512.0f : (8 + m) / 8.0f * std::exp2(e - 7.0f);
    return (q & 0x80 ? -mag : mag) * d;
  }
  case Type::Q4_K:
  case Type::Q5_K: {
    const bool five = t == Type::Q5_K;
    const uint8_t *sc = b + 4, *qs = b + (five ? 48 : 16), *qh = b + 16;
    int sub = i / 32, chunk = i / 64, l = i % 32;
    uint8_t s, m;
    scaleMinK4(sub, sc, s, m);
    int q = (sub % 2 == 0) ? (qs[32 * chunk + l] & 15) : (qs[32 * chunk + l] >> 4);
    if (five && ((qh[l] >> sub) & 1))
      q += 16;
    return h(0) * s * q - h(2) * m;
  }
  case Type::Q6_K: {
    // Element i: half i/128; within it, quarter (i%128)/32 and l = i%32.
    int half = i / 128, r = i % 128, quarter = r / 32, l = r % 32;
    const uint8_t *ql = b + 64 * half, *qh = b + 128 + 32 * half;
    const int8_t *sc = reinterpret_cast<const int8_t *>(b + 192);
    int q;
    switch (quarter) {
    case 0: q = (ql[l] & 15) | (((qh[l] >> 0) & 3) << 4); break;
    case 1: q = (ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4); break;
    case 2: q = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4); break;
    default: q = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4); break;
    }
    return h(208) * sc[i / 16] * (q - 32);
  }
  case Type::NVFP4: {
    // Four sub-blocks of 16: E4M3 scale bytes (sign ignored), then 32 bytes
    // whose low nibbles are elements 0-7 and high nibbles 8-15 of each
    // sub-block; E2M1 codes: sign b3, magnitudes 0, .5, 1, 1.5, 2, 3, 4, 6.
    static const float kMag[8] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
    const int sub = i / 16, j = i % 16;
    const uint8_t byte = b[4 + 8 * sub + j % 8];
    const int q = j < 8 ? (byte & 15) : (byte >> 4);
    const uint8_t sc = b[sub] & 0x7F;
    const int e = sc >> 3, m = sc & 7;
    const float scale = e == 0 ? m / 512.0f : (8 + m) / 8.0f * std::exp2(e - 7.0f);
    return (q & 8 ? -kMag[q & 7] : kMag[q & 7]) * scale;
  }
  // The float-activation forms store their base format's blocks.
  case Type::Q4_0_F32:
    return refElement(Type::Q4_0, b, i);
  case Type::Q8_0_F32:
    return refElement(Type::Q8_0, b, i);
  case Type::NVFP4_F32:
    return refElement(Type::NVFP4, b, i);
  default:
    return 0;
  }
}

class BlockFormat : public ::testing::TestWithParam<Type> {};

TEST_P(BlockFormat, DequantizeMatchesReference) {
  const Type t = GetParam();
  const size_t nb = 8, be = blockElems(t), bb = blockBytes(t);
  std::vector<uint8_t> data = randomBytes(nb * bb, 42 + static_cast<int>(t));
  // Scales at fixed offsets must be finite; overwrite them with sane halves.
  std::mt19937 rng(7);
  for (size_t k = 0; k < nb; ++k) {
    uint8_t *b = data.data() + k * bb;
    auto put = [&](int off) {
      uint16_t v = halfScale(rng);
      std::memcpy(b + off, &v, 2);
    };
    switch (t) {
    case Type::Q4_1: case Type::Q5_1: case Type::Q4_K: case Type::Q5_K:
      put(0); put(2); break;
    case Type::Q6_K: put(208); break;
    case Type::F8_B64: {
      const float d = 0.25f + static_cast<float>(rng() % 100) / 64.0f;
      std::memcpy(b, &d, 4);
      for (int i = 0; i < 64; ++i) // no NaN codes
        if ((b[4 + i] & 0x7F) == 0x7F)
          b[4 + i] ^= 1;
      break;
    }
    case Type::NVFP4: case Type::NVFP4_F32:
      for (int sub = 0; sub < 4; ++sub) // no NaN scale (0x7F)
        if ((b[sub] & 0x7F) == 0x7F)
          b[sub] ^= 1;
      break;
    default: put(0); break;
    }
  }
  std::vector<float> out(nb * be);
  dequantizeRow(t, data.data(), out.data(), nb * be);
  for (size_t k = 0; k < nb; ++k)
    for (size_t i = 0; i < be; ++i)
      ASSERT_FLOAT_EQ(out[k * be + i], refElement(t, data.data() + k * bb, i))
          << typeName(t) << " block " << k << " element " << i;
}

TEST_P(BlockFormat, QuantizeRoundTripIsClose) {
  const Type t = GetParam();
  const size_t n = 1024;
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(n), y(n);
  for (float &v : x)
    v = dist(rng);
  std::vector<uint8_t> q(rowBytes(t, n));
  quantizeRow(t, x.data(), q.data(), n);
  dequantizeRow(t, q.data(), y.data(), n);
  double err = 0, ref = 0;
  for (size_t i = 0; i < n; ++i) {
    err += (x[i] - y[i]) * (x[i] - y[i]);
    ref += x[i] * x[i];
  }
  // Relative RMS error bounded by the format's precision.
  double bound = t == Type::Q8_0 ? 0.01 : t == Type::Q6_K ? 0.03
               : t == Type::F8_B64 ? 0.04
               : (t == Type::Q5_0 || t == Type::Q5_1 || t == Type::Q5_K) ? 0.06
                                                                          : 0.13;
  EXPECT_LT(std::sqrt(err / ref), bound) << typeName(t);
}

/// Every block-quantized row of the format table.
std::vector<Type> quantizedFormats() {
  std::vector<Type> out;
  for (const gemmac::abi::FormatInfo &f : gemmac::abi::kFormats)
    if (!gemmac::abi::isFloatFormat(f.format))
      out.push_back(f.format);
  return out;
}

INSTANTIATE_TEST_SUITE_P(All, BlockFormat,
                         ::testing::ValuesIn(quantizedFormats()),
                         [](const auto &info) {
                           return std::string(typeName(info.param));
                         });

TEST(Half, EveryF16RoundTripsThroughF32) {
  for (uint32_t h = 0; h < 65536; ++h) {
    uint16_t x = static_cast<uint16_t>(h);
    if ((x & 0x7C00) == 0x7C00 && (x & 0x3FF)) // NaN payloads: any NaN will do
      continue;
    ASSERT_EQ(f32ToF16(f16ToF32(x)), x) << std::hex << h;
  }
}

TEST(Half, RoundsToNearestEven) {
  // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: ties go to the even 1.
  EXPECT_EQ(f32ToF16(1.0f + std::ldexp(1.0f, -11)), 0x3C00);
  // 1 + 3*2^-11 is halfway between 1+2^-10 (odd) and 1+2^-9 (even).
  EXPECT_EQ(f32ToF16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);
  EXPECT_EQ(f32ToF16(65504.0f), 0x7BFF);
  EXPECT_EQ(f32ToF16(65520.0f), 0x7C00); // rounds up to infinity
  EXPECT_EQ(f32ToF16(std::ldexp(1.0f, -24)), 0x0001); // smallest subnormal
  EXPECT_EQ(f32ToF16(std::ldexp(1.0f, -25)), 0x0000); // tie to even: zero
  EXPECT_EQ(f32ToF16(-0.0f), 0x8000);
}

TEST(Half, BFloat16RoundsToNearestEven) {
  EXPECT_EQ(f32ToBF16(1.0f), 0x3F80);
  float tie;
  uint32_t u = 0x3F808000; // halfway between 0x3F80 and 0x3F81
  std::memcpy(&tie, &u, 4);
  EXPECT_EQ(f32ToBF16(tie), 0x3F80);
  u = 0x3F818000;
  std::memcpy(&tie, &u, 4);
  EXPECT_EQ(f32ToBF16(tie), 0x3F82);
}

TEST(ActivationQuant, Q8_0RoundsHalfToEvenWithReciprocalOfAmax) {
  float x[32] = {0};
  x[0] = 127.0f; // amax: id = 1
  x[1] = 2.5f;   // tie: rounds to 2
  x[2] = 3.5f;   // tie: rounds to 4
  x[3] = -2.5f;  // tie: rounds to -2
  BlockQ8_0 b;
  quantizeRowQ8_0(x, &b, 32);
  EXPECT_EQ(b.qs[0], 127);
  EXPECT_EQ(b.qs[1], 2);
  EXPECT_EQ(b.qs[2], 4);
  EXPECT_EQ(b.qs[3], -2);
  EXPECT_EQ(f16ToF32(b.d), 1.0f);
}

TEST(ActivationQuant, Q8_1CarriesScaledSum) {
  float x[32];
  for (int i = 0; i < 32; ++i)
    x[i] = static_cast<float>(i) - 10.0f;
  BlockQ8_1 b;
  quantizeRowQ8_1(x, &b, 32);
  int sum = 0;
  for (int i = 0; i < 32; ++i)
    sum += b.qs[i];
  EXPECT_EQ(b.s, f32ToF16((21.0f / 127.0f) * sum));
}

TEST(ActivationQuant, Q8_KUsesSignedMaxAndBlockSums) {
  std::vector<float> x(256);
  for (int i = 0; i < 256; ++i)
    x[i] = std::sin(0.1f * i) * 3.0f;
  x[17] = -5.0f; // the signed maximum is negative
  BlockQ8_K b;
  quantizeRowQ8_K(x.data(), &b, 256);
  // iscale = -127/max: the extreme element maps to -127 and d = 1/iscale.
  EXPECT_EQ(b.qs[17], -127);
  EXPECT_FLOAT_EQ(b.d, 5.0f / 127.0f);
  for (int g = 0; g < 16; ++g) {
    int s = 0;
    for (int j = 0; j < 16; ++j)
      s += b.qs[16 * g + j];
    EXPECT_EQ(b.bsums[g], s);
  }
}

// ---- the format table -----------------------------------------------------

TEST(FormatTable, NamesAndIdsRoundTrip) {
  using namespace gemmac::abi;
  for (const FormatInfo &f : kFormats) {
    const uint32_t id = static_cast<uint32_t>(f.format);
    EXPECT_TRUE(isSupported(id)) << f.name;
    EXPECT_EQ(findFormat(id), &f) << f.name;
    EXPECT_STREQ(typeName(f.format), f.name);
    // The dialect's name is ggml's, lowercased.
    std::string lower(f.ggmlName);
    for (char &c : lower)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    EXPECT_EQ(lower, f.name);
    const gemmac::GGMLTypeInfo *g = gemmac::findGGMLType(id);
    ASSERT_NE(g, nullptr) << f.name;
    // gemmac's own formats are no ggml type: a GGUF holding one is refused.
    EXPECT_EQ(g->supported, !isOwnFormat(f.format)) << f.name;
    EXPECT_STREQ(g->name, f.ggmlName);
    EXPECT_EQ(g->blockElems, f.blockElems);
    EXPECT_EQ(g->blockBytes, f.blockBytes);
  }
  // Every ggml type the table lacks is marked unsupported.
  for (const gemmac::GGMLTypeInfo &g : gemmac::kGGMLTypes)
    EXPECT_EQ(g.supported, findFormat(g.id) != nullptr &&
                               g.id < kFirstOwnFormat)
        << g.name;
}

TEST(FormatTable, BlockGeometryMatchesTheStructs) {
  using namespace gemmac::abi;
  EXPECT_EQ(sizeof(BlockQ4_0), blockBytes(Format::Q4_0));
  EXPECT_EQ(sizeof(BlockQ4_K), blockBytes(Format::Q4_K));
  EXPECT_EQ(sizeof(BlockQ6_K), blockBytes(Format::Q6_K));
  EXPECT_EQ(sizeof(BlockQ8_K), actQuantInfo(ActQuant::Q8_K).blockBytes);
  EXPECT_EQ(QK, 32);
  EXPECT_EQ(QK_K, 256);
  for (const FormatInfo &f : kFormats) {
    // A row of two blocks has twice the block bytes; every format's
    // quantizer and dequantizer accept it (the dispatch covers the table).
    const size_t n = 2 * f.blockElems * (f.blockElems == 1 ? 256 : 1);
    EXPECT_EQ(rowBytes(f.format, n), n / f.blockElems * f.blockBytes);
    std::vector<float> x(n), y(n, -1.0f);
    for (size_t i = 0; i < n; ++i)
      x[i] = std::sin(0.37f * static_cast<float>(i));
    std::vector<uint8_t> row(rowBytes(f.format, n));
    quantizeRow(f.format, x.data(), row.data(), n);
    dequantizeRow(f.format, row.data(), y.data(), n);
    double err = 0;
    for (size_t i = 0; i < n; ++i)
      err = std::max(err, std::fabs(double(x[i]) - y[i]));
    EXPECT_LT(err, 0.2) << f.name;
  }
}

TEST(FormatTable, RulesMatchTheKernelsAssumptions) {
  using namespace gemmac::abi;
  for (const FormatInfo &f : kFormats) {
    // Float weights multiply f32 activations; quantized ones whole
    // activation blocks.
    if (isOwnFormat(f.format)) {
      // gemmac's own blocks meet f32 activations; no ggml GEMM paths.
      EXPECT_EQ(f.actQuant, ActQuant::None) << f.name;
      EXPECT_FALSE(f.tinyMatmul || f.x8) << f.name;
    } else if (isFloatFormat(f.format)) {
      EXPECT_EQ(f.blockElems, 1u) << f.name;
      EXPECT_TRUE(f.tinyMatmul) << f.name;
    } else {
      // One activation block per weight block, or NVFP4's two.
      EXPECT_EQ(f.blockElems, actQuantInfo(f.actQuant).blockElems *
                                  (f.format == Format::NVFP4 ? 2u : 1u))
          << f.name;
    }
    EXPECT_EQ(hasX8Layout(f.format),
              f.format == Format::Q4_0 || f.format == Format::Q4_K)
        << f.name;
    EXPECT_EQ(isRepackedShape(f.format, 16), f.x8) << f.name;
    EXPECT_FALSE(isRepackedShape(f.format, 12)) << f.name;
  }
  EXPECT_EQ(activationQuant(Format::Q4_0), ActQuant::Q8_0);
  EXPECT_EQ(activationQuant(Format::Q5_1), ActQuant::Q8_1);
  EXPECT_EQ(activationQuant(Format::Q6_K), ActQuant::Q8_K);
  EXPECT_TRUE(usesTinyMatmul(Format::F16, 4, 8));
  EXPECT_FALSE(usesTinyMatmul(Format::F16, 6, 8));
  EXPECT_FALSE(usesTinyMatmul(Format::F32, 4, 12));
  EXPECT_FALSE(usesTinyMatmul(Format::Q8_0, 4, 32));
}

TEST(FormatTable, X8RepackRoundTripsForEveryX8Format) {
  using namespace gemmac::abi;
  for (const FormatInfo &f : kFormats) {
    if (!f.x8)
      continue;
    const size_t n = 2 * f.blockElems;
    const size_t rb = rowBytes(f.format, n);
    std::vector<float> x(8 * n);
    for (size_t i = 0; i < x.size(); ++i)
      x[i] = std::cos(0.11f * static_cast<float>(i));
    std::vector<uint8_t> rows(8 * rb), group(x8GroupBytes(f.format, n)),
        back(rb);
    for (int r = 0; r < 8; ++r)
      quantizeRow(f.format, x.data() + r * n, rows.data() + r * rb, n);
    packX8(f.format, rows.data(), group.data(), n);
    for (int r = 0; r < 8; ++r) {
      unpackX8Row(f.format, group.data(), r, back.data(), n);
      EXPECT_EQ(0, std::memcmp(back.data(), rows.data() + r * rb, rb))
          << f.name << " row " << r;
    }
  }
}

} // namespace

TEST(E4M3, EveryFiniteCodeRoundTripsAndNaNsAreNaN) {
  for (int c = 0; c < 256; ++c) {
    const uint8_t b = static_cast<uint8_t>(c);
    const float v = e4m3ToF32(b);
    if ((b & 0x7F) == 0x7F) {
      EXPECT_TRUE(std::isnan(v)) << c;
      continue;
    }
    if (b == 0x80) { // -0 encodes back as -0
      EXPECT_EQ(f32ToE4M3(v), 0x80);
      continue;
    }
    EXPECT_EQ(f32ToE4M3(v), b) << c << " = " << v;
  }
  EXPECT_EQ(e4m3ToF32(0x7E), 448.0f);
  EXPECT_EQ(e4m3ToF32(0x01), std::ldexp(1.0f, -9));
  EXPECT_EQ(e4m3ToF32(0x08), std::ldexp(1.0f, -6));
}

TEST(E4M3, RoundsToNearestEvenAndSaturates) {
  // Between 1.0 (0x38) and 1.125 (0x39): the midpoint goes to the even code.
  EXPECT_EQ(f32ToE4M3(1.0625f), 0x38);
  EXPECT_EQ(f32ToE4M3(1.0626f), 0x39);
  // Between 1.125 (0x39) and 1.25 (0x3A): the midpoint goes up to 0x3A.
  EXPECT_EQ(f32ToE4M3(1.1875f), 0x3A);
  // Subnormal midpoints: 1.5 * 2^-9 -> 2 * 2^-9 (even), 0.5 * 2^-9 -> 0.
  EXPECT_EQ(f32ToE4M3(1.5f * std::ldexp(1.0f, -9)), 0x02);
  EXPECT_EQ(f32ToE4M3(0.5f * std::ldexp(1.0f, -9)), 0x00);
  // Past the largest finite value: saturated, never NaN.
  EXPECT_EQ(f32ToE4M3(464.0f), 0x7E);
  EXPECT_EQ(f32ToE4M3(1e30f), 0x7E);
  EXPECT_EQ(f32ToE4M3(-1e30f), 0xFE);
  EXPECT_EQ(f32ToE4M3(std::nanf("")) & 0x7F, 0x7F);
  EXPECT_EQ(f32ToE4M3(-3.5f), 0x80 | f32ToE4M3(3.5f));
}
