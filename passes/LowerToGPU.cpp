//===- LowerToGPU.cpp - the device kernels of a GPU target ----------------===//
//
// The kernel phase for CUDA and Vulkan, device half: each gemma op of the
// entry function asks the kernel library (compiler/targets/gpu/kernels) for its specialized
// kernel, which lands once in `gpu.module @gemmac_kernels`; the op records
// the kernel's name in `gpu_kernel`, which the host side launches.
//
//===----------------------------------------------------------------------===//

#include "dialects/gemma/GemmaDialect.h"
#include "compiler/targets/gpu/kernels/KernelLibrary.h"
#include "passes/KVPlan.h"
#include "passes/Passes.h"

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

namespace {

int64_t widthOf(Value v) {
  return cast<RankedTensorType>(v.getType()).getDimSize(1);
}

/// The per-head RMSNorm a RoPE rotates, when the RoPE's kernel can compute
/// it (one workgroup per head in both; the RoPE is its only reader).
RMSNormOp headNormOf(RopeOp r) {
  auto norm = r.getInput().getDefiningOp<RMSNormOp>();
  if (!norm || norm.getGroup() != r.getHeadDim() ||
      !norm.getResult().hasOneUse())
    return {};
  return norm;
}

std::optional<WeightFormat> weightFormat(RMSNormOp n) {
  if (Value w = n.getWeight())
    return cast<WeightType>(w.getType()).getFormat();
  return std::nullopt;
}

/// The single user of v as an Op, if v has exactly one use.
template <typename Op> Op soleUser(Value v) {
  if (!v.hasOneUse())
    return {};
  return dyn_cast<Op>(*v.getUsers().begin());
}

/// A whole-row norm whose only reader is a residual add: the add's kernel
/// computes it (when the add's other operand is no norm: one per kernel).
bool normIntoAdd(RMSNormOp n) {
  AddOp add = soleUser<AddOp>(n.getResult());
  if (!add || n.getGroup() != widthOf(n.getInput()))
    return false;
  Value other = add.getLhs() == n.getResult() ? add.getRhs() : add.getLhs();
  return !other.getDefiningOp<RMSNormOp>();
}
/// The norm an add's kernel computes (normIntoAdd), if any.
RMSNormOp normOfAdd(AddOp a) {
  for (Value v : {a.getLhs(), a.getRhs()})
    if (auto n = v.getDefiningOp<RMSNormOp>(); n && normIntoAdd(n))
      return n;
  return {};
}

/// The kernel of one op, or failure with a diagnostic. `outputRows`: the
/// values that have n_out rows (computed from gemma.last_rows), not one per
/// token.
FailureOr<std::string> kernelFor(Operation *op, KernelLibrary &lib,
                                 const std::map<int64_t, KVCacheAttr> &plan,
                                 bool f16Cache,
                                 const llvm::DenseSet<Value> &outputRows) {
  auto rowsParam = [&](Value input) {
    return outputRows.contains(input) ? gpukernels::kOutRows
                                      : gpukernels::kTokens;
  };
  auto cacheOf = [&](int64_t id) -> FailureOr<KVCacheAttr> {
    auto it = plan.find(id);
    if (it == plan.end())
      return op->emitOpError("uses KV cache ") << id << ", which the plan lacks";
    return it->second;
  };
  // Quantized weights multiply int8 activation blocks, which a kernel of
  // their own writes first (`gpu_quantize`).
  auto quantizeFirst = [&](WeightType t) {
    gpukernels::ActQuant q = gpukernels::activationQuant(t.getFormat());
    if (q != gpukernels::ActQuant::None)
      op->setAttr("gpu_quantize",
                  FlatSymbolRefAttr::get(op->getContext(),
                                         lib.quantize(q, t.getCols())));
  };
  using R = FailureOr<std::string>;
  return llvm::TypeSwitch<Operation *, R>(op)
      .Case<EmbedOp>([&](EmbedOp e) -> R {
        WeightType t = e.getTable().getType();
        return lib.embed(t.getFormat(), t.getRows(), t.getCols(),
                         e.getScale().convertToFloat());
      })
      .Case<RMSNormOp>([&](RMSNormOp n) -> R {
        std::optional<WeightFormat> wf = weightFormat(n);
        auto fused = [&] {
          op->setAttr("gpu_fused_into_user", UnitAttr::get(op->getContext()));
          return std::string();
        };
        if (normIntoAdd(n))
          return fused();
        // A per-head norm the RoPE computes launches nothing of its own.
        if (auto r = soleUser<RopeOp>(n.getResult()); r && headNormOf(r) == n)
          return fused();
        // A whole-row norm read by quantized matvecs writes their int8
        // blocks too (`gpu_result_quant`), saving the quantizer's launch.
        gpukernels::ActQuant q = gpukernels::ActQuant::None;
        if (n.getGroup() == widthOf(n.getInput()))
          for (Operation *user : n.getResult().getUsers()) {
            Value w;
            if (auto l = dyn_cast<LinearOp>(user))
              w = l.getWeight();
            else if (auto g = dyn_cast<GeGLUOp>(user))
              w = g.getGate();
            if (!w || user->getOperand(0) != n.getResult())
              continue;
            q = gpukernels::activationQuant(
                cast<WeightType>(w.getType()).getFormat());
            if (q != gpukernels::ActQuant::None)
              break;
          }
        if (q != gpukernels::ActQuant::None)
          op->setAttr("gpu_result_quant",
                      IntegerAttr::get(IntegerType::get(op->getContext(), 32),
                                       static_cast<int>(q)));
        return lib.rmsNorm(widthOf(n.getInput()), n.getGroup(), wf,
                           n.getEps().convertToFloat(), q);
      })
      .Case<LinearOp>([&](LinearOp l) -> R {
        WeightType t = l.getWeight().getType();
        quantizeFirst(t);
        return lib.linear(t.getFormat(), t.getRows(), t.getCols(),
                          rowsParam(l.getInput()));
      })
      .Case<GeGLUOp>([&](GeGLUOp g) -> R {
        if (g.getApproximation() != GeluApprox::tanh)
          return op->emitOpError("has no GPU kernel for erf GELU in geglu");
        WeightType t = g.getGate().getType();
        if (g.getUp().getType() != t)
          return op->emitOpError("gate and up weights differ in format or "
                                 "shape; the GPU kernel reads both alike");
        quantizeFirst(t);
        return lib.geglu(t.getFormat(), t.getRows(), t.getCols(),
                         rowsParam(g.getInput()));
      })
      .Case<RopeOp>([&](RopeOp r) -> R {
        RopeAttr rope = r.getRope();
        std::optional<KernelLibrary::HeadNorm> norm;
        if (RMSNormOp n = headNormOf(r))
          norm = KernelLibrary::HeadNorm{weightFormat(n),
                                         n.getEps().convertToFloat()};
        return lib.rope(r.getNumHeads(), r.getHeadDim(), rope.getFreqDim(),
                        rope.getRotatedPairs(), norm);
      })
      .Case<AttentionOp>([&](AttentionOp a) -> R {
        auto cache = cacheOf(a.getKvCache());
        if (failed(cache))
          return failure();
        return lib.attention(a.getNumHeads(), a.getNumKvHeads(),
                             a.getHeadDim(), a.getWindow(), cache->getRows(),
                             a.getScale().convertToFloat(), f16Cache);
      })
      .Case<KVStoreOp>([&](KVStoreOp s) -> R {
        auto cache = cacheOf(s.getKvCache());
        if (failed(cache))
          return failure();
        return lib.kvStore(cache->getWidth(), cache->getRows(), f16Cache);
      })
      .Case<AddOp>([&](AddOp o) -> R {
        // norm + residual [* scale]: one kernel (the scale's, if any).
        if (RMSNormOp n = normOfAdd(o)) {
          if (soleUser<ScaleOp>(o.getResult())) {
            op->setAttr("gpu_fused_into_user", UnitAttr::get(op->getContext()));
            return std::string();
          }
          return lib.rmsNormAdd(widthOf(o.getResult()), weightFormat(n),
                                n.getEps().convertToFloat(), {});
        }
        return lib.binary(gpukernels::Binary::Add, widthOf(o.getResult()));
      })
      .Case<MulOp>([&](MulOp o) -> R {
        return lib.binary(gpukernels::Binary::Mul, widthOf(o.getResult()));
      })
      .Case<ScaleOp>([&](ScaleOp s) -> R {
        if (auto add = s.getInput().getDefiningOp<AddOp>();
            add && add->hasAttr("gpu_fused_into_user")) {
          RMSNormOp n = normOfAdd(add);
          return lib.rmsNormAdd(widthOf(s.getResult()), weightFormat(n),
                                n.getEps().convertToFloat(),
                                {s.getFactor().convertToFloat()});
        }
        return lib.unary(gpukernels::Unary::Scale, widthOf(s.getResult()),
                         s.getFactor().convertToFloat());
      })
      .Case<ScaleByWeightOp>([&](ScaleByWeightOp s) -> R {
        return lib.scaleByWeight(widthOf(s.getResult()));
      })
      .Case<GeluOp>([&](GeluOp g) -> R {
        return lib.unary(g.getApproximation() == GeluApprox::tanh
                             ? gpukernels::Unary::GeluTanh
                             : gpukernels::Unary::GeluErf,
                         widthOf(g.getResult()));
      })
      .Case<SoftcapOp>([&](SoftcapOp s) -> R {
        return lib.unary(gpukernels::Unary::Softcap, widthOf(s.getResult()),
                         s.getCap().convertToFloat());
      })
      .Case<ColumnSliceOp>([&](ColumnSliceOp s) -> R {
        return lib.columnSlice(widthOf(s.getInput()), s.getOffset(),
                               s.getSize());
      })
      .Case<LastRowsOp>([&](LastRowsOp r) -> R {
        return lib.lastRows(widthOf(r.getInput()));
      })
      .Default([&](Operation *other) -> R {
        return other->emitOpError("has no GPU kernel");
      });
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
    func::FuncOp entry = lookupEntry(module);
    if (!entry) {
      module.emitError("no function marked gemma.entry");
      return signalPassFailure();
    }
    bool f16Cache = kvCacheType(module).isF16();

    auto plan = moduleKVPlan(module, entry);
    if (failed(plan))
      return signalPassFailure();

    OpBuilder b(module.getBodyRegion());
    b.setInsertionPointToEnd(module.getBody());
    module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                    b.getUnitAttr());
    auto kernels = gpu::GPUModuleOp::create(b, module.getLoc(),
                                            "gemmac_kernels");
    KernelLibrary lib(kernels, kind);
    llvm::DenseSet<Value> outputRows;
    for (Operation &op : entry.front()) {
      if (isa<WeightOp, func::ReturnOp>(op))
        continue;
      if (isa<LastRowsOp>(op) || llvm::any_of(op.getOperands(), [&](Value v) {
            return outputRows.contains(v);
          }))
        outputRows.insert(op.result_begin(), op.result_end());
      FailureOr<std::string> name =
          kernelFor(&op, lib, *plan, f16Cache, outputRows);
      if (failed(name))
        return signalPassFailure();
      if (!name->empty()) // empty: fused into its user's kernel
        op.setAttr("gpu_kernel", FlatSymbolRefAttr::get(b.getContext(), *name));
    }
  }
};

} // namespace
