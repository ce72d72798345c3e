// Causal attention over a KV cache of f16 (or f32, or scaled E4M3) rows: the
// arithmetic of llama.cpp's tiled flash-attention CPU kernel
// (attention_reference.h holds the scalar statement of it), vectorized with
// AVX2 without changing a single floating-point operation:
//  - scores: eight keys in the eight lanes, each lane one fused chain over
//    the head dim (the tile's keys are transposed once for that);
//  - softmax: ggml's polynomial exp on eight lanes, the same eight-wide
//    horizontal sums added into a double (for a KernelSet::Avx512 program,
//    llama.cpp's AVX-512 build: its exp on sixteen lanes, sixteen-wide sums;
//    for a KernelSet::Arm program, its Arm build: four-wide sums);
//  - values: eight head dims in the lanes, each one fused chain over the
//    tile's positions.
// Work is split over (kv head, block of queries, group of heads): each item
// converts a tile of keys and values once for all the queries and heads it
// serves; items of every sequence of the step (abi/step.h) run in one
// parallel loop. The batch's own K and V are rounded to the cache's type
// exactly as if read back from it, so a token sees the same keys whether it is
// evaluated in a batch or alone.

#include "abi/step.h"
#include "runtime/kernels/attention_reference.h"
#include "runtime/kernels/avx512.h"
#include "runtime/kernels/half.h"
#include "runtime/kernels/hsum.h"
#include "runtime/src/rt.h"

#include "runtime/kernels/x86_intrinsics.h"

#include <algorithm>
#include <cmath>
#include <vector>

using namespace gemmac::rt;

namespace {

constexpr int kTile = ref::kTile;

inline __m256 bitsToFloat(__m256i v) { return _mm256_castsi256_ps(v); }

/// ref::polyExp on eight lanes.
__m256 polyExp8(__m256 x) {
  const __m256 z = _mm256_fmadd_ps(x, _mm256_set1_ps(0x1.715476p+0f),
                                   _mm256_set1_ps(0x1.8p23f));
  const __m256 n = _mm256_sub_ps(z, _mm256_set1_ps(0x1.8p23f));
  const __m256 b =
      _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.7f7d1cp-20f),
                       _mm256_fnmadd_ps(n, _mm256_set1_ps(0x1.62e4p-1f), x));
  const __m256i e = _mm256_slli_epi32(_mm256_castps_si256(z), 23);
  const __m256 k = bitsToFloat(
      _mm256_add_epi32(e, _mm256_castps_si256(_mm256_set1_ps(1.0f))));
  const __m256 u = _mm256_mul_ps(b, b);
  const __m256 j = _mm256_fmadd_ps(
      _mm256_fmadd_ps(_mm256_fmadd_ps(_mm256_set1_ps(0x1.0e4020p-7f), b,
                                      _mm256_set1_ps(0x1.573e2ep-5f)),
                      u,
                      _mm256_fmadd_ps(_mm256_set1_ps(0x1.555e66p-3f), b,
                                      _mm256_set1_ps(0x1.fffdb6p-2f))),
      u, _mm256_mul_ps(_mm256_set1_ps(0x1.ffffecp-1f), b));
  const __m256 absN = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), n);
  const __m256 inRange =
      _mm256_cmp_ps(absN, _mm256_set1_ps(126.0f), _CMP_LE_OQ);
  const __m256 common = _mm256_fmadd_ps(j, k, k);
  if (_mm256_movemask_ps(inRange) == 0xFF)
    return common;
  // Lanes whose exponent leaves the normal range: scale in two steps.
  const __m256i g = _mm256_and_si256(
      _mm256_castps_si256(_mm256_cmp_ps(n, _mm256_setzero_ps(), _CMP_LE_OQ)),
      _mm256_set1_epi32(static_cast<int>(0x82000000u)));
  const __m256 s1 =
      bitsToFloat(_mm256_add_epi32(g, _mm256_set1_epi32(0x7f000000)));
  const __m256 s2 = bitsToFloat(_mm256_sub_epi32(e, g));
  const __m256 huge = _mm256_cmp_ps(absN, _mm256_set1_ps(192.0f), _CMP_GT_OQ);
  const __m256 far =
      _mm256_blendv_ps(_mm256_mul_ps(_mm256_fmadd_ps(s2, j, s2), s1),
                       _mm256_mul_ps(s1, s1), huge);
  return _mm256_blendv_ps(far, common, inRange);
}

