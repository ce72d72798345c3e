// The kernel ABI between code that compile-model generates and the runtime.
// Generated code calls these with shapes as constants and raw pointers (bare
// pointer calling convention); every kernel may split its work over the
// runtime's thread pool. Kernels are stateless: scratch comes from `rt`.
// Each declaration is checked against its row of abi/kernels.def (end of
// file): a kernel whose C signature drifts from the catalogue breaks the build.
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct gemmac_rt gemmac_rt;

/// Bytes of per-call scratch memory `rt` hands out; it grows on demand.
void *gemmac_rt_scratch(gemmac_rt *rt, size_t bytes);

// The weight kernels exist once per row of abi/formats.def (<fmt> is the
// row's name), and in the x8 layout for the rows marked x8; they are
// declared from the table at the end of this group.

// out[t] = dequant(table[tokens[t]]) * scale; out is [n_tokens, n_cols].
#define GEMMAC_DECLARE_EMBED(F)                                                \
  void gmk_embed_##F(gemmac_rt *rt, float *out, const int32_t *tokens,        \
                     int64_t n_tokens, const uint8_t *table, int64_t n_rows,  \
                     int64_t n_cols, float scale);

// out[t, n] = sum_k in[t, k] * W[n, k]; W is [n_out, n_in] in format <fmt>.
// Activations are rounded as llama.cpp's CPU backend rounds them (int8
// blocks for quantized weights, f16/bf16 for half weights). gmk_logits_<fmt>
// is the same product for the vocabulary-sized output projection: rows go to
// threads in large slabs, each streamed once for all tokens.
#define GEMMAC_DECLARE_LINEAR(F)                                               \
  void gmk_linear_##F(gemmac_rt *rt, float *out, const float *in,             \
                      int64_t n_tokens, const uint8_t *weight, int64_t n_out, \
                      int64_t n_in);                                           \
  void gmk_logits_##F(gemmac_rt *rt, float *out, const float *in,             \
                      int64_t n_tokens, const uint8_t *weight, int64_t n_out, \
                      int64_t n_in);

// out[t, n] = gelu_tanh(x W_gate^T)[t, n] * (x W_up^T)[t, n]: the activation
// is converted once and every output reads its gate and up rows together.
#define GEMMAC_DECLARE_GEGLU(F)                                                \
  void gmk_geglu_##F(gemmac_rt *rt, float *out, const float *in,              \
                     int64_t n_tokens, const uint8_t *gate,                   \
                     const uint8_t *up, int64_t n_out, int64_t n_in);

// Mixture-of-experts products: W is [experts, expert_rows, n_in] and each
// expert's rows [first_row, first_row + n_out) are multiplied. For token t and
// slot k of the routing (gmk_moe_route), out[t, k, :] = W[e_tk] x, x being
// in[t] (per_slot 0) or in[t, k] (per_slot 1): llama.cpp's mul_mat_id, each
// output the dot product its vec_dot (or repacked gemv) computes. The geglu
// form multiplies the gate and up weights (which may be one fused weight)
// and combines them as gmk_geglu_<fmt> does.
#define GEMMAC_DECLARE_EXPERTS(F)                                              \
  void gmk_expert_linear_##F(gemmac_rt *rt, float *out, const float *in,      \
                             int64_t n_tokens, const uint8_t *weight,         \
                             int64_t n_out, int64_t n_in,                     \
                             const float *routing, int64_t n_used,            \
                             int64_t expert_rows, int64_t first_row,          \
                             int64_t per_slot);                               \
  void gmk_expert_geglu_##F(                                                   \
      gemmac_rt *rt, float *out, const float *in, int64_t n_tokens,           \
      const uint8_t *gate, const uint8_t *up, int64_t n_out, int64_t n_in,    \
      const float *routing, int64_t n_used, int64_t gate_expert_rows,         \
      int64_t gate_first_row, int64_t up_expert_rows, int64_t up_first_row);

