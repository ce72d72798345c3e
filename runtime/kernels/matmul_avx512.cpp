// AVX-512 matrix-product kernels, for programs compiled for a CPU that has
// the features of llama.cpp's AVX-512 ("zen4") build (KernelSet::Avx512,
// chosen from the features the program records). They reproduce that build:
//  - quantized weights: it computes them exactly as its AVX2 ("haswell")
//    build does (measured function by function on random blocks), so the
//    floating-point operations per output are those of matmul_avx2.cpp and
//    only the exact integer parts and the outputs per instruction change:
//    VNNI's vpdpbusd sums four u8 x s8 products into an int32 lane, and a
//    512-bit register holds two x8 groups (16 rows), or the eight lanes of
//    two rows for the formats llama.cpp keeps in lanes (Q8_0, Q6_K);
//  - float weights (tinyBLAS): sixteen lanes instead of eight, and for bf16
//    vdpbf16ps, so the sums differ from the AVX2 build's
//    (dot_reference.h, dotTinyZen4).
//
// Only the functions marked GEMMAC_AVX512 (avx512.h) use the wider
// instructions.

#include "formats/formats.h"
#include "runtime/kernels/avx512.h"
#include "runtime/kernels/dot_reference.h"
#include "runtime/kernels/half.h"
#include "runtime/kernels/hsum.h"
#include "runtime/kernels/matmul.h"

#include "runtime/kernels/x86_intrinsics.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

using namespace gemmac::fmt;

namespace gemmac::rt {
namespace {

/// 32 bytes of group 0 in the low half, group 1's in the high half.
GEMMAC_AVX512 inline __m512i loadPair(const uint8_t *p0, const uint8_t *p1) {
  return _mm512_inserti64x4(
      _mm512_castsi256_si512(
          _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p0))),
      _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p1)), 1);
}

/// splatHalf (half.h) in sixteen lanes.
GEMMAC_AVX512 inline __m512 splatHalf16(uint16_t h) {
  return _mm512_cvtph_ps(_mm256_set1_epi16(static_cast<short>(h)));
}

/// How far ahead in each group's stream the Q4_0 kernel prefetches. Decoding
/// the 12B Q4_0 on Zen 5 (2 threads, 6 alternating rounds each): 1024 bytes
/// 4.77 tok/s, 2048 5.13, 4096 5.21, 8192 4.75 (medians).
constexpr int kPrefetchQ4_0 = 4096;
/// The same for Q4_K (a super-block of a group is 1152 bytes): 12B Q4_K_M,
/// 1152 bytes 4.57 tok/s, 4608 4.81.
constexpr int kPrefetchQ4_K = 4608;

// ---- Q4_0, x8: one chain per row, acc = fma(isum, dW*dA, acc) per block,
// as rowsQ4_0x8; two groups of eight rows per register -----------------------

// Each kernel's tile<NT, Groups> computes rows [n, n + 8 * Groups) for tokens
// [t0, t0 + NT); Groups == 1 (the last group of an odd count) runs the one
// group in both halves of the registers and keeps one.