#if GEMMAC_HAVE_AVX512
/// ref::polyExpZen4 on sixteen lanes.
GEMMAC_AVX512 inline __m512 polyExpZen4(__m512 x) {
  const __m512 z = _mm512_fmadd_ps(x, _mm512_set1_ps(0x1.715476p+0f),
                                   _mm512_set1_ps(0x1.8p23f));
  const __m512 n = _mm512_sub_ps(z, _mm512_set1_ps(0x1.8p23f));
  const __m512 b =
      _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.7f7d1cp-20f),
                       _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.62e4p-1f), x));
  const __m512 u = _mm512_mul_ps(b, b);
  const __m512 j = _mm512_fmadd_ps(
      _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_set1_ps(0x1.0e4020p-7f), b,
                                      _mm512_set1_ps(0x1.573e2ep-5f)),
                      u,
                      _mm512_fmadd_ps(_mm512_set1_ps(0x1.555e66p-3f), b,
                                      _mm512_set1_ps(0x1.fffdb6p-2f))),
      u,
      _mm512_fmadd_ps(_mm512_set1_ps(0x1.ffffecp-1f), b, _mm512_set1_ps(1.0f)));
  const __m512 scaled = _mm512_scalef_ps(j, n);
  const __mmask16 far =
      _mm512_cmp_ps_mask(_mm512_abs_ps(n), _mm512_set1_ps(192.0f), _CMP_GT_OQ);
  if (!far)
    return scaled;
  const __mmask16 low = _mm512_cmp_ps_mask(n, _mm512_setzero_ps(), _CMP_LE_OQ);
  const __m512 limit =
      _mm512_mask_blend_ps(low, _mm512_set1_ps(INFINITY), _mm512_setzero_ps());
  return _mm512_mask_blend_ps(far, scaled, limit);
}

/// ref::softmaxTile for KernelSet::Avx512: p = exp(x - M) sixteen at a time,
/// each group's hsum16 added into a double.
GEMMAC_AVX512 double softmaxTileZen4(const float *x, float M, float *p) {
  double sum = 0.0;
  for (int c = 0; c < kTile; c += 16) {
    const __m512 e =
        polyExpZen4(_mm512_sub_ps(_mm512_loadu_ps(x + c), _mm512_set1_ps(M)));
    _mm512_storeu_ps(p + c, e);
    sum = sum + static_cast<double>(hsum16(e));
  }
  return sum;
}
#else
double softmaxTileZen4(const float *x, float M, float *p) {
  std::copy(x, x + kTile, p); // never runs: no KernelSet::Avx512 here
  return ref::softmaxTile(p, M, KernelSet::Avx512);
}
#endif

/// The value of every E4M3 byte (e4m3ToF32), for gathers.
struct E4M3Table {
  alignas(64) float value[256];
  E4M3Table() {
    for (int b = 0; b < 256; ++b)
      value[b] = gemmac::fmt::e4m3ToF32(static_cast<uint8_t>(b));
  }
};
const E4M3Table kE4M3;

/// Eight cached (or fresh, rounded as if cached) values as f32; `scale` is
/// an E4M3 cache's (ref::loadCached and ref::roundTo say what they are).
inline __m256 load8(const uint16_t *p, float) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i *>(p)));
}
inline __m256 load8(const float *p, float) { return _mm256_loadu_ps(p); }
inline __m256 load8(const uint8_t *p, float scale) {
  const __m256i bytes = _mm256_cvtepu8_epi32(
      _mm_loadl_epi64(reinterpret_cast<const __m128i *>(p)));
  return _mm256_mul_ps(_mm256_i32gather_ps(kE4M3.value, bytes, 4),
                       _mm256_set1_ps(scale));
}
template <typename T> inline __m256 roundFresh8(const float *p, float scale) {
  if constexpr (sizeof(T) == 1) {
    uint8_t bytes[8];
    for (int i = 0; i < 8; ++i)
      bytes[i] = ref::toCached<uint8_t>(p[i], scale);
    return load8(bytes, scale);
  }
  const __m256 x = _mm256_loadu_ps(p);
  if constexpr (sizeof(T) == 2)
    return _mm256_cvtph_ps(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT));
  else
    return x;
}

