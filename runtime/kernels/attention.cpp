// Causal attention over a KV cache of f16 or f32 rows. The batch's own K and
// V are rounded to the cache's type exactly as if they had been read back
// from it. Scores, softmax and the weighted sum of V are f32.

#include "runtime/formats/formats.h"
#include "runtime/src/rt.h"

#include <algorithm>
#include <cmath>
#include <vector>

using namespace gemmac::fmt;

namespace {

inline float load(uint16_t h) { return f16ToF32(h); }
inline float load(float f) { return f; }
inline void storeTo(uint16_t &dst, float f) { dst = f32ToF16(f); }
inline void storeTo(float &dst, float f) { dst = f; }
template <typename T> inline float roundTo(float f) {
  if constexpr (sizeof(T) == 2)
    return roundToF16(f);
  else
    return f;
}

template <typename T>
void kvStore(gemmac_rt *rt, T *kCache, T *vCache, const float *k,
             const float *v, int64_t nTokens, int64_t pos0, int64_t width,
             int64_t window, int64_t capacity) {
  // A ring keeps only the last `capacity` rows of the batch.
  const int64_t first = window > 0 ? std::max<int64_t>(0, nTokens - capacity) : 0;
  rt->pool.parallelFor(nTokens - first, 4, [&](int64_t i0, int64_t i1) {
    for (int64_t i = first + i0; i < first + i1; ++i) {
      const int64_t pos = pos0 + i;
      const int64_t row = window > 0 ? pos % capacity : pos;
      for (int64_t c = 0; c < width; ++c) {
        storeTo(kCache[row * width + c], k[i * width + c]);
        storeTo(vCache[row * width + c], v[i * width + c]);
      }
    }
  });
}

template <typename T>
void attention(gemmac_rt *rt, float *out, const float *q, const float *k,
               const float *v, int64_t nTokens, int64_t pos0, int64_t nHeads,
               int64_t nKVHeads, int64_t headDim, int64_t window,
               const T *kCache, const T *vCache, int64_t capacity,
               float scale) {
  const int64_t width = nKVHeads * headDim;
  const int64_t group = nHeads / nKVHeads;
  rt->pool.parallelFor(nTokens * nHeads, 1, [&](int64_t w0, int64_t w1) {
    std::vector<float> scores, row(headDim), acc(headDim);
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t t = w / nHeads, h = w % nHeads, g = h / group;
      const int64_t pos = pos0 + t;
      const int64_t first = window > 0 ? std::max<int64_t>(0, pos - window + 1) : 0;
      const float *qh = q + (t * nHeads + h) * headDim;
      // Key or value of position p: from the cache before pos0, else fresh.
      auto rowAt = [&](int64_t p, const T *cache, const float *fresh) {
        if (p < pos0) {
          const int64_t r = window > 0 ? p % capacity : p;
          const T *src = cache + r * width + g * headDim;
          for (int64_t i = 0; i < headDim; ++i)
            row[i] = load(src[i]);
        } else {
          const float *src = fresh + (p - pos0) * width + g * headDim;
          for (int64_t i = 0; i < headDim; ++i)
            row[i] = roundTo<T>(src[i]);
        }
      };
      const int64_t n = pos - first + 1;
      scores.resize(n);
      float maxScore = -INFINITY;
      for (int64_t j = 0; j < n; ++j) {
        rowAt(first + j, kCache, k);
        float s = 0;
        for (int64_t i = 0; i < headDim; ++i)
          s += qh[i] * row[i];
        scores[j] = s * scale;
        maxScore = std::max(maxScore, scores[j]);
      }
      std::fill(acc.begin(), acc.end(), 0.0f);
      float sum = 0;
      for (int64_t j = 0; j < n; ++j) {
        const float p = std::exp(scores[j] - maxScore);
        sum += p;
        rowAt(first + j, vCache, v);
        for (int64_t i = 0; i < headDim; ++i)
          acc[i] += p * row[i];
      }
      float *o = out + (t * nHeads + h) * headDim;
      const float inv = 1.0f / sum;
      for (int64_t i = 0; i < headDim; ++i)
        o[i] = acc[i] * inv;
    }
  });
}

} // namespace

#define DEFINE_ATTENTION(T, CT)                                                \
  extern "C" void gmk_attention_##T(                                           \
      gemmac_rt *rt, float *out, const float *q, const float *k,              \
      const float *v, int64_t n_tokens, int64_t pos0, int64_t n_heads,        \
      int64_t n_kv_heads, int64_t head_dim, int64_t window,                   \
      const CT *k_cache, const CT *v_cache, int64_t capacity, float scale) {  \
    attention<CT>(rt, out, q, k, v, n_tokens, pos0, n_heads, n_kv_heads,       \
                  head_dim, window, k_cache, v_cache, capacity, scale);        \
  }                                                                            \
  extern "C" void gmk_kv_store_##T(gemmac_rt *rt, CT *k_cache, CT *v_cache,   \
                                   const float *k, const float *v,            \
                                   int64_t n_tokens, int64_t pos0,            \
                                   int64_t width, int64_t window,             \
                                   int64_t capacity) {                        \
    kvStore<CT>(rt, k_cache, v_cache, k, v, n_tokens, pos0, width, window,     \
                capacity);                                                     \
  }
DEFINE_ATTENTION(f16, uint16_t)
DEFINE_ATTENTION(f32, float)