struct Q4_0x16 {
  static constexpr int kTile = 4;
  template <int NT, int Groups>
  GEMMAC_AVX512 static void tile(const MatmulTask &m, int64_t n, int64_t t0) {
    const int64_t nb = m.K / QK;
    const uint8_t *g0 = m.weight + n * m.rowBytes; // group n/8 starts at row n
    const uint8_t *g1 = Groups == 2 ? g0 + 8 * m.rowBytes : g0;
    const BlockQ8_0 *a[NT];
    const int32_t *sums[NT];
    for (int i = 0; i < NT; ++i) {
      a[i] =
          reinterpret_cast<const BlockQ8_0 *>(m.act + (t0 + i) * m.actStride);
      sums[i] =
          reinterpret_cast<const int32_t *>(m.aux + (t0 + i) * m.auxStride);
    }
    __m512 acc[NT];
    for (int i = 0; i < NT; ++i)
      acc[i] = _mm512_setzero_ps();
    const __m512i nibble = _mm512_set1_epi8(0x0F);
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t *blk0 = g0 + b * 144, *blk1 = g1 + b * 144;
      for (int off = 0; off < 144; off += 64) {
        _mm_prefetch(reinterpret_cast<const char *>(blk0 + kPrefetchQ4_0 + off),
                     _MM_HINT_T0);
        if (Groups == 2)
          _mm_prefetch(
              reinterpret_cast<const char *>(blk1 + kPrefetchQ4_0 + off),
              _MM_HINT_T0);
      }
      // Lanes 0-7: the scales of group 0's rows, 8-15 group 1's.
      const __m512 dw = _mm512_cvtph_ps(_mm256_inserti128_si256(
          _mm256_castsi128_si256(
              _mm_loadu_si128(reinterpret_cast<const __m128i *>(blk0))),
          _mm_loadu_si128(reinterpret_cast<const __m128i *>(blk1)), 1));
      // u[c], int32 lane r (+8 for group 1): the unsigned quants of elements
      // 4c..4c+3 of row r.
      __m512i u[8];
      for (int c = 0; c < 4; ++c) {
        const __m512i p = loadPair(blk0 + 16 + 32 * c, blk1 + 16 + 32 * c);
        u[c] = _mm512_and_si512(p, nibble);
        u[c + 4] = _mm512_and_si512(_mm512_srli_epi16(p, 4), nibble);
      }
      for (int i = 0; i < NT; ++i) {
        const int8_t *q = a[i][b].qs;
        // sum(u * a) in two chains (integer, exact in any order), then
        // sum((u - 8) * a) = sum(u * a) - 8 * sum(a).
        __m512i s0 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u[0],
                                         _mm512_set1_epi32(load32(q)));
        __m512i s1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), u[1],
                                         _mm512_set1_epi32(load32(q + 4)));
        for (int c = 2; c < 8; c += 2) {
          s0 = _mm512_dpbusd_epi32(s0, u[c],
                                   _mm512_set1_epi32(load32(q + 4 * c)));
          s1 = _mm512_dpbusd_epi32(s1, u[c + 1],
                                   _mm512_set1_epi32(load32(q + 4 * c + 4)));
        }
        const __m512i isum = _mm512_sub_epi32(
            _mm512_add_epi32(s0, s1), _mm512_set1_epi32(8 * sums[i][b]));
        const __m512 d = _mm512_mul_ps(dw, splatHalf16(a[i][b].d));
        acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), d, acc[i]);
      }
    }
    for (int i = 0; i < NT; ++i) {
      float *out = m.out + (t0 + i) * m.outStride + n - m.outFirstRow;
      if (Groups == 2)
        _mm512_storeu_ps(out, acc[i]);
      else
        _mm256_storeu_ps(out, _mm512_castps512_ps256(acc[i]));
    }
  }
};

// ---- Q4_K, x8: per pair of sub-blocks, acc = fma(S, dW*dA, acc) and the
// minimums' chain accm = fma(M, dminW*dA, accm); result acc - accm, as
// rowsQ4_Kx8; two groups of eight rows per register ---------------------------

/// Field V (0..15) of the rows' regrouped 6-bit Q4_K scales (repack.h).
template <int V>
GEMMAC_AVX512 inline __m512i scaleField(__m512i w0, __m512i w1, __m512i w2) {
  if constexpr (V == 15)
    return _mm512_or_si512(
        _mm512_srli_epi32(w0, 30),
        _mm512_or_si512(_mm512_slli_epi32(_mm512_srli_epi32(w1, 30), 2),
                        _mm512_slli_epi32(_mm512_srli_epi32(w2, 30), 4)));
  const __m512i w = V < 5 ? w0 : V < 10 ? w1 : w2;
  return _mm512_and_si512(_mm512_srli_epi32(w, 6 * (V % 5)),
                          _mm512_set1_epi32(63));
}