/// The softmax state of one query and head.
struct QueryState {
  float M, S;
  float *acc; // head dim
};

struct Shape {
  int64_t hd, width, window, capacity, pos0;
  ref::KVScales scales;
};

/// In-register transpose of eight rows of eight floats.
inline void transpose8(__m256 r[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
    u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
    r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
  }
}

/// Where eight positions [p0, p0 + 8) of kv head g are: a cache row, a row
/// of this batch (rounded as the cache rounds it), or hidden (outside
/// [lo, hi]).
template <typename T> struct Rows8 {
  const T *cached[8] = {};
  const float *fresh[8] = {};
  bool visible(int l) const { return cached[l] || fresh[l]; }
  /// Dims [i, i + 8) of row l as f32 (zeros when hidden).
  __m256 load(int l, int64_t i, float scale) const {
    if (cached[l])
      return load8(cached[l] + i, scale);
    if (fresh[l])
      return roundFresh8<T>(fresh[l] + i, scale);
    return _mm256_setzero_ps();
  }
};

template <typename T>
Rows8<T> rowsAt(const Shape &s, int64_t g, int64_t p0, int64_t lo, int64_t hi,
                const float *batch, const T *cache) {
  Rows8<T> r;
  for (int l = 0; l < 8; ++l) {
    const int64_t kp = p0 + l;
    if (kp < lo || kp > hi)
      continue;
    if (kp < s.pos0)
      r.cached[l] =
          cache + (s.window > 0 ? kp % s.capacity : kp) * s.width + g * s.hd;
    else
      r.fresh[l] = batch + (kp - s.pos0) * s.width + g * s.hd;
  }
  return r;
}

/// Dims [i, i + 8) of eight keys, transposed: r[l] lane j is dim i + l of
/// key j.
template <typename T>
inline void keyBlock(const Rows8<T> &keys, int64_t i, float scale,
                     __m256 r[8]) {
  for (int l = 0; l < 8; ++l)
    r[l] = keys.load(l, i, scale);
  transpose8(r);
}

/// Loads positions [tile, tile + 64) of kv head g that lie in [lo, hi] into
/// a transposed key tile kt[i * 64 + j] and a value tile vt[j * hd + i]
/// (hidden positions: zero keys; their value rows are never read). Keys are
/// transposed eight positions by eight dims in registers.
template <typename T>
void loadTile(const Shape &s, int64_t g, int64_t tile, int64_t lo, int64_t hi,
              const float *k, const float *v, const T *kCache, const T *vCache,
              float *kt, float *vt) {
  const int64_t hd = s.hd;
  for (int j0 = 0; j0 < kTile; j0 += 8) {
    const Rows8<T> keys = rowsAt(s, g, tile + j0, lo, hi, k, kCache);
    const Rows8<T> values = rowsAt(s, g, tile + j0, lo, hi, v, vCache);
    for (int64_t i = 0; i < hd; i += 8) {
      for (int l = 0; l < 8; ++l)
        if (values.visible(l))
          _mm256_storeu_ps(vt + (j0 + l) * hd + i,
                           values.load(l, i, s.scales.v));
      __m256 r[8];
      keyBlock(keys, i, s.scales.k, r);
      for (int l = 0; l < 8; ++l)
        _mm256_storeu_ps(kt + (i + l) * kTile + j0, r[l]);
    }
  }
}

