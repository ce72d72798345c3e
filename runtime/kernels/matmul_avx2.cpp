// AVX2 matrix-product kernels. Integer parts (sums of int8 products) are
// exact in any order, so they are computed with maddubs/madd however suits
// the data; the floating-point operations per output -- which lanes, which
// FMAs, in which order, the final horizontal sum -- are exactly those of the
// scalar references in dot_reference.h.
//
// Two shapes of kernel:
//  - "x8" kernels (Q4_0, Q4_K with the interleaved layout of repack.h) keep
//    one accumulation chain per row, as llama.cpp's repacked GEMMs do, with
//    the eight rows of a group in the eight lanes of a vector;
//  - row kernels keep eight lanes per row (as llama.cpp's vec_dot and
//    tinyBLAS do) and finish with the AVX2 horizontal sum.
// Both work on tiles of up to four tokens so that every weight byte loaded
// (and unpacked) serves several tokens, and walk a chunk of rows small enough
// to stay in L2 while all token tiles pass over it.

#include "formats/formats.h"
#include "runtime/kernels/half.h"
#include "runtime/kernels/hsum.h"
#include "runtime/kernels/matmul.h"

#include "runtime/kernels/x86_intrinsics.h"

#include <algorithm>
#include <cmath>
#include <cstring>

using namespace gemmac::fmt;

namespace gemmac::rt {
namespace {

/// Low and high nibbles of 32 bytes.
inline __m256i lowNibbles(__m256i p) {
  return _mm256_and_si256(p, _mm256_set1_epi8(0x0F));
}
inline __m256i highNibbles(__m256i p) {
  return _mm256_and_si256(_mm256_srli_epi16(p, 4), _mm256_set1_epi8(0x0F));
}

/// Signed int8 products summed in groups of four: lane t of the result is
/// sum(w[4t..4t+3] * a[4t..4t+3]).
inline __m256i dot4Signed(__m256i w, __m256i a) {
  const __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(w), _mm256_sign_epi8(a, w));
  return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

inline __m256 splat(float f) { return _mm256_set1_ps(f); }

/// Asks for the weight bytes `Distance` ahead of [p, p + n): the hardware
/// prefetcher alone leaves decoding short of the memory's bandwidth
/// (distances measured on Zen 2, one 61440x3840 matrix: Q4_0 x8 1024 bytes,
/// 2048 is 15% slower; Q4_K x8 one 1152-byte block, +5%, two or more blocks
/// are slower than none; Q6_K 2520 bytes = 12 blocks, 31 GB/s where 840
/// gave 27 and 1680-3360 are alike).
template <int Distance> inline void prefetchAhead(const uint8_t *p, int n) {
  for (int off = 0; off < n; off += 64)
    _mm_prefetch(reinterpret_cast<const char *>(p + Distance + off), _MM_HINT_T0);
}

/// Walks rows [n0, n1) in L2-sized blocks, and within a block every tile of
/// up to F::kTile tokens over every unit of F::kRows rows.
template <class F> void runTiles(const MatmulTask &m, int64_t n0, int64_t n1) {
  constexpr int R = F::kRows;
  const int64_t block = std::max<int64_t>(
      R, static_cast<int64_t>((160u << 10) / (m.rowBytes * R)) * R);
  for (int64_t b0 = n0; b0 < n1; b0 += block) {
    const int64_t b1 = std::min(n1, b0 + block);
    for (int64_t t0 = 0; t0 < m.T; t0 += F::kTile) {
      const int64_t nt = std::min<int64_t>(F::kTile, m.T - t0);
      for (int64_t n = b0; n < b1; n += R) {
        switch (nt) {
        case 1: F::template tile<1>(m, n, t0); break;
        case 2: F::template tile<2>(m, n, t0); break;
        case 3: F::template tile<3>(m, n, t0); break;
        default: F::template tile<4>(m, n, t0); break;
        }
      }
    }
  }
}

template <typename B, int NT>
inline void tokenRows(const MatmulTask &m, int64_t t0, const B **a) {
  for (int i = 0; i < NT; ++i)
    a[i] = reinterpret_cast<const B *>(m.act + (t0 + i) * m.actStride);
}

inline float *outAt(const MatmulTask &m, int64_t t, int64_t n) {
  return m.out + t * m.outStride + n - m.outFirstRow;
}

// ---- Q4_0, x8: one chain per row, acc = fma(isum, dW*dA, acc) per block ----

struct Q4_0x8 {
  static constexpr int kRows = 8, kTile = 4;
  template <int NT>
  static void tile(const MatmulTask &m, int64_t n, int64_t t0) {
    const int64_t nb = m.K / QK;
    const uint8_t *g = m.weight + n * m.rowBytes; // group n/8 starts at row n
    const BlockQ8_0 *a[NT];
    const int32_t *sums[NT];
    tokenRows<BlockQ8_0, NT>(m, t0, a);
    for (int i = 0; i < NT; ++i)
      sums[i] = reinterpret_cast<const int32_t *>(m.aux + (t0 + i) * m.auxStride);
    __m256 acc[NT];
    for (int i = 0; i < NT; ++i)
      acc[i] = _mm256_setzero_ps();
    const __m256i ones = _mm256_set1_epi16(1);
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t *blk = g + b * 144;
      prefetchAhead<1024>(blk, 144);
      const __m256 dw =
          _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(blk)));
      // u[c], lane r: the unsigned quants of elements 4c..4c+3 of row r.
      __m256i u[8];
      for (int c = 0; c < 4; ++c) {
        const __m256i p = _mm256_loadu_si256(
            reinterpret_cast<const __m256i *>(blk + 16 + 32 * c));
        u[c] = lowNibbles(p);
        u[c + 4] = highNibbles(p);
      }
      for (int i = 0; i < NT; ++i) {
        const int8_t *q = a[i][b].qs;
        // Eight partial sums of at most 2*15*127 each fit in int16.
        __m256i s = _mm256_maddubs_epi16(u[0], _mm256_set1_epi32(load32(q)));
        for (int c = 1; c < 8; ++c)
          s = _mm256_add_epi16(
              s, _mm256_maddubs_epi16(u[c], _mm256_set1_epi32(load32(q + 4 * c))));
        // sum((u - 8) * a) = sum(u * a) - 8 * sum(a).
        const __m256i isum = _mm256_sub_epi32(_mm256_madd_epi16(s, ones),
                                              _mm256_set1_epi32(8 * sums[i][b]));
        const __m256 d = _mm256_mul_ps(dw, splatHalf(a[i][b].d));
        acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), d, acc[i]);
      }
    }
    for (int i = 0; i < NT; ++i)
      _mm256_storeu_ps(outAt(m, t0 + i, n), acc[i]);
  }
};

