// Matrix products against stored weights: activation conversion, kernel
// choice and the split over threads.
//
// Activations are converted once per call to the type llama.cpp pairs with
// each weight format (Q8_0, Q8_1, Q8_K, f16, bf16 or f32). Each output is then
// one accumulation chain whose floating-point operations are those of
// llama.cpp's AVX2 batched kernels (dot_reference.h), so results agree to the
// last bit (docs/numerics.md). The order depends neither on the token count
// nor on the thread count: a prompt evaluated in one batch or in pieces gives
// identical results.

#include "formats/repack.h"
#include "runtime/kernels/avx512.h"
#include "runtime/kernels/dot_reference.h"
#include "runtime/kernels/gelu.h"
#include "runtime/kernels/matmul.h"
#include "runtime/src/rt.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <vector>

using namespace gemmac::fmt;
using namespace gemmac::rt;

namespace {

// ---- activation conversion -------------------------------------------------

enum class Act { F32, F16, BF16, Q8_0, Q8_1, Q8_K };

/// The activation type llama.cpp pairs with weights of `t`: a float weight's
/// own type, else the int8 blocks of its abi/formats.def row (actQuant).
Act activationFor(Type t) {
  switch (gemmac::abi::activationQuant(t)) {
  case gemmac::abi::ActQuant::None:
    return t == Type::F16 ? Act::F16 : t == Type::BF16 ? Act::BF16 : Act::F32;
  case gemmac::abi::ActQuant::Q8_0: return Act::Q8_0;
  case gemmac::abi::ActQuant::Q8_1: return Act::Q8_1;
  case gemmac::abi::ActQuant::Q8_K: return Act::Q8_K;
  }
  return Act::F32;
}

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

size_t auxRowBytes(ActAux aux, int64_t n) {
  switch (aux) {
  case ActAux::None: return 0;
  case ActAux::Q8_0Sums: return n / QK * sizeof(int32_t);
  case ActAux::Q8_KPairSums: return n / QK_K * 8 * sizeof(int16_t);
  }
  return 0;
}

void convertRow(Act act, KernelSet set, const float *x, void *dst, int64_t n) {
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
  case Act::Q8_0:
    return (set == KernelSet::Arm ? quantizeRowQ8_0Neon : quantizeRowQ8_0)(
        x, static_cast<BlockQ8_0 *>(dst), n);
  case Act::Q8_1: return quantizeRowQ8_1(x, static_cast<BlockQ8_1 *>(dst), n);
  case Act::Q8_K: return quantizeRowQ8_K(x, static_cast<BlockQ8_K *>(dst), n);
  }
}

void computeAux(ActAux aux, const void *act, void *dst, int64_t n) {
  if (aux == ActAux::Q8_0Sums) {
    const auto *a = static_cast<const BlockQ8_0 *>(act);
    for (int64_t b = 0; b < n / QK; ++b) {
      int32_t s = 0;
      for (int e = 0; e < QK; ++e)
        s += a[b].qs[e];
      static_cast<int32_t *>(dst)[b] = s;
    }
  } else if (aux == ActAux::Q8_KPairSums) {
    const auto *a = static_cast<const BlockQ8_K *>(act);
    auto *p = static_cast<int16_t *>(dst);
    for (int64_t b = 0; b < n / QK_K; ++b)
      for (int j = 0; j < 8; ++j)
        p[8 * b + j] = static_cast<int16_t>(a[b].bsums[2 * j] +
                                            a[b].bsums[2 * j + 1]);
  }
}

// ---- kernel choice -----------------------------------------------------------

/// A dot product of one weight row with one converted activation row.
using Dot = float (*)(const void *w, const void *a, int64_t k);

template <typename WB, typename AB, float (*F)(const WB *, const AB *, int64_t),
          int Per>
float blocks(const void *w, const void *a, int64_t k) {
  return F(static_cast<const WB *>(w), static_cast<const AB *>(a), k / Per);
}
template <typename T, float (*F)(const T *, const T *, int64_t)>
float floats(const void *w, const void *a, int64_t k) {
  return F(static_cast<const T *>(w), static_cast<const T *>(a), k);
}

