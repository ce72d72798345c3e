// Query-only attention over a KV cache (kernels.h, gmk_attention_cached_*):
// the Gemma 4 MTP drafter's layers have no K/V projections, so each query
// attends to the keys and values the target model left in its cache, and
// nothing else. The arithmetic is llama.cpp's single-row flash-attention
// path (ggml_compute_forward_flash_attn_ext_f16_one_chunk, ggml-cpu/ops.cpp)
// as the pinned AVX2 build ("haswell": GGML_SIMD, __AVX2__, __F16C__,
// __FMA__, GCC 11) computes it (its AVX-512 build's scores, for a
// KernelSet::Avx512 program, below), one query row and one head at a time:
//  - Q rounded to the K type's vec_dot_type (f16 for the f16 cache:
//    ggml_cpu_fp32_to_fp16, round to nearest even; f32 as it is);
//  - each score one vec_dot (ggml_vec_dot_f16 / ggml_vec_dot_f32: four
//    eight-lane FMA accumulators over blocks of 32, reduced as
//    GGML_F32x8_REDUCE does, then the leftover elements), times `scale`,
//    plus the mask's zero;
//  - an online softmax key by key with expf, the running max M and sum S
//    exactly as written there (the ms / vs branches, S = S*ms + vs with two
//    roundings, as the binary does it);
//  - V accumulated in f16 for the f16 cache (VKQ16: ggml_vec_scale_f16 and
//    ggml_vec_mad_f16 round every element through f16 at every key), in f32
//    otherwise (VKQ32, ggml_vec_scale_f32 / ggml_vec_mad_f32);
//  - the result times 1/S (0 when no key is visible).
// Keys are visited by ascending position. llama.cpp visits cache cells in
// cell order, the same order until a sliding layer's ring wraps
// (docs/numerics.md says the same of gmk_attention_*).
// The f8 (E4M3) cache has no llama.cpp counterpart: its keys and values are
// read as e4m3 * scale into f32 rows and go through the f32 path.
// Work is split over (row, kv head, group of that kv head's query heads); a
// head's arithmetic is the same whatever item it is in, so results do not
// depend on the thread count.

#include "abi/step.h"
#include "formats/formats.h"
#include "runtime/kernels/avx512.h"
#include "runtime/kernels/dot_reference.h"
#include "runtime/kernels/half.h"
#include "runtime/kernels/hsum.h"
#include "runtime/src/rt.h"

#include "runtime/kernels/x86_intrinsics.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <vector>

using namespace gemmac::rt;

namespace {

/// GGML_F16_STEP = GGML_F32_STEP on AVX: four registers of eight lanes.
constexpr int64_t kStep = 32;

/// GGML_F32x8_REDUCE of the four accumulators: (a0 + a2) + (a1 + a3), the
/// two halves added, then two horizontal adds.
inline float reduce4(const __m256 a[4]) {
  const __m256 x =
      _mm256_add_ps(_mm256_add_ps(a[0], a[2]), _mm256_add_ps(a[1], a[3]));
  const __m128 t0 =
      _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
  const __m128 t1 = _mm_hadd_ps(t0, t0);
  return _mm_cvtss_f32(_mm_hadd_ps(t1, t1));
}

/// ggml_vec_dot_f16's leftovers [i, n) after the vector part's sum r: each
/// product rounded to float, added in double, the sum rounded to float.
inline float addLeftoversF16(float r, const uint16_t *k, const float *q,
                             int64_t i, int64_t n) {
  if (i == n)
    return r;
  double sum = r;
  for (; i < n; ++i)
    sum += static_cast<double>(halfToFloat(k[i]) * q[i]);
  return static_cast<float>(sum);
}

/// ggml_vec_dot_f16(n, k, q): q holds the f16-rounded query as floats. The
/// leftover elements (n % 32) are added in double to the float the
/// reduction gave, each product rounded to float first, and the sum is
/// rounded to float at the end.
float dotF16(const uint16_t *k, const float *q, int64_t n) {
  const int64_t np = n & ~(kStep - 1);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t i = 0; i < np; i += kStep)
    for (int j = 0; j < 4; ++j)
      acc[j] = _mm256_fmadd_ps(
          _mm256_cvtph_ps(_mm_loadu_si128(
              reinterpret_cast<const __m128i *>(k + i + 8 * j))),
          _mm256_loadu_ps(q + i + 8 * j), acc[j]);
  return addLeftoversF16(reduce4(acc), k, q, np, n);
}

