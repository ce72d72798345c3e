// Matrix products against stored weights: activations are converted once per
// call to the type llama.cpp pairs with each weight format (Q8_0, Q8_1, Q8_K,
// f16, bf16 or f32), then every output row is an integer (or float) dot
// product with one float scale per block.

#include "runtime/formats/formats.h"
#include "runtime/src/rt.h"

#include <cstring>

using namespace gemmac::fmt;

namespace {

// ---- dot products of one weight row with one converted activation row ----

float dotF32(const float *w, const float *x, int64_t n) {
  float acc[8] = {0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j)
      acc[j] += w[i + j] * x[i + j];
  float s = 0;
  for (; i < n; ++i)
    s += w[i] * x[i];
  for (float a : acc)
    s += a;
  return s;
}

template <float (*Cvt)(uint16_t)>
float dotHalf(const uint16_t *w, const uint16_t *x, int64_t n) {
  float acc[8] = {0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j)
      acc[j] += Cvt(w[i + j]) * Cvt(x[i + j]);
  float s = 0;
  for (; i < n; ++i)
    s += Cvt(w[i]) * Cvt(x[i]);
  for (float a : acc)
    s += a;
  return s;
}

float dotQ8_0(const BlockQ8_0 *w, const BlockQ8_0 *a, int64_t nb) {
  float acc = 0;
  for (int64_t b = 0; b < nb; ++b) {
    int sum = 0;
    for (int j = 0; j < QK; ++j)
      sum += w[b].qs[j] * a[b].qs[j];
    acc += f16ToF32(w[b].d) * f16ToF32(a[b].d) * static_cast<float>(sum);
  }
  return acc;
}

float dotQ4_0(const BlockQ4_0 *w, const BlockQ8_0 *a, int64_t nb) {
  float acc = 0;
  for (int64_t b = 0; b < nb; ++b) {
    int sum = 0;
    for (int j = 0; j < 16; ++j) {
      sum += ((w[b].qs[j] & 0xF) - 8) * a[b].qs[j];
      sum += ((w[b].qs[j] >> 4) - 8) * a[b].qs[j + 16];
    }
    acc += f16ToF32(w[b].d) * f16ToF32(a[b].d) * static_cast<float>(sum);
  }
  return acc;
}

float dotQ5_0(const BlockQ5_0 *w, const BlockQ8_0 *a, int64_t nb) {
  float acc = 0;
  for (int64_t b = 0; b < nb; ++b) {
    uint32_t qh;
    std::memcpy(&qh, w[b].qh, 4);
    int sum = 0;
    for (int j = 0; j < 16; ++j) {
      int lo = ((w[b].qs[j] & 0xF) | (((qh >> j) & 1) << 4)) - 16;
      int hi = ((w[b].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16;
      sum += lo * a[b].qs[j] + hi * a[b].qs[j + 16];
    }
    acc += f16ToF32(w[b].d) * f16ToF32(a[b].d) * static_cast<float>(sum);
  }
  return acc;
}

float dotQ4_1(const BlockQ4_1 *w, const BlockQ8_1 *a, int64_t nb) {
  float acc = 0, mins = 0;
  for (int64_t b = 0; b < nb; ++b) {
    int sum = 0;
    for (int j = 0; j < 16; ++j)
      sum += (w[b].qs[j] & 0xF) * a[b].qs[j] + (w[b].qs[j] >> 4) * a[b].qs[j + 16];
    acc += f16ToF32(w[b].d) * f16ToF32(a[b].d) * static_cast<float>(sum);
    mins += f16ToF32(w[b].m) * f16ToF32(a[b].s);
  }
  return acc + mins;
}

float dotQ5_1(const BlockQ5_1 *w, const BlockQ8_1 *a, int64_t nb) {
  float acc = 0, mins = 0;
  for (int64_t b = 0; b < nb; ++b) {
    uint32_t qh;
    std::memcpy(&qh, w[b].qh, 4);
    int sum = 0;
    for (int j = 0; j < 16; ++j) {
      int lo = (w[b].qs[j] & 0xF) | (((qh >> j) & 1) << 4);
      int hi = (w[b].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4);
      sum += lo * a[b].qs[j] + hi * a[b].qs[j + 16];
    }
    acc += f16ToF32(w[b].d) * f16ToF32(a[b].d) * static_cast<float>(sum);
    mins += f16ToF32(w[b].m) * f16ToF32(a[b].s);
  }
  return acc + mins;
}

// K-quants: integer sums per sub-block, the sub-block scales applied in
// integers, one float multiply per super-block; the mins go through the
// activation block sums (bsums).
float dotQ4_K(const BlockQ4_K *w, const BlockQ8_K *a, int64_t nb) {
  float acc = 0;
  for (int64_t b = 0; b < nb; ++b) {
    int sumi = 0, summ = 0;
    const uint8_t *q = w[b].qs;
    const int8_t *y = a[b].qs;
    for (int c = 0; c < 4; ++c, q += 32, y += 64) {
      uint8_t sc0, m0, sc1, m1;
      scaleMinK4(2 * c, w[b].scales, sc0, m0);
      scaleMinK4(2 * c + 1, w[b].scales, sc1, m1);
      int s0 = 0, s1 = 0;
      for (int l = 0; l < 32; ++l) {
        s0 += (q[l] & 0xF) * y[l];
        s1 += (q[l] >> 4) * y[l + 32];
      }
      sumi += sc0 * s0 + sc1 * s1;
      summ += m0 * (a[b].bsums[4 * c] + a[b].bsums[4 * c + 1]) +
              m1 * (a[b].bsums[4 * c + 2] + a[b].bsums[4 * c + 3]);
    }
    float d = a[b].d * f16ToF32(w[b].d);
    float dmin = -a[b].d * f16ToF32(w[b].dmin);
    acc += d * static_cast<float>(sumi) + dmin * static_cast<float>(summ);
  }
  return acc;
}

float dotQ5_K(const BlockQ5_K *w, const BlockQ8_K *a, int64_t nb) {
  float acc = 0;
  for (int64_t b = 0; b < nb; ++b) {
    int sumi = 0, summ = 0;
    const uint8_t *q = w[b].qs;
    const int8_t *y = a[b].qs;
    for (int c = 0; c < 4; ++c, q += 32, y += 64) {
      uint8_t sc0, m0, sc1, m1;
      scaleMinK4(2 * c, w[b].scales, sc0, m0);
      scaleMinK4(2 * c + 1, w[b].scales, sc1, m1);
      int s0 = 0, s1 = 0;
      for (int l = 0; l < 32; ++l) {
        int lo = (q[l] & 0xF) | (((w[b].qh[l] >> (2 * c)) & 1) << 4);
        int hi = (q[l] >> 4) | (((w[b].qh[l] >> (2 * c + 1)) & 1) << 4);
        s0 += lo * y[l];
        s1 += hi * y[l + 32];
      }
      sumi += sc0 * s0 + sc1 * s1;
      summ += m0 * (a[b].bsums[4 * c] + a[b].bsums[4 * c + 1]) +
              m1 * (a[b].bsums[4 * c + 2] + a[b].bsums[4 * c + 3]);
    }
    float d = a[b].d * f16ToF32(w[b].d);
    float dmin = -a[b].d * f16ToF32(w[b].dmin);
    acc += d * static_cast<float>(sumi) + dmin * static_cast<float>(summ);
  }
  return acc;
}

float dotQ6_K(const BlockQ6_K *w, const BlockQ8_K *a, int64_t nb) {
  float acc = 0;
  for (int64_t b = 0; b < nb; ++b) {
    int sumi = 0;
    for (int h = 0; h < 2; ++h) {
      const uint8_t *ql = w[b].ql + 64 * h, *qh = w[b].qh + 32 * h;
      const int8_t *s = w[b].scales + 8 * h;
      const int8_t *y = a[b].qs + 128 * h;
      int part[8] = {0};
      for (int l = 0; l < 32; ++l) {
        int t = l / 16;
        int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        part[t + 0] += q1 * y[l];
        part[t + 2] += q2 * y[l + 32];
        part[t + 4] += q3 * y[l + 64];
        part[t + 6] += q4 * y[l + 96];
      }
      for (int j = 0; j < 8; ++j)
        sumi += s[j] * part[j];
    }
    acc += a[b].d * f16ToF32(w[b].d) * static_cast<float>(sumi);
  }
  return acc;
}

/// Activation type paired with each weight format.
enum class Act { F32, F16, BF16, Q8_0, Q8_1, Q8_K };

template <Type W> struct Traits;
#define TRAITS(W, A, WB, AB, DOT)                                              \
  template <> struct Traits<Type::W> {                                         \
    static constexpr Act act = Act::A;                                         \
    using WBlock = WB;                                                         \
    using ABlock = AB;                                                         \
    static float dot(const void *w, const void *a, int64_t n) {                \
      return DOT;                                                              \
    }                                                                          \
  };
#define W_ static_cast<const WBlock *>(w)
#define A_ static_cast<const ABlock *>(a)
TRAITS(F32, F32, float, float, dotF32(W_, A_, n))
TRAITS(F16, F16, uint16_t, uint16_t, dotHalf<f16ToF32>(W_, A_, n))
TRAITS(BF16, BF16, uint16_t, uint16_t, dotHalf<bf16ToF32>(W_, A_, n))
TRAITS(Q8_0, Q8_0, BlockQ8_0, BlockQ8_0, dotQ8_0(W_, A_, n / QK))
TRAITS(Q4_0, Q8_0, BlockQ4_0, BlockQ8_0, dotQ4_0(W_, A_, n / QK))
TRAITS(Q5_0, Q8_0, BlockQ5_0, BlockQ8_0, dotQ5_0(W_, A_, n / QK))
TRAITS(Q4_1, Q8_1, BlockQ4_1, BlockQ8_1, dotQ4_1(W_, A_, n / QK))
TRAITS(Q5_1, Q8_1, BlockQ5_1, BlockQ8_1, dotQ5_1(W_, A_, n / QK))
TRAITS(Q4_K, Q8_K, BlockQ4_K, BlockQ8_K, dotQ4_K(W_, A_, n / QK_K))
TRAITS(Q5_K, Q8_K, BlockQ5_K, BlockQ8_K, dotQ5_K(W_, A_, n / QK_K))
TRAITS(Q6_K, Q8_K, BlockQ6_K, BlockQ8_K, dotQ6_K(W_, A_, n / QK_K))
#undef W_
#undef A_
#undef TRAITS

size_t actRowBytes(Act act, int64_t n) {
  switch (act) {
  case Act::F32: return n * 4;
  case Act::F16:
  case Act::BF16: return n * 2;
  case Act::Q8_0: return n / QK * sizeof(BlockQ8_0);
  case Act::Q8_1: return n / QK * sizeof(BlockQ8_1);
  case Act::Q8_K: return n / QK_K * sizeof(BlockQ8_K);
  }
  return 0;
}

void convertRow(Act act, const float *x, void *dst, int64_t n) {
  switch (act) {
  case Act::F32:
    std::memcpy(dst, x, n * 4);
    return;
  case Act::F16:
    for (int64_t i = 0; i < n; ++i)
      static_cast<uint16_t *>(dst)[i] = f32ToF16(x[i]);
    return;
  case Act::BF16:
    for (int64_t i = 0; i < n; ++i)
      static_cast<uint16_t *>(dst)[i] = f32ToBF16(x[i]);
    return;
  case Act::Q8_0: return quantizeRowQ8_0(x, static_cast<BlockQ8_0 *>(dst), n);
  case Act::Q8_1: return quantizeRowQ8_1(x, static_cast<BlockQ8_1 *>(dst), n);
  case Act::Q8_K: return quantizeRowQ8_K(x, static_cast<BlockQ8_K *>(dst), n);
  }
}

template <Type W>
void linear(gemmac_rt *rt, float *out, const float *in, int64_t T,
            const uint8_t *weight, int64_t N, int64_t K) {
  using Tr = Traits<W>;
  const size_t ab = actRowBytes(Tr::act, K);
  auto *act = static_cast<uint8_t *>(gemmac_rt_scratch(rt, ab * T));
  rt->pool.parallelFor(T, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t)
      convertRow(Tr::act, in + t * K, act + t * ab, K);
  });
  const size_t wb = rowBytes(W, K);
  rt->pool.parallelFor(N, 16, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n)
      for (int64_t t = 0; t < T; ++t)
        out[t * N + n] = Tr::dot(weight + n * wb, act + t * ab, K);
  });
}

