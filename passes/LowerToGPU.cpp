//===- LowerToGPU.cpp - the kernels and launches of a GPU target ----------===//
//
// The kernel phase for CUDA and Vulkan: each gemma op of the entry function
// asks the kernel library (compiler/targets/gpu/kernels) for its specialized
// kernel, which lands once in `gpu.module @gemmac_kernels`, and is followed
// by the `gpu.launch_func` of that kernel. The launch's arguments are listed
// here once, in the kernel's parameter order, next to the call that builds
// the kernel: activations as arena slots (gemma.gpu_slot, placed by
// gemma-plan-gpu-arena), weights, KV caches, params, tables and constants as
// buffer ranges (gemma.gpu_view and friends, GemmaGpuOps.td). grid.y is the
// step's rows (gemma.gpu_rows). Fusions are ops of their own by now (the
// Fuse* passes, QuantizeActivations): each op is one kernel.
//
//===----------------------------------------------------------------------===//

#include "abi/gpu_program.h"
#include "compiler/targets/gpu/kernels/KernelLibrary.h"
#include "dialects/gemma/GemmaDialect.h"
#include "passes/GpuLaunch.h"
#include "passes/KVPlan.h"
#include "passes/Passes.h"
#include "abi/formats.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/DenseSet.h"
#include "llvm/ADT/TypeSwitch.h"

namespace gemmac {
#define GEN_PASS_DEF_LOWERTOGPU
#include "passes/Passes.h.inc"
} // namespace gemmac

using namespace mlir;
using namespace gemmac;
using namespace gemmac::gemma;
using gpukernels::KernelLibrary;
using Arg = GpuLaunchArg;
using Launch = GpuLaunch;
namespace g = gemmac::gpu;

namespace {

constexpr int64_t kBatch = gpukernels::kMaxBatch;

int64_t widthOf(Value v) {
  return cast<RankedTensorType>(v.getType()).getDimSize(1);
}
int64_t ceilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

std::optional<WeightFormat> weightFormat(Value weight) {
  if (weight)
    return cast<WeightType>(weight.getType()).getFormat();
  return std::nullopt;
}

gpukernels::ActQuant actQuant(ActBlocksType blocks) {
  return static_cast<gpukernels::ActQuant>(blocks.getQuantizer());
}

/// Chooses, builds and launches the kernel of every op of the entry.
class LaunchLowering {
public:
  LaunchLowering(ModuleOp module, KernelLibrary &lib,
                 const std::map<int64_t, KVCacheAttr> &plan,
                 int64_t kvElement)
      : module(module), lib(lib), plan(plan), kvElement(kvElement) {}

  /// The kernel of `op` and its launch, after `op`.
  LogicalResult lower(Operation *op);
  /// Values with n_out rows (computed from gemma.last_rows), not one per
  /// token.
  llvm::DenseSet<Value> outputRows;

private:
  /// A norm, RoPE or quantizer (fused or not); nullopt if `op` is none.
  std::optional<FailureOr<Launch>> normLaunch(Operation *op);
  FailureOr<Launch> matvecLaunch(Operation *op);
  FailureOr<Launch> expertLaunch(Operation *op);
  FailureOr<Launch> otherLaunch(Operation *op);

  GpuRows rowsOf(Value v) {
    return outputRows.contains(v) ? GpuRows::n_out : GpuRows::tokens;
  }
  gpukernels::Param rowsParam(Value v) {
    return outputRows.contains(v) ? gpukernels::kOutRows : gpukernels::kTokens;
  }
  FailureOr<Arg> weight(Operation *op, Value handle);
  /// A one-element weight: a program constant when its value is known.
  FailureOr<Arg> scalarWeight(Operation *op, Value handle);
  Arg params() {
    return Arg::view(GpuSpace::params, 0, gpukernels::kParamsWords * 4);
  }
  Arg geluTable() { return Arg::view(GpuSpace::tables, 0, g::kGeluTableBytes); }
  /// The K and V ranges of cache `id`.
  FailureOr<std::pair<Arg, Arg>> cache(Operation *op, int64_t id);
  /// The f32 rows of a matvec's input, or the quants and side values of its
  /// int8 blocks.
  void matvecInput(Value input, SmallVectorImpl<Arg> &args);