/// The scalar reference as a rows kernel, for formats without a SIMD one.
template <Dot D> void rowsScalar(const MatmulTask &m, int64_t n0, int64_t n1) {
  for (int64_t n = n0; n < n1; ++n)
    for (int64_t t = 0; t < m.T; ++t)
      m.out[t * m.outStride + n - m.outFirstRow] =
          D(m.weight + n * m.rowBytes, m.act + t * m.actStride, m.K);
}

/// Q4_1/Q5_1 (weights with a minimum) against Q8_1: the scalar reference.
template <typename WB, auto Unpack>
constexpr RowsKernel rowsAffine =
    rowsScalar<blocks<WB, BlockQ8_1, ref::dotLanesAffine<WB, Unpack>, QK>>;

/// F8_B64 in a mul_mat_id product (vecDot): llama.cpp multiplies the F32
/// dequantization with ggml_vec_dot_f32, so each row is decoded once (e4m3
/// times its block's scale, the F32 values) and summed in that order.
void rowsF8_B64Vec(const MatmulTask &m, int64_t n0, int64_t n1) {
  thread_local std::vector<float> row;
  row.resize(m.K);
  for (int64_t n = n0; n < n1; ++n) {
    dequantizeRow(Type::F8_B64, m.weight + n * m.rowBytes, row.data(), m.K);
    for (int64_t t = 0; t < m.T; ++t)
      m.out[t * m.outStride + n - m.outFirstRow] = ref::dotVec<float>(
          row.data(), reinterpret_cast<const float *>(m.act + t * m.actStride),
          m.K);
  }
}

struct Plan {
  ActAux aux;
  RowsKernel kernel;
  int rowsPerUnit; // 8 for x8 layouts
  Act act = Act::F32; // activationFor(the weight's format)
  int rowsPerStep = 1; // a chunk of a multiple of this runs at full width
  /// A kernel for tasks of fewer than 4 tokens (decoding), the same bits:
  /// the AVX-512 Q8_0 and Q6_K kernels, several rows per register, stream
  /// the rows slower than the AVX2 kernels' one at a time there (12B-shaped
  /// Q8_0 on Zen 5, decode: 7.8 against 9.8 tok/s; Q4_K_M's Q6_K: 11.3-11.6
  /// against 13.0-13.6), and win from four tokens on (prefill 512: Q8_0
  /// 45-51 against 24-28, Q4_K_M 80-95 against 67-76).
  RowsKernel fewTokens = nullptr;

  void run(const MatmulTask &m, int64_t n0, int64_t n1) const {
    (fewTokens && m.T < 4 ? fewTokens : kernel)(m, n0, n1);
  }
};

using ref::BF16;
using ref::F16;

#if GEMMAC_HAVE_AVX512
/// The kernel of llama.cpp's AVX-512 build where it has its own arithmetic
/// or a faster kernel of the same bits (KernelSet::Avx512); none otherwise.
std::optional<Plan> avx512KernelFor(Type t, Layout layout, bool tiny,
                                    int64_t k) {
  if (layout == Layout::X8)
    return t == Type::Q4_0
               ? Plan{ActAux::Q8_0Sums, rowsQ4_0x8Avx512, 8, Act::F32, 16}
               : Plan{ActAux::Q8_KPairSums, rowsQ4_Kx8Avx512, 8, Act::F32, 16};
  // tinyBLAS takes sixteen (bf16: 32) columns at a time, so fewer shapes;
  // the vec_dot has sixteen-lane sums.
  const bool tinyZen4 = tiny && k % (t == Type::BF16 ? 32 : 16) == 0;
  switch (t) {
  case Type::F32:
    return Plan{ActAux::None, tinyZen4 ? rowsF32TinyAvx512 : rowsF32VecAvx512,
                1};
  case Type::F16:
    return Plan{ActAux::None, tinyZen4 ? rowsF16TinyAvx512 : rowsF16VecAvx512,
                1};
  case Type::BF16:
    return Plan{ActAux::None, tinyZen4 ? rowsBF16TinyAvx512 : rowsBF16VecAvx512,
                1};
  case Type::Q8_0:
    return Plan{ActAux::None, rowsQ8_0Avx512, 1, Act::F32, 4, rowsQ8_0};
  case Type::Q6_K:
    return Plan{ActAux::None, rowsQ6_KAvx512, 1, Act::F32, 2, rowsQ6_K};
  default:
    return std::nullopt;
  }
}
#endif