/// ggml_vec_dot_f32(n, k, q). Its leftover loop `sumf += x[i]*y[i]` (float)
/// is, in the pinned binary (GCC 11, contraction on), vectorized by eight
/// and then four with separate multiplies and in-order adds, and fused for
/// the last n % 4 elements; that is what is written here.
float dotF32(const float *k, const float *q, int64_t n) {
  const int64_t np = n & ~(kStep - 1);
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps(), _mm256_setzero_ps()};
  for (int64_t i = 0; i < np; i += kStep)
    for (int j = 0; j < 4; ++j)
      acc[j] = _mm256_fmadd_ps(_mm256_loadu_ps(k + i + 8 * j),
                               _mm256_loadu_ps(q + i + 8 * j), acc[j]);
  return ref::addLeftoversF32<4>(reduce4(acc), k, q, np, n);
}

#if GEMMAC_HAVE_AVX512
/// ggml_vec_dot_f16 and ggml_vec_dot_f32 as llama.cpp's AVX-512 build
/// computes them (KernelSet::Avx512; ref::dotVecZen4): four sixteen-lane
/// accumulators over blocks of 64, combined (a0 + a2) + (a1 + a3), summed as
/// _mm512_reduce_add_ps does (hsum16); the leftovers as
/// above but in eights (f32: unfused but the last n % 8).
GEMMAC_AVX512 float reduce4Zen4(const __m512 a[4]) {
  return hsum16(
      _mm512_add_ps(_mm512_add_ps(a[0], a[2]), _mm512_add_ps(a[1], a[3])));
}

GEMMAC_AVX512 float dotF16Zen4(const uint16_t *k, const float *q, int64_t n) {
  const int64_t np = n & ~int64_t(63);
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(),
                   _mm512_setzero_ps(), _mm512_setzero_ps()};
  for (int64_t i = 0; i < np; i += 64)
    for (int j = 0; j < 4; ++j)
      acc[j] = _mm512_fmadd_ps(
          _mm512_cvtph_ps(_mm256_loadu_si256(
              reinterpret_cast<const __m256i *>(k + i + 16 * j))),
          _mm512_loadu_ps(q + i + 16 * j), acc[j]);
  return addLeftoversF16(reduce4Zen4(acc), k, q, np, n);
}

GEMMAC_AVX512 float dotF32Zen4(const float *k, const float *q, int64_t n) {
  const int64_t np = n & ~int64_t(63);
  __m512 acc[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(),
                   _mm512_setzero_ps(), _mm512_setzero_ps()};
  for (int64_t i = 0; i < np; i += 64)
    for (int j = 0; j < 4; ++j)
      acc[j] = _mm512_fmadd_ps(_mm512_loadu_ps(k + i + 16 * j),
                               _mm512_loadu_ps(q + i + 16 * j), acc[j]);
  return ref::addLeftoversF32<8>(reduce4Zen4(acc), k, q, np, n);
}
#else
// No AVX-512 kernels on this architecture: KernelSet::Avx512 never runs.
constexpr auto dotF16Zen4 = dotF16;
constexpr auto dotF32Zen4 = dotF32;
#endif

// The V accumulator. Every operation is elementwise, so the vector part and
// the scalar tail compute the same thing; ggml's own leftover loops (past
// the last multiple of 32) are, in the pinned binary, fused too
// (y = fma(x, v, y)) for mad, and plain multiplies for scale.

