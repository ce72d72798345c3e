// Scalar reference dot products: one weight row against one converted
// activation row, with exactly the floating-point operations of llama.cpp's
// AVX2 kernels for each format (lane structure, FMAs, horizontal sums; see
// docs/numerics.md). The SIMD kernels (matmul_avx2.cpp) must reproduce these
// bit for bit -- the unit tests compare them -- and formats without a SIMD
// kernel use them directly.
#pragma once

#include "formats/formats.h"

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace gemmac::rt::ref {

using namespace gemmac::fmt;

/// ((v0+v4)+(v2+v6)) + ((v1+v5)+(v3+v7)): the AVX2 horizontal sum.
inline float hsum8(const float *v) {
  return ((v[0] + v[4]) + (v[2] + v[6])) + ((v[1] + v[5]) + (v[3] + v[7]));
}

/// (v0+v1)+(v2+v3): NEON's vaddvq_f32 (llama.cpp's Arm build).
inline float hsum4(const float *v) { return (v[0] + v[1]) + (v[2] + v[3]); }

/// ((v0+v4)+(v1+v5)) + ((v2+v6)+(v3+v7)): GGML_F32x8_REDUCE's order.
inline float reduce8(const float *v) {
  return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
}

// ---- float weights ---------------------------------------------------------

template <typename T> inline float widen(T v);
template <> inline float widen<float>(float v) { return v; }

struct F16 {
  uint16_t bits;
};
struct BF16 {
  uint16_t bits;
};
template <> inline float widen<F16>(F16 v) { return f16ToF32(v.bits); }
template <> inline float widen<BF16>(BF16 v) { return bf16ToF32(v.bits); }

/// tinyBLAS: eight lanes, lane t takes elements t, t+8, ...; one FMA each.
template <typename T>
float dotTiny(const T *w, const T *x, int64_t n) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int64_t l = 0; l < n; l += 8)
    for (int t = 0; t < 8; ++t)
      acc[t] = std::fma(widen(w[l + t]), widen(x[l + t]), acc[t]);
  return hsum8(acc);
}

/// ggml_vec_dot_f32's leftovers [i, n) added to r as llama.cpp's binaries
/// (GCC 11, contraction on) add them: vectorized in groups whose products
/// are rounded and added in order, except the last (n - i) % Unfused, which
/// are fused (Unfused: 4 in the AVX2 build, 8 in the AVX-512 build).
template <int Unfused>
inline float addLeftoversF32(float r, const float *w, const float *x,
                             int64_t i, int64_t n) {
  const int64_t unfused = i + ((n - i) & ~int64_t(Unfused - 1));
  for (; i < unfused; ++i) {
    const float p = w[i] * x[i];
    r = r + p;
  }
  for (; i < n; ++i)
    r = std::fma(w[i], x[i], r);
  return r;
}

/// ggml_vec_dot_f32/f16/bf16 (shapes tinyBLAS declines, and mul_mat_id):
/// 4x8 lanes over blocks of 32 (bf16: each a product added to its sum,
/// which GCC contracts into one FMA), the lanes combined (c0 + c2) +
/// (c1 + c3) and reduced in `Reduce`'s order (f32/f16: GGML_F32x8_REDUCE;
/// bf16: the AVX2 horizontal sum), then the leftovers: f16 and bf16 added
/// in double; f32 in float as the pinned binary (GCC 11) does it, the
/// products rounded and added in order for all but the last n % 4, which
/// are fused.
template <typename T, float (*Reduce)(const float *) = reduce8>
float dotVec(const T *w, const T *x, int64_t n) {
  float acc[4][8] = {};
  const int64_t np = n & ~int64_t(31);
  for (int64_t i = 0; i < np; i += 32)
    for (int a = 0; a < 4; ++a)
      for (int t = 0; t < 8; ++t)
        acc[a][t] = std::fma(widen(w[i + 8 * a + t]), widen(x[i + 8 * a + t]),
                             acc[a][t]);
  float v[8];
  for (int t = 0; t < 8; ++t)
    v[t] = (acc[0][t] + acc[2][t]) + (acc[1][t] + acc[3][t]);
  if constexpr (std::is_same_v<T, float>)
    return addLeftoversF32<4>(Reduce(v), w, x, np, n);
  double sum = Reduce(v);
  for (int64_t i = np; i < n; ++i)
    sum += static_cast<double>(widen(w[i]) * widen(x[i]));
  return static_cast<float>(sum);
}

// ---- float weights in llama.cpp's AVX-512 build ("zen4", KernelSet::Avx512)