/// The kernel of llama.cpp's Arm build where its arithmetic differs from the
/// AVX2 build's (KernelSet::Arm); none otherwise. Its tinyBLAS takes F32
/// weights whose rows are a multiple of 4 and columns of its 4 lanes; it
/// repacks Q8_0 weights whose rows are a multiple of 4.
std::optional<Plan> armKernelFor(Type t, int64_t n, int64_t k, bool vecDot) {
  if (t == Type::F32 && !vecDot && n % 4 == 0 && k % 4 == 0)
    return Plan{ActAux::None, rowsF32TinyArm, 1};
  if (t == Type::Q8_0 && n % 4 == 0)
    return Plan{ActAux::None, rowsQ8_0Arm, 1};
  return std::nullopt;
}

/// The kernel of a weight of `t` in `layout` shaped n x k, from `set`.
/// `vecDot`: the product is llama.cpp's mul_mat_id, which never calls
/// tinyBLAS.
Plan kernelFor(KernelSet set, Type t, Layout layout, int64_t n, int64_t k,
               bool vecDot) {
  // tinyBLAS takes float weights of some shapes (abi/formats.h).
  const bool tiny = !vecDot && gemmac::abi::usesTinyMatmul(t, n, k);
#if GEMMAC_HAVE_AVX512
  if (set == KernelSet::Avx512)
    if (std::optional<Plan> plan = avx512KernelFor(t, layout, tiny, k))
      return *plan;
#endif
  if (set == KernelSet::Arm)
    if (std::optional<Plan> plan = armKernelFor(t, n, k, vecDot))
      return *plan;
  // llama.cpp repacks Q4_0/Q4_K weights whose row count is a multiple of 8;
  // so do we (the x8 layout), and the arithmetic follows its repacked GEMM.
  const bool repacked = gemmac::abi::isRepackedShape(t, n);
  if (layout == Layout::X8)
    return t == Type::Q4_0 ? Plan{ActAux::Q8_0Sums, rowsQ4_0x8, 8}
                           : Plan{ActAux::Q8_KPairSums, rowsQ4_Kx8, 8};
  switch (t) {
  case Type::F32:
    return {ActAux::None,
            tiny ? rowsF32Tiny : rowsScalar<floats<float, ref::dotVec<float>>>,
            1};
  case Type::F16:
    return {ActAux::None,
            tiny ? rowsF16Tiny : rowsScalar<floats<F16, ref::dotVec<F16>>>, 1};
  case Type::BF16:
    return {ActAux::None,
            tiny ? rowsBF16Tiny : rowsScalar<floats<BF16, ref::dotVec<BF16, ref::hsum8>>>,
            1};
  case Type::Q8_0:
    return {ActAux::None, rowsQ8_0, 1};
  case Type::Q5_0: return {ActAux::None, rowsQ5_0, 1};
  case Type::Q4_0:
    return {ActAux::None,
            repacked ? rowsScalar<blocks<BlockQ4_0, BlockQ8_0,
                                         ref::dotQ4_0Chain, QK>>
                     : rowsQ4_0Lanes,
            1};
  case Type::Q4_1:
    return {ActAux::None, rowsAffine<BlockQ4_1, ref::unpackQ4_1>, 1};
  case Type::Q5_1:
    return {ActAux::None, rowsAffine<BlockQ5_1, ref::unpackQ5_1>, 1};
  case Type::Q4_K:
    return {ActAux::None,
            repacked
                ? rowsScalar<blocks<BlockQ4_K, BlockQ8_K, ref::dotQ4_KGemm,
                                    QK_K>>
                : rowsScalar<blocks<BlockQ4_K, BlockQ8_K,
                                    ref::dotK<false, BlockQ4_K>, QK_K>>,
            1};
  case Type::Q5_K:
    return {ActAux::None,
            rowsScalar<blocks<BlockQ5_K, BlockQ8_K, ref::dotK<true, BlockQ5_K>,
                              QK_K>>,
            1};
  case Type::Q6_K:
    return {ActAux::None, rowsQ6_K, 1};
  case Type::NVFP4: return {ActAux::None, rowsNVFP4, 1};
  case Type::Q4_0_F32: return {ActAux::None, rowsQ4_0F32, 1};
  case Type::Q8_0_F32: return {ActAux::None, rowsQ8_0F32, 1};
  case Type::NVFP4_F32: return {ActAux::None, rowsNVFP4F32, 1};
  case Type::F8_B64:
    return {ActAux::None, vecDot ? rowsF8_B64Vec : rowsF8_B64, 1};
  }
  return {ActAux::None, nullptr, 1};
}