// ---- Q4_K, x8: per pair of sub-blocks, acc = fma(S, dW*dA, acc) and the
// minimums' chain accm = fma(M, dminW*dA, accm); result acc - accm ----------

/// Field V (0..15) of the eight rows' regrouped Q4_K scales (repack.h).
template <int V>
inline __m256i scaleField(__m256i w0, __m256i w1, __m256i w2) {
  if constexpr (V == 15)
    return _mm256_or_si256(
        _mm256_srli_epi32(w0, 30),
        _mm256_or_si256(_mm256_slli_epi32(_mm256_srli_epi32(w1, 30), 2),
                        _mm256_slli_epi32(_mm256_srli_epi32(w2, 30), 4)));
  const __m256i w = V < 5 ? w0 : V < 10 ? w1 : w2;
  return _mm256_and_si256(_mm256_srli_epi32(w, 6 * (V % 5)), _mm256_set1_epi32(63));
}

/// The madd operands of sub-block pair C: (sc, sc) of 2C, of 2C+1, and
/// (min of 2C, min of 2C+1), as int16 pairs per row lane.
template <int C>
inline void scalePairs(__m256i w0, __m256i w1, __m256i w2, __m256i *scLo,
                       __m256i *scHi, __m256i *mins) {
  const __m256i s0 = scaleField<2 * C>(w0, w1, w2);
  const __m256i s1 = scaleField<2 * C + 1>(w0, w1, w2);
  scLo[C] = _mm256_or_si256(s0, _mm256_slli_epi32(s0, 16));
  scHi[C] = _mm256_or_si256(s1, _mm256_slli_epi32(s1, 16));
  mins[C] = _mm256_or_si256(scaleField<8 + 2 * C>(w0, w1, w2),
                            _mm256_slli_epi32(scaleField<9 + 2 * C>(w0, w1, w2), 16));
}