/// _mm512_reduce_add_ps's order: the halves added lane by lane, then hsum8.
inline float hsum16(const float *v) {
  float h[8];
  for (int t = 0; t < 8; ++t)
    h[t] = v[t] + v[t + 8];
  return hsum8(h);
}

/// A float as vdpbf16ps reads or writes it: denormals are zero.
inline float flushDenormal(float v) {
  return std::fpclassify(v) == FP_SUBNORMAL ? std::copysign(0.0f, v) : v;
}

/// One lane of vdpbf16ps over a pair of elements: the odd product added
/// first, then the even one, each addition rounded (the products of two
/// bf16 values are exact), denormal inputs and results taken as zero.
inline float dpbf16(float acc, BF16 w0, BF16 x0, BF16 w1, BF16 x1) {
  const float p1 = flushDenormal(widen(w1)) * flushDenormal(widen(x1));
  const float p0 = flushDenormal(widen(w0)) * flushDenormal(widen(x0));
  acc = flushDenormal(flushDenormal(acc) + p1);
  return flushDenormal(acc + p0);
}

/// tinyBLAS with sixteen lanes: f32 and f16, lane t takes elements t, t+16,
/// ..., one FMA each; bf16 (vdpbf16ps), lane t takes elements 2t and 2t+1 of
/// every 32. Then hsum16. (Its rule: n a multiple of 16, 32 for bf16.)
template <typename T>
float dotTinyZen4(const T *w, const T *x, int64_t n) {
  float acc[16] = {};
  if constexpr (std::is_same_v<T, BF16>) {
    for (int64_t l = 0; l < n; l += 32)
      for (int t = 0; t < 16; ++t)
        acc[t] = dpbf16(acc[t], w[l + 2 * t], x[l + 2 * t], w[l + 2 * t + 1],
                        x[l + 2 * t + 1]);
  } else {
    for (int64_t l = 0; l < n; l += 16)
      for (int t = 0; t < 16; ++t)
        acc[t] = std::fma(widen(w[l + t]), widen(x[l + t]), acc[t]);
  }
  return hsum16(acc);
}

/// ggml_vec_dot_f32/f16/bf16 in the AVX-512 build. f32 and f16: 4x16 lanes
/// over blocks of 64, combined (c0 + c2) + (c1 + c3), hsum16; then the
/// leftovers: f16 in double; f32 in float as the binary (GCC 11) does it,
/// the products rounded and added in order for all but the last n % 8,
/// which are fused. bf16: two vdpbf16ps accumulators over the two halves of
/// every 64, each hsum16'd into a double, then the leftovers in double.
template <typename T>
float dotVecZen4(const T *w, const T *x, int64_t n) {
  const int64_t np = n & ~int64_t(63);
  if constexpr (std::is_same_v<T, BF16>) {
    float c[2][16] = {};
    for (int64_t i = 0; i < np; i += 64)
      for (int h = 0; h < 2; ++h)
        for (int t = 0; t < 16; ++t) {
          const int64_t e = i + 32 * h + 2 * t;
          c[h][t] = dpbf16(c[h][t], w[e], x[e], w[e + 1], x[e + 1]);
        }
    double sum = 0.0;
    sum += static_cast<double>(hsum16(c[0]));
    sum += static_cast<double>(hsum16(c[1]));
    for (int64_t i = np; i < n; ++i)
      sum += static_cast<double>(widen(w[i]) * widen(x[i]));
    return static_cast<float>(sum);
  } else {
    float acc[4][16] = {};
    for (int64_t i = 0; i < np; i += 64)
      for (int a = 0; a < 4; ++a)
        for (int t = 0; t < 16; ++t)
          acc[a][t] = std::fma(widen(w[i + 16 * a + t]),
                               widen(x[i + 16 * a + t]), acc[a][t]);
    float v[16];
    for (int t = 0; t < 16; ++t)
      v[t] = (acc[0][t] + acc[2][t]) + (acc[1][t] + acc[3][t]);
    if constexpr (std::is_same_v<T, float>) {
      return addLeftoversF32<8>(hsum16(v), w, x, np, n);
    } else {
      double sum = hsum16(v);
      for (int64_t i = np; i < n; ++i)
        sum += static_cast<double>(widen(w[i]) * widen(x[i]));
      return static_cast<float>(sum);
    }
  }
}

// ---- quantized weights -----------------------------------------------------