/// The online softmax step of one tile for one query whose visible keys are
/// [first, pos], from its scores sv (lane l of sv[c]: key 8c + l): rescales
/// st, writes the probabilities p and returns the visible keys [j0, j1].
/// Set: the build whose softmax sums it reproduces (AVX-512: sixteen lanes,
/// Arm: four, AVX2: eight).
template <KernelSet Set>
void softmaxStep(const __m256 sv[8], int64_t hd, int64_t tile, int64_t first,
                 int64_t pos, float scale, QueryState &st, float *p, int &j0,
                 int &j1) {
  // p = s * scale + 0 (the mask's zero), -inf outside [first, pos].
  const __m256 lane = _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256 from = _mm256_set1_ps(static_cast<float>(first - tile));
  const __m256 to = _mm256_set1_ps(static_cast<float>(pos - tile));
  __m256 pv[8];
  __m256 vmax = _mm256_set1_ps(-INFINITY);
  for (int c = 0; c < 8; ++c) {
    const __m256 idx = _mm256_add_ps(lane, _mm256_set1_ps(8.0f * c));
    const __m256 visible = _mm256_and_ps(_mm256_cmp_ps(idx, from, _CMP_GE_OQ),
                                         _mm256_cmp_ps(idx, to, _CMP_LE_OQ));
    const __m256 scaled = _mm256_add_ps(
        _mm256_mul_ps(sv[c], _mm256_set1_ps(scale)), _mm256_setzero_ps());
    pv[c] = _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), scaled, visible);
    vmax = _mm256_max_ps(vmax, pv[c]);
  }
  __m128 m4 =
      _mm_max_ps(_mm256_castps256_ps128(vmax), _mm256_extractf128_ps(vmax, 1));
  m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
  m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
  const float tmax = _mm_cvtss_f32(m4);

  const float Mnew = std::fmax(st.M, tmax);
  if (Mnew > st.M) {
    const float ms = std::exp(st.M - Mnew);
    const __m256 msv = _mm256_set1_ps(ms);
    for (int64_t i = 0; i < hd; i += 8)
      _mm256_storeu_ps(st.acc + i,
                       _mm256_mul_ps(_mm256_loadu_ps(st.acc + i), msv));
    st.S = st.S * ms;
  }
  st.M = Mnew;
  double sum = 0.0;
  if constexpr (Set == KernelSet::Avx512) {
    alignas(32) float x[kTile];
    for (int c = 0; c < 8; ++c)
      _mm256_store_ps(x + 8 * c, pv[c]);
    sum = softmaxTileZen4(x, Mnew, p);
  } else {
    const __m256 Mv = _mm256_set1_ps(Mnew);
    for (int c = 0; c < 8; ++c) {
      const __m256 e = polyExp8(_mm256_sub_ps(pv[c], Mv));
      _mm256_store_ps(p + 8 * c, e);
      if constexpr (Set == KernelSet::Arm) {
        sum = sum + static_cast<double>(ref::hsum4(p + 8 * c));
        sum = sum + static_cast<double>(ref::hsum4(p + 8 * c + 4));
      } else {
        sum = sum + static_cast<double>(hsum8(e));
      }
    }
  }
  st.S = static_cast<float>(static_cast<double>(st.S) + sum);
  j0 = static_cast<int>(std::max<int64_t>(first - tile, 0));
  j1 = static_cast<int>(std::min<int64_t>(pos - tile, kTile - 1));
}

/// st.acc += p[j] * (value row j) for j in [j0, j1]: eight dims per vector,
/// one FMA chain over the positions; row(j, i) gives dims [i, i + 8) of row j.
template <typename Row>
inline void addValues(int64_t hd, const float *p, int j0, int j1,
                      QueryState &st, Row &&row) {
  for (int64_t i = 0; i < hd; i += 32) {
    // Four vectors at a time: four independent chains.
    const int64_t n = std::min<int64_t>(32, hd - i);
    __m256 o[4];
    for (int u = 0; u < 4; ++u)
      o[u] =
          u * 8 < n ? _mm256_loadu_ps(st.acc + i + 8 * u) : _mm256_setzero_ps();
    for (int j = j0; j <= j1; ++j) {
      const __m256 pj = _mm256_broadcast_ss(p + j);
      for (int u = 0; u < 4; ++u)
        if (u * 8 < n)
          o[u] = _mm256_fmadd_ps(pj, row(j, i + 8 * u), o[u]);
    }
    for (int u = 0; u < 4; ++u)
      if (u * 8 < n)
        _mm256_storeu_ps(st.acc + i + 8 * u, o[u]);
  }
}