struct Q4_Kx16 {
  static constexpr int kTile = 2;
  template <int NT, int Groups>
  GEMMAC_AVX512 static void tile(const MatmulTask &m, int64_t n, int64_t t0) {
    const int64_t nb = m.K / QK_K;
    const uint8_t *g0 = m.weight + n * m.rowBytes;
    const uint8_t *g1 = Groups == 2 ? g0 + 8 * m.rowBytes : g0;
    const BlockQ8_K *a[NT];
    const int16_t *pairs[NT]; // the sums of the 32-element sub-blocks
    for (int i = 0; i < NT; ++i) {
      a[i] =
          reinterpret_cast<const BlockQ8_K *>(m.act + (t0 + i) * m.actStride);
      pairs[i] =
          reinterpret_cast<const int16_t *>(m.aux + (t0 + i) * m.auxStride);
    }
    __m512 acc[NT], accm[NT];
    for (int i = 0; i < NT; ++i)
      acc[i] = accm[i] = _mm512_setzero_ps();
    const __m512i nibble = _mm512_set1_epi8(0x0F);
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t *blk0 = g0 + b * 1152, *blk1 = g1 + b * 1152;
      for (int off = 0; off < 1152; off += 64) {
        _mm_prefetch(reinterpret_cast<const char *>(blk0 + kPrefetchQ4_K + off),
                     _MM_HINT_T0);
        if (Groups == 2)
          _mm_prefetch(
              reinterpret_cast<const char *>(blk1 + kPrefetchQ4_K + off),
              _MM_HINT_T0);
      }
      const __m512 dw = _mm512_cvtph_ps(_mm256_inserti128_si256(
          _mm256_castsi128_si256(
              _mm_loadu_si128(reinterpret_cast<const __m128i *>(blk0))),
          _mm_loadu_si128(reinterpret_cast<const __m128i *>(blk1)), 1));
      const __m512 dmw = _mm512_cvtph_ps(_mm256_inserti128_si256(
          _mm256_castsi128_si256(
              _mm_loadu_si128(reinterpret_cast<const __m128i *>(blk0 + 16))),
          _mm_loadu_si128(reinterpret_cast<const __m128i *>(blk1 + 16)), 1));
      const __m512i w0 = loadPair(blk0 + 32, blk1 + 32);
      const __m512i w1 = loadPair(blk0 + 64, blk1 + 64);
      const __m512i w2 = loadPair(blk0 + 96, blk1 + 96);
      // Per row lane: the scales of sub-blocks 0..7 and their minimums.
      const __m512i sc[8] = {
          scaleField<0>(w0, w1, w2), scaleField<1>(w0, w1, w2),
          scaleField<2>(w0, w1, w2), scaleField<3>(w0, w1, w2),
          scaleField<4>(w0, w1, w2), scaleField<5>(w0, w1, w2),
          scaleField<6>(w0, w1, w2), scaleField<7>(w0, w1, w2)};
      // (min of 2c, min of 2c+1) as int16 pairs, for madd with the pair sums.
      __m512i mins[4];
      mins[0] =
          _mm512_or_si512(scaleField<8>(w0, w1, w2),
                          _mm512_slli_epi32(scaleField<9>(w0, w1, w2), 16));
      mins[1] =
          _mm512_or_si512(scaleField<10>(w0, w1, w2),
                          _mm512_slli_epi32(scaleField<11>(w0, w1, w2), 16));
      mins[2] =
          _mm512_or_si512(scaleField<12>(w0, w1, w2),
                          _mm512_slli_epi32(scaleField<13>(w0, w1, w2), 16));
      mins[3] =
          _mm512_or_si512(scaleField<14>(w0, w1, w2),
                          _mm512_slli_epi32(scaleField<15>(w0, w1, w2), 16));
      __m512 D[NT], Dm[NT];
      for (int i = 0; i < NT; ++i) {
        D[i] = _mm512_mul_ps(dw, _mm512_set1_ps(a[i][b].d));
        Dm[i] = _mm512_mul_ps(dmw, _mm512_set1_ps(a[i][b].d));
      }
      for (int c = 0; c < 4; ++c) {
        const uint8_t *qs0 = blk0 + 128 + 256 * c, *qs1 = blk1 + 128 + 256 * c;
        __m512i lo4[8], hi4[8];
        for (int k = 0; k < 8; ++k) {
          const __m512i p = loadPair(qs0 + 32 * k, qs1 + 32 * k);
          lo4[k] = _mm512_and_si512(p, nibble);
          hi4[k] = _mm512_and_si512(_mm512_srli_epi16(p, 4), nibble);
        }
        for (int i = 0; i < NT; ++i) {
          const int8_t *q = a[i][b].qs + 64 * c;
          // The integer sums of sub-blocks 2c (low nibbles) and 2c+1 (high)
          // per row; S = sc[2c] * lo + sc[2c+1] * hi, exact in int32.
          __m512i lo = _mm512_setzero_si512(), hi = _mm512_setzero_si512();
          for (int k = 0; k < 8; ++k) {
            lo = _mm512_dpbusd_epi32(lo, lo4[k],
                                     _mm512_set1_epi32(load32(q + 4 * k)));
            hi = _mm512_dpbusd_epi32(hi, hi4[k],
                                     _mm512_set1_epi32(load32(q + 32 + 4 * k)));
          }
          const __m512i S =
              _mm512_add_epi32(_mm512_mullo_epi32(lo, sc[2 * c]),
                               _mm512_mullo_epi32(hi, sc[2 * c + 1]));
          int32_t pair;
          std::memcpy(&pair, pairs[i] + 8 * b + 2 * c, 4);
          const __m512i M = _mm512_madd_epi16(mins[c], _mm512_set1_epi32(pair));
          acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(S), D[i], acc[i]);
          accm[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(M), Dm[i], accm[i]);
        }
      }
    }
    for (int i = 0; i < NT; ++i) {
      float *out = m.out + (t0 + i) * m.outStride + n - m.outFirstRow;
      const __m512 r = _mm512_sub_ps(acc[i], accm[i]);
      if (Groups == 2)
        _mm512_storeu_ps(out, r);
      else
        _mm256_storeu_ps(out, _mm512_castps512_ps256(r));
    }
  }
};

