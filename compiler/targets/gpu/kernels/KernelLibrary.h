//===- KernelLibrary.h - Gemma 4's device kernels ---------------*- C++ -*-===//
//
// Builds the kernels a GPU program launches as `gpu.func`s in one
// `gpu.module`, each specialized for its shapes (every size a constant). One
// kernel source serves CUDA and Vulkan: the kernels use only gpu, scf, arith,
// math.fma/sqrt/roundeven and memref ops, which lower both to NVVM (PTX) and
// to SPIR-V; exp, tanh and erf are written out so that no vendor math
// library (libdevice) is needed. The arithmetic is llama.cpp's CPU
// arithmetic operation by operation (docs/gpu.md): int8 activation blocks,
// per-format lane structure, double sums where it sums in double, its GELU
// table and RoPE angles from tables the runtime fills.
//
// Conventions (the host side launches with these):
//   - 64 threads per workgroup along x; grid.y is the token (row) index
//     (quantized linear/geglu: a group of kQuantMatvecTokensPerGroup).
//   - Buffers are 1-D memrefs passed as bare pointers: static sizes for
//     NVVM, runtime-sized (`?`) for SPIR-V, where they become runtime arrays.
//   - Runtime scalars come in a small i32 buffer `params`, slots
//     abi::GpuParam (abi/gpu_params.h).
//   - Weights are bytes in their GGUF block format ("rows" layout); F32, F16
//     and BF16 weights are typed views (f32, f16, i16). KV caches hold f16
//     bits in i16 buffers (or f32).
//
//===----------------------------------------------------------------------===//
#pragma once

#include "abi/gpu_params.h"
#include "abi/model_abi.h"
#include "dialects/gemma/GemmaDialect.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/IR/Builders.h"

#include <string>

namespace gemmac::gpukernels {

enum class Target { NVVM, SPIRV };

constexpr int64_t kWorkgroupSize = 64;
using abi::kMaxBatch; // tokens per forward call
constexpr int64_t kGeluTableEntries = 65536;

/// Index of each runtime scalar in the params buffer.
using Param = abi::GpuParam;
using enum abi::GpuParam;

/// Element-wise kernels over [rows, width] activations.
enum class Unary { Scale, GeluTanh, GeluErf, Softcap, Copy };
enum class Binary { Add, Mul };

/// The int8 activation blocks llama.cpp multiplies a quantized weight with.
enum class ActQuant { None, Q8_0, Q8_1, Q8_K };
// The dialect's !gemma.act_blocks quantizers convert to these by value.
static_assert(static_cast<int>(ActQuant::Q8_0) ==
                  static_cast<int>(gemma::ActQuantizer::q8_0) &&
              static_cast<int>(ActQuant::Q8_1) ==
                  static_cast<int>(gemma::ActQuantizer::q8_1) &&
              static_cast<int>(ActQuant::Q8_K) ==
                  static_cast<int>(gemma::ActQuantizer::q8_k));
ActQuant activationQuant(gemma::WeightFormat format);
/// Elements per activation block and f32 side values per block (Q8_0: d;
/// Q8_1: d, s; Q8_K: d and 16 sums of 16 quants).
int64_t actBlockElems(ActQuant q);
int64_t actAuxPerBlock(ActQuant q);

/// The expert weights an expert product reads (gemma.expert_linear,
/// gemma.expert_geglu): `experts` of `expertRows` rows each, the slice from
/// `firstRow` (per weight: gate or the only one, then up), for each of a
/// token's `slots` chosen experts; the input holds a row per token or, when
/// `perSlot`, per (token, slot).
struct ExpertSlices {
  int64_t experts = 0, slots = 0;
  int64_t expertRows[2] = {0, 0}, firstRow[2] = {0, 0};
  bool perSlot = false;
};

/// Adds kernels to `module` on demand; each builder returns the kernel's
/// symbol name and builds it once per distinct specialization.
class KernelLibrary {
public:
  KernelLibrary(mlir::gpu::GPUModuleOp module, Target target);