/// One tile for one query and head whose visible keys are [first, pos],
/// from the tiles loadTile made (a hidden position adds p = 0 times a zero
/// row: nothing).
template <int64_t HD, KernelSet Set>
void attendTile(const Shape &s, int64_t tile, int64_t first, int64_t pos,
                const float *q, const float *kt, const float *vt, float scale,
                QueryState &st) {
  const int64_t hd = HD > 0 ? HD : s.hd;
  // Scores: lane l of sv[c] is key 8c + l, one FMA chain over the head dim.
  __m256 sv[8];
  for (int c = 0; c < 8; ++c)
    sv[c] = _mm256_setzero_ps();
  for (int64_t i = 0; i < hd; ++i) {
    const __m256 qi = _mm256_broadcast_ss(q + i);
    const float *row = kt + i * kTile;
    for (int c = 0; c < 8; ++c)
      sv[c] = _mm256_fmadd_ps(qi, _mm256_loadu_ps(row + 8 * c), sv[c]);
  }
  alignas(32) float p[kTile];
  int j0, j1;
  softmaxStep<Set>(sv, hd, tile, first, pos, scale, st, p, j0, j1);
  addValues(hd, p, j0, j1, st,
            [&](int j, int64_t i) { return _mm256_loadu_ps(vt + j * hd + i); });
}

/// attendTile for one query and heads q[0..nq) of kv head g, reading the
/// keys and values where they are (cache or batch) instead of through
/// tiles: the same operations in the same order, without writing and
/// rereading 2 * 64 * hd floats per tile, which is what a decoded token's
/// attention spent its time on at long contexts.
template <typename T, int64_t HD, KernelSet Set>
void attendDirect(const Shape &s, int64_t g, int64_t tile, int64_t first,
                  int64_t pos, const float *const *q, int nq, const float *k,
                  const float *v, const T *kCache, const T *vCache, float scale,
                  QueryState *st) {
  const int64_t hd = HD > 0 ? HD : s.hd;
  Rows8<T> keys[8], values[8];
  for (int c = 0; c < 8; ++c) {
    keys[c] = rowsAt(s, g, tile + 8 * c, first, pos, k, kCache);
    values[c] = rowsAt(s, g, tile + 8 * c, first, pos, v, vCache);
  }
  for (int h0 = 0; h0 < nq; h0 += 4) {
    const int hn = std::min(4, nq - h0);
    __m256 sv[4][8];
    for (int c = 0; c < 8; ++c) {
      __m256 a[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(),
                     _mm256_setzero_ps(), _mm256_setzero_ps()};
      for (int64_t i = 0; i < hd; i += 8) {
        __m256 r[8];
        keyBlock(keys[c], i, s.scales.k, r);
        for (int h = 0; h < hn; ++h)
          for (int l = 0; l < 8; ++l)
            a[h] = _mm256_fmadd_ps(_mm256_broadcast_ss(q[h0 + h] + i + l), r[l],
                                   a[h]);
      }
      for (int h = 0; h < hn; ++h)
        sv[h][c] = a[h];
    }
    for (int h = 0; h < hn; ++h) {
      alignas(32) float p[kTile];
      int j0, j1;
      softmaxStep<Set>(sv[h], hd, tile, first, pos, scale, st[h0 + h], p, j0,
                       j1);
      addValues(hd, p, j0, j1, st[h0 + h], [&](int j, int64_t i) {
        return values[j / 8].load(j % 8, i, s.scales.v);
      });
    }
  }
}

/// One sequence's rows of the step (abi/step.h).
struct Segment {
  int64_t slot, pos0, row0, rows;
};

std::vector<Segment> segmentsOf(const int64_t *seqs, int64_t nSeqs) {
  std::vector<Segment> out(static_cast<size_t>(nSeqs));
  for (int64_t i = 0; i < nSeqs; ++i) {
    const int64_t *f = seqs + i * GEMMAC_SEQ_FIELDS;
    out[i] = {f[GEMMAC_SEQ_SLOT], f[GEMMAC_SEQ_POS0], f[GEMMAC_SEQ_ROW0],
              f[GEMMAC_SEQ_ROWS]};
  }
  return out;
}