/// Signed weight quants of one 32-block in element order.
inline void unpackQ4_0(const BlockQ4_0 &b, int *q) {
  for (int j = 0; j < 16; ++j) {
    q[j] = (b.qs[j] & 0xF) - 8;
    q[j + 16] = (b.qs[j] >> 4) - 8;
  }
}
inline void unpackQ5_0(const BlockQ5_0 &b, int *q) {
  uint32_t qh;
  std::memcpy(&qh, b.qh, 4);
  for (int j = 0; j < 16; ++j) {
    q[j] = ((b.qs[j] & 0xF) | static_cast<int>(((qh >> j) & 1) << 4)) - 16;
    q[j + 16] =
        ((b.qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1) << 4)) - 16;
  }
}
inline void unpackQ8_0(const BlockQ8_0 &b, int *q) {
  for (int j = 0; j < 32; ++j)
    q[j] = b.qs[j];
}
inline void unpackQ4_1(const BlockQ4_1 &b, int *q) {
  for (int j = 0; j < 16; ++j) {
    q[j] = b.qs[j] & 0xF;
    q[j + 16] = b.qs[j] >> 4;
  }
}
inline void unpackQ5_1(const BlockQ5_1 &b, int *q) {
  uint32_t qh;
  std::memcpy(&qh, b.qh, 4);
  for (int j = 0; j < 16; ++j) {
    q[j] = (b.qs[j] & 0xF) | static_cast<int>(((qh >> j) & 1) << 4);
    q[j + 16] = (b.qs[j] >> 4) | static_cast<int>(((qh >> (j + 16)) & 1) << 4);
  }
}

/// Q8_0/Q5_0/Q4_0 x Q8_0 (tinyBLAS_Q0 and vec_dot): lane t sums elements
/// 4t..4t+3 of every block; d = dW*dA is exact in f32.
template <typename B, void (*Unpack)(const B &, int *)>
float dotLanes(const B *w, const BlockQ8_0 *a, int64_t nb) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int q[32];
  for (int64_t b = 0; b < nb; ++b) {
    Unpack(w[b], q);
    const float d = f16ToF32(w[b].d) * f16ToF32(a[b].d);
    for (int t = 0; t < 8; ++t) {
      int isum = 0;
      for (int e = 4 * t; e < 4 * t + 4; ++e)
        isum += q[e] * a[b].qs[e];
      acc[t] = std::fma(d, static_cast<float>(isum), acc[t]);
    }
  }
  return hsum8(acc);
}

/// Q4_0 repacked for llama.cpp's q4_0_8x8 GEMM (weights with a multiple of 8
/// rows): one chain, one FMA per block.
inline float dotQ4_0Chain(const BlockQ4_0 *w, const BlockQ8_0 *a, int64_t nb) {
  float acc = 0;
  int q[32];
  for (int64_t b = 0; b < nb; ++b) {
    unpackQ4_0(w[b], q);
    int isum = 0;
    for (int e = 0; e < 32; ++e)
      isum += q[e] * a[b].qs[e];
    acc = std::fma(static_cast<float>(isum), f16ToF32(w[b].d) * f16ToF32(a[b].d),
                   acc);
  }
  return acc;
}

/// Q4_1/Q5_1 x Q8_1: lanes as above, the minimum through the stored sum.
template <typename B, void (*Unpack)(const B &, int *)>
float dotLanesAffine(const B *w, const BlockQ8_1 *a, int64_t nb) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  float summs = 0;
  int q[32];
  for (int64_t b = 0; b < nb; ++b) {
    summs = summs + f16ToF32(w[b].m) * f16ToF32(a[b].s);
    Unpack(w[b], q);
    const float d = f16ToF32(w[b].d) * f16ToF32(a[b].d);
    for (int t = 0; t < 8; ++t) {
      int isum = 0;
      for (int e = 4 * t; e < 4 * t + 4; ++e)
        isum += q[e] * a[b].qs[e];
      acc[t] = std::fma(d, static_cast<float>(isum), acc[t]);
    }
  }
  return hsum8(acc) + summs;
}

/// Unsigned 4/5-bit quants of a Q4_K/Q5_K super-block in element order.
template <bool Five, typename B> void unpackK(const B &b, int *u) {
  for (int c = 0; c < 4; ++c)
    for (int l = 0; l < 32; ++l) {
      uint8_t byte = b.qs[32 * c + l];
      int lo = byte & 0xF, hi = byte >> 4;
      if constexpr (Five) {
        lo |= ((b.qh[l] >> (2 * c)) & 1) << 4;
        hi |= ((b.qh[l] >> (2 * c + 1)) & 1) << 4;
      }
      u[64 * c + l] = lo;
      u[64 * c + 32 + l] = hi;
    }
}