// ---- float weights (tinyBLAS in llama.cpp's AVX-512 build, ref::dotTinyZen4):
// sixteen lanes over k, one FMA per element (bf16: vdpbf16ps, two elements
// per lane and instruction), then the sixteen-lane horizontal sum ------------

/// Sixteen floats from f32, or from f16 bits (any 2-byte T).
template <typename T> GEMMAC_AVX512 inline __m512 load16(const T *p) {
  if constexpr (sizeof(T) == 4)
    return _mm512_loadu_ps(reinterpret_cast<const float *>(p));
  else
    return _mm512_cvtph_ps(
        _mm256_loadu_si256(reinterpret_cast<const __m256i *>(p)));
}

/// Weight row n and the activation rows t0 .. t0 + NT - 1 of a float tile.
template <typename T, int NT> struct TileRows {
  const T *w;
  const T *a[NT];
};
template <typename T, int NT>
TileRows<T, NT> tileRows(const MatmulTask &m, int64_t n, int64_t t0) {
  TileRows<T, NT> r;
  r.w = reinterpret_cast<const T *>(m.weight + n * m.rowBytes);
  for (int i = 0; i < NT; ++i)
    r.a[i] = reinterpret_cast<const T *>(m.act + (t0 + i) * m.actStride);
  return r;
}

/// T: float, or uint16_t holding f16 (BF16 false) or bf16 (BF16 true).
template <typename T, bool BF16 = false> struct FloatTinyZen4 {
  static constexpr int kTile = 4;
  /// Elements per accumulation step.
  static constexpr int kStep = BF16 ? 32 : 16;
  template <int NT>
  GEMMAC_AVX512 static void tile(const MatmulTask &m, int64_t n, int64_t t0) {
    const auto [w, a] = tileRows<T, NT>(m, n, t0);
    __m512 acc[NT];
    for (int i = 0; i < NT; ++i)
      acc[i] = _mm512_setzero_ps();
    for (int64_t k = 0; k < m.K; k += kStep) {
      if constexpr (BF16) {
        const __m512bh wv = (__m512bh)_mm512_loadu_si512(w + k);
        for (int i = 0; i < NT; ++i)
          acc[i] = _mm512_dpbf16_ps(acc[i], wv,
                                    (__m512bh)_mm512_loadu_si512(a[i] + k));
      } else {
        const __m512 wv = load16(w + k);
        for (int i = 0; i < NT; ++i)
          acc[i] = _mm512_fmadd_ps(wv, load16(a[i] + k), acc[i]);
      }
    }
    for (int i = 0; i < NT; ++i)
      m.out[(t0 + i) * m.outStride + n - m.outFirstRow] = hsum16(acc[i]);
  }
};

// ---- float weights in ggml_vec_dot_{f32,f16,bf16} (the shapes tinyBLAS
// declines, and an MTP drafter's one-token products; ref::dotVecZen4):
// f32/f16 four sixteen-lane FMA accumulators over blocks of 64, combined
// (c0 + c2) + (c1 + c3), hsum16; bf16 two vdpbf16ps accumulators, the first
// and second half of every 64, each hsum16'd into a double; then the
// leftovers as the reference adds them -----------------------------------