/// The instantiation of a kernel template for the program's kernel set.
template <typename Of> auto pick(KernelSet set) {
  switch (set) {
  case KernelSet::Avx512:
    return Of::template fn<KernelSet::Avx512>;
  case KernelSet::Arm:
    return Of::template fn<KernelSet::Arm>;
  case KernelSet::Avx2:
    break;
  }
  return Of::template fn<KernelSet::Avx2>;
}
template <typename T, int64_t HD> struct DirectKernel {
  template <KernelSet Set> static constexpr auto fn = attendDirect<T, HD, Set>;
};
template <int64_t HD> struct TileKernel {
  template <KernelSet Set> static constexpr auto fn = attendTile<HD, Set>;
};

template <typename T, int64_t HD>
void attention(gemmac_rt *rt, float *out, const float *q, const float *k,
               const float *v, int64_t nTokens, const int64_t *seqs,
               int64_t nSeqs, int64_t nHeads, int64_t nKVHeads, int64_t headDim,
               int64_t window, const T *kCache, const T *vCache,
               int64_t capacity, int64_t seqStride, float scale,
               ref::KVScales kvScales = {}) {
  const std::vector<Segment> segs = segmentsOf(seqs, nSeqs);
  const int64_t width = nKVHeads * headDim;
  if (headDim % 8 != 0) { // no vector shape: the reference computes it
    for (const Segment &g : segs)
      ref::attention<T>(rt, out + g.row0 * nHeads * headDim,
                        q + g.row0 * nHeads * headDim, k + g.row0 * width,
                        v + g.row0 * width, g.rows, g.pos0, nHeads, nKVHeads,
                        headDim, window, kCache + g.slot * seqStride,
                        vCache + g.slot * seqStride, capacity, scale, kvScales);
    return;
  }
  const int64_t hd = HD > 0 ? HD : headDim;
  const int64_t group = nHeads / nKVHeads;
  const int threads = rt->pool.size();
  const auto direct = pick<DirectKernel<T, HD>>(rt->kernels);
  const auto tiled = pick<TileKernel<HD>>(rt->kernels);
  // Items: (segment, kv head, block of queries, group of heads), enough of
  // them to keep every thread busy, each as large as that allows. The split
  // never changes a query's arithmetic: it visits the same 64-aligned tiles
  // in the same order whatever block or item it is in.
  int64_t qb = std::clamp<int64_t>(nTokens * nKVHeads / (4 * threads), 1, 16);
  std::vector<int64_t> firstBlock(segs.size() + 1, 0);
  for (size_t i = 0; i < segs.size(); ++i)
    firstBlock[i + 1] = firstBlock[i] + (segs[i].rows + qb - 1) / qb;
  const int64_t nBlocks = firstBlock.back();
  int64_t headChunks = 1;
  while (nKVHeads * nBlocks * headChunks < 2 * threads && headChunks < group &&
         group % (headChunks * 2) == 0)
    headChunks *= 2;
  const int64_t hpc = group / headChunks;
  const int64_t items = nKVHeads * nBlocks * headChunks;
  auto firstVisible = [&](int64_t pos) {
    return window > 0 ? std::max<int64_t>(0, pos - window + 1) : 0;
  };
  rt->pool.parallelFor(items, 1, [&](int64_t w0, int64_t w1) {
    thread_local std::vector<float> kt, vt, acc;
    kt.resize(static_cast<size_t>(hd * kTile));
    vt.resize(static_cast<size_t>(hd * kTile));
    acc.resize(static_cast<size_t>(qb * hpc * hd));
    std::vector<QueryState> states(static_cast<size_t>(qb * hpc));
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t g = w / (nBlocks * headChunks);
      const int64_t block = (w / headChunks) % nBlocks;
      const int64_t h0 = g * group + (w % headChunks) * hpc;
      const size_t si = static_cast<size_t>(
          std::upper_bound(firstBlock.begin(), firstBlock.end(), block) -
          firstBlock.begin() - 1);
      const Segment &seg = segs[si];
      const Shape s{hd, width, window, capacity, seg.pos0, kvScales};
      const float *qs = q + seg.row0 * nHeads * hd;
      const float *ks = k + seg.row0 * width, *vs = v + seg.row0 * width;
      float *os = out + seg.row0 * nHeads * hd;
      const T *kc = kCache + seg.slot * seqStride;
      const T *vc = vCache + seg.slot * seqStride;
      const int64_t t0 = (block - firstBlock[si]) * qb;
      const int64_t t1 = std::min(seg.rows, t0 + qb);
      for (size_t i = 0; i < states.size(); ++i)
        states[i] = {-INFINITY, 0.0f, acc.data() + i * hd};
      std::fill(acc.begin(), acc.end(), 0.0f);
      const int64_t lo = firstVisible(seg.pos0 + t0), hi = seg.pos0 + t1 - 1;
      if (t1 - t0 == 1) { // one query: no tiles to share
        thread_local std::vector<const float *> qh;
        const int nq = static_cast<int>(hpc);
        qh.resize(static_cast<size_t>(nq));
        for (int hh = 0; hh < nq; ++hh)
          qh[hh] = qs + (t0 * nHeads + h0 + hh) * hd;
        for (int64_t tile = lo / kTile * kTile; tile <= hi; tile += kTile)
          direct(s, g, tile, lo, hi, qh.data(), nq, ks, vs, kc, vc, scale,
                 states.data());
      } else {
        for (int64_t tile = lo / kTile * kTile; tile <= hi; tile += kTile) {
          loadTile<T>(s, g, tile, lo, hi, ks, vs, kc, vc, kt.data(), vt.data());
          for (int64_t t = t0; t < t1; ++t) {
            const int64_t pos = seg.pos0 + t, first = firstVisible(pos);
            if (tile > pos || tile + kTile <= first / kTile * kTile)
              continue;
            for (int64_t hh = 0; hh < hpc; ++hh)
              tiled(s, tile, first, pos, qs + (t * nHeads + h0 + hh) * hd,
                    kt.data(), vt.data(), scale, states[(t - t0) * hpc + hh]);
          }
        }
      }
      for (int64_t t = t0; t < t1; ++t)
        for (int64_t hh = 0; hh < hpc; ++hh) {
          const QueryState &st = states[(t - t0) * hpc + hh];
          float *o = os + (t * nHeads + h0 + hh) * hd;
          const __m256 inv = _mm256_set1_ps(st.S == 0.0f ? 0.0f : 1.0f / st.S);
          for (int64_t i = 0; i < hd; i += 8)
            _mm256_storeu_ps(o + i,
                             _mm256_mul_ps(_mm256_loadu_ps(st.acc + i), inv));
        }
    }
  });
}