struct Q4_Kx8 {
  static constexpr int kRows = 8, kTile = 2;
  template <int NT>
  static void tile(const MatmulTask &m, int64_t n, int64_t t0) {
    const int64_t nb = m.K / QK_K;
    const uint8_t *g = m.weight + n * m.rowBytes;
    const BlockQ8_K *a[NT];
    const int32_t *pairs[NT]; // two int16 pair sums per 32-bit word
    tokenRows<BlockQ8_K, NT>(m, t0, a);
    for (int i = 0; i < NT; ++i)
      pairs[i] = reinterpret_cast<const int32_t *>(m.aux + (t0 + i) * m.auxStride);
    __m256 acc[NT], accm[NT];
    for (int i = 0; i < NT; ++i)
      acc[i] = accm[i] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t *blk = g + b * 1152;
      prefetchAhead<1152>(blk, 1152);
      const __m256 dw =
          _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(blk)));
      const __m256 dmw = _mm256_cvtph_ps(
          _mm_loadu_si128(reinterpret_cast<const __m128i *>(blk + 16)));
      // Per row lane, as int16 pairs for madd: (scale, scale) of sub-blocks
      // 2c and 2c+1, and (min of 2c, min of 2c+1), from the regrouped 6-bit
      // fields (repack.h).
      const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(blk + 32));
      const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(blk + 64));
      const __m256i w2 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(blk + 96));
      __m256i scLo[4], scHi[4], mins[4];
      scalePairs<0>(w0, w1, w2, scLo, scHi, mins);
      scalePairs<1>(w0, w1, w2, scLo, scHi, mins);
      scalePairs<2>(w0, w1, w2, scLo, scHi, mins);
      scalePairs<3>(w0, w1, w2, scLo, scHi, mins);
      __m256 D[NT], Dm[NT];
      for (int i = 0; i < NT; ++i) {
        D[i] = _mm256_mul_ps(dw, splat(a[i][b].d));
        Dm[i] = _mm256_mul_ps(dmw, splat(a[i][b].d));
      }
#pragma GCC unroll 4
      for (int c = 0; c < 4; ++c) {
        const uint8_t *qs = blk + 128 + 256 * c;
        for (int i = 0; i < NT; ++i) {
          const int8_t *q = a[i][b].qs + 64 * c;
          __m256i lo = _mm256_setzero_si256(), hi = _mm256_setzero_si256();
          for (int k = 0; k < 8; ++k) {
            const __m256i p =
                _mm256_loadu_si256(reinterpret_cast<const __m256i *>(qs + 32 * k));
            lo = _mm256_add_epi16(
                lo, _mm256_maddubs_epi16(lowNibbles(p),
                                         _mm256_set1_epi32(load32(q + 4 * k))));
            hi = _mm256_add_epi16(
                hi, _mm256_maddubs_epi16(highNibbles(p),
                                         _mm256_set1_epi32(load32(q + 32 + 4 * k))));
          }
          const __m256i S = _mm256_add_epi32(_mm256_madd_epi16(lo, scLo[c]),
                                             _mm256_madd_epi16(hi, scHi[c]));
          const __m256i M =
              _mm256_madd_epi16(mins[c], _mm256_set1_epi32(pairs[i][4 * b + c]));
          acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(S), D[i], acc[i]);
          accm[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(M), Dm[i], accm[i]);
        }
      }
    }
    for (int i = 0; i < NT; ++i)
      _mm256_storeu_ps(outAt(m, t0 + i, n), _mm256_sub_ps(acc[i], accm[i]));
  }
};

// ---- lanes per row: acc[t] = fma(dW*dA, isum_t, acc[t]), t over the eight
// groups of four elements of a 32-block; then the horizontal sum ------------

/// Signed quants of one 32-block of a legacy format, in element order.
template <typename B> __m256i signedQuants(const B &b);

template <> inline __m256i signedQuants<BlockQ8_0>(const BlockQ8_0 &b) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i *>(b.qs));
}

template <> inline __m256i signedQuants<BlockQ4_0>(const BlockQ4_0 &b) {
  const __m128i p = _mm_loadu_si128(reinterpret_cast<const __m128i *>(b.qs));
  const __m256i both = _mm256_set_m128i(_mm_srli_epi16(p, 4), p);
  return _mm256_sub_epi8(lowNibbles(both), _mm256_set1_epi8(8));
}

/// 0xFF in byte e where bit e of `bits` is set.
inline __m256i bitsToBytes(uint32_t bits) {
  const __m256i spread = _mm256_shuffle_epi8(
      _mm256_set1_epi32(static_cast<int32_t>(bits)),
      _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                        0x0101010101010101, 0x0000000000000000));
  const __m256i select = _mm256_set1_epi64x(static_cast<int64_t>(0x8040201008040201ull));
  return _mm256_cmpeq_epi8(_mm256_and_si256(spread, select), select);
}