  /// y[t, r] = sum_c x[t, c] * W[r, c], with llama.cpp's arithmetic. Float
  /// weights: (W, x, y), grid (rows / matvecRowsPerGroup, tokens). Quantized
  /// weights read the activations quantize() wrote: (W, qs, aux, y, params),
  /// grid (rows / matvecRowsPerGroup, tokens / kQuantMatvecTokensPerGroup),
  /// both rounded up; params[rowsParam] is the number of tokens.
  std::string linear(gemma::WeightFormat format, int64_t rows, int64_t cols,
                     Param rowsParam = kTokens);
  /// x [tokens, cols] -> int8 quants qs [tokens, cols] (four per i32 word)
  /// and f32 side values aux [tokens, blocks x actAuxPerBlock]. Grid
  /// (ceil(blocks / 64), tokens).
  std::string quantize(ActQuant q, int64_t cols);
  /// y = gelu_tanh(x Wg^T) * (x Wu^T): (Wg, Wu, inputs as linear's, y,
  /// gelu table[, params]), grid as linear's.
  std::string geglu(gemma::WeightFormat format, int64_t rows, int64_t cols,
                    Param rowsParam = kTokens);
  /// Expert products, llama.cpp's mul_mat_id: y[t, s, r] = W[e_ts, first +
  /// r, :] . x[t (or t, s), :] for r < rows, e_ts from the routing
  /// (moeRoute). Arguments as linear's / geglu's, params (float weights
  /// too), then the routing; grid (rows / kExpertMatvecRowsPerGroup, the
  /// routing's rows: params[rowsParam]), x rounded up. A batch with at
  /// least as many (token, slot) pairs as experts is computed expert by
  /// expert (each expert's weights read once for its pairs), a smaller one
  /// token by token.
  std::string expertLinear(gemma::WeightFormat format, int64_t rows,
                           int64_t cols, const ExpertSlices &slices,
                           Param rowsParam = kTokens);
  std::string expertGeglu(gemma::WeightFormat format, int64_t rows,
                          int64_t cols, const ExpertSlices &slices,
                          Param rowsParam = kTokens);
  /// Softmax over `experts` logits, the `used` most probable (descending,
  /// ties to the lower index) and their probabilities renormalized: (logits,
  /// routing [tokens, 2 used]: weights, then indices as f32). Grid (1,
  /// tokens).
  std::string moeRoute(int64_t experts, int64_t used);
  /// y[t, s, :] = x[t, s, :] * scales[e_ts]: (x, routing, scales, y) over
  /// rows of `slots` x `width`. Grid (ceil(slots width / 64), tokens).
  std::string expertScale(gemma::WeightFormat format, int64_t experts,
                          int64_t slots, int64_t width);
  /// y[t, :] = sum over slots in order of x[t, s, :] * w_ts, each product
  /// and sum rounded: (x, routing, y). Grid (ceil(width/64), tokens).
  std::string moeCombine(int64_t slots, int64_t width);
  /// y[t, c] = x[t, c] * w[c]: (x, w, y). Grid (ceil(width/64), tokens).
  std::string scaleColumns(gemma::WeightFormat format, int64_t width);
  /// y[t, c] = W[token[t], c] * scale. Grid (ceil(cols/64), tokens).
  std::string embed(gemma::WeightFormat format, int64_t rows, int64_t cols,
                    float scale);
  /// RMSNorm over groups of `group` columns, optionally times a weight of
  /// `group` elements: (x, y[, w]). Grid (width/group, tokens). With
  /// `quantizeAs` (whole rows only) it also writes y's int8 blocks as
  /// quantize() does: (x, y[, w], qs, aux).
  std::string rmsNorm(int64_t width, int64_t group,
                      std::optional<gemma::WeightFormat> weight, float eps,
                      ActQuant quantizeAs = ActQuant::None);
  /// Element-wise ops after a whole-row RMSNorm, fused into its kernel:
  /// y = (norm + residual) [* scale]: (x, y[, w], residual).
  struct NormEpilogue {
    std::optional<float> scale;
  };
  std::string rmsNormAdd(int64_t width,
                         std::optional<gemma::WeightFormat> weight, float eps,
                         NormEpilogue epilogue);
  /// A per-head RMSNorm fused into the RoPE that reads it.
  struct HeadNorm {
    std::optional<gemma::WeightFormat> weight;
    float eps;
  };
  /// NeoX RoPE of `heads` heads at each row's position, cos/sin from a
  /// table (position x pairs):
  /// (x, y, params, table[, norm weight]). Grid (heads, tokens). With `norm`
  /// it rotates RMSNorm(x) (groups of headDim) rather than x.
  std::string rope(int64_t heads, int64_t headDim, int64_t freqDim,
                   int64_t rotatedPairs,
                   std::optional<HeadNorm> norm = std::nullopt);
  /// How a KV cache holds its elements: f32, f16 bits, or E4M3 bytes of
  /// x / scale (--kv-cache f8; K and V have a scale each).
  struct KVCacheFormat {
    enum Kind { F32, F16, F8 } kind = F32;
    float kScale = 1.0f, vScale = 1.0f;
    /// The kernel-name suffix: f32, f16, f8k<K bits>v<V bits>.
    std::string suffix() const;
  };
  /// Causal attention of each row over its sequence's KV slot (positions
  /// before the sequence's first row in the step) and that sequence's fresh
  /// K/V in the batch, `window` 0 for global layers. Grid (heads, tokens).
  std::string attention(int64_t heads, int64_t kvHeads, int64_t headDim,
                        int64_t window, int64_t ringRows, float scale,
                        KVCacheFormat cache);
  /// Writes each row's K and V into its sequence's KV slot (a ring of
  /// `ringRows` rows, or one row per position when 0). Grid (ceil(width/64),
  /// tokens).
  std::string kvStore(int64_t width, int64_t ringRows, KVCacheFormat cache);
  std::string unary(Unary op, int64_t width, float constant = 0.0f);
  /// NVFP4 activations emulated (gemma.quantize_fp4, gmk_quantize_fp4): a
  /// thread per block of 16, global scale G. Grid (ceil(width/16/64), tokens).
  std::string quantizeFP4(int64_t width, float globalScale);
  std::string binary(Binary op, int64_t width);
  /// y = x * (a scalar read from a weight). Grid (ceil(width/64), tokens).
  std::string scaleByWeight(int64_t width);
  /// y[t, :] = x[t, offset:offset+size]. Grid (ceil(size/64), tokens).
  std::string columnSlice(int64_t width, int64_t offset, int64_t size);
  /// y[j, :] = x[out_rows[j], :] (the params' output table): the rows
  /// whose logits the step wants. Grid (ceil(width/64), n_out).
  std::string lastRows(int64_t width);

private:
  mlir::gpu::GPUModuleOp module;
  Target target;
};

} // namespace gemmac::gpukernels