/// T: float, or ref::F16 / ref::BF16 (bits of that type).
template <typename T> struct FloatVecZen4 {
  static constexpr int kTile = 4;
  static constexpr bool kBF16 = std::is_same_v<T, ref::BF16>;
  template <int NT>
  GEMMAC_AVX512 static void tile(const MatmulTask &m, int64_t n, int64_t t0) {
    const auto [w, a] = tileRows<T, NT>(m, n, t0);
    const int64_t K = m.K, np = K & ~int64_t(63);
    float out[NT];
    if constexpr (kBF16) {
      __m512 c[NT][2];
      for (int i = 0; i < NT; ++i)
        c[i][0] = c[i][1] = _mm512_setzero_ps();
      for (int64_t k = 0; k < np; k += 64)
        for (int h = 0; h < 2; ++h) {
          const __m512bh wv = (__m512bh)_mm512_loadu_si512(w + k + 32 * h);
          for (int i = 0; i < NT; ++i)
            c[i][h] = _mm512_dpbf16_ps(
                c[i][h], wv, (__m512bh)_mm512_loadu_si512(a[i] + k + 32 * h));
        }
      for (int i = 0; i < NT; ++i) {
        double sum = 0.0;
        sum += static_cast<double>(hsum16(c[i][0]));
        sum += static_cast<double>(hsum16(c[i][1]));
        for (int64_t e = np; e < K; ++e)
          sum += static_cast<double>(ref::widen(w[e]) * ref::widen(a[i][e]));
        out[i] = static_cast<float>(sum);
      }
    } else {
      __m512 acc[NT][4];
      for (int i = 0; i < NT; ++i)
        for (int j = 0; j < 4; ++j)
          acc[i][j] = _mm512_setzero_ps();
      for (int64_t k = 0; k < np; k += 64)
        for (int j = 0; j < 4; ++j) {
          const __m512 wv = load16(w + k + 16 * j);
          for (int i = 0; i < NT; ++i)
            acc[i][j] =
                _mm512_fmadd_ps(wv, load16(a[i] + k + 16 * j), acc[i][j]);
        }
      for (int i = 0; i < NT; ++i) {
        const float r =
            hsum16(_mm512_add_ps(_mm512_add_ps(acc[i][0], acc[i][2]),
                                 _mm512_add_ps(acc[i][1], acc[i][3])));
        if constexpr (std::is_same_v<T, float>) {
          out[i] = ref::addLeftoversF32<8>(r, w, a[i], np, K);
        } else {
          double sum = r;
          for (int64_t e = np; e < K; ++e)
            sum += static_cast<double>(ref::widen(w[e]) * ref::widen(a[i][e]));
          out[i] = static_cast<float>(sum);
        }
      }
    }
    for (int i = 0; i < NT; ++i)
      m.out[(t0 + i) * m.outStride + n - m.outFirstRow] = out[i];
  }
};

// ---- Q8_0, lanes per row, as LegacyLanes in matmul_avx2.cpp: acc[t] =
// fma(dW*dA, isum_t, acc[t]) over the eight groups of four elements of a
// 32-block, then the AVX2 horizontal sum; two rows per register (lanes 0-7
// and 8-15) ------------------------------------------------------------------

/// How far ahead in each row the Q8_0 kernel prefetches.
constexpr int kPrefetchQ8_0 = 1024;

/// Rows [n, n + Rows) (Rows <= 4) against tokens [t0, t0 + NT): four rows in
/// two registers; a short tile repeats its last row and keeps Rows of them.
struct Q8_0Lanes4 {
  static constexpr int kRows = 4, kTile = 4, kPairs = 2;
  template <int NT>
  GEMMAC_AVX512 static void tile(const MatmulTask &m, int64_t n, int Rows,
                                 int64_t t0) {
    const int64_t nb = m.K / QK;
    const BlockQ8_0 *w[kRows];
    for (int r = 0; r < kRows; ++r)
      w[r] = reinterpret_cast<const BlockQ8_0 *>(
          m.weight + (n + std::min(r, Rows - 1)) * m.rowBytes);
    const BlockQ8_0 *a[NT];
    for (int i = 0; i < NT; ++i)
      a[i] =
          reinterpret_cast<const BlockQ8_0 *>(m.act + (t0 + i) * m.actStride);
    __m512 acc[NT][kPairs];
    for (int i = 0; i < NT; ++i)
      for (int h = 0; h < kPairs; ++h)
        acc[i][h] = _mm512_setzero_ps();
    const __m512i zero = _mm512_setzero_si512();
    for (int64_t b = 0; b < nb; ++b) {
      for (int r = 0; r < kRows; ++r)
        _mm_prefetch(reinterpret_cast<const char *>(w[r] + b) + kPrefetchQ8_0,
                     _MM_HINT_T0);
      // |w| and the signs of w, for vpdpbusd's unsigned x signed products:
      // sum(w * a) = sum(|w| * (a negated where w < 0)).
      __m512i absW[kPairs];
      __mmask64 neg[kPairs];
      __m512 dw[kPairs];
      // The rows' scales converted together, then spread over their lanes.
      uint16_t d16[8] = {};
      for (int r = 0; r < kRows; ++r)
        d16[r] = w[r][b].d;
      const __m128i hd =
          _mm_loadu_si128(reinterpret_cast<const __m128i *>(d16));
      const __m512 fd = _mm512_castps128_ps512(_mm_cvtph_ps(hd));
      for (int h = 0; h < kPairs; ++h) {
        const __m512i q =
            loadPair(reinterpret_cast<const uint8_t *>(w[2 * h][b].qs),
                     reinterpret_cast<const uint8_t *>(w[2 * h + 1][b].qs));
        absW[h] = _mm512_abs_epi8(q);
        neg[h] = _mm512_movepi8_mask(q);
        dw[h] = _mm512_permutexvar_ps(
            _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set1_epi32(2 * h)),
                               _mm256_set1_epi32(2 * h + 1), 1),
            fd);
      }
      for (int i = 0; i < NT; ++i) {
        const __m512i av = _mm512_broadcast_i64x4(
            _mm256_loadu_si256(reinterpret_cast<const __m256i *>(a[i][b].qs)));
        const __m512 da = splatHalf16(a[i][b].d);
        for (int h = 0; h < kPairs; ++h) {
          const __m512i isum = _mm512_dpbusd_epi32(
              zero, absW[h], _mm512_mask_sub_epi8(av, neg[h], zero, av));
          acc[i][h] = _mm512_fmadd_ps(_mm512_mul_ps(dw[h], da),
                                      _mm512_cvtepi32_ps(isum), acc[i][h]);
        }
      }
    }
    for (int i = 0; i < NT; ++i) {
      float *out = m.out + (t0 + i) * m.outStride + n - m.outFirstRow;
      for (int r = 0; r < Rows; ++r) {
        const __m512 v = acc[i][r / 2];
        out[r] = hsum8(r % 2 ? _mm512_extractf32x8_ps(v, 1)
                             : _mm512_castps512_ps256(v));
      }
    }
  }
};