/// Per sub-block integer dot products and 6-bit scales/mins of a K block.
template <bool Five, typename B>
void subBlocksK(const B &b, const BlockQ8_K &a, int *dot, int *sc, int *mn,
                int *u) {
  unpackK<Five>(b, u);
  for (int s = 0; s < 8; ++s) {
    uint8_t scale, min;
    scaleMinK4(s, b.scales, scale, min);
    sc[s] = scale;
    mn[s] = min;
    int d = 0;
    for (int e = 32 * s; e < 32 * s + 32; ++e)
      d += u[e] * a.qs[e];
    dot[s] = d;
  }
}

/// Q4_K repacked for llama.cpp's q4_K_8x8 GEMM: two sub-blocks per FMA, the
/// minimums in their own chain, subtracted at the end.
inline float dotQ4_KGemm(const BlockQ4_K *w, const BlockQ8_K *a, int64_t nb) {
  float acc = 0, accm = 0;
  int dot[8], sc[8], mn[8], u[256];
  for (int64_t b = 0; b < nb; ++b) {
    subBlocksK<false>(w[b], a[b], dot, sc, mn, u);
    const float D = f16ToF32(w[b].d) * a[b].d;
    const float Dm = f16ToF32(w[b].dmin) * a[b].d;
    for (int sb = 0; sb < 4; ++sb) {
      int S = sc[2 * sb] * dot[2 * sb] + sc[2 * sb + 1] * dot[2 * sb + 1];
      int bs0 = a[b].bsums[4 * sb] + a[b].bsums[4 * sb + 1];
      int bs1 = a[b].bsums[4 * sb + 2] + a[b].bsums[4 * sb + 3];
      int M = bs0 * mn[2 * sb] + bs1 * mn[2 * sb + 1];
      acc = std::fma(static_cast<float>(S), D, acc);
      accm = std::fma(static_cast<float>(M), Dm, accm);
    }
  }
  return acc - accm;
}

/// Q4_K/Q5_K x Q8_K (vec_dot): lane t sums elements 4t..4t+3 of every
/// sub-block weighted by its scale; minimums in 4 lanes (Q4_K) or one fused
/// chain (Q5_K).
template <bool Five, typename B>
float dotK(const B *w, const BlockQ8_K *a, int64_t nb) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  float am[4] = {0, 0, 0, 0};
  float summs = 0;
  int dot[8], sc[8], mn[8], u[256];
  for (int64_t b = 0; b < nb; ++b) {
    subBlocksK<Five>(w[b], a[b], dot, sc, mn, u);
    const float d = a[b].d * f16ToF32(w[b].d);
    const float dmin = -(a[b].d * f16ToF32(w[b].dmin));
    int P[4];
    for (int k = 0; k < 4; ++k) {
      int bs0 = a[b].bsums[4 * k] + a[b].bsums[4 * k + 1];
      int bs1 = a[b].bsums[4 * k + 2] + a[b].bsums[4 * k + 3];
      P[k] = mn[2 * k] * bs0 + mn[2 * k + 1] * bs1;
    }
    if constexpr (Five) {
      summs = std::fma(static_cast<float>(P[0] + P[1] + P[2] + P[3]), dmin,
                       summs);
    } else {
      for (int k = 0; k < 4; ++k)
        am[k] = std::fma(dmin, static_cast<float>(P[k]), am[k]);
    }
    for (int t = 0; t < 8; ++t) {
      int L = 0;
      for (int s = 0; s < 8; ++s) {
        int part = 0;
        for (int e = 32 * s + 4 * t; e < 32 * s + 4 * t + 4; ++e)
          part += u[e] * a[b].qs[e];
        L += sc[s] * part;
      }
      acc[t] = std::fma(d, static_cast<float>(L), acc[t]);
    }
  }
  if constexpr (Five)
    return hsum8(acc) + summs;
  return hsum8(acc) + ((am[0] + am[2]) + (am[1] + am[3]));
}

/// Q6_K x Q8_K (vec_dot): unsigned 6-bit quants with the -32 applied through
/// the activation block sums, per lane.
inline float dotQ6_K(const BlockQ6_K *w, const BlockQ8_K *a, int64_t nb) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int u[256];
  for (int64_t b = 0; b < nb; ++b) {
    for (int h = 0; h < 2; ++h) {
      const uint8_t *ql = w[b].ql + 64 * h, *qh = w[b].qh + 32 * h;
      int *U = u + 128 * h;
      for (int l = 0; l < 32; ++l) {
        U[l] = (ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4);
        U[l + 32] = (ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4);
        U[l + 64] = (ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4);
        U[l + 96] = (ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4);
      }
    }
    const int8_t *sc = w[b].scales;
    const float d = a[b].d * f16ToF32(w[b].d);
    for (int t = 0; t < 8; ++t) {
      int L = 0;
      for (int c = 0; c < 8; ++c) {
        int part = 0;
        for (int e = 32 * c + 4 * t; e < 32 * c + 4 * t + 4; ++e)
          part += u[e] * a[b].qs[e];
        L += sc[2 * c + (t >= 4)] * part;
      }
      L -= 32 * (a[b].bsums[2 * t] * sc[2 * t] + a[b].bsums[2 * t + 1] * sc[2 * t + 1]);
      acc[t] = std::fma(d, static_cast<float>(L), acc[t]);
    }
  }
  return hsum8(acc);
}