/// ggml_vec_scale_f16: y = f16(y * v).
void scaleF16(uint16_t *y, int64_t n, float v) {
  const __m256 vv = _mm256_set1_ps(v);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m128i *p = reinterpret_cast<__m128i *>(y + i);
    const __m256 r = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128(p)), vv);
    _mm_storeu_si128(p, _mm256_cvtps_ph(r, _MM_FROUND_TO_NEAREST_INT));
  }
  for (; i < n; ++i)
    y[i] = floatToHalf(halfToFloat(y[i]) * v);
}

/// ggml_vec_mad_f16: y = f16(fma(x, v, y)).
void madF16(uint16_t *y, const uint16_t *x, int64_t n, float v) {
  const __m256 vv = _mm256_set1_ps(v);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    __m128i *p = reinterpret_cast<__m128i *>(y + i);
    const __m256 xv = _mm256_cvtph_ps(
        _mm_loadu_si128(reinterpret_cast<const __m128i *>(x + i)));
    const __m256 r =
        _mm256_fmadd_ps(xv, vv, _mm256_cvtph_ps(_mm_loadu_si128(p)));
    _mm_storeu_si128(p, _mm256_cvtps_ph(r, _MM_FROUND_TO_NEAREST_INT));
  }
  for (; i < n; ++i)
    y[i] = floatToHalf(std::fma(halfToFloat(x[i]), v, halfToFloat(y[i])));
}

/// ggml_vec_scale_f32: y = y * v.
void scaleF32(float *y, int64_t n, float v) {
  const __m256 vv = _mm256_set1_ps(v);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(y + i), vv));
  for (; i < n; ++i)
    y[i] = y[i] * v;
}

/// ggml_vec_mad_f32: y = fma(x, v, y).
void madF32(float *y, const float *x, int64_t n, float v) {
  const __m256 vv = _mm256_set1_ps(v);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(y + i, _mm256_fmadd_ps(_mm256_loadu_ps(x + i), vv,
                                            _mm256_loadu_ps(y + i)));
  for (; i < n; ++i)
    y[i] = std::fma(x[i], v, y[i]);
}

/// The value of every E4M3 byte (e4m3ToF32).
struct E4M3Table {
  float value[256];
  E4M3Table() {
    for (int b = 0; b < 256; ++b)
      value[b] = gemmac::fmt::e4m3ToF32(static_cast<uint8_t>(b));
  }
};
const E4M3Table kE4M3;

/// An E4M3 cache row as f32: e4m3 * scale.
void loadE4M3(float *dst, const uint8_t *src, int64_t n, float scale) {
  for (int64_t i = 0; i < n; ++i)
    dst[i] = kE4M3.value[src[i]] * scale;
}

/// One sequence's rows of the step (abi/step.h).
struct Segment {
  int64_t slot, pos0, row0, rows;
};

/// The online-softmax state of one query and head.
struct HeadState {
  float M, S;
};

/// One key of the softmax for one head, given its score s (already times
/// `scale`): llama.cpp's branch, with Scale and Mad the accumulator's
/// ggml_vec_scale / ggml_vec_mad.
template <typename Scale, typename Mad>
inline void step(HeadState &st, float s, Scale scaleAcc, Mad madAcc) {
  s = s + 0.0f; // the mask's value for a visible key (slope * 0)
  const float Mold = st.M;
  float ms = 1.0f; // the accumulator's factor on a new maximum
  float vs = 1.0f; // this key's weight, expf(s - M)
  if (s > st.M) {
    st.M = s;
    ms = std::exp(Mold - st.M);
    scaleAcc(ms);
  } else {
    vs = std::exp(s - st.M);
  }
  madAcc(vs);
  st.S = st.S * ms + vs;
}