// ---- Q6_K, lanes per row, as Q6_KLanes in matmul_avx2.cpp: the same int32
// lanes (maddubs/madd with the scales, the -32 through the activation block
// sums), acc[t] = fma(dW*dA, L_t, acc[t]), the AVX2 horizontal sum; two rows
// per register (lanes 0-7 and 8-15) -----------------------------------------

/// How far ahead in each row the Q6_K kernel prefetches (12 blocks, as the
/// AVX2 kernel).
constexpr int kPrefetchQ6_K = 2520;

/// vpermw indices spreading the widened scales of two rows (int16 0-15 row
/// 0, 16-31 row 1) to sub-block pair c's madd operand: [s0[2c] x 8,
/// s0[2c+1] x 8, s1[2c] x 8, s1[2c+1] x 8].
GEMMAC_AVX512 inline __m512i scalePairIndex(int c) {
  const int v0 = 2 * c * 0x10001, v1 = (2 * c + 1) * 0x10001,
            v2 = (16 + 2 * c) * 0x10001, v3 = (17 + 2 * c) * 0x10001;
  return _mm512_setr_epi32(v0, v0, v0, v0, v1, v1, v1, v1, v2, v2, v2, v2, v3,
                           v3, v3, v3);
}

/// Rows [n, n + Rows) (Rows <= 2) against tokens [t0, t0 + NT); one row
/// runs in both halves and keeps one.
struct Q6_KLanes2 {
  static constexpr int kRows = 2, kTile = 4;
  template <int NT>
  GEMMAC_AVX512 static void tile(const MatmulTask &m, int64_t n, int Rows,
                                 int64_t t0) {
    const int64_t nb = m.K / QK_K;
    const auto *w0 =
        reinterpret_cast<const BlockQ6_K *>(m.weight + n * m.rowBytes);
    const auto *w1 = reinterpret_cast<const BlockQ6_K *>(
        m.weight + (n + (Rows > 1 ? 1 : 0)) * m.rowBytes);
    const BlockQ8_K *a[NT];
    for (int i = 0; i < NT; ++i)
      a[i] =
          reinterpret_cast<const BlockQ8_K *>(m.act + (t0 + i) * m.actStride);
    __m512 acc[NT];
    for (int i = 0; i < NT; ++i)
      acc[i] = _mm512_setzero_ps();
    const __m512i m30 = _mm512_set1_epi8(0x30), nibble = _mm512_set1_epi8(0x0F);
    for (int64_t b = 0; b < nb; ++b) {
      const BlockQ6_K &x0 = w0[b], &x1 = w1[b];
      for (int off = 0; off < 210; off += 64) {
        _mm_prefetch(reinterpret_cast<const char *>(&x0) + kPrefetchQ6_K + off,
                     _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char *>(&x1) + kPrefetchQ6_K + off,
                     _MM_HINT_T0);
      }
      // u[c]: the unsigned 6-bit quants of elements 32c..32c+31 (a nibble of
      // ql and two bits of qh moved to bits 4-5), row 0 low, row 1 high.
      __m512i u[8];
      for (int h = 0; h < 2; ++h) {
        const __m512i q0 = loadPair(x0.ql + 64 * h, x1.ql + 64 * h);
        const __m512i q1 = loadPair(x0.ql + 64 * h + 32, x1.ql + 64 * h + 32);
        const __m512i hb = loadPair(x0.qh + 32 * h, x1.qh + 32 * h);
        u[4 * h + 0] =
            _mm512_or_si512(_mm512_and_si512(q0, nibble),
                            _mm512_and_si512(_mm512_slli_epi16(hb, 4), m30));
        u[4 * h + 1] =
            _mm512_or_si512(_mm512_and_si512(q1, nibble),
                            _mm512_and_si512(_mm512_slli_epi16(hb, 2), m30));
        u[4 * h + 2] =
            _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(q0, 4), nibble),
                            _mm512_and_si512(hb, m30));
        u[4 * h + 3] =
            _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(q1, 4), nibble),
                            _mm512_and_si512(_mm512_srli_epi16(hb, 2), m30));
      }
      const __m512i sc16 = _mm512_cvtepi8_epi16(_mm256_inserti128_si256(
          _mm256_castsi128_si256(
              _mm_loadu_si128(reinterpret_cast<const __m128i *>(x0.scales))),
          _mm_loadu_si128(reinterpret_cast<const __m128i *>(x1.scales)), 1));
      __m512i scv[8];
      for (int c = 0; c < 8; ++c)
        scv[c] = _mm512_permutexvar_epi16(scalePairIndex(c), sc16);
      const __m512 dw = _mm512_permutexvar_ps(
          _mm512_inserti64x4(_mm512_setzero_si512(), _mm256_set1_epi32(1), 1),
          _mm512_castps128_ps512(_mm_cvtph_ps(_mm_cvtsi32_si128(
              static_cast<int>(x0.d | static_cast<uint32_t>(x1.d) << 16)))));
      for (int i = 0; i < NT; ++i) {
        const BlockQ8_K &ab = a[i][b];
        __m512i part[8];
        for (int c = 0; c < 8; ++c) {
          const __m512i av = _mm512_broadcast_i64x4(_mm256_loadu_si256(
              reinterpret_cast<const __m256i *>(ab.qs + 32 * c)));
          part[c] = _mm512_madd_epi16(_mm512_maddubs_epi16(u[c], av), scv[c]);
        }
        __m512i L = _mm512_add_epi32(
            _mm512_add_epi32(_mm512_add_epi32(part[0], part[1]),
                             _mm512_add_epi32(part[2], part[3])),
            _mm512_add_epi32(_mm512_add_epi32(part[4], part[5]),
                             _mm512_add_epi32(part[6], part[7])));
        const __m512i bs = _mm512_broadcast_i64x4(
            _mm256_loadu_si256(reinterpret_cast<const __m256i *>(ab.bsums)));
        L = _mm512_sub_epi32(L,
                             _mm512_slli_epi32(_mm512_madd_epi16(bs, sc16), 5));
        acc[i] = _mm512_fmadd_ps(_mm512_mul_ps(dw, _mm512_set1_ps(ab.d)),
                                 _mm512_cvtepi32_ps(L), acc[i]);
      }
    }
    for (int i = 0; i < NT; ++i) {
      float *out = m.out + (t0 + i) * m.outStride + n - m.outFirstRow;
      out[0] = hsum8(_mm512_castps512_ps256(acc[i]));
      if (Rows > 1)
        out[1] = hsum8(_mm512_extractf32x8_ps(acc[i], 1));
    }
  }
};