// Every format's kernels, and the same for weights stored in the
// interleaved "x8" layout (formats/repack.h; row counts a multiple of 8):
// gmk_*_<fmt>_x8.
#define GEMMAC_DECLARE_WEIGHT_KERNELS(F)                                       \
  GEMMAC_DECLARE_EMBED(F) GEMMAC_DECLARE_LINEAR(F) GEMMAC_DECLARE_GEGLU(F)     \
  GEMMAC_DECLARE_EXPERTS(F)
#define GEMMAC_DECLARE_X8_KERNELS_0(F)
#define GEMMAC_DECLARE_X8_KERNELS_1(F) GEMMAC_DECLARE_WEIGHT_KERNELS(F##_x8)
// The one-token products of the float formats (abi/kernels.def "vec"):
// gmk_{linear,logits,geglu}_<fmt>_vec.
#define GEMMAC_DECLARE_VEC_KERNELS_0(F)
#define GEMMAC_DECLARE_VEC_KERNELS_1(F)                                        \
  GEMMAC_DECLARE_LINEAR(F##_vec) GEMMAC_DECLARE_GEGLU(F##_vec)
// The centroid head (gemma.masked_logits): per token the top_k of n_clusters
// scores (ties: the lower cluster), the n_out / n_clusters token ids of each
// in ordering (f32 ids, cluster c's at [c * n_out / n_clusters, ...)), and
// out[t, id] = the product gmk_logits_<fmt> computes for row id; -inf at
// every other id.
#define GEMMAC_DECLARE_MASKED(F)                                               \
  void gmk_masked_logits_##F(                                                  \
      gemmac_rt *rt, float *out, const float *in, int64_t n_tokens,            \
      const uint8_t *table, int64_t n_out, int64_t n_in, const float *scores,  \
      int64_t n_clusters, int64_t top_k, const uint8_t *ordering);
#define GEMMAC_DECLARE_MASKED_VEC_0(F)
#define GEMMAC_DECLARE_MASKED_VEC_1(F) GEMMAC_DECLARE_MASKED(F##_vec)
#define GEMMAC_FORMAT(E, name, id, elems, bytes, act, x8, tiny)                \
  GEMMAC_DECLARE_WEIGHT_KERNELS(name)                                          \
  GEMMAC_DECLARE_X8_KERNELS_##x8(name) GEMMAC_DECLARE_VEC_KERNELS_##tiny(name) \
      GEMMAC_DECLARE_MASKED(name) GEMMAC_DECLARE_MASKED_VEC_##tiny(name)
#include "abi/formats.def"

// RMSNorm of every group of `group` features; weight (f32/f16/bf16 per
// weight_format, a ggml type id) may be null. out may alias in.
void gmk_rms_norm(gemmac_rt *rt, float *out, const float *in, int64_t rows,
                  int64_t width, int64_t group, const uint8_t *weight,
                  int32_t weight_format, float eps);
void gmk_rms_norm_unweighted(gemmac_rt *rt, float *out, const float *in,
                             int64_t rows, int64_t width, int64_t group,
                             float eps);

// (RMSNorm(in) [* weight] + residual) * scale over whole rows of `width`
// (gemma.rms_norm_add; scale 1 without a layer scale). out may alias in.
void gmk_rms_norm_add(gemmac_rt *rt, float *out, const float *in,
                      const float *residual, int64_t rows, int64_t width,
                      const uint8_t *weight, int32_t weight_format, float eps,
                      float scale);
void gmk_rms_norm_add_unweighted(gemmac_rt *rt, float *out, const float *in,
                                 const float *residual, int64_t rows,
                                 int64_t width, float eps, float scale);

// NeoX RoPE of [n_tokens, n_heads * head_dim], row t at positions[t]; see
// #gemma.rope. out may alias.
void gmk_rope(gemmac_rt *rt, float *out, const float *in, int64_t n_tokens,
              int64_t n_heads, int64_t head_dim, const int64_t *positions,
              float theta, int64_t freq_dim, int64_t rotated_pairs);