template <typename T>
void kvStore(gemmac_rt *rt, T *kCache, T *vCache, const float *k,
             const float *v, const int64_t *seqs, int64_t nSeqs, int64_t width,
             int64_t window, int64_t capacity, int64_t seqStride,
             ref::KVScales kvScales = {}) {
  // (segment, row) of every row stored: a ring keeps only the last
  // `capacity` rows of its segment.
  const std::vector<Segment> segs = segmentsOf(seqs, nSeqs);
  std::vector<std::pair<int32_t, int32_t>> stored;
  for (size_t si = 0; si < segs.size(); ++si)
    for (int64_t i = window > 0 ? std::max<int64_t>(0, segs[si].rows - capacity)
                                : 0;
         i < segs[si].rows; ++i)
      stored.emplace_back(static_cast<int32_t>(si), static_cast<int32_t>(i));
  rt->pool.parallelFor(
      static_cast<int64_t>(stored.size()), 4, [&](int64_t i0, int64_t i1) {
        for (int64_t j = i0; j < i1; ++j) {
          const Segment &seg = segs[stored[j].first];
          const int64_t i = stored[j].second, pos = seg.pos0 + i;
          const int64_t row = window > 0 ? pos % capacity : pos;
          T *kd = kCache + seg.slot * seqStride + row * width;
          T *vd = vCache + seg.slot * seqStride + row * width;
          const float *ks = k + (seg.row0 + i) * width;
          const float *vs = v + (seg.row0 + i) * width;
          if constexpr (sizeof(T) == 2) {
            for (int64_t c = 0; c < width; ++c) {
              kd[c] = floatToHalf(ks[c]);
              vd[c] = floatToHalf(vs[c]);
            }
          } else if constexpr (sizeof(T) == 1) {
            for (int64_t c = 0; c < width; ++c) {
              kd[c] = ref::toCached<T>(ks[c], kvScales.k);
              vd[c] = ref::toCached<T>(vs[c], kvScales.v);
            }
          } else {
            std::copy(ks, ks + width, kd);
            std::copy(vs, vs + width, vd);
          }
        }
      });
}

} // namespace