template <> inline __m256i signedQuants<BlockQ5_0>(const BlockQ5_0 &b) {
  const __m128i p = _mm_loadu_si128(reinterpret_cast<const __m128i *>(b.qs));
  const __m256i low4 = lowNibbles(_mm256_set_m128i(_mm_srli_epi16(p, 4), p));
  uint32_t qh;
  std::memcpy(&qh, b.qh, 4);
  const __m256i bit4 = _mm256_and_si256(bitsToBytes(qh), _mm256_set1_epi8(0x10));
  return _mm256_sub_epi8(_mm256_or_si256(low4, bit4), _mm256_set1_epi8(16));
}

template <typename B> struct LegacyLanes {
  static constexpr int kRows = 1, kTile = 4;
  template <int NT>
  static void tile(const MatmulTask &m, int64_t n, int64_t t0) {
    const int64_t nb = m.K / QK;
    const B *w = reinterpret_cast<const B *>(m.weight + n * m.rowBytes);
    const BlockQ8_0 *a[NT];
    tokenRows<BlockQ8_0, NT>(m, t0, a);
    __m256 acc[NT];
    for (int i = 0; i < NT; ++i)
      acc[i] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const __m256i q = signedQuants(w[b]);
      const float dw = halfToFloat(w[b].d);
      for (int i = 0; i < NT; ++i) {
        const __m256i av =
            _mm256_loadu_si256(reinterpret_cast<const __m256i *>(a[i][b].qs));
        const float d = dw * halfToFloat(a[i][b].d);
        acc[i] = _mm256_fmadd_ps(splat(d), _mm256_cvtepi32_ps(dot4Signed(q, av)),
                                 acc[i]);
      }
    }
    for (int i = 0; i < NT; ++i)
      *outAt(m, t0 + i, n) = hsum8(acc[i]);
  }
};

// ---- NVFP4 (ggml_vec_dot_nvfp4_q8_0): a 64-block meets two Q8_0 blocks;
// per block, each lane takes two FMAs, the first Q8_0 block's four-element
// sum scaled by sub-block 0 (lanes 0-3) or 1 (lanes 4-7), the second's by
// sub-block 2 or 3 ----------------------------------------------------------

/// The doubled E2M1 values of two sub-blocks (16 code bytes) as signed
/// bytes in element order: sub-block s in the low half, s + 1 in the high.
inline __m256i nvfp4Values(const uint8_t *codes) {
  const __m128i table =
      _mm_loadu_si128(reinterpret_cast<const __m128i *>(kE2M1Doubled));
  const __m128i p = _mm_loadu_si128(reinterpret_cast<const __m128i *>(codes));
  const __m128i m4 = _mm_set1_epi8(0x0F);
  // Byte j of a sub-block's eight holds element j (low) and j + 8 (high).
  const __m128i lo = _mm_shuffle_epi8(table, _mm_and_si128(p, m4));
  const __m128i hi =
      _mm_shuffle_epi8(table, _mm_and_si128(_mm_srli_epi16(p, 4), m4));
  return _mm256_set_m128i(_mm_unpackhi_epi64(lo, hi), _mm_unpacklo_epi64(lo, hi));
}

/// ue4m3ToF32 of every byte.
const float *ue4m3Table() {
  static const float *table = [] {
    static float t[256];
    for (int b = 0; b < 256; ++b)
      t[b] = ue4m3ToF32(static_cast<uint8_t>(b));
    return t;
  }();
  return table;
}

struct NVFP4Lanes {
  static constexpr int kRows = 1, kTile = 4;
  template <int NT>
  static void tile(const MatmulTask &m, int64_t n, int64_t t0) {
    const int64_t nb = m.K / 64;
    const BlockNVFP4 *w =
        reinterpret_cast<const BlockNVFP4 *>(m.weight + n * m.rowBytes);
    const float *ue4m3 = ue4m3Table();
    const BlockQ8_0 *a[NT];
    tokenRows<BlockQ8_0, NT>(m, t0, a);
    __m256 acc[NT];
    for (int i = 0; i < NT; ++i)
      acc[i] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const __m256i q01 = nvfp4Values(w[b].qs), q23 = nvfp4Values(w[b].qs + 16);
      const float s0 = ue4m3[w[b].d[0]], s1 = ue4m3[w[b].d[1]],
                  s2 = ue4m3[w[b].d[2]], s3 = ue4m3[w[b].d[3]];
      for (int i = 0; i < NT; ++i) {
        const BlockQ8_0 &y0 = a[i][2 * b], &y1 = a[i][2 * b + 1];
        const float dy0 = halfToFloat(y0.d), dy1 = halfToFloat(y1.d);
        const __m256 sc01 =
            _mm256_set_m128(_mm_set1_ps(s1 * dy0), _mm_set1_ps(s0 * dy0));
        const __m256 sc23 =
            _mm256_set_m128(_mm_set1_ps(s3 * dy1), _mm_set1_ps(s2 * dy1));
        const __m256i p01 = dot4Signed(
            q01, _mm256_loadu_si256(reinterpret_cast<const __m256i *>(y0.qs)));
        const __m256i p23 = dot4Signed(
            q23, _mm256_loadu_si256(reinterpret_cast<const __m256i *>(y1.qs)));
        acc[i] = _mm256_fmadd_ps(sc01, _mm256_cvtepi32_ps(p01), acc[i]);
        acc[i] = _mm256_fmadd_ps(sc23, _mm256_cvtepi32_ps(p23), acc[i]);
      }
    }
    for (int i = 0; i < NT; ++i)
      *outAt(m, t0 + i, n) = hsum8(acc[i]);
  }
};