// The RoPE of each head's RMSNorm [* weight] (gemma.rms_norm_rope), a token
// at a time. out may alias in.
void gmk_rms_norm_rope(gemmac_rt *rt, float *out, const float *in,
                       int64_t n_tokens, int64_t n_heads, int64_t head_dim,
                       const int64_t *positions, float theta, int64_t freq_dim,
                       int64_t rotated_pairs, const uint8_t *weight,
                       int32_t weight_format, float eps);
void gmk_rms_norm_rope_unweighted(gemmac_rt *rt, float *out, const float *in,
                                  int64_t n_tokens, int64_t n_heads,
                                  int64_t head_dim, const int64_t *positions,
                                  float theta, int64_t freq_dim,
                                  int64_t rotated_pairs, float eps);

// out row j = in row rows[j] (the rows whose outputs the step wants).
void gmk_gather_rows(gemmac_rt *rt, float *out, const float *in,
                     const int64_t *rows, int64_t n_rows, int64_t width);

// Causal GQA attention over the step's segments (abi/step.h): a segment's
// rows are queries at positions pos0.. over its sequence's cache (positions
// < pos0, rows [capacity, n_kv_heads * head_dim] at slot * seq_stride
// elements from k_cache/v_cache; a ring of `window` rows when window > 0)
// and the segment's own k/v. The step's k/v are rounded to the cache's
// element type first, so a token sees the same keys whether it is
// evaluated in a batch or alone, and a row's result does not depend on the
// other segments. One symbol per cache type. The E4M3 cache (f8) takes two
// more arguments, the K and V scales: it stores e4m3(x / scale),
// saturating, and reads e4m3 * scale.
#define GEMMAC_DECLARE_ATTENTION(T, CT, ...)                                   \
  void gmk_attention_##T(gemmac_rt *rt, float *out, const float *q,           \
                         const float *k, const float *v, int64_t n_tokens,    \
                         const int64_t *seqs, int64_t n_seqs, int64_t n_heads,\
                         int64_t n_kv_heads, int64_t head_dim, int64_t window, \
                         const CT *k_cache, const CT *v_cache,                \
                         int64_t capacity, int64_t seq_stride,                \
                         float scale __VA_ARGS__);                            \
  void gmk_kv_store_##T(gemmac_rt *rt, CT *k_cache, CT *v_cache,              \
                        const float *k, const float *v, int64_t n_tokens,     \
                        const int64_t *seqs, int64_t n_seqs, int64_t width,   \
                        int64_t window, int64_t capacity,                     \
                        int64_t seq_stride __VA_ARGS__);
#define GEMMAC_KV_SCALES , float k_scale, float v_scale
GEMMAC_DECLARE_ATTENTION(f16, uint16_t)
GEMMAC_DECLARE_ATTENTION(f32, float)
GEMMAC_DECLARE_ATTENTION(f8, uint8_t, GEMMAC_KV_SCALES)

// Query-only attention over the KV cache (the Gemma 4 MTP drafter's layers,
// which have no K/V projections): gmk_attention_<T>'s arguments without k
// and v. A segment's row r is a query at position p = pos0 + (r - row0)
// that sees its sequence's cached positions kp < p (p itself is not in the
// cache), within the window (p - kp < window) when window > 0; caches laid
// out as gmk_attention_<T> reads them. A row with no visible key (p == 0)
// is zeros. llama.cpp's single-row flash-attention arithmetic
// (attention_cached.cpp): f16 query and V accumulator for the f16 cache.
#define GEMMAC_DECLARE_ATTENTION_CACHED(T, CT, ...)                            \
  void gmk_attention_cached_##T(                                               \
      gemmac_rt *rt, float *out, const float *q, int64_t n_tokens,            \
      const int64_t *seqs, int64_t n_seqs, int64_t n_heads,                   \
      int64_t n_kv_heads, int64_t head_dim, int64_t window,                   \
      const CT *k_cache, const CT *v_cache, int64_t capacity,                 \
      int64_t seq_stride, float scale __VA_ARGS__);