/// T: the cache's element type (uint16_t f16, float f32, uint8_t E4M3).
template <typename T>
void attentionCached(gemmac_rt *rt, float *out, const float *q, int64_t nTokens,
                     const int64_t *seqs, int64_t nSeqs, int64_t nHeads,
                     int64_t nKVHeads, int64_t hd, int64_t window,
                     const T *kCache, const T *vCache, int64_t capacity,
                     int64_t seqStride, float scale, float kScale = 1.0f,
                     float vScale = 1.0f) {
  if (nTokens <= 0 || nHeads <= 0 || hd <= 0)
    return;
  std::vector<Segment> segs(static_cast<size_t>(nSeqs));
  std::vector<int64_t> row0s(static_cast<size_t>(nSeqs));
  for (int64_t i = 0; i < nSeqs; ++i) {
    const int64_t *f = seqs + i * GEMMAC_SEQ_FIELDS;
    segs[i] = {f[GEMMAC_SEQ_SLOT], f[GEMMAC_SEQ_POS0], f[GEMMAC_SEQ_ROW0],
               f[GEMMAC_SEQ_ROWS]};
    row0s[i] = segs[i].row0;
  }
  const int64_t width = nKVHeads * hd;
  const int64_t group = nHeads / nKVHeads;
  const int threads = rt->pool.size();
  const bool zen4 = rt->kernels == KernelSet::Avx512;
  // Items: (row, kv head, group of heads). The heads of a group read each
  // key and value row once; groups are split only to keep every thread busy.
  int64_t headChunks = 1;
  while (nTokens * nKVHeads * headChunks < 2 * threads && headChunks < group &&
         group % (headChunks * 2) == 0)
    headChunks *= 2;
  const int64_t hpc = group / headChunks;
  const int64_t items = nTokens * nKVHeads * headChunks;
  constexpr bool kF16 = sizeof(T) == 2;
  using Acc = std::conditional_t<kF16, uint16_t, float>;

  rt->pool.parallelFor(items, 1, [&](int64_t w0, int64_t w1) {
    // Per head: the query as the dot product reads it, and the accumulator
    // (VKQ16 or VKQ32); per item: an E4M3 cache's key and value rows as f32.
    thread_local std::vector<float> qs, kRow, vRow;
    thread_local std::vector<Acc> acc;
    qs.resize(static_cast<size_t>(hpc * hd));
    acc.resize(static_cast<size_t>(hpc * hd));
    if constexpr (sizeof(T) == 1) {
      kRow.resize(static_cast<size_t>(hd));
      vRow.resize(static_cast<size_t>(hd));
    }
    std::vector<HeadState> states(static_cast<size_t>(hpc));
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t t = w / (nKVHeads * headChunks);
      const int64_t g = (w / headChunks) % nKVHeads;
      const int64_t h0 = g * group + (w % headChunks) * hpc;
      const size_t si = static_cast<size_t>(
          std::upper_bound(row0s.begin(), row0s.end(), t) - row0s.begin() - 1);
      const Segment &seg = segs[si];
      const int64_t pos = seg.pos0 + (t - seg.row0);
      const int64_t first =
          window > 0 ? std::max<int64_t>(0, pos - window + 1) : 0;
      const T *kc = kCache + seg.slot * seqStride + g * hd;
      const T *vc = vCache + seg.slot * seqStride + g * hd;

      for (int64_t hh = 0; hh < hpc; ++hh) {
        const float *qh = q + (t * nHeads + h0 + hh) * hd;
        float *dst = qs.data() + hh * hd;
        if constexpr (kF16) {
          // ggml_cpu_fp32_to_fp16 (every conversion rounds to nearest even).
          for (int64_t i = 0; i < hd; ++i)
            dst[i] = halfToFloat(floatToHalf(qh[i]));
        } else {
          std::memcpy(dst, qh, static_cast<size_t>(hd) * sizeof(float));
        }
        states[hh] = {-INFINITY, 0.0f};
      }
      std::fill(acc.begin(), acc.end(), Acc{0});

      for (int64_t kp = first; kp < pos; ++kp) {
        const int64_t r = window > 0 ? kp % capacity : kp;
        const T *kr = kc + r * width, *vr = vc + r * width;
        if constexpr (sizeof(T) == 1) {
          loadE4M3(kRow.data(), kr, hd, kScale);
          loadE4M3(vRow.data(), vr, hd, vScale);
        }
        for (int64_t hh = 0; hh < hpc; ++hh) {
          const float *qh = qs.data() + hh * hd;
          Acc *a = acc.data() + hh * hd;
          if constexpr (kF16) {
            const float s = (zen4 ? dotF16Zen4 : dotF16)(kr, qh, hd) * scale;
            step(
                states[hh], s, [&](float v) { scaleF16(a, hd, v); },
                [&](float v) { madF16(a, vr, hd, v); });
          } else {
            const float *kf, *vf;
            if constexpr (sizeof(T) == 1) {
              kf = kRow.data();
              vf = vRow.data();
            } else {
              kf = kr;
              vf = vr;
            }
            const float s = (zen4 ? dotF32Zen4 : dotF32)(kf, qh, hd) * scale;
            step(
                states[hh], s, [&](float v) { scaleF32(a, hd, v); },
                [&](float v) { madF32(a, vf, hd, v); });
          }
        }
      }

      // V / S: VKQ32 (VKQ16 widened first) times 1/S, 0 with no key.
      for (int64_t hh = 0; hh < hpc; ++hh) {
        const float S = states[hh].S;
        const float inv = S == 0.0f ? 0.0f : 1.0f / S;
        const Acc *a = acc.data() + hh * hd;
        float *o = out + (t * nHeads + h0 + hh) * hd;
        for (int64_t i = 0; i < hd; ++i) {
          if constexpr (kF16)
            o[i] = halfToFloat(a[i]) * inv;
          else
            o[i] = a[i] * inv;
        }
      }
    }
  });
}

} // namespace