// ---- float-activation forms (q4_0_f32, q8_0_f32, nvfp4_f32): each block
// decoded exactly into f32, then tinyBLAS's lanes (lane l: elements l,
// l+8, ...), as dot_reference.h's dotDecoded ------------------------------

inline void decodeBlock(const BlockQ4_0 &b, float *v) {
  const float d = halfToFloat(b.d);
  for (int j = 0; j < 16; ++j) {
    v[j] = d * ((b.qs[j] & 0xF) - 8);
    v[j + 16] = d * ((b.qs[j] >> 4) - 8);
  }
}
inline void decodeBlock(const BlockQ8_0 &b, float *v) {
  const float d = halfToFloat(b.d);
  for (int j = 0; j < 32; ++j)
    v[j] = d * b.qs[j];
}
inline void decodeBlock(const BlockNVFP4 &b, float *v) {
  const float *ue4m3 = ue4m3Table();
  for (int s = 0; s < 4; ++s) {
    const float d = ue4m3[b.d[s]];
    for (int j = 0; j < 8; ++j) {
      const uint8_t q = b.qs[8 * s + j];
      v[16 * s + j] = kE2M1Doubled[q & 15] * d;
      v[16 * s + j + 8] = kE2M1Doubled[q >> 4] * d;
    }
  }
}

template <typename B, int E> struct DecodedLanes {
  static constexpr int kRows = 1, kTile = 4;
  template <int NT>
  static void tile(const MatmulTask &m, int64_t n, int64_t t0) {
    const int64_t nb = m.K / E;
    const B *w = reinterpret_cast<const B *>(m.weight + n * m.rowBytes);
    const float *a[NT];
    for (int i = 0; i < NT; ++i)
      a[i] = reinterpret_cast<const float *>(m.act + (t0 + i) * m.actStride);
    __m256 acc[NT];
    for (int i = 0; i < NT; ++i)
      acc[i] = _mm256_setzero_ps();
    alignas(32) float v[E];
    for (int64_t b = 0; b < nb; ++b) {
      decodeBlock(w[b], v);
      for (int c = 0; c < E; c += 8) {
        const __m256 wv = _mm256_load_ps(v + c);
        for (int i = 0; i < NT; ++i)
          acc[i] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(a[i] + b * E + c),
                                   acc[i]);
      }
    }
    for (int i = 0; i < NT; ++i)
      *outAt(m, t0 + i, n) = hsum8(acc[i]);
  }
};

// ---- FP8 blocks (f8_b64, ref::dotF8_B64): each weight decoded as e4m3 * d,
// eight lanes of FMAs over the whole row, hsum8 once --------------------------

/// The f32 values of eight E4M3 bytes (what ref::e4m3Table holds): the
/// byte's exponent and mantissa bits placed in f32's fields read as
/// e4m3 * 2^-120 (the subnormals as f32 subnormals), so one exact multiply
/// by 2^120 rebiases every code; 0x7F and 0xFF are NaN. With DAZ set
/// (denormal inputs read as 0), the subnormal codes take m * 2^-9 instead.
template <bool DAZ> inline __m256 e4m3x8(const uint8_t *q) {
  const __m256i v = _mm256_cvtepi8_epi32( // sign-extended: bit 31 the sign
      _mm_loadl_epi64(reinterpret_cast<const __m128i *>(q)));
  const __m256i mag = _mm256_and_si256(v, _mm256_set1_epi32(0x7F));
  const __m256i bits =
      _mm256_and_si256(_mm256_slli_epi32(v, 20), _mm256_set1_epi32(0x87F00000));
  __m256 x = _mm256_mul_ps(_mm256_castsi256_ps(bits), _mm256_set1_ps(0x1p120f));
  if constexpr (DAZ) {
    const __m256 sign = _mm256_castsi256_ps(
        _mm256_and_si256(bits, _mm256_set1_epi32(0x80000000)));
    const __m256 sub = _mm256_or_ps(
        _mm256_mul_ps(_mm256_cvtepi32_ps(mag), _mm256_set1_ps(0x1p-9f)), sign);
    x = _mm256_blendv_ps(
        x, sub, _mm256_castsi256_ps(_mm256_cmpgt_epi32(_mm256_set1_epi32(8), mag)));
  }
  return _mm256_blendv_ps(
      x, _mm256_set1_ps(NAN),
      _mm256_castsi256_ps(_mm256_cmpeq_epi32(mag, _mm256_set1_epi32(0x7F))));
}