GEMMAC_DECLARE_ATTENTION_CACHED(f16, uint16_t)
GEMMAC_DECLARE_ATTENTION_CACHED(f32, float)
GEMMAC_DECLARE_ATTENTION_CACHED(f8, uint8_t, GEMMAC_KV_SCALES)

// The same attention with the head dim a compile-time constant (loops with
// constant trip counts); the head_dim argument must equal D.
#define GEMMAC_DECLARE_ATTENTION_D(T, CT, D, ...)                              \
  void gmk_attention_##T##_d##D(                                               \
      gemmac_rt *rt, float *out, const float *q, const float *k,              \
      const float *v, int64_t n_tokens, const int64_t *seqs, int64_t n_seqs,  \
      int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, int64_t window,  \
      const CT *k_cache, const CT *v_cache, int64_t capacity,                 \
      int64_t seq_stride, float scale __VA_ARGS__);
#define GEMMAC_DECLARE_ATTENTION_DIMS(T, CT, ...)                              \
  GEMMAC_DECLARE_ATTENTION_D(T, CT, 64, __VA_ARGS__)                           \
  GEMMAC_DECLARE_ATTENTION_D(T, CT, 128, __VA_ARGS__)                          \
  GEMMAC_DECLARE_ATTENTION_D(T, CT, 256, __VA_ARGS__)                          \
  GEMMAC_DECLARE_ATTENTION_D(T, CT, 512, __VA_ARGS__)
GEMMAC_DECLARE_ATTENTION_DIMS(f16, uint16_t)
GEMMAC_DECLARE_ATTENTION_DIMS(f32, float)
GEMMAC_DECLARE_ATTENTION_DIMS(f8, uint8_t, GEMMAC_KV_SCALES)

// GELU of n values. The tanh form rounds its input and output to f16 through
// a 64K-entry table (as llama.cpp's CPU backend does), exact outside +-10.
void gmk_gelu_tanh(gemmac_rt *rt, float *out, const float *in, int64_t n);
void gmk_gelu_erf(gemmac_rt *rt, float *out, const float *in, int64_t n);
void gmk_quantize_fp4(gemmac_rt *rt, float *out, const float *in, int64_t n,
                      float global_scale);

// Mixture-of-experts routing (llama.cpp's SOFTMAX gating with norm_w): per
// token, the softmax of n_experts logits, the n_used most probable experts
// (descending, ties as std::sort leaves them) and their probabilities
// renormalized to sum 1. routing is [n_tokens, 2 * n_used]: the weights,
// then the expert indices as f32.
void gmk_moe_route(gemmac_rt *rt, float *routing, const float *logits,
                   int64_t n_tokens, int64_t n_experts, int64_t n_used);
// out[t, k, :] = in[t, k, :] * scales[e_tk] (a per-expert output scale).
void gmk_expert_scale(gemmac_rt *rt, float *out, const float *in,
                      int64_t n_tokens, int64_t width, const float *routing,
                      int64_t n_used, const uint8_t *scales,
                      int32_t scales_format, int64_t n_experts);
// out[t, :] = sum over slots k in order of in[t, k, :] * w_tk.
void gmk_moe_combine(gemmac_rt *rt, float *out, const float *in,
                     int64_t n_tokens, int64_t width, const float *routing,
                     int64_t n_used);
// out[r, j] = in[r, j] * w[j].
void gmk_scale_columns(gemmac_rt *rt, float *out, const float *in,
                       int64_t rows, int64_t width, const uint8_t *weight,
                       int32_t weight_format);

#ifdef __cplusplus
}

#include "abi/kernel_signature.h"

// Every catalogue row names a kernel declared above with its signature.
#define GEMMAC_KERNEL(symbol, kind, format, variant, signature)                \
  static_assert(                                                               \
      std::is_same_v<decltype(symbol), gemmac::abi::KernelType<signature>>,    \
      "abi/kernels.def: " #symbol "'s signature is " signature);
#include "abi/kernels.def"
#undef GEMMAC_KERNEL
#endif
