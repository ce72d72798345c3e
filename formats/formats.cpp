// ggml block formats: conversions, dequantization and quantization.

#include "formats/formats.h"

#include <algorithm>
#include <limits>
#include <cmath>
#include <cstring>

namespace gemmac::fmt {

static inline uint32_t floatBits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
static inline float bitsFloat(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

float f16ToF32(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1F;
  uint32_t mant = h & 0x3FF;
  if (exp == 0) {
    // Zero or subnormal: mant * 2^-24, exact in f32.
    float v = static_cast<float>(mant) * 0x1p-24f;
    return bitsFloat(floatBits(v) | sign);
  }
  if (exp == 31)
    return bitsFloat(sign | 0x7F800000u | (mant << 13));
  return bitsFloat(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t f32ToF16(float f) {
  uint32_t u = floatBits(f);
  uint32_t sign = (u >> 16) & 0x8000;
  u &= 0x7FFFFFFFu;
  if (u >= 0x7F800000u) // inf or NaN (NaN stays a quiet NaN)
    return sign | 0x7C00 | (u > 0x7F800000u ? 0x200 | ((u >> 13) & 0x3FF) : 0);
  if (u >= 0x47800000u) // >= 65536: overflows to infinity
    return sign | 0x7C00;
  if (u < 0x38800000u) {
    // Result is subnormal or zero: let the FPU round by adding 0.5 (2^-1),
    // which aligns the half's subnormal step (2^-24) to the f32 ulp.
    float v = bitsFloat(u) + 0.5f;
    return sign | static_cast<uint16_t>(floatBits(v) - floatBits(0.5f));
  }
  // Normal: rebias the exponent and round the 13 dropped bits to nearest even.
  uint32_t odd = (u >> 13) & 1;
  u += 0xC8000FFFu + odd; // (15 - 127) << 23 plus the rounding bias
  return sign | static_cast<uint16_t>(u >> 13);
}

uint16_t f32ToBF16(float f) {
  uint32_t u = floatBits(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u)
    return static_cast<uint16_t>((u >> 16) | 64);
  return static_cast<uint16_t>((u + (0x7FFF + ((u >> 16) & 1))) >> 16);
}

// ---- dequantization --------------------------------------------------------

static void dequantBlocksQ4_0(const BlockQ4_0 *b, float *y, size_t nb) {
  for (size_t i = 0; i < nb; ++i, y += QK) {
    float d = f16ToF32(b[i].d);
    for (int j = 0; j < 16; ++j) {
      y[j] = d * ((b[i].qs[j] & 0xF) - 8);
      y[j + 16] = d * ((b[i].qs[j] >> 4) - 8);
    }
  }
}

static void dequantBlocksQ4_1(const BlockQ4_1 *b, float *y, size_t nb) {
  for (size_t i = 0; i < nb; ++i, y += QK) {
    float d = f16ToF32(b[i].d), m = f16ToF32(b[i].m);
    for (int j = 0; j < 16; ++j) {
      y[j] = d * (b[i].qs[j] & 0xF) + m;
      y[j + 16] = d * (b[i].qs[j] >> 4) + m;
    }
  }
}

static void dequantBlocksQ5_0(const BlockQ5_0 *b, float *y, size_t nb) {
  for (size_t i = 0; i < nb; ++i, y += QK) {
    float d = f16ToF32(b[i].d);
    uint32_t qh;
    std::memcpy(&qh, b[i].qh, 4);
    for (int j = 0; j < 16; ++j) {
      int lo = (b[i].qs[j] & 0xF) | (((qh >> j) & 1) << 4);
      int hi = (b[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
      y[j] = d * (lo - 16);
      y[j + 16] = d * (hi - 16);
    }
  }
}

static void dequantBlocksQ5_1(const BlockQ5_1 *b, float *y, size_t nb) {
  for (size_t i = 0; i < nb; ++i, y += QK) {
    float d = f16ToF32(b[i].d), m = f16ToF32(b[i].m);
    uint32_t qh;
    std::memcpy(&qh, b[i].qh, 4);
    for (int j = 0; j < 16; ++j) {
      int lo = (b[i].qs[j] & 0xF) | (((qh >> j) & 1) << 4);
      int hi = (b[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
      y[j] = d * lo + m;
      y[j + 16] = d * hi + m;
    }
  }
}

static void dequantBlocksQ8_0(const BlockQ8_0 *b, float *y, size_t nb) {
  for (size_t i = 0; i < nb; ++i, y += QK) {
    float d = f16ToF32(b[i].d);
    for (int j = 0; j < QK; ++j)
      y[j] = d * b[i].qs[j];
  }
}

/// Q4_K and Q5_K: four pairs of 32-quant sub-blocks with 6-bit scales and
/// minimums; Q5_K adds each quant's fifth bit from qh.
template <typename Block, bool kFifthBit>
static void dequantK(const Block *b, float *y, size_t nb) {
  for (size_t i = 0; i < nb; ++i) {
    float d = f16ToF32(b[i].d), dmin = f16ToF32(b[i].dmin);
    const uint8_t *q = b[i].qs;
    for (int c = 0; c < 4; ++c, q += 32)
      for (int half = 0; half < 2; ++half) {
        uint8_t sc, m;
        scaleMinK4(2 * c + half, b[i].scales, sc, m);
        float ds = d * sc, ms = dmin * m;
        for (int l = 0; l < 32; ++l) {
          int v = half ? q[l] >> 4 : q[l] & 0xF;
          if constexpr (kFifthBit)
            v += (b[i].qh[l] >> (2 * c + half)) & 1 ? 16 : 0;
          *y++ = ds * v - ms;
        }
      }
  }
}

static void dequantBlocksQ6_K(const BlockQ6_K *b, float *y, size_t nb) {
  for (size_t i = 0; i < nb; ++i) {
    float d = f16ToF32(b[i].d);
    for (int h = 0; h < 2; ++h) {
      const uint8_t *ql = b[i].ql + 64 * h, *qh = b[i].qh + 32 * h;
      const int8_t *s = b[i].scales + 8 * h;
      float *Y = y + 256 * i + 128 * h;
      for (int l = 0; l < 32; ++l) {
        int t = l / 16;
        int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        Y[l] = d * s[t] * q1;
        Y[l + 32] = d * s[t + 2] * q2;
        Y[l + 64] = d * s[t + 4] * q3;
        Y[l + 96] = d * s[t + 6] * q4;
      }
    }
  }
}

// One dequantizer per row of abi/formats.def, dequant<Enum>(src, dst, n).
static void dequantF32(const void *src, float *dst, size_t n) {
  std::memcpy(dst, src, n * 4);
}
static void dequantF16(const void *src, float *dst, size_t n) {
  const uint16_t *h = static_cast<const uint16_t *>(src);
  for (size_t i = 0; i < n; ++i)
    dst[i] = f16ToF32(h[i]);
}
static void dequantBF16(const void *src, float *dst, size_t n) {
  const uint16_t *h = static_cast<const uint16_t *>(src);
  for (size_t i = 0; i < n; ++i)
    dst[i] = bf16ToF32(h[i]);
}
static void dequantBlocksF8_B64(const BlockF8_B64 *x, float *y, size_t nb) {
  for (size_t i = 0; i < nb; ++i)
    for (int j = 0; j < 64; ++j)
      *y++ = e4m3ToF32(x[i].qs[j]) * x[i].d;
}
static void dequantBlocksNVFP4(const BlockNVFP4 *x, float *y, size_t nb) {
  for (size_t i = 0; i < nb; ++i, y += 64)
    for (int s = 0; s < 4; ++s) {
      const float d = ue4m3ToF32(x[i].d[s]);
      for (int j = 0; j < 8; ++j) {
        const uint8_t q = x[i].qs[8 * s + j];
        y[16 * s + j] = kE2M1Doubled[q & 15] * d;
        y[16 * s + j + 8] = kE2M1Doubled[q >> 4] * d;
      }
    }
}
#define BLOCK_DEQUANT(E, FN)                                                   \
  static void dequant##E(const void *src, float *dst, size_t n) {              \
    FN(static_cast<const Block##E *>(src), dst, n / blockElems(Type::E));      \
  }
BLOCK_DEQUANT(Q4_0, dequantBlocksQ4_0)
BLOCK_DEQUANT(Q4_1, dequantBlocksQ4_1)
BLOCK_DEQUANT(Q5_0, dequantBlocksQ5_0)
BLOCK_DEQUANT(Q5_1, dequantBlocksQ5_1)
BLOCK_DEQUANT(Q8_0, dequantBlocksQ8_0)
BLOCK_DEQUANT(Q4_K, (dequantK<BlockQ4_K, false>))
BLOCK_DEQUANT(Q5_K, (dequantK<BlockQ5_K, true>))
BLOCK_DEQUANT(Q6_K, dequantBlocksQ6_K)
BLOCK_DEQUANT(F8_B64, dequantBlocksF8_B64)
BLOCK_DEQUANT(NVFP4, dequantBlocksNVFP4)
BLOCK_DEQUANT(Q4_0_F32, dequantBlocksQ4_0)
BLOCK_DEQUANT(Q8_0_F32, dequantBlocksQ8_0)
BLOCK_DEQUANT(NVFP4_F32, dequantBlocksNVFP4)
#undef BLOCK_DEQUANT

void dequantizeRow(Type t, const void *src, float *dst, size_t n) {
  switch (t) {
#define GEMMAC_FORMAT(E, name, id, elems, bytes, act, x8, tiny)                \
  case Type::E:                                                                \
    return dequant##E(src, dst, n);
#include "abi/formats.def"
  }
}

// ---- FP8 E4M3 ----------------------------------------------------------------

float e4m3ToF32(uint8_t b) {
  const int sign = b >> 7, e = (b >> 3) & 15, m = b & 7;
  if (e == 15 && m == 7)
    return std::numeric_limits<float>::quiet_NaN();
  float v = e == 0 ? std::ldexp(static_cast<float>(m), -9)
                   : std::ldexp(1.0f + m / 8.0f, e - 7);
  return sign ? -v : v;
}

uint8_t f32ToE4M3(float f) {
  if (std::isnan(f))
    return 0x7F;
  const uint8_t sign = std::signbit(f) ? 0x80 : 0;
  const float a = std::fabs(f);
  if (a >= 448.0f)
    return sign | 0x7E; // saturate
  // Scaling by powers of two is exact, so nearbyint (ties to even in the
  // default mode) rounds the true value.
  if (a < 0x1p-6f) // subnormal: multiples of 2^-9 (8 * 2^-9 is code 0x08)
    return sign | static_cast<uint8_t>(std::nearbyint(a * 512.0f));
  int e;
  std::frexp(a, &e); // a = f * 2^e, f in [0.5, 1)
  e -= 1;            // a = g * 2^e, g in [1, 2)
  int m = static_cast<int>(std::nearbyint((std::ldexp(a, -e) - 1.0f) * 8.0f));
  if (m == 8) {
    m = 0;
    ++e;
  }
  int code = ((e + 7) << 3) | m;
  return sign | static_cast<uint8_t>(std::min(code, 0x7E));
}

// ---- NVFP4 scales ------------------------------------------------------------

float ue4m3ToF32(uint8_t b) {
  if (b == 0 || b == 0x7F)
    return 0.0f;
  const int e = (b >> 3) & 15, m = b & 7;
  const float v = e == 0 ? std::ldexp(static_cast<float>(m), -9)
                         : std::ldexp(1.0f + m / 8.0f, e - 7);
  return v * 0.5f;
}

uint8_t f32ToUE4M3(float x) {
  if (!(x > 0.0f))
    return 0;
  x = std::min(x, 448.0f);
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  int e = static_cast<int>((bits >> 23) & 0xFF) - 127 + 7;
  if (e <= 0) { // subnormal: multiples of 2^-9
    int m = std::min(static_cast<int>(x * 512.0f + 0.5f), 7);
    return m < 1 ? 0 : static_cast<uint8_t>(m);
  }
  if (e >= 15)
    return 0x7E;
  int m = static_cast<int>((bits >> 20) & 7) + static_cast<int>((bits >> 19) & 1);
  if (m > 7) {
    m = 0;
    if (++e >= 15)
      return 0x7E;
  }
  return static_cast<uint8_t>((e << 3) | m);
}

uint8_t f32ToE2M1(float x) {
  static const float grid[8] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
  const float a = std::min(std::fabs(x), 6.0f);
  int best = 0;
  for (int c = 1; c < 8; ++c) {
    const float dc = std::fabs(a - grid[c]), db = std::fabs(a - grid[best]);
    if (dc < db || (dc == db && c % 2 == 0))
      best = c;
  }
  return static_cast<uint8_t>((std::signbit(x) ? 8 : 0) | best);
}

// ---- activation quantizers -------------------------------------------------

// llama.cpp's AVX2 quantizer multiplies by 127/amax (not 1/d) and rounds the
// f32 product half to even; nearbyintf does the same in the default mode.
static inline int8_t roundQ8(float v) {
  return static_cast<int8_t>(std::clamp(std::nearbyintf(v), -127.0f, 127.0f));
}

/// `reciprocalOfScale`: llama.cpp's NEON quantizer (arch/arm/quants.c,
/// ggml_quantize_mat_q8_0_4x4) multiplies by 1/d instead, which can be an ulp
/// away from 127/amax; it rounds half to even too.
static void quantizeQ8_0(const float *x, BlockQ8_0 *y, size_t n,
                         bool reciprocalOfScale) {
  for (size_t i = 0; i < n / QK; ++i, x += QK) {
    float amax = 0;
    for (int j = 0; j < QK; ++j)
      amax = std::max(amax, std::fabs(x[j]));
    float d = amax / 127.0f;
    float id = reciprocalOfScale ? (d != 0 ? 1.0f / d : 0.0f)
                                 : (amax != 0 ? 127.0f / amax : 0.0f);
    y[i].d = f32ToF16(d);
    for (int j = 0; j < QK; ++j)
      y[i].qs[j] = roundQ8(x[j] * id);
  }
}

void quantizeRowQ8_0(const float *x, BlockQ8_0 *y, size_t n) {
  quantizeQ8_0(x, y, n, false);
}

void quantizeRowQ8_0Neon(const float *x, BlockQ8_0 *y, size_t n) {
  quantizeQ8_0(x, y, n, true);
}

void quantizeRowQ8_1(const float *x, BlockQ8_1 *y, size_t n) {
  for (size_t i = 0; i < n / QK; ++i, x += QK) {
    float amax = 0;
    for (int j = 0; j < QK; ++j)
      amax = std::max(amax, std::fabs(x[j]));
    float d = amax / 127.0f;
    float id = amax != 0 ? 127.0f / amax : 0.0f;
    int sum = 0;
    for (int j = 0; j < QK; ++j) {
      y[i].qs[j] = roundQ8(x[j] * id);
      sum += y[i].qs[j];
    }
    y[i].d = f32ToF16(d);
    y[i].s = f32ToF16(d * static_cast<float>(sum));
  }
}

void quantizeRowQ8_K(const float *x, BlockQ8_K *y, size_t n) {
  for (size_t i = 0; i < n / QK_K; ++i, x += QK_K) {
    float amax = 0, max = 0;
    for (int j = 0; j < QK_K; ++j) {
      float ax = std::fabs(x[j]);
      if (ax > amax) {
        amax = ax;
        max = x[j];
      }
    }
    if (amax == 0) {
      y[i].d = 0;
      std::memset(y[i].qs, 0, sizeof(y[i].qs));
      std::memset(y[i].bsums, 0, sizeof(y[i].bsums));
      continue;
    }
    float iscale = -127.0f / max;
    for (int j = 0; j < QK_K; ++j)
      y[i].qs[j] = static_cast<int8_t>(
          std::min(127.0f, std::nearbyintf(iscale * x[j])));
    for (int g = 0; g < 16; ++g) {
      int sum = 0;
      for (int j = 0; j < 16; ++j)
        sum += y[i].qs[16 * g + j];
      y[i].bsums[g] = static_cast<int16_t>(sum);
    }
    y[i].d = 1.0f / iscale;
  }
}

// ---- weight quantizers -----------------------------------------------------

/// The element of largest magnitude, with its sign.
static float signedMax(const float *x, int n) {
  float amax = 0, max = 0;
  for (int j = 0; j < n; ++j)
    if (std::fabs(x[j]) > amax) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  return max;
}

static void quantBlocksQ4_0(const float *x, BlockQ4_0 *y, size_t nb) {
  for (size_t i = 0; i < nb; ++i, x += QK) {
    float d = signedMax(x, QK) / -8.0f;
    float id = d != 0 ? 1.0f / d : 0.0f;
    y[i].d = f32ToF16(d);
    for (int j = 0; j < 16; ++j) {
      int lo = std::min(15, static_cast<int>(x[j] * id + 8.5f));
      int hi = std::min(15, static_cast<int>(x[j + 16] * id + 8.5f));
      y[i].qs[j] = static_cast<uint8_t>(lo | (hi << 4));
    }
  }
}

static void minMax(const float *x, int n, float &lo, float &hi) {
  lo = hi = x[0];
  for (int j = 1; j < n; ++j) {
    lo = std::min(lo, x[j]);
    hi = std::max(hi, x[j]);
  }
}

static void quantBlocksQ4_1(const float *x, BlockQ4_1 *y, size_t nb) {
  for (size_t i = 0; i < nb; ++i, x += QK) {
    float lo, hi;
    minMax(x, QK, lo, hi);
    float d = (hi - lo) / 15.0f, id = d != 0 ? 1.0f / d : 0.0f;
    y[i].d = f32ToF16(d);
    y[i].m = f32ToF16(lo);
    for (int j = 0; j < 16; ++j) {
      int a = std::min(15, static_cast<int>((x[j] - lo) * id + 0.5f));
      int b = std::min(15, static_cast<int>((x[j + 16] - lo) * id + 0.5f));
      y[i].qs[j] = static_cast<uint8_t>(a | (b << 4));
    }
  }
}

/// Packs 32 five-bit values quantize(j) as Q5_0/Q5_1 store them: the low
/// nibbles of j and j + 16 share qs[j], the fifth bits go to qh.
template <typename Block, typename Quantize>
static void packFiveBits(Block &y, Quantize quantize) {
  uint32_t qh = 0;
  for (int j = 0; j < 16; ++j) {
    int a = quantize(j), b = quantize(j + 16);
    y.qs[j] = static_cast<uint8_t>((a & 0xF) | ((b & 0xF) << 4));
    qh |= static_cast<uint32_t>((a >> 4) & 1) << j;
    qh |= static_cast<uint32_t>((b >> 4) & 1) << (j + 16);
  }
  std::memcpy(y.qh, &qh, 4);
}

static void quantBlocksQ5_0(const float *x, BlockQ5_0 *y, size_t nb) {
  for (size_t i = 0; i < nb; ++i, x += QK) {
    float d = signedMax(x, QK) / -16.0f;
    float id = d != 0 ? 1.0f / d : 0.0f;
    y[i].d = f32ToF16(d);
    packFiveBits(y[i], [&](int j) {
      return std::min(31, static_cast<int>(x[j] * id + 16.5f));
    });
  }
}

static void quantBlocksQ5_1(const float *x, BlockQ5_1 *y, size_t nb) {
  for (size_t i = 0; i < nb; ++i, x += QK) {
    float lo, hi;
    minMax(x, QK, lo, hi);
    float d = (hi - lo) / 31.0f, id = d != 0 ? 1.0f / d : 0.0f;
    y[i].d = f32ToF16(d);
    y[i].m = f32ToF16(lo);
    packFiveBits(y[i], [&](int j) {
      return std::min(31, static_cast<int>((x[j] - lo) * id + 0.5f));
    });
  }
}

static void quantBlocksQ8_0(const float *x, BlockQ8_0 *y, size_t nb) {
  for (size_t i = 0; i < nb; ++i, x += QK) {
    float amax = 0;
    for (int j = 0; j < QK; ++j)
      amax = std::max(amax, std::fabs(x[j]));
    float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
    y[i].d = f32ToF16(d);
    for (int j = 0; j < QK; ++j)
      y[i].qs[j] = static_cast<int8_t>(std::lround(x[j] * id));
  }
}

/// Packs 8 six-bit scales and mins into the 12-byte Q4_K/Q5_K layout.
static void packScalesK4(const uint8_t *sc, const uint8_t *m, uint8_t *q) {
  for (int j = 0; j < 4; ++j) {
    q[j] = (sc[j] & 63) | ((sc[j + 4] >> 4) << 6);
    q[j + 4] = (m[j] & 63) | ((m[j + 4] >> 4) << 6);
    q[j + 8] = (sc[j + 4] & 0xF) | ((m[j + 4] & 0xF) << 4);
  }
}

/// Shared by Q4_K (levels 15) and Q5_K (levels 31): per sub-block of 32 an
/// affine map x ~ d*sc*q - dmin*m with 6-bit sc, m and q in [0, levels].
static void quantAffineK(const float *x, int levels, uint16_t &dOut,
                         uint16_t &dminOut, uint8_t *scales, uint8_t *q) {
  float scale[8], offs[8];
  for (int j = 0; j < 8; ++j) {
    float lo, hi;
    minMax(x + 32 * j, 32, lo, hi);
    lo = std::min(lo, 0.0f);
    scale[j] = (hi - lo) / levels;
    offs[j] = -lo;
  }
  float maxScale = *std::max_element(scale, scale + 8);
  float maxOffs = *std::max_element(offs, offs + 8);
  float d = maxScale / 63.0f, dmin = maxOffs / 63.0f;
  dOut = f32ToF16(d);
  dminOut = f32ToF16(dmin);
  float dq = f16ToF32(dOut), dminq = f16ToF32(dminOut);
  uint8_t sc[8], mn[8];
  for (int j = 0; j < 8; ++j) {
    sc[j] = dq > 0 ? static_cast<uint8_t>(std::min(63L, std::lround(scale[j] / dq))) : 0;
    mn[j] = dminq > 0 ? static_cast<uint8_t>(std::min(63L, std::lround(offs[j] / dminq))) : 0;
    float step = dq * sc[j], off = dminq * mn[j];
    for (int l = 0; l < 32; ++l) {
      long v = step > 0 ? std::lround((x[32 * j + l] + off) / step) : 0;
      q[32 * j + l] = static_cast<uint8_t>(std::clamp(v, 0L, static_cast<long>(levels)));
    }
  }
  packScalesK4(sc, mn, scales);
}

static void quantBlocksQ4_K(const float *x, BlockQ4_K *y, size_t nb) {
  uint8_t q[QK_K];
  for (size_t i = 0; i < nb; ++i, x += QK_K) {
    quantAffineK(x, 15, y[i].d, y[i].dmin, y[i].scales, q);
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l)
        y[i].qs[32 * c + l] = q[64 * c + l] | (q[64 * c + 32 + l] << 4);
  }
}

static void quantBlocksQ5_K(const float *x, BlockQ5_K *y, size_t nb) {
  uint8_t q[QK_K];
  for (size_t i = 0; i < nb; ++i, x += QK_K) {
    quantAffineK(x, 31, y[i].d, y[i].dmin, y[i].scales, q);
    std::memset(y[i].qh, 0, 32);
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l) {
        uint8_t a = q[64 * c + l], b = q[64 * c + 32 + l];
        y[i].qs[32 * c + l] = (a & 0xF) | ((b & 0xF) << 4);
        y[i].qh[l] |= ((a >> 4) << (2 * c)) | ((b >> 4) << (2 * c + 1));
      }
  }
}

static void quantBlocksQ6_K(const float *x, BlockQ6_K *y, size_t nb) {
  for (size_t i = 0; i < nb; ++i, x += QK_K) {
    float scale[16];
    float amaxScale = 0;
    for (int j = 0; j < 16; ++j) {
      scale[j] = signedMax(x + 16 * j, 16) / -32.0f;
      amaxScale = std::max(amaxScale, std::fabs(scale[j]));
    }
    float d = amaxScale / 127.0f;
    y[i].d = f32ToF16(d);
    float dq = f16ToF32(y[i].d);
    uint8_t q[QK_K];
    for (int j = 0; j < 16; ++j) {
      long s = dq > 0 ? std::lround(scale[j] / dq) : 0;
      y[i].scales[j] = static_cast<int8_t>(std::clamp(s, -127L, 127L));
      float step = dq * y[i].scales[j];
      for (int l = 0; l < 16; ++l) {
        long v = step != 0 ? std::lround(x[16 * j + l] / step) : 0;
        q[16 * j + l] = static_cast<uint8_t>(std::clamp(v, -32L, 31L) + 32);
      }
    }
    for (int h = 0; h < 2; ++h) {
      uint8_t *ql = y[i].ql + 64 * h, *qh = y[i].qh + 32 * h;
      const uint8_t *Q = q + 128 * h;
      for (int l = 0; l < 32; ++l) {
        ql[l] = (Q[l] & 0xF) | ((Q[l + 64] & 0xF) << 4);
        ql[l + 32] = (Q[l + 32] & 0xF) | ((Q[l + 96] & 0xF) << 4);
        qh[l] = (Q[l] >> 4) | ((Q[l + 32] >> 4) << 2) | ((Q[l + 64] >> 4) << 4) |
                ((Q[l + 96] >> 4) << 6);
      }
    }
  }
}

// One weight quantizer per row of abi/formats.def, quant<Enum>(x, dst, n).
static void quantF32(const float *x, void *dst, size_t n) {
  std::memcpy(dst, x, n * 4);
}
static void quantF16(const float *x, void *dst, size_t n) {
  uint16_t *h = static_cast<uint16_t *>(dst);
  for (size_t i = 0; i < n; ++i)
    h[i] = f32ToF16(x[i]);
}
static void quantBF16(const float *x, void *dst, size_t n) {
  uint16_t *h = static_cast<uint16_t *>(dst);
  for (size_t i = 0; i < n; ++i)
    h[i] = f32ToBF16(x[i]);
}
// amax/448 per block (1 for an all-zero block, as ModelOpt writes it).
static void quantBlocksF8_B64(const float *x, BlockF8_B64 *y, size_t nb) {
  for (size_t i = 0; i < nb; ++i, x += 64) {
    float amax = 0;
    for (int j = 0; j < 64; ++j)
      amax = std::max(amax, std::fabs(x[j]));
    y[i].d = amax > 0 ? amax / 448.0f : 1.0f;
    for (int j = 0; j < 64; ++j)
      y[i].qs[j] = f32ToE4M3(x[j] / y[i].d);
  }
}
// ggml's quantize_row_nvfp4_ref: per 16, the scale of amax/6 and the
// nearest doubled E2M1 value times it (the first on a tie).
static void quantBlocksNVFP4(const float *x, BlockNVFP4 *y, size_t nb) {
  for (size_t i = 0; i < nb; ++i)
    for (int s = 0; s < 4; ++s) {
      const float *xb = x + 64 * i + 16 * s;
      float amax = 0;
      for (int j = 0; j < 16; ++j)
        amax = std::max(amax, std::fabs(xb[j]));
      y[i].d[s] = f32ToUE4M3(amax / 6.0f);
      const float d = ue4m3ToF32(y[i].d[s]);
      auto nearest = [&](float v) {
        int best = 0;
        float err = std::fabs(kE2M1Doubled[0] * d - v);
        for (int c = 1; c < 16; ++c)
          if (float e = std::fabs(kE2M1Doubled[c] * d - v); e < err) {
            best = c;
            err = e;
          }
        return static_cast<uint8_t>(best);
      };
      for (int j = 0; j < 8; ++j)
        y[i].qs[8 * s + j] = nearest(xb[j]) | (nearest(xb[j + 8]) << 4);
    }
}
#define BLOCK_QUANT(E)                                                         \
  static void quant##E(const float *x, void *dst, size_t n) {                  \
    quantBlocks##E(x, static_cast<Block##E *>(dst), n / blockElems(Type::E));  \
  }
BLOCK_QUANT(Q4_0)
BLOCK_QUANT(Q4_1)
BLOCK_QUANT(Q5_0)
BLOCK_QUANT(Q5_1)
BLOCK_QUANT(Q8_0)
BLOCK_QUANT(Q4_K)
BLOCK_QUANT(Q5_K)
BLOCK_QUANT(Q6_K)
BLOCK_QUANT(F8_B64)
BLOCK_QUANT(NVFP4)
#undef BLOCK_QUANT
// The float-activation forms encode as their ggml blocks.
static void quantQ4_0_F32(const float *x, void *dst, size_t n) {
  quantQ4_0(x, dst, n);
}
static void quantQ8_0_F32(const float *x, void *dst, size_t n) {
  quantQ8_0(x, dst, n);
}
static void quantNVFP4_F32(const float *x, void *dst, size_t n) {
  quantNVFP4(x, dst, n);
}

void quantizeRow(Type t, const float *x, void *dst, size_t n) {
  switch (t) {
#define GEMMAC_FORMAT(E, name, id, elems, bytes, act, x8, tiny)                \
  case Type::E:                                                                \
    return quant##E(x, dst, n);
#include "abi/formats.def"
  }
}

} // namespace gemmac::fmt