template <bool DAZ> struct F8Lanes {
  static constexpr int kRows = 1, kTile = 4;
  template <int NT>
  static void tile(const MatmulTask &m, int64_t n, int64_t t0) {
    const int64_t nb = m.K / 64;
    const auto *w = reinterpret_cast<const BlockF8_B64 *>(m.weight + n * m.rowBytes);
    const float *a[NT];
    tokenRows<float, NT>(m, t0, a);
    __m256 acc[NT];
    for (int i = 0; i < NT; ++i)
      acc[i] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const __m256 d = _mm256_set1_ps(w[b].d);
      for (int c = 0; c < 8; ++c) {
        const __m256 wv = _mm256_mul_ps(e4m3x8<DAZ>(w[b].qs + 8 * c), d);
        for (int i = 0; i < NT; ++i)
          acc[i] = _mm256_fmadd_ps(wv, _mm256_loadu_ps(a[i] + 64 * b + 8 * c), acc[i]);
      }
    }
    for (int i = 0; i < NT; ++i)
      *outAt(m, t0 + i, n) = hsum8(acc[i]);
  }
};

// ---- Q6_K (vec_dot lanes): lane t of super-block b gathers the scaled
// four-element sums of every 32-chunk, minus 32 * the scaled block sums ------

/// pshufb masks giving [s[2c] x 8, s[2c+1] x 8] from 16 scale bytes.
const __m128i kScalePairMask[8] = {
    _mm_setr_epi8(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
    _mm_setr_epi8(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3),
    _mm_setr_epi8(4, 4, 4, 4, 4, 4, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5),
    _mm_setr_epi8(6, 6, 6, 6, 6, 6, 6, 6, 7, 7, 7, 7, 7, 7, 7, 7),
    _mm_setr_epi8(8, 8, 8, 8, 8, 8, 8, 8, 9, 9, 9, 9, 9, 9, 9, 9),
    _mm_setr_epi8(10, 10, 10, 10, 10, 10, 10, 10, 11, 11, 11, 11, 11, 11, 11, 11),
    _mm_setr_epi8(12, 12, 12, 12, 12, 12, 12, 12, 13, 13, 13, 13, 13, 13, 13, 13),
    _mm_setr_epi8(14, 14, 14, 14, 14, 14, 14, 14, 15, 15, 15, 15, 15, 15, 15, 15)};

struct Q6_KLanes {
  static constexpr int kRows = 1, kTile = 4;
  template <int NT>
  static void tile(const MatmulTask &m, int64_t n, int64_t t0) {
    const int64_t nb = m.K / QK_K;
    const BlockQ6_K *w = reinterpret_cast<const BlockQ6_K *>(m.weight + n * m.rowBytes);
    const BlockQ8_K *a[NT];
    tokenRows<BlockQ8_K, NT>(m, t0, a);
    __m256 acc[NT];
    for (int i = 0; i < NT; ++i)
      acc[i] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
      const BlockQ6_K &wb = w[b];
      prefetchAhead<2520>(reinterpret_cast<const uint8_t *>(&wb), 210);
      // u[c]: the unsigned 6-bit quants of elements 32c..32c+31: a nibble
      // of ql and two bits of qh moved to bits 4-5.
      const __m256i m30 = _mm256_set1_epi8(0x30);
      __m256i u[8];
      for (int h = 0; h < 2; ++h) {
        const __m256i q0 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(wb.ql + 64 * h));
        const __m256i q1 = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(wb.ql + 64 * h + 32));
        const __m256i hb = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(wb.qh + 32 * h));
        u[4 * h + 0] = _mm256_or_si256(lowNibbles(q0), _mm256_and_si256(_mm256_slli_epi16(hb, 4), m30));
        u[4 * h + 1] = _mm256_or_si256(lowNibbles(q1), _mm256_and_si256(_mm256_slli_epi16(hb, 2), m30));
        u[4 * h + 2] = _mm256_or_si256(highNibbles(q0), _mm256_and_si256(hb, m30));
        u[4 * h + 3] = _mm256_or_si256(highNibbles(q1), _mm256_and_si256(_mm256_srli_epi16(hb, 2), m30));
      }
      const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i *>(wb.scales));
      const __m256i sc16 = _mm256_cvtepi8_epi16(sc8);
      // Chunk c's first 16 elements use scale 2c, the next 16 scale 2c+1.
      __m256i scv[8];
      for (int c = 0; c < 8; ++c)
        scv[c] = _mm256_cvtepi8_epi16(_mm_shuffle_epi8(sc8, kScalePairMask[c]));
      const float dw = halfToFloat(wb.d);
      for (int i = 0; i < NT; ++i) {
        const BlockQ8_K &ab = a[i][b];
        __m256i part[8];
        for (int c = 0; c < 8; ++c) {
          const __m256i av = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(ab.qs + 32 * c));
          part[c] = _mm256_madd_epi16(_mm256_maddubs_epi16(u[c], av), scv[c]);
        }
        __m256i L = _mm256_add_epi32(
            _mm256_add_epi32(_mm256_add_epi32(part[0], part[1]),
                             _mm256_add_epi32(part[2], part[3])),
            _mm256_add_epi32(_mm256_add_epi32(part[4], part[5]),
                             _mm256_add_epi32(part[6], part[7])));
        const __m256i bs = _mm256_loadu_si256(reinterpret_cast<const __m256i *>(ab.bsums));
        L = _mm256_sub_epi32(L, _mm256_slli_epi32(_mm256_madd_epi16(bs, sc16), 5));
        const float d = ab.d * dw;
        acc[i] = _mm256_fmadd_ps(splat(d), _mm256_cvtepi32_ps(L), acc[i]);
      }
    }
    for (int i = 0; i < NT; ++i)
      *outAt(m, t0 + i, n) = hsum8(acc[i]);
  }
};