// SA: the KVScales to pass; the variadic tail: the extra parameters (the
// E4M3 cache's scales).
#define DEFINE_ATTENTION(T, CT, SA, ...)                                       \
  extern "C" void gmk_attention_##T(                                           \
      gemmac_rt *rt, float *out, const float *q, const float *k,               \
      const float *v, int64_t n_tokens, const int64_t *seqs, int64_t n_seqs,   \
      int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, int64_t window,   \
      const CT *k_cache, const CT *v_cache, int64_t capacity,                  \
      int64_t seq_stride, float scale __VA_ARGS__) {                           \
    attention<CT, 0>(rt, out, q, k, v, n_tokens, seqs, n_seqs, n_heads,        \
                     n_kv_heads, head_dim, window, k_cache, v_cache, capacity, \
                     seq_stride, scale, SA);                                   \
  }                                                                            \
  extern "C" void gmk_kv_store_##T(                                            \
      gemmac_rt *rt, CT *k_cache, CT *v_cache, const float *k, const float *v, \
      int64_t, const int64_t *seqs, int64_t n_seqs, int64_t width,             \
      int64_t window, int64_t capacity, int64_t seq_stride __VA_ARGS__) {      \
    kvStore<CT>(rt, k_cache, v_cache, k, v, seqs, n_seqs, width, window,       \
                capacity, seq_stride, SA);                                     \
  }
#define UNIT_SCALES (ref::KVScales{})
#define F8_SCALES (ref::KVScales{k_scale, v_scale})
DEFINE_ATTENTION(f16, uint16_t, UNIT_SCALES)
DEFINE_ATTENTION(f32, float, UNIT_SCALES)
DEFINE_ATTENTION(f8, uint8_t, F8_SCALES, , float k_scale, float v_scale)

#define DEFINE_ATTENTION_D(T, CT, D, SA, ...)                                  \
  extern "C" void gmk_attention_##T##_d##D(                                    \
      gemmac_rt *rt, float *out, const float *q, const float *k,               \
      const float *v, int64_t n_tokens, const int64_t *seqs, int64_t n_seqs,   \
      int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, int64_t window,   \
      const CT *k_cache, const CT *v_cache, int64_t capacity,                  \
      int64_t seq_stride, float scale __VA_ARGS__) {                           \
    attention<CT, D>(rt, out, q, k, v, n_tokens, seqs, n_seqs, n_heads,        \
                     n_kv_heads, head_dim, window, k_cache, v_cache, capacity, \
                     seq_stride, scale, SA);                                   \
  }
#define DEFINE_ATTENTION_DIMS(T, CT, SA, ...)                                  \
  DEFINE_ATTENTION_D(T, CT, 64, SA, __VA_ARGS__)                               \
  DEFINE_ATTENTION_D(T, CT, 128, SA, __VA_ARGS__)                              \
  DEFINE_ATTENTION_D(T, CT, 256, SA, __VA_ARGS__)                              \
  DEFINE_ATTENTION_D(T, CT, 512, SA, __VA_ARGS__)
DEFINE_ATTENTION_DIMS(f16, uint16_t, UNIT_SCALES)
DEFINE_ATTENTION_DIMS(f32, float, UNIT_SCALES)
DEFINE_ATTENTION_DIMS(f8, uint8_t, F8_SCALES, , float k_scale, float v_scale)