Plan planFor(gemmac_rt *rt, Type t, Layout layout, int64_t n, int64_t k,
             bool vecDot = false) {
  Plan plan = kernelFor(rt->kernels, t, layout, n, k, vecDot);
  plan.act = activationFor(t);
  return plan;
}

/// Converted activations (and their side data) for T rows of K inputs.
struct Converted {
  const uint8_t *act;
  size_t actStride;
  const uint8_t *aux;
  size_t auxStride;
};

Converted convertActivations(gemmac_rt *rt, const Plan &plan, const float *in,
                             int64_t T, int64_t K) {
  Converted c;
  c.actStride = actRowBytes(plan.act, K);
  c.auxStride = (auxRowBytes(plan.aux, K) + 31) / 32 * 32;
  const size_t actBytes = (c.actStride * T + 63) / 64 * 64;
  auto *base = static_cast<uint8_t *>(
      gemmac_rt_scratch(rt, actBytes + c.auxStride * T));
  c.act = base;
  c.aux = base + actBytes;
  rt->pool.parallelFor(T, 1, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      uint8_t *a = base + t * c.actStride;
      convertRow(plan.act, rt->kernels, in + t * K, a, K);
      computeAux(plan.aux, a, base + actBytes + t * c.auxStride, K);
    }
  });
  return c;
}

/// Rows per chunk handed to a thread. One token: enough chunks to balance the
/// threads. Several: a chunk whose weights stay in L2 while every token tile
/// passes over them.
int64_t chunkRows(gemmac_rt *rt, const Plan &plan, size_t rowBytes, int64_t N,
                  int64_t T, int64_t minRows) {
  const int64_t unit = std::max(plan.rowsPerUnit, plan.rowsPerStep);
  int64_t rows;
  if (T == 1)
    rows = std::max<int64_t>(minRows, N / (32 * rt->pool.size()));
  else
    rows = std::max<int64_t>(unit, static_cast<int64_t>((192u << 10) / rowBytes));
  return std::max<int64_t>(unit, rows / unit * unit);
}

/// Calls fn(n0, n1) over [0, N) in chunks of whole units, in parallel, each
/// chunk taken by whichever thread is free: chunks are already sized for
/// balance, and grouping them would leave a thread idle for up to a group at
/// the end of every product (measured: a decoded token spent 8% waiting).
template <typename Fn>
void forRowChunks(gemmac_rt *rt, int64_t N, int64_t chunk, int unit, Fn &&fn) {
  const int64_t units = N / unit, perChunk = chunk / unit;
  const int64_t nChunks = (units + perChunk - 1) / perChunk;
  rt->pool.parallelChunks(nChunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c)
      fn(c * chunk, std::min(N, (c + 1) * chunk));
  });
}

/// `vecDot`: llama.cpp's one-token arithmetic (never tinyBLAS) for every row.
void linear(Type type, Layout layout, gemmac_rt *rt, float *out,
            const float *in, int64_t T, const uint8_t *weight, int64_t N,
            int64_t K, int64_t minRows, bool vecDot = false) {
  const Plan plan = planFor(rt, type, layout, N, K, vecDot);
  const Converted c = convertActivations(rt, plan, in, T, K);
  MatmulTask m;
  m.weight = weight;
  m.rowBytes = rowBytes(type, K);
  m.act = c.act;
  m.actStride = c.actStride;
  m.aux = c.aux;
  m.auxStride = c.auxStride;
  m.K = K;
  m.T = T;
  m.out = out;
  m.outStride = N;
  forRowChunks(rt, N, chunkRows(rt, plan, m.rowBytes, N, T, minRows),
               plan.rowsPerUnit,
               [&](int64_t n0, int64_t n1) { plan.run(m, n0, n1); });
}

