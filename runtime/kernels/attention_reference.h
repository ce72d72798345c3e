// Scalar reference of the attention kernel: llama.cpp's tiled
// flash-attention CPU kernel operation by operation (keys in tiles of 64
// positions, scores as one fused chain over the head, an online softmax
// rescaled per tile with expf, probabilities from ggml's polynomial exp summed
// in eight-wide groups into a double (sixteen-wide, with the AVX-512 build's
// form of the exp, for a KernelSet::Avx512 program), V accumulated as one fused chain per
// position). attention.cpp vectorizes it; the unit tests hold the two to
// identical bits.
#pragma once

#include "formats/formats.h"
#include "runtime/kernels/dot_reference.h"
#include "runtime/src/rt.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

namespace gemmac::rt::ref {

using namespace gemmac::fmt;

constexpr int kTile = 64;

/// The scales of an E4M3 cache (f8), which holds e4m3(x / scale) and reads
/// back e4m3 * scale; f16 and f32 caches ignore them.
struct KVScales {
  float k = 1.0f, v = 1.0f;
};

inline float loadCached(uint16_t h, float) { return f16ToF32(h); }
inline float loadCached(float f, float) { return f; }
inline float loadCached(uint8_t b, float scale) {
  return e4m3ToF32(b) * scale;
}
/// What the cache stores for x.
template <typename T> inline T toCached(float x, float scale) {
  if constexpr (sizeof(T) == 1)
    return f32ToE4M3(x / scale);
  else if constexpr (sizeof(T) == 2)
    return f32ToF16(x);
  else
    return x;
}
/// x as read back from the cache.
template <typename T> inline float roundTo(float x, float scale) {
  if constexpr (sizeof(T) == 2)
    return roundToF16(x);
  else if constexpr (sizeof(T) == 1)
    return loadCached(toCached<T>(x, scale), scale);
  else
    return x;
}

inline uint32_t bitsOf(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float floatOf(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

/// ggml's vectorized exp (ggml_v_expf), one lane: a degree-5 polynomial after
/// a range reduction by ln 2, with the same constants and fused operations.
inline float polyExp(float x) {
  const float z = std::fma(x, 0x1.715476p+0f, 0x1.8p23f);
  const float n = z - 0x1.8p23f;
  const float b = std::fma(-n, 0x1.7f7d1cp-20f, std::fma(-n, 0x1.62e4p-1f, x));
  const uint32_t e = bitsOf(z) << 23;
  const float k = floatOf(e + bitsOf(1.0f));
  const float u = b * b;
  const float j = std::fma(
      std::fma(std::fma(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u,
               std::fma(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
      u, 0x1.ffffecp-1f * b);
  if (std::fabs(n) <= 126.0f)
    return std::fma(j, k, k);
  const uint32_t g = n <= 0 ? 0x82000000u : 0u;
  const float s1 = floatOf(g + 0x7f000000u);
  const float s2 = floatOf(e - g);
  if (std::fabs(n) > 192.0f)
    return s1 * s1;
  return std::fma(s2, j, s2) * s1;
}

/// ggml_v_expf as llama.cpp's AVX-512 build has it: the same reduction and
/// polynomial, but the last term fma(c, b, 1) where the AVX2 form has c * b,
/// and j * 2^n rounded once (vscalefps, which ldexpf also is).
inline float polyExpZen4(float x) {
  const float z = std::fma(x, 0x1.715476p+0f, 0x1.8p23f);
  const float n = z - 0x1.8p23f;
  const float b = std::fma(-n, 0x1.7f7d1cp-20f, std::fma(-n, 0x1.62e4p-1f, x));
  if (std::fabs(n) > 192.0f)
    return n <= 0 ? 0.0f : INFINITY;
  const float u = b * b;
  const float j = std::fma(
      std::fma(std::fma(0x1.0e4020p-7f, b, 0x1.573e2ep-5f), u,
               std::fma(0x1.555e66p-3f, b, 0x1.fffdb6p-2f)),
      u, std::fma(0x1.ffffecp-1f, b, 1.0f));
  return std::ldexp(j, static_cast<int>(n));
}

/// The softmax numerators of a tile, p[j] = exp(p[j] - M), and their sum as
/// ggml_vec_soft_max_f32 forms it: in llama.cpp's AVX2 build eight at a
/// time (polyExp, hsum8), in its AVX-512 build sixteen at a time
/// (polyExpZen4, then _mm512_reduce_add_ps: the halves added, then hsum8),
/// in its Arm build four at a time (polyExp, hsum4), each group's float sum
/// added into a double.
inline double softmaxTile(float *p, float M, KernelSet set) {
  double sum = 0.0;
  if (set == KernelSet::Avx512) {
    for (int gi = 0; gi < kTile; gi += 16) {
      float halves[8];
      for (int l = 0; l < 16; ++l)
        p[gi + l] = polyExpZen4(p[gi + l] - M);
      for (int l = 0; l < 8; ++l)
        halves[l] = p[gi + l] + p[gi + 8 + l];
      sum = sum + static_cast<double>(hsum8(halves));
    }
    return sum;
  }
  const int group = set == KernelSet::Arm ? 4 : 8;
  for (int gi = 0; gi < kTile; gi += group) {
    for (int l = 0; l < group; ++l)
      p[gi + l] = polyExp(p[gi + l] - M);
    sum = sum + static_cast<double>(group == 4 ? hsum4(p + gi) : hsum8(p + gi));
  }
  return sum;
}


/// One call of the kernel (see kernels.h for the arguments).
template <typename T>
void attention(gemmac_rt *rt, float *out, const float *q, const float *k,
               const float *v, int64_t nTokens, int64_t pos0, int64_t nHeads,
               int64_t nKVHeads, int64_t runtimeHeadDim, int64_t window,
               const T *kCache, const T *vCache, int64_t capacity,
               float scale, KVScales kvScales = {}) {
  const int64_t headDim = runtimeHeadDim;
  const int64_t width = nKVHeads * headDim;
  const int64_t group = nHeads / nKVHeads;
  rt->pool.parallelFor(nTokens * nHeads, 1, [&](int64_t w0, int64_t w1) {
    std::vector<float> kRow(headDim), vRows(kTile * headDim), acc(headDim);
    float p[kTile];
    for (int64_t w = w0; w < w1; ++w) {
      const int64_t t = w / nHeads, h = w % nHeads, g = h / group;
      const int64_t pos = pos0 + t;
      const int64_t first = window > 0 ? std::max<int64_t>(0, pos - window + 1) : 0;
      const float *qh = q + (t * nHeads + h) * headDim;
      // Key or value of position j: from the cache before pos0, else fresh.
      auto rowAt = [&](int64_t j, const T *cache, const float *fresh,
                       float cacheScale, float *dst) {
        if (j < pos0) {
          const int64_t r = window > 0 ? j % capacity : j;
          const T *src = cache + r * width + g * headDim;
          for (int64_t i = 0; i < headDim; ++i)
            dst[i] = loadCached(src[i], cacheScale);
        } else {
          const float *src = fresh + (j - pos0) * width + g * headDim;
          for (int64_t i = 0; i < headDim; ++i)
            dst[i] = roundTo<T>(src[i], cacheScale);
        }
      };
      float M = -INFINITY, S = 0.0f;
      std::fill(acc.begin(), acc.end(), 0.0f);
      // Tiles of 64 positions; only those holding a visible key count.
      for (int64_t tile = first / kTile * kTile; tile <= pos; tile += kTile) {
        float tmax = -INFINITY;
        for (int j = 0; j < kTile; ++j) {
          const int64_t kp = tile + j;
          if (kp < first || kp > pos) {
            p[j] = -INFINITY;
            continue;
          }
          rowAt(kp, kCache, k, kvScales.k, kRow.data());
          float s = 0.0f;
          for (int64_t i = 0; i < headDim; ++i)
            s = std::fma(qh[i], kRow[i], s);
          p[j] = s * scale + 0.0f;
          tmax = std::max(tmax, p[j]);
        }
        const float Mnew = std::fmax(M, tmax);
        if (Mnew > M) {
          const float ms = std::exp(M - Mnew);
          for (int64_t i = 0; i < headDim; ++i)
            acc[i] = acc[i] * ms;
          S = S * ms;
        }
        M = Mnew;
        const double sum = softmaxTile(p, M, rt->kernels);
        S = static_cast<float>(static_cast<double>(S) + sum);
        for (int j = 0; j < kTile; ++j) {
          const int64_t kp = tile + j;
          float *row = vRows.data() + j * headDim;
          if (kp < first || kp > pos)
            std::fill(row, row + headDim, 0.0f);
          else
            rowAt(kp, vCache, v, kvScales.v, row);
        }
        for (int64_t i = 0; i < headDim; ++i) {
          float o = acc[i];
          for (int j = 0; j < kTile; ++j)
            o = std::fma(p[j], vRows[j * headDim + i], o);
          acc[i] = o;
        }
      }
      float *o = out + (t * nHeads + h) * headDim;
      const float inv = S == 0.0f ? 0.0f : 1.0f / S;
      for (int64_t i = 0; i < headDim; ++i)
        o[i] = acc[i] * inv;
    }
  });
}

} // namespace gemmac::rt::ref