  /// The element format of `cache` (the E4M3 cache: its owner's scales).
  KernelLibrary::KVCacheFormat cacheFormat(KVCacheAttr cache) const {
    Type t = kvCacheType(module);
    if (t.isF16())
      return {KernelLibrary::KVCacheFormat::F16};
    if (!isa<Float8E4M3FNType>(t))
      return {KernelLibrary::KVCacheFormat::F32};
    auto [k, v] = kvScales(module, cache.getOwner());
    return {KernelLibrary::KVCacheFormat::F8, k, v};
  }

  ModuleOp module;
  KernelLibrary &lib;
  const std::map<int64_t, KVCacheAttr> &plan;
  int64_t kvElement;
};

FailureOr<Arg> LaunchLowering::weight(Operation *op, Value handle) {
  auto def = module.lookupSymbol<WeightDefOp>(
      handle.getDefiningOp<WeightOp>().getNameAttr());
  if (!def.getBlobOffset())
    return op->emitOpError("reads weight @")
           << def.getSymName() << ", which has no blob offset";
  return Arg::view(GpuSpace::weights, *def.getBlobOffset(),
                   def.getWeightType().getStorageBytes());
}

FailureOr<Arg> LaunchLowering::scalarWeight(Operation *op, Value handle) {
  auto def = module.lookupSymbol<WeightDefOp>(
      handle.getDefiningOp<WeightOp>().getNameAttr());
  if (auto value = def.getValueAttr()) {
    // A scalar the checkpoint stores as metadata: a program constant.
    return Arg::constantOf(
        cast<DenseFPElementsAttr>(value).getValues<float>()[0]);
  }
  if (def.getWeightType().getFormat() != WeightFormat::f32)
    return op->emitOpError("needs the value of its ")
           << def.getWeightType() << " factor (folded at import)";
  FailureOr<Arg> factor = weight(op, handle);
  if (succeeded(factor))
    factor->bytes = 4;
  return factor;
}

FailureOr<std::pair<Arg, Arg>> LaunchLowering::cache(Operation *op,
                                                     int64_t id) {
  auto it = plan.find(id);
  if (it == plan.end())
    return op->emitOpError("uses KV cache ") << id << ", which the plan lacks";
  KVCacheAttr c = it->second;
  // K at offset + perToken x n_ctx, V right after it.
  int64_t rowBytes = c.getWidth() * kvElement;
  Arg k = Arg::view(GpuSpace::kv, c.getOffset(), 0);
  k.offsetPerCtx = c.getPerToken();
  if (c.getRows())
    k.bytes = c.getRows() * rowBytes;
  else
    k.bytesPerCtx = rowBytes;
  Arg v = k;
  v.offset += k.bytes;
  v.offsetPerCtx += k.bytesPerCtx;
  return std::make_pair(k, v);
}

void LaunchLowering::matvecInput(Value input, SmallVectorImpl<Arg> &args) {
  if (!isa<ActBlocksType>(input.getType())) {
    args.push_back(Arg::slot(input));
    return;
  }
  args.push_back(Arg::slot(input, GpuSlotPart::quants));
  args.push_back(Arg::slot(input, GpuSlotPart::aux));
}

/// The activation a value's rows come from: int8 blocks stand for the
/// activation they quantize.
Value rowsSource(Value v) {
  if (!isa<ActBlocksType>(v.getType()))
    return v;
  if (auto q = v.getDefiningOp<QuantizeActivationOp>())
    return q.getInput();
  return cast<RMSNormQuantizeOp>(v.getDefiningOp()).getResult();
}

std::optional<FailureOr<Launch>> LaunchLowering::normLaunch(Operation *op) {
  using R = std::optional<FailureOr<Launch>>;
  Launch l;
  // The (x, y[, w]) of a norm kernel.
  auto normArgs = [&](Value input, Value result, Value w) -> LogicalResult {
    l.args = {Arg::slot(input), Arg::slot(result)};
    l.rows = rowsOf(input);
    if (!w)
      return success();
    FailureOr<Arg> wArg = weight(op, w);
    if (failed(wArg))
      return failure();
    l.args.push_back(*wArg);
    return success();
  };
  auto done = [&](LogicalResult r) -> R {
    if (failed(r))
      return FailureOr<Launch>(failure());
    return FailureOr<Launch>(std::move(l));
  };
  return llvm::TypeSwitch<Operation *, R>(op)
      .Case<RMSNormOp>([&](RMSNormOp n) -> R {
        l.kernel = lib.rmsNorm(widthOf(n.getInput()), n.getGroup(),
                               weightFormat(n.getWeight()),
                               n.getEps().convertToFloat());
        l.gridX = widthOf(n.getInput()) / n.getGroup();
        return done(normArgs(n.getInput(), n.getResult(), n.getWeight()));
      })
      .Case<RMSNormQuantizeOp>([&](RMSNormQuantizeOp n) -> R {
        // (x, y[, w], qs, aux), one workgroup per row.
        int64_t width = widthOf(n.getInput());
        l.kernel = lib.rmsNorm(width, width, weightFormat(n.getWeight()),
                               n.getEps().convertToFloat(),
                               actQuant(n.getBlocks().getType()));
        LogicalResult r = normArgs(n.getInput(), n.getResult(), n.getWeight());
        matvecInput(n.getBlocks(), l.args);
        return done(r);
      })
      .Case<RMSNormAddOp>([&](RMSNormAddOp n) -> R {
        // (x, y[, w], residual), one workgroup per row.
        std::optional<float> scale;
        if (n.getScale())
          scale = n.getScale()->convertToFloat();
        l.kernel =
            lib.rmsNormAdd(widthOf(n.getInput()), weightFormat(n.getWeight()),
                           n.getEps().convertToFloat(), {scale});
        LogicalResult r = normArgs(n.getInput(), n.getResult(), n.getWeight());
        l.args.push_back(Arg::slot(n.getResidual()));
        return done(r);
      })
      .Case<QuantizeActivationOp>([&](QuantizeActivationOp q) -> R {
        ActBlocksType blocks = q.getResult().getType();
        l.kernel = lib.quantize(actQuant(blocks), blocks.getCols());
        l.args = {Arg::slot(q.getInput())};
        matvecInput(q.getResult(), l.args);
        l.columns(blocks.getCols() /
                  ActBlocksType::blockElems(blocks.getQuantizer()));
        l.rows = rowsOf(q.getInput());
        return done(success());
      })
      .Case<RopeOp, RMSNormRopeOp>([&](auto r) -> R {
        // (x, y, params, table[, the fused norm's weight]).
        RopeAttr rope = r.getRope();
        std::optional<KernelLibrary::HeadNorm> norm;
        Value w;
        if constexpr (std::is_same_v<decltype(r), RMSNormRopeOp>) {
          norm = KernelLibrary::HeadNorm{weightFormat(r.getWeight()),
                                         r.getEps().convertToFloat()};
          w = r.getWeight();
        }
        l.kernel = lib.rope(r.getNumHeads(), r.getHeadDim(), rope.getFreqDim(),
                            rope.getRotatedPairs(), norm);
        l.args = {Arg::slot(r.getInput()), Arg::slot(r.getResult()), params(),
                  Arg::ropeTable(rope)};
        l.gridX = r.getNumHeads();
        l.rows = rowsOf(r.getInput());
        if (w) {
          FailureOr<Arg> wArg = weight(op, w);
          if (failed(wArg))
            return done(failure());
          l.args.push_back(*wArg);
        }
        return done(success());
      })
      .Default([](Operation *) -> R { return std::nullopt; });
}

FailureOr<Launch> LaunchLowering::matvecLaunch(Operation *op) {
  auto linear = dyn_cast<LinearOp>(op);
  auto geglu = dyn_cast<GeGLUOp>(op);
  Value input = op->getOperand(0), result = op->getResult(0);
  WeightType t =
      linear ? linear.getWeight().getType() : geglu.getGate().getType();
  // Quantized weights multiply the int8 blocks gemma-quantize-activations
  // (or a norm) wrote; float weights read the f32 rows.
  bool quantized = ActBlocksType::quantizerFor(t.getFormat()).has_value();
  if (isa<ActBlocksType>(input.getType()) != quantized)
    return op->emitOpError("a quantized weight needs its input's int8 blocks "
                           "(run gemma-quantize-activations first)");
  Launch l;
  if (linear) {
    l.kernel =
        lib.linear(t.getFormat(), t.getRows(), t.getCols(), rowsParam(input));
  } else {
    if (geglu.getApproximation() != GeluApprox::tanh)
      return op->emitOpError("has no GPU kernel for erf GELU in geglu");
    if (geglu.getUp().getType() != t)
      return op->emitOpError("gate and up weights differ in format or "
                             "shape; the GPU kernel reads both alike");
    l.kernel =
        lib.geglu(t.getFormat(), t.getRows(), t.getCols(), rowsParam(input));
  }
  // (W[, Wu], x or (qs, aux), y[, gelu table][, params]).
  for (Value w : linear ? SmallVector<Value>{linear.getWeight()}
                        : SmallVector<Value>{geglu.getGate(), geglu.getUp()}) {
    FailureOr<Arg> wArg = weight(op, w);
    if (failed(wArg))
      return failure();
    l.args.push_back(*wArg);
  }
  matvecInput(input, l.args);
  l.args.push_back(Arg::slot(result));
  if (geglu)
    l.args.push_back(geluTable());
  l.gridX = ceilDiv(
      t.getRows(), g::matvecRowsPerGroup(!quantized, t.getRows(), t.getCols()));
  // Quantized matvecs take groups of tokens and the params buffer last.
  if (quantized) {
    l.args.push_back(params());
    l.perGroup = g::kQuantMatvecTokensPerGroup;
  }
  l.rows = rowsOf(rowsSource(input));
  return l;
}

FailureOr<Launch> LaunchLowering::expertLaunch(Operation *op) {
  auto linear = dyn_cast<ExpertLinearOp>(op);
  auto geglu = dyn_cast<ExpertGeGLUOp>(op);
  Value input = op->getOperand(0);
  Value routing = linear ? linear.getRouting() : geglu.getRouting();
  SmallVector<Value> weights =
      linear ? SmallVector<Value>{linear.getWeight()}
             : SmallVector<Value>{geglu.getGate(), geglu.getUp()};
  WeightFormat format = cast<WeightType>(weights[0].getType()).getFormat();
  bool quantized = ActBlocksType::quantizerFor(format).has_value();
  // FP8 blocks go through the float kernel's vec_dot lanes on the decoded
  // weights, as llama.cpp's mul_mat_id sums their F32 dequantization.
  if (!quantized && !isFloatFormat(format) && format != WeightFormat::f8_b64)
    return op->emitOpError("has no GPU kernel for ")
           << stringifyWeightFormat(format) << " expert weights";
  if (isa<ActBlocksType>(input.getType()) != quantized)
    return op->emitOpError("a quantized weight needs its input's int8 blocks "
                           "(run gemma-quantize-activations first)");
  if (geglu && geglu.getApproximation() != GeluApprox::tanh)
    return op->emitOpError("has no GPU kernel for erf GELU in expert_geglu");
  gpukernels::ExpertSlices slices;
  slices.experts = cast<WeightType>(weights[0].getType()).getExperts();
  slices.slots = widthOf(routing) / 2;
  slices.perSlot = linear && linear.isPerSlot();
  for (auto [i, w] : llvm::enumerate(weights)) {
    slices.expertRows[i] = cast<WeightType>(w.getType()).getExpertRows();
    slices.firstRow[i] = linear   ? linear.getFirstRow()
                         : i == 0 ? geglu.getGateFirstRow()
                                  : geglu.getUpFirstRow();
  }
  const int64_t rows = linear ? linear.getNumRows() : geglu.getNumRows();
  const int64_t cols = cast<WeightType>(weights[0].getType()).getCols();
  Launch l;
  l.kernel = linear
                 ? lib.expertLinear(format, rows, cols, slices, rowsParam(routing))
                 : lib.expertGeglu(format, rows, cols, slices, rowsParam(routing));
  // (W[, Wu], x or (qs, aux), y[, gelu table], params, routing).
  for (Value w : weights) {
    FailureOr<Arg> wArg = weight(op, w);
    if (failed(wArg))
      return failure();
    l.args.push_back(*wArg);
  }
  matvecInput(input, l.args);
  l.args.push_back(Arg::slot(op->getResult(0)));
  if (geglu)
    l.args.push_back(geluTable());
  l.args.push_back(params());
  l.args.push_back(Arg::slot(routing));
  l.gridX = ceilDiv(rows, g::kExpertMatvecRowsPerGroup);
  l.rows = rowsOf(routing);
  return l;
}

FailureOr<Launch> LaunchLowering::otherLaunch(Operation *op) {
  using R = FailureOr<Launch>;
  Launch l;
  return llvm::TypeSwitch<Operation *, R>(op)
      .Case<EmbedOp>([&](EmbedOp e) -> R {
        WeightType t = e.getTable().getType();
        l.kernel = lib.embed(t.getFormat(), t.getRows(), t.getCols(),
                             e.getScale().convertToFloat());
        FailureOr<Arg> table = weight(op, e.getTable());
        if (failed(table))
          return failure();
        l.args = {*table, Arg::view(GpuSpace::tokens, 0, kBatch * 4),
                  Arg::slot(e.getResult())};
        l.columns(t.getCols());
        return l;
      })
      .Case<AttentionOp>([&](AttentionOp a) -> R {
        auto kv = cache(op, a.getKvCache());
        if (failed(kv))
          return failure();
        l.kernel =
            lib.attention(a.getNumHeads(), a.getNumKvHeads(), a.getHeadDim(),
                          a.getWindow(), plan.at(a.getKvCache()).getRows(),
                          a.getScale().convertToFloat(),
                          cacheFormat(plan.at(a.getKvCache())));
        l.args = {Arg::slot(a.getQ()),
                  Arg::slot(a.getK()),
                  Arg::slot(a.getV()),
                  kv->first,
                  kv->second,
                  Arg::slot(a.getResult()),
                  params()};
        l.gridX = a.getNumHeads();
        return l;
      })
      .Case<KVStoreOp>([&](KVStoreOp s) -> R {
        auto kv = cache(op, s.getKvCache());
        if (failed(kv))
          return failure();
        KVCacheAttr c = plan.at(s.getKvCache());
        l.kernel = lib.kvStore(c.getWidth(), c.getRows(), cacheFormat(c));
        l.args = {Arg::slot(s.getK()), Arg::slot(s.getV()), kv->first,
                  kv->second, params()};
        l.columns(c.getWidth());
        return l;
      })
      .Case<AddOp, MulOp>([&](auto e) -> R {
        l.kernel = lib.binary(isa<AddOp>(op) ? gpukernels::Binary::Add
                                             : gpukernels::Binary::Mul,
                              widthOf(e.getResult()));
        l.args = {Arg::slot(e.getLhs()), Arg::slot(e.getRhs()),
                  Arg::slot(e.getResult())};
        l.columns(widthOf(e.getResult()));
        l.rows = rowsOf(e.getLhs());
        return l;
      })
      .Case<ScaleOp, GeluOp, SoftcapOp>([&](auto e) -> R {
        int64_t width = widthOf(e.getResult());
        l.args = {Arg::slot(e.getInput()), Arg::slot(e.getResult())};
        if constexpr (std::is_same_v<decltype(e), ScaleOp>) {
          l.kernel = lib.unary(gpukernels::Unary::Scale, width,
                               e.getFactor().convertToFloat());
        } else if constexpr (std::is_same_v<decltype(e), SoftcapOp>) {
          l.kernel = lib.unary(gpukernels::Unary::Softcap, width,
                               e.getCap().convertToFloat());
        } else {
          bool tanh = e.getApproximation() == GeluApprox::tanh;
          l.kernel = lib.unary(tanh ? gpukernels::Unary::GeluTanh
                                    : gpukernels::Unary::GeluErf,
                               width);
          if (tanh)
            l.args.push_back(geluTable());
        }
        l.columns(width);
        l.rows = rowsOf(e.getInput());
        return l;
      })
      .Case<QuantizeFP4Op>([&](QuantizeFP4Op q) -> R {
        int64_t width = widthOf(q.getResult());
        l.kernel =
            lib.quantizeFP4(width, q.getGlobalScale().convertToFloat());
        l.args = {Arg::slot(q.getInput()), Arg::slot(q.getResult())};
        l.columns(width / 16);
        l.rows = rowsOf(q.getInput());
        return l;
      })
      .Case<ScaleByWeightOp>([&](ScaleByWeightOp s) -> R {
        l.kernel = lib.scaleByWeight(widthOf(s.getResult()));
        FailureOr<Arg> factor = scalarWeight(op, s.getFactor());
        if (failed(factor))
          return failure();
        l.args = {Arg::slot(s.getInput()), *factor, Arg::slot(s.getResult())};
        l.columns(widthOf(s.getResult()));
        l.rows = rowsOf(s.getInput());
        return l;
      })
      .Case<ColumnSliceOp>([&](ColumnSliceOp s) -> R {
        l.kernel =
            lib.columnSlice(widthOf(s.getInput()), s.getOffset(), s.getSize());
        l.args = {Arg::slot(s.getInput()), Arg::slot(s.getResult())};
        l.columns(s.getSize());
        l.rows = rowsOf(s.getInput());
        return l;
      })
      .Case<ScaleColumnsOp>([&](ScaleColumnsOp s) -> R {
        WeightType t = s.getFactors().getType();
        l.kernel = lib.scaleColumns(t.getFormat(), t.getCols());
        FailureOr<Arg> factors = weight(op, s.getFactors());
        if (failed(factors))
          return failure();
        l.args = {Arg::slot(s.getInput()), *factors, Arg::slot(s.getResult())};
        l.columns(t.getCols());
        l.rows = rowsOf(s.getInput());
        return l;
      })
      .Case<MoERouteOp>([&](MoERouteOp r) -> R {
        l.kernel = lib.moeRoute(widthOf(r.getLogits()), r.getNumUsed());
        l.args = {Arg::slot(r.getLogits()), Arg::slot(r.getRouting())};
        l.rows = rowsOf(r.getLogits());
        return l;
      })
      .Case<ExpertScaleOp>([&](ExpertScaleOp s) -> R {
        WeightType t = s.getScales().getType();
        int64_t slots = widthOf(s.getRouting()) / 2;
        l.kernel = lib.expertScale(t.getFormat(), t.getCols(), slots,
                                   widthOf(s.getInput()) / slots);
        FailureOr<Arg> scales = weight(op, s.getScales());
        if (failed(scales))
          return failure();
        l.args = {Arg::slot(s.getInput()), Arg::slot(s.getRouting()), *scales,
                  Arg::slot(s.getResult())};
        l.columns(widthOf(s.getInput()));
        l.rows = rowsOf(s.getInput());
        return l;
      })
      .Case<MoECombineOp>([&](MoECombineOp c) -> R {
        int64_t width = widthOf(c.getResult());
        l.kernel = lib.moeCombine(widthOf(c.getRouting()) / 2, width);
        l.args = {Arg::slot(c.getInput()), Arg::slot(c.getRouting()),
                  Arg::slot(c.getResult())};
        l.columns(width);
        l.rows = rowsOf(c.getInput());
        return l;
      })
      .Case<LastRowsOp>([&](LastRowsOp r) -> R {
        l.kernel = lib.lastRows(widthOf(r.getInput()));
        l.args = {Arg::slot(r.getInput()), Arg::slot(r.getResult()), params()};
        l.columns(widthOf(r.getResult()));
        l.rows = GpuRows::n_out;
        return l;
      })
      .Default([&](Operation *other) -> R {
        return other->emitOpError("has no GPU kernel");
      });
}

LogicalResult LaunchLowering::lower(Operation *op) {
  if (isa<LastRowsOp>(op) || llvm::any_of(op->getOperands(), [&](Value v) {
        return outputRows.contains(v);
      }))
    outputRows.insert(op->result_begin(), op->result_end());
  FailureOr<Launch> l = failure();
  if (isa<LinearOp, GeGLUOp>(op))
    l = matvecLaunch(op);
  else if (isa<ExpertLinearOp, ExpertGeGLUOp>(op))
    l = expertLaunch(op);
  else if (auto norm = normLaunch(op))
    l = std::move(*norm);
  else
    l = otherLaunch(op);
  if (failed(l))
    return failure();
  return emitGpuLaunch(
      op, module.lookupSymbol<mlir::gpu::GPUModuleOp>("gemmac_kernels"), *l);
}

struct LowerToGPUPass : public gemmac::impl::LowerToGPUBase<LowerToGPUPass> {
  using LowerToGPUBase::LowerToGPUBase;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    gpukernels::Target kind;
    if (target == "nvvm") {
      kind = gpukernels::Target::NVVM;
    } else if (target == "spirv") {
      kind = gpukernels::Target::SPIRV;
    } else {
      module.emitError("gemma-lower-to-gpu: unknown target '")
          << target << "' (nvvm or spirv)";
      return signalPassFailure();
    }
    // The float-activation forms (and FP8 blocks) run as tinyBLAS lanes,
    // whose GPU kernels take whole groups of 4 rows.
    for (WeightDefOp def : module.getOps<WeightDefOp>()) {
      WeightType t = def.getWeightType();
      if (gemmac::abi::isOwnFormat(
              static_cast<gemmac::abi::Format>(t.getFormat())) &&
          !gemmac::abi::isTinyMatmulShape(t.getRows(), t.getCols())) {
        def.emitError("weight @")
            << def.getSymName() << " is " << t
            << ": the GPU kernels of f32-activation formats need a multiple "
               "of 4 rows and of 8 columns";
        return signalPassFailure();
      }
    }
    func::FuncOp entry = lookupEntry(module);
    if (!entry || !entry.getBody().hasOneBlock()) {
      module.emitError("no single-block function marked gemma.entry");
      return signalPassFailure();
    }
    auto plan = moduleKVPlan(module, entry);
    auto kvElement = kvElementBytes(module);
    if (failed(plan) || failed(kvElement))
      return signalPassFailure();

    OpBuilder b(module.getBodyRegion());
    b.setInsertionPointToEnd(module.getBody());
    module->setAttr(mlir::gpu::GPUDialect::getContainerModuleAttrName(),
                    b.getUnitAttr());
    auto kernels =
        mlir::gpu::GPUModuleOp::create(b, module.getLoc(), "gemmac_kernels");
    KernelLibrary lib(kernels, kind);
    LaunchLowering lowering(module, lib, *plan, *kvElement);
    SmallVector<Operation *> ops;
    for (Operation &op : entry.front())
      if (!isa<WeightOp, func::ReturnOp>(op))
        ops.push_back(&op);
    for (Operation *op : ops)
      if (failed(lowering.lower(op)))
        return signalPassFailure();
    auto ret = cast<func::ReturnOp>(entry.front().getTerminator());
    if (ret.getNumOperands() != 1 ||
        !lowering.outputRows.contains(ret.getOperand(0))) {
      ret.emitOpError("must return the last n_out rows (gemma.last_rows)");
      return signalPassFailure();
    }
  }
};

} // namespace