/// gelu(x Wg^T) * (x Wu^T): a chunk's gate and up products for every token
/// into thread-local buffers, then the gate.
void geglu(Type type, Layout layout, gemmac_rt *rt, float *out,
           const float *in, int64_t T, const uint8_t *gate, const uint8_t *up,
           int64_t N, int64_t K, bool vecDot = false) {
  const Plan plan = planFor(rt, type, layout, N, K, vecDot);
  const Converted c = convertActivations(rt, plan, in, T, K);
  const uint16_t *table = geluTanhTable();
  MatmulTask m;
  m.rowBytes = rowBytes(type, K);
  m.act = c.act;
  m.actStride = c.actStride;
  m.aux = c.aux;
  m.auxStride = c.auxStride;
  m.K = K;
  m.T = T;
  // Gate and up rows together: the chunk is half the size of a linear's.
  const int64_t step = std::max(plan.rowsPerUnit, plan.rowsPerStep);
  const int64_t chunk = std::max<int64_t>(
      plan.rowsPerUnit, chunkRows(rt, plan, m.rowBytes, N, T, 16) / 2 / step * step);
  forRowChunks(rt, N, chunk, plan.rowsPerUnit, [&](int64_t n0, int64_t n1) {
    thread_local std::vector<float> g, u;
    const int64_t w = n1 - n0;
    g.resize(static_cast<size_t>(w * T));
    u.resize(static_cast<size_t>(w * T));
    MatmulTask part = m;
    part.outStride = w;
    part.outFirstRow = n0;
    part.weight = gate;
    part.out = g.data();
    plan.run(part, n0, n1);
    part.weight = up;
    part.out = u.data();
    plan.run(part, n0, n1);
    for (int64_t t = 0; t < T; ++t)
      gegluRows(table, g.data() + t * w, u.data() + t * w, out + t * N + n0,
                w);
  });
}

/// The (token, slot) rows each expert of a routing gets, experts in index
/// order and rows in token then slot order (llama.cpp's mul_mat_id).
struct ExpertRows {
  std::vector<int64_t> first; // first[e]..first[e + 1]: expert e's rows
  std::vector<int64_t> rows;  // t * n_used + k
};

ExpertRows groupByExpert(const float *routing, int64_t T, int64_t nUsed) {
  int64_t nExperts = 0;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t k = 0; k < nUsed; ++k)
      nExperts = std::max<int64_t>(
          nExperts, static_cast<int64_t>(routing[(2 * t + 1) * nUsed + k]) + 1);
  ExpertRows g;
  g.first.assign(nExperts + 1, 0);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t k = 0; k < nUsed; ++k)
      ++g.first[static_cast<int64_t>(routing[(2 * t + 1) * nUsed + k]) + 1];
  for (int64_t e = 0; e < nExperts; ++e)
    g.first[e + 1] += g.first[e];
  g.rows.resize(T * nUsed);
  std::vector<int64_t> next(g.first.begin(), g.first.end() - 1);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t k = 0; k < nUsed; ++k)
      g.rows[next[static_cast<int64_t>(routing[(2 * t + 1) * nUsed + k])]++] =
          t * nUsed + k;
  return g;
}

/// Where one expert product reads its weights: rows [first, first + n) of
/// every expert's slab of `expertRows` rows.
struct ExpertWeight {
  const uint8_t *base;
  int64_t expertRows, firstRow;
  const uint8_t *of(int64_t e, size_t rowBytes) const {
    return base + (e * expertRows + firstRow) * rowBytes;
  }
};