template <class F, int Groups>
GEMMAC_AVX512 void tiles(const MatmulTask &m, int64_t n, int64_t t0,
                         int64_t nt) {
  switch (nt) {
  case 1:
    F::template tile<1, Groups>(m, n, t0);
    break;
  case 2:
    F::template tile<std::min(2, F::kTile), Groups>(m, n, t0);
    break;
  case 3:
    F::template tile<std::min(3, F::kTile), Groups>(m, n, t0);
    break;
  default:
    F::template tile<F::kTile, Groups>(m, n, t0);
    break;
  }
}

/// Calls fn(n, rows, t0, nt) for every tile of up to Tile tokens over every
/// R rows (fewer at the end) of rows [n0, n1), in L2-sized blocks of rows,
/// as runTiles in matmul_avx2.cpp.
template <int64_t R, int64_t Tile, typename Fn>
GEMMAC_AVX512 void forTiles(const MatmulTask &m, int64_t n0, int64_t n1,
                            Fn &&fn) {
  const int64_t block = std::max<int64_t>(
      R, static_cast<int64_t>((160u << 10) / (m.rowBytes * R)) * R);
  for (int64_t b0 = n0; b0 < n1; b0 += block) {
    const int64_t b1 = std::min(n1, b0 + block);
    for (int64_t t0 = 0; t0 < m.T; t0 += Tile) {
      const int64_t nt = std::min<int64_t>(Tile, m.T - t0);
      for (int64_t n = b0; n < b1; n += R)
        fn(n, static_cast<int>(std::min(R, b1 - n)), t0, nt);
    }
  }
}