// ---- float weights (tinyBLAS): eight lanes over k, one FMA per element -----

inline __m256 widen8(const float *p) { return _mm256_loadu_ps(p); }
inline __m256 widen8(const uint16_t *p, bool bf16) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i *>(p));
  if (bf16)
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  return _mm256_cvtph_ps(h);
}

template <typename T, bool BF16 = false> struct FloatTiny {
  static constexpr int kRows = 1, kTile = 4;
  static __m256 load(const T *p) {
    if constexpr (sizeof(T) == 4)
      return widen8(p);
    else
      return widen8(p, BF16);
  }
  template <int NT>
  static void tile(const MatmulTask &m, int64_t n, int64_t t0) {
    const T *w = reinterpret_cast<const T *>(m.weight + n * m.rowBytes);
    const T *a[NT];
    tokenRows<T, NT>(m, t0, a);
    __m256 acc[NT];
    for (int i = 0; i < NT; ++i)
      acc[i] = _mm256_setzero_ps();
    for (int64_t k = 0; k < m.K; k += 8) {
      const __m256 wv = load(w + k);
      for (int i = 0; i < NT; ++i)
        acc[i] = _mm256_fmadd_ps(wv, load(a[i] + k), acc[i]);
    }
    for (int i = 0; i < NT; ++i)
      *outAt(m, t0 + i, n) = hsum8(acc[i]);
  }
};

/// F32 weights in llama.cpp's Arm build (KernelSet::Arm): its tinyBLAS of
/// float32x4_t, four lanes, lane l one FMA chain over k = l mod 4, then
/// vaddvq_f32's (v0+v1)+(v2+v3).
struct FloatTinyArm {
  static constexpr int kRows = 1, kTile = 4;
  template <int NT>
  static void tile(const MatmulTask &m, int64_t n, int64_t t0) {
    const float *w = reinterpret_cast<const float *>(m.weight + n * m.rowBytes);
    const float *a[NT];
    tokenRows<float, NT>(m, t0, a);
    __m128 acc[NT];
    for (int i = 0; i < NT; ++i)
      acc[i] = _mm_setzero_ps();
    for (int64_t k = 0; k < m.K; k += 4) {
      const __m128 wv = _mm_loadu_ps(w + k);
      for (int i = 0; i < NT; ++i)
        acc[i] = _mm_fmadd_ps(wv, _mm_loadu_ps(a[i] + k), acc[i]);
    }
    for (int i = 0; i < NT; ++i) {
      alignas(16) float lanes[4];
      _mm_store_ps(lanes, acc[i]);
      *outAt(m, t0 + i, n) = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
    }
  }
};