/// The products of the experts a routing chose: every (token, slot) row
/// against its expert's weights, for one weight (linear) or two (geglu).
/// Each expert's activation rows are gathered so its weights are read once
/// for all of them; every output is the one dot product llama.cpp's
/// mul_mat_id computes for it, so results do not depend on the batch.
void expertProducts(Type type, Layout layout, gemmac_rt *rt, float *out,
                    const float *in, int64_t T, ExpertWeight w0,
                    const ExpertWeight *w1, int64_t N, int64_t K,
                    const float *routing, int64_t nUsed, bool perSlot) {
  const Plan plan = planFor(rt, type, layout, w0.expertRows, K, /*vecDot=*/true);
  const int64_t inRows = perSlot ? T * nUsed : T;
  const Converted c = convertActivations(rt, plan, in, inRows, K);
  const ExpertRows g = groupByExpert(routing, T, nUsed);
  const size_t rb = rowBytes(type, K);
  const uint16_t *table = w1 ? geluTanhTable() : nullptr;
  // Work units: an expert and a range of its output rows.
  struct Unit {
    int64_t expert, n0, n1;
  };
  const int64_t unit = plan.rowsPerUnit;
  std::vector<Unit> units;
  const int64_t nExperts = static_cast<int64_t>(g.first.size()) - 1;
  for (int64_t e = 0; e < nExperts; ++e) {
    const int64_t count = g.first[e + 1] - g.first[e];
    if (!count)
      continue;
    int64_t chunk = chunkRows(rt, plan, rb, N, count, 16);
    if (w1)
      chunk = std::max<int64_t>(unit, chunk / 2 / unit * unit);
    for (int64_t n0 = 0; n0 < N; n0 += chunk)
      units.push_back({e, n0, std::min(N, n0 + chunk)});
  }
  rt->pool.parallelFor(
      static_cast<int64_t>(units.size()), 1, [&](int64_t u0, int64_t u1) {
        thread_local std::vector<uint8_t> act, aux;
        thread_local std::vector<float> r0, r1;
        for (int64_t u = u0; u < u1; ++u) {
          const Unit &U = units[u];
          const int64_t *rows = g.rows.data() + g.first[U.expert];
          const int64_t count = g.first[U.expert + 1] - g.first[U.expert];
          act.resize(count * c.actStride);
          aux.resize(count * c.auxStride);
          for (int64_t i = 0; i < count; ++i) {
            const int64_t src = perSlot ? rows[i] : rows[i] / nUsed;
            std::memcpy(act.data() + i * c.actStride,
                        c.act + src * c.actStride, c.actStride);
            if (c.auxStride) // most formats have no side data
              std::memcpy(aux.data() + i * c.auxStride,
                          c.aux + src * c.auxStride, c.auxStride);
          }
          const int64_t w = U.n1 - U.n0;
          MatmulTask m;
          m.rowBytes = rb;
          m.act = act.data();
          m.actStride = c.actStride;
          m.aux = aux.data();
          m.auxStride = c.auxStride;
          m.K = K;
          m.T = count;
          m.outStride = w;
          m.outFirstRow = U.n0;
          r0.resize(count * w);
          m.weight = w0.of(U.expert, rb);
          m.out = r0.data();
          plan.run(m, U.n0, U.n1);
          if (w1) {
            r1.resize(count * w);
            m.weight = w1->of(U.expert, rb);
            m.out = r1.data();
            plan.run(m, U.n0, U.n1);
          }
          for (int64_t i = 0; i < count; ++i) {
            float *o = out + rows[i] * N + U.n0;
            if (w1)
              gegluRows(table, r0.data() + i * w, r1.data() + i * w, o, w);
            else
              std::memcpy(o, r0.data() + i * w, w * sizeof(float));
          }
        }
      });
}

void embed(Type type, Layout layout, gemmac_rt *rt, float *out,
           const int32_t *tokens, int64_t T, const uint8_t *table,
           int64_t rows, int64_t cols, float scale) {
  const size_t rb = rowBytes(type, cols);
  rt->pool.parallelFor(T, 1, [&](int64_t t0, int64_t t1) {
    std::vector<uint8_t> row(layout == Layout::X8 ? rb : 0);
    for (int64_t t = t0; t < t1; ++t) {
      float *o = out + t * cols;
      int64_t id = tokens[t];
      if (id < 0 || id >= rows) { // the runtime validates tokens; be safe
        std::memset(o, 0, cols * 4);
        continue;
      }
      const uint8_t *src = table + id * rb;
      if (layout == Layout::X8) {
        unpackX8Row(type, table + (id / 8) * 8 * rb, static_cast<int>(id % 8),
                    row.data(), cols);
        src = row.data();
      }
      dequantizeRow(type, src, o, cols);
      for (int64_t i = 0; i < cols; ++i)
        o[i] *= scale;
    }
  });
}