/// NVFP4 against Q8_0 (ggml_vec_dot_nvfp4_q8_0, AVX2): per 64-block, the
/// two Q8_0 blocks it meets. Lane l (4 products: elements 4l..4l+3 of a
/// Q8_0 block, exact in int32) takes two FMAs, the first Q8_0 block's with
/// the scale of sub-block l / 4, the second's with sub-block 2 + l / 4; each
/// scale is ue4m3(d[s]) * the Q8_0 block's d. The lanes are summed once, at
/// the end.
inline float dotNVFP4(const BlockNVFP4 *w, const BlockQ8_0 *a, int64_t nb) {
  float lanes[8] = {};
  for (int64_t b = 0; b < nb; ++b) {
    const BlockNVFP4 &x = w[b];
    for (int half = 0; half < 2; ++half) {
      const BlockQ8_0 &y = a[2 * b + half];
      const float dy = f16ToF32(y.d);
      int q[32]; // the half's two sub-blocks in element order
      for (int s = 0; s < 2; ++s)
        for (int j = 0; j < 8; ++j) {
          const uint8_t byte = x.qs[8 * (2 * half + s) + j];
          q[16 * s + j] = kE2M1Doubled[byte & 15];
          q[16 * s + j + 8] = kE2M1Doubled[byte >> 4];
        }
      for (int l = 0; l < 8; ++l) {
        int32_t p = 0;
        for (int e = 4 * l; e < 4 * l + 4; ++e)
          p += q[e] * y.qs[e];
        const float scale = ue4m3ToF32(x.d[2 * half + l / 4]) * dy;
        lanes[l] = std::fma(scale, static_cast<float>(p), lanes[l]);
      }
    }
  }
  return hsum8(lanes);
}

// ---- gemmac's own formats ----------------------------------------------------

/// A float-activation form of a ggml block format (Q4_0_F32, Q8_0_F32,
/// NVFP4_F32) against f32 activations: each block decoded into f32 -- exact:
/// a scale times a small integer -- and the row multiplied as tinyBLAS
/// multiplies f32 (lane l: elements l, l+8, ..., one FMA each; hsum8 once).
inline float dotDecoded(Type t, const uint8_t *w, const float *x, int64_t k) {
  const int64_t E = blockElems(t);
  const size_t B = blockBytes(t);
  float lanes[8] = {};
  float v[64];
  for (int64_t b = 0; b < k / E; ++b, w += B, x += E) {
    dequantizeRow(t, w, v, static_cast<size_t>(E));
    for (int64_t i = 0; i < E; i += 8)
      for (int l = 0; l < 8; ++l)
        lanes[l] = std::fma(v[i + l], x[i + l], lanes[l]);
  }
  return hsum8(lanes);
}

/// The 256 values of an E4M3 byte (NaN for 0x7F and 0xFF).
inline const float *e4m3Table() {
  static const float *table = [] {
    static float t[256];
    for (int b = 0; b < 256; ++b)
      t[b] = e4m3ToF32(static_cast<uint8_t>(b));
    return t;
  }();
  return table;
}

/// F8_B64 against f32 activations (no llama.cpp kernel to follow: gemmac's
/// definition, the float-activation forms' structure, dotDecoded): each
/// weight decoded as e4m3 * d (one rounding), lane l one FMA chain over
/// elements l, l+8, ... of the whole row, the lanes summed as hsum8 once.
inline float dotF8_B64(const BlockF8_B64 *w, const float *x, int64_t nb) {
  const float *lut = e4m3Table();
  float lanes[8] = {};
  for (int64_t b = 0; b < nb; ++b, x += 64)
    for (int i = 0; i < 8; ++i)
      for (int l = 0; l < 8; ++l)
        lanes[l] = std::fma(lut[w[b].qs[8 * i + l]] * w[b].d, x[8 * i + l],
                            lanes[l]);
  return hsum8(lanes);
}

} // namespace gemmac::rt::ref