/// Q8_0 weights in llama.cpp's Arm build (KernelSet::Arm): repacked four rows
/// at a time, and its batch product (ggml_gemm_q8_0_4x4_q8_0) keeps one
/// accumulator per output over the blocks in order, adding each block's
/// exact integer sum times fl(d_w * d_a) with a separate multiply and add
/// (vmlaq_f32). (Its one-row product, for a batch's last n % 4 tokens,
/// fuses them; gemmac computes every row as the batch product.)
struct Q8_0Arm {
  static constexpr int kRows = 1, kTile = 4;
  template <int NT>
  static void tile(const MatmulTask &m, int64_t n, int64_t t0) {
    const auto *w =
        reinterpret_cast<const BlockQ8_0 *>(m.weight + n * m.rowBytes);
    const BlockQ8_0 *a[NT];
    tokenRows<BlockQ8_0, NT>(m, t0, a);
    float acc[NT] = {};
    for (int64_t b = 0; b < m.K / QK; ++b) {
      const float dw = fmt::f16ToF32(w[b].d);
      for (int i = 0; i < NT; ++i) {
        int32_t isum = 0;
        for (int e = 0; e < QK; ++e)
          isum += int32_t{w[b].qs[e]} * int32_t{a[i][b].qs[e]};
        const float scale = dw * fmt::f16ToF32(a[i][b].d);
        acc[i] = acc[i] + scale * static_cast<float>(isum);
      }
    }
    for (int i = 0; i < NT; ++i)
      *outAt(m, t0 + i, n) = acc[i];
  }
};

} // namespace

void rowsQ4_0x8(const MatmulTask &m, int64_t n0, int64_t n1) {
  runTiles<Q4_0x8>(m, n0, n1);
}
void rowsQ4_Kx8(const MatmulTask &m, int64_t n0, int64_t n1) {
  runTiles<Q4_Kx8>(m, n0, n1);
}
void rowsQ8_0(const MatmulTask &m, int64_t n0, int64_t n1) {
  runTiles<LegacyLanes<BlockQ8_0>>(m, n0, n1);
}
void rowsQ4_0Lanes(const MatmulTask &m, int64_t n0, int64_t n1) {
  runTiles<LegacyLanes<BlockQ4_0>>(m, n0, n1);
}
void rowsQ5_0(const MatmulTask &m, int64_t n0, int64_t n1) {
  runTiles<LegacyLanes<BlockQ5_0>>(m, n0, n1);
}
void rowsNVFP4(const MatmulTask &m, int64_t n0, int64_t n1) {
  runTiles<NVFP4Lanes>(m, n0, n1);
}
void rowsQ4_0F32(const MatmulTask &m, int64_t n0, int64_t n1) {
  runTiles<DecodedLanes<BlockQ4_0, 32>>(m, n0, n1);
}
void rowsQ8_0F32(const MatmulTask &m, int64_t n0, int64_t n1) {
  runTiles<DecodedLanes<BlockQ8_0, 32>>(m, n0, n1);
}
void rowsNVFP4F32(const MatmulTask &m, int64_t n0, int64_t n1) {
  runTiles<DecodedLanes<BlockNVFP4, 64>>(m, n0, n1);
}
void rowsF8_B64(const MatmulTask &m, int64_t n0, int64_t n1) {
  if (_mm_getcsr() & 0x0040) // DAZ (an application built with fast math)
    runTiles<F8Lanes<true>>(m, n0, n1);
  else
    runTiles<F8Lanes<false>>(m, n0, n1);
}
void rowsQ6_K(const MatmulTask &m, int64_t n0, int64_t n1) {
  runTiles<Q6_KLanes>(m, n0, n1);
}
void rowsF32Tiny(const MatmulTask &m, int64_t n0, int64_t n1) {
  runTiles<FloatTiny<float>>(m, n0, n1);
}
void rowsF16Tiny(const MatmulTask &m, int64_t n0, int64_t n1) {
  runTiles<FloatTiny<uint16_t>>(m, n0, n1);
}
void rowsBF16Tiny(const MatmulTask &m, int64_t n0, int64_t n1) {
  runTiles<FloatTiny<uint16_t, true>>(m, n0, n1);
}
void rowsF32TinyArm(const MatmulTask &m, int64_t n0, int64_t n1) {
  runTiles<FloatTinyArm>(m, n0, n1);
}
void rowsQ8_0Arm(const MatmulTask &m, int64_t n0, int64_t n1) {
  runTiles<Q8_0Arm>(m, n0, n1);
}

} // namespace gemmac::rt