template <Type W>
void embed(gemmac_rt *rt, float *out, const int32_t *tokens, int64_t T,
           const uint8_t *table, int64_t rows, int64_t cols, float scale) {
  const size_t rb = rowBytes(W, cols);
  rt->pool.parallelFor(T, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      float *o = out + t * cols;
      int64_t id = tokens[t];
      if (id < 0 || id >= rows) { // the runtime validates tokens; be safe
        std::memset(o, 0, cols * 4);
        continue;
      }
      dequantizeRow(W, table + id * rb, o, cols);
      for (int64_t i = 0; i < cols; ++i)
        o[i] *= scale;
    }
  });
}

} // namespace

#define DEFINE_KERNELS(F, T)                                                   \
  extern "C" void gmk_linear_##F(gemmac_rt *rt, float *out, const float *in,  \
                                 int64_t n_tokens, const uint8_t *weight,     \
                                 int64_t n_out, int64_t n_in) {               \
    linear<Type::T>(rt, out, in, n_tokens, weight, n_out, n_in);               \
  }                                                                            \
  extern "C" void gmk_embed_##F(gemmac_rt *rt, float *out,                    \
                                const int32_t *tokens, int64_t n_tokens,      \
                                const uint8_t *table, int64_t n_rows,         \
                                int64_t n_cols, float scale) {                \
    embed<Type::T>(rt, out, tokens, n_tokens, table, n_rows, n_cols, scale);   \
  }
DEFINE_KERNELS(f32, F32)
DEFINE_KERNELS(f16, F16)
DEFINE_KERNELS(bf16, BF16)
DEFINE_KERNELS(q8_0, Q8_0)
DEFINE_KERNELS(q4_0, Q4_0)
DEFINE_KERNELS(q4_1, Q4_1)
DEFINE_KERNELS(q5_0, Q5_0)
DEFINE_KERNELS(q5_1, Q5_1)
DEFINE_KERNELS(q4_k, Q4_K)
DEFINE_KERNELS(q5_k, Q5_K)
DEFINE_KERNELS(q6_k, Q6_K)