/// The `topK` clusters of highest score, best first (ties: the lower
/// cluster; NaN ranks below every number).
void topClusters(const float *scores, int64_t clusters, int64_t topK,
                 std::vector<int64_t> &best) {
  best.resize(clusters);
  for (int64_t c = 0; c < clusters; ++c)
    best[c] = c;
  auto key = [&](int64_t c) {
    return std::isnan(scores[c]) ? -INFINITY : scores[c];
  };
  std::partial_sort(best.begin(), best.begin() + topK, best.end(),
                    [&](int64_t a, int64_t b) {
                      const float ka = key(a), kb = key(b);
                      return ka > kb || (ka == kb && a < b);
                    });
  best.resize(topK);
}

/// gemma.masked_logits: each token's top clusters' rows of the table in
/// the arithmetic of the dense head's product (the same plan, each row its
/// own chain), -inf elsewhere. Work units are (token, cluster) pairs.
void maskedLogits(Type type, gemmac_rt *rt, float *out, const float *in,
                  int64_t T, const uint8_t *table, int64_t V, int64_t K,
                  const float *scores, int64_t clusters, int64_t topK,
                  const float *ordering, bool vecDot) {
  const Plan plan = planFor(rt, type, Layout::Rows, V, K, vecDot);
  const Converted c = convertActivations(rt, plan, in, T, K);
  const int64_t perCluster = V / clusters;
  std::vector<int64_t> chosen(T * topK);
  rt->pool.parallelFor(T, 1, [&](int64_t t0, int64_t t1) {
    std::vector<int64_t> best;
    for (int64_t t = t0; t < t1; ++t) {
      topClusters(scores + t * clusters, clusters, topK, best);
      std::copy(best.begin(), best.end(), chosen.begin() + t * topK);
      std::fill(out + t * V, out + (t + 1) * V, -INFINITY);
    }
  });
  rt->pool.parallelFor(T * topK, 1, [&](int64_t u0, int64_t u1) {
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t t = u / topK;
      MatmulTask m;
      m.weight = table;
      m.rowBytes = rowBytes(type, K);
      m.act = c.act + t * c.actStride;
      m.actStride = c.actStride;
      m.aux = c.aux + t * c.auxStride;
      m.auxStride = c.auxStride;
      m.K = K;
      m.T = 1;
      m.out = out + t * V;
      m.outStride = V;
      const float *ids = ordering + chosen[u] * perCluster;
      for (int64_t j = 0; j < perCluster; ++j) {
        const float id = ids[j];
        // A permutation of the ids, checked at compile time.
        if (!(id >= 0 && id < static_cast<float>(V)))
          continue;
        const auto n = static_cast<int64_t>(id);
        plan.run(m, n, n + 1);
      }
    }
  });
}

} // namespace

#define DEFINE_KERNELS(F, T, L, SUFFIX)                                        \
  extern "C" void gmk_linear_##F##SUFFIX(                                      \
      gemmac_rt *rt, float *out, const float *in, int64_t n_tokens,           \
      const uint8_t *weight, int64_t n_out, int64_t n_in) {                   \
    linear(Type::T, Layout::L, rt, out, in, n_tokens, weight, n_out, n_in,     \
           16);                                                                \
  }                                                                            \
  extern "C" void gmk_logits_##F##SUFFIX(                                      \
      gemmac_rt *rt, float *out, const float *in, int64_t n_tokens,           \
      const uint8_t *weight, int64_t n_out, int64_t n_in) {                   \
    linear(Type::T, Layout::L, rt, out, in, n_tokens, weight, n_out, n_in,     \
           256);                                                              \
  }                                                                            \
  extern "C" void gmk_geglu_##F##SUFFIX(                                       \
      gemmac_rt *rt, float *out, const float *in, int64_t n_tokens,           \
      const uint8_t *gate, const uint8_t *up, int64_t n_out, int64_t n_in) {  \
    geglu(Type::T, Layout::L, rt, out, in, n_tokens, gate, up, n_out, n_in);   \
  }                                                                            \
  extern "C" void gmk_embed_##F##SUFFIX(                                       \
      gemmac_rt *rt, float *out, const int32_t *tokens, int64_t n_tokens,     \
      const uint8_t *table, int64_t n_rows, int64_t n_cols, float scale) {    \
    embed(Type::T, Layout::L, rt, out, tokens, n_tokens, table, n_rows,        \
          n_cols, scale);                                                      \
  }                                                                            \
  extern "C" void gmk_expert_linear_##F##SUFFIX(                               \
      gemmac_rt *rt, float *out, const float *in, int64_t n_tokens,           \
      const uint8_t *weight, int64_t n_out, int64_t n_in,                     \
      const float *routing, int64_t n_used, int64_t expert_rows,              \
      int64_t first_row, int64_t per_slot) {                                  \
    expertProducts(Type::T, Layout::L, rt, out, in, n_tokens,                 \
                   {weight, expert_rows, first_row}, nullptr, n_out, n_in,    \
                   routing, n_used, per_slot != 0);                           \
  }                                                                            \
  extern "C" void gmk_expert_geglu_##F##SUFFIX(                                \
      gemmac_rt *rt, float *out, const float *in, int64_t n_tokens,           \
      const uint8_t *gate, const uint8_t *up, int64_t n_out, int64_t n_in,    \
      const float *routing, int64_t n_used, int64_t gate_expert_rows,         \
      int64_t gate_first_row, int64_t up_expert_rows, int64_t up_first_row) { \
    const ExpertWeight u{up, up_expert_rows, up_first_row};                   \
    expertProducts(Type::T, Layout::L, rt, out, in, n_tokens,                 \
                   {gate, gate_expert_rows, gate_first_row}, &u, n_out, n_in, \
                   routing, n_used, false);                                   \
  }