extern "C" void
gmk_attention_cached_f16(gemmac_rt *rt, float *out, const float *q,
                         int64_t n_tokens, const int64_t *seqs, int64_t n_seqs,
                         int64_t n_heads, int64_t n_kv_heads, int64_t head_dim,
                         int64_t window, const uint16_t *k_cache,
                         const uint16_t *v_cache, int64_t capacity,
                         int64_t seq_stride, float scale) {
  attentionCached<uint16_t>(rt, out, q, n_tokens, seqs, n_seqs, n_heads,
                            n_kv_heads, head_dim, window, k_cache, v_cache,
                            capacity, seq_stride, scale);
}

extern "C" void gmk_attention_cached_f32(
    gemmac_rt *rt, float *out, const float *q, int64_t n_tokens,
    const int64_t *seqs, int64_t n_seqs, int64_t n_heads, int64_t n_kv_heads,
    int64_t head_dim, int64_t window, const float *k_cache,
    const float *v_cache, int64_t capacity, int64_t seq_stride, float scale) {
  attentionCached<float>(rt, out, q, n_tokens, seqs, n_seqs, n_heads,
                         n_kv_heads, head_dim, window, k_cache, v_cache,
                         capacity, seq_stride, scale);
}

extern "C" void gmk_attention_cached_f8(
    gemmac_rt *rt, float *out, const float *q, int64_t n_tokens,
    const int64_t *seqs, int64_t n_seqs, int64_t n_heads, int64_t n_kv_heads,
    int64_t head_dim, int64_t window, const uint8_t *k_cache,
    const uint8_t *v_cache, int64_t capacity, int64_t seq_stride, float scale,
    float k_scale, float v_scale) {
  attentionCached<uint8_t>(rt, out, q, n_tokens, seqs, n_seqs, n_heads,
                           n_kv_heads, head_dim, window, k_cache, v_cache,
                           capacity, seq_stride, scale, k_scale, v_scale);
}