/// The x16 kernels over rows [n0, n1), multiples of 8: 16 rows at a time,
/// 8 at the end of an odd count of groups.
template <class F>
GEMMAC_AVX512 void run16(const MatmulTask &m, int64_t n0, int64_t n1) {
  forTiles<16, F::kTile>(m, n0, n1,
                         [&](int64_t n, int rows, int64_t t0, int64_t nt) {
                           if (rows == 16)
                             tiles<F, 2>(m, n, t0, nt);
                           else
                             tiles<F, 1>(m, n, t0, nt);
                         });
}

/// F::tile<nt>(args...), for nt from 1 to 4 (F::kTile == 4).
template <class F, typename... Args>
GEMMAC_AVX512 void tileOf(int64_t nt, Args... args) {
  static_assert(F::kTile == 4);
  switch (nt) {
  case 1:
    F::template tile<1>(args...);
    break;
  case 2:
    F::template tile<2>(args...);
    break;
  case 3:
    F::template tile<3>(args...);
    break;
  default:
    F::template tile<4>(args...);
    break;
  }
}

/// The one-row kernels over rows [n0, n1).
template <class F>
GEMMAC_AVX512 void runRows(const MatmulTask &m, int64_t n0, int64_t n1) {
  forTiles<1, F::kTile>(m, n0, n1, [&](int64_t n, int, int64_t t0, int64_t nt) {
    tileOf<F>(nt, m, n, t0);
  });
}

/// The row-pair kernels over rows [n0, n1): F::kRows rows at a time.
template <class F>
GEMMAC_AVX512 void runRowGroups(const MatmulTask &m, int64_t n0, int64_t n1) {
  forTiles<F::kRows, F::kTile>(
      m, n0, n1, [&](int64_t n, int rows, int64_t t0, int64_t nt) {
        tileOf<F>(nt, m, n, rows, t0);
      });
}

} // namespace

GEMMAC_AVX512 void rowsQ8_0Avx512(const MatmulTask &m, int64_t n0, int64_t n1) {
  runRowGroups<Q8_0Lanes4>(m, n0, n1);
}
GEMMAC_AVX512 void rowsQ6_KAvx512(const MatmulTask &m, int64_t n0, int64_t n1) {
  runRowGroups<Q6_KLanes2>(m, n0, n1);
}
GEMMAC_AVX512 void rowsQ4_0x8Avx512(const MatmulTask &m, int64_t n0,
                                    int64_t n1) {
  run16<Q4_0x16>(m, n0, n1);
}
GEMMAC_AVX512 void rowsQ4_Kx8Avx512(const MatmulTask &m, int64_t n0,
                                    int64_t n1) {
  run16<Q4_Kx16>(m, n0, n1);
}
GEMMAC_AVX512 void rowsF32TinyAvx512(const MatmulTask &m, int64_t n0,
                                     int64_t n1) {
  runRows<FloatTinyZen4<float>>(m, n0, n1);
}
GEMMAC_AVX512 void rowsF16TinyAvx512(const MatmulTask &m, int64_t n0,
                                     int64_t n1) {
  runRows<FloatTinyZen4<uint16_t>>(m, n0, n1);
}
GEMMAC_AVX512 void rowsBF16TinyAvx512(const MatmulTask &m, int64_t n0,
                                      int64_t n1) {
  runRows<FloatTinyZen4<uint16_t, true>>(m, n0, n1);
}
GEMMAC_AVX512 void rowsF32VecAvx512(const MatmulTask &m, int64_t n0,
                                    int64_t n1) {
  runRows<FloatVecZen4<float>>(m, n0, n1);
}
GEMMAC_AVX512 void rowsF16VecAvx512(const MatmulTask &m, int64_t n0,
                                    int64_t n1) {
  runRows<FloatVecZen4<ref::F16>>(m, n0, n1);
}
GEMMAC_AVX512 void rowsBF16VecAvx512(const MatmulTask &m, int64_t n0,
                                     int64_t n1) {
  runRows<FloatVecZen4<ref::BF16>>(m, n0, n1);
}

} // namespace gemmac::rt