#define DEFINE_MASKED_KERNEL(F, T, SUFFIX, VEC)                                \
  extern "C" void gmk_masked_logits_##F##SUFFIX(                               \
      gemmac_rt *rt, float *out, const float *in, int64_t n_tokens,            \
      const uint8_t *table, int64_t n_out, int64_t n_in, const float *scores,  \
      int64_t n_clusters, int64_t top_k, const uint8_t *ordering) {            \
    maskedLogits(Type::T, rt, out, in, n_tokens, table, n_out, n_in, scores,   \
                 n_clusters, top_k, reinterpret_cast<const float *>(ordering), \
                 VEC);                                                         \
  }
// One set per row of abi/formats.def, and its x8 set where the row says so.
#define DEFINE_X8_KERNELS_0(F, T)
#define DEFINE_X8_KERNELS_1(F, T) DEFINE_KERNELS(F, T, X8, _x8)
// The float formats' one-token products (abi/kernels.def "vec").
#define DEFINE_MASKED_VEC_KERNEL_0(F, T)
#define DEFINE_MASKED_VEC_KERNEL_1(F, T) DEFINE_MASKED_KERNEL(F, T, _vec, true)
#define DEFINE_VEC_KERNELS_0(F, T)
#define DEFINE_VEC_KERNELS_1(F, T)                                             \
  extern "C" void gmk_linear_##F##_vec(                                        \
      gemmac_rt *rt, float *out, const float *in, int64_t n_tokens,           \
      const uint8_t *weight, int64_t n_out, int64_t n_in) {                   \
    linear(Type::T, Layout::Rows, rt, out, in, n_tokens, weight, n_out, n_in,  \
           16, /*vecDot=*/true);                                               \
  }                                                                            \
  extern "C" void gmk_logits_##F##_vec(                                        \
      gemmac_rt *rt, float *out, const float *in, int64_t n_tokens,           \
      const uint8_t *weight, int64_t n_out, int64_t n_in) {                   \
    linear(Type::T, Layout::Rows, rt, out, in, n_tokens, weight, n_out, n_in,  \
           256, /*vecDot=*/true);                                              \
  }                                                                            \
  extern "C" void gmk_geglu_##F##_vec(                                         \
      gemmac_rt *rt, float *out, const float *in, int64_t n_tokens,           \
      const uint8_t *gate, const uint8_t *up, int64_t n_out, int64_t n_in) {  \
    geglu(Type::T, Layout::Rows, rt, out, in, n_tokens, gate, up, n_out,       \
          n_in, /*vecDot=*/true);                                              \
  }
#define GEMMAC_FORMAT(E, name, id, elems, bytes, act, x8, tiny)                \
  DEFINE_KERNELS(name, E, Rows, )                                              \
  DEFINE_X8_KERNELS_##x8(name, E) DEFINE_VEC_KERNELS_##tiny(name, E)           \
      DEFINE_MASKED_KERNEL(name, E, , false)                                   \
          DEFINE_MASKED_VEC_KERNEL_##tiny(name, E)
#include "abi/formats.def"
