//===- LowerToGPU.cpp - the device kernels of a GPU target ----------------===//
//
// The kernel phase for CUDA and Vulkan, device half: each gemma op of the
// entry function asks the kernel library (compiler/targets/gpu/kernels) for its specialized
// kernel, which lands once in `gpu.module @gemmac_kernels`; the op records
// the kernel's name in `gpu_kernel`, which the host side launches. Fusions
// are ops of their own by now (the Fuse* passes, QuantizeActivations): each
// op is one kernel.
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

std::optional<WeightFormat> weightFormat(Value weight) {
  if (weight)
    return cast<WeightType>(weight.getType()).getFormat();
  return std::nullopt;
}

gpukernels::ActQuant actQuant(ActBlocksType blocks) {
  return static_cast<gpukernels::ActQuant>(blocks.getQuantizer());
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
  // Quantized weights multiply the int8 blocks gemma-quantize-activations
  // (or a norm) wrote; float weights read the f32 rows.
  auto checkInput = [&](Value input, WeightType t) -> LogicalResult {
    if (isa<ActBlocksType>(input.getType()) == !isFloatFormat(t.getFormat()))
      return success();
    return op->emitOpError("a quantized weight needs its input's int8 blocks "
                           "(run gemma-quantize-activations first)");
  };
  using R = FailureOr<std::string>;
  return llvm::TypeSwitch<Operation *, R>(op)
      .Case<EmbedOp>([&](EmbedOp e) -> R {
        WeightType t = e.getTable().getType();
        return lib.embed(t.getFormat(), t.getRows(), t.getCols(),
                         e.getScale().convertToFloat());
      })
      .Case<RMSNormOp>([&](RMSNormOp n) -> R {
        return lib.rmsNorm(widthOf(n.getInput()), n.getGroup(),
                           weightFormat(n.getWeight()),
                           n.getEps().convertToFloat());
      })
      .Case<RMSNormQuantizeOp>([&](RMSNormQuantizeOp n) -> R {
        int64_t width = widthOf(n.getInput());
        return lib.rmsNorm(width, width, weightFormat(n.getWeight()),
                           n.getEps().convertToFloat(),
                           actQuant(n.getBlocks().getType()));
      })
      .Case<RMSNormAddOp>([&](RMSNormAddOp n) -> R {
        std::optional<float> scale;
        if (n.getScale())
          scale = n.getScale()->convertToFloat();
        return lib.rmsNormAdd(widthOf(n.getInput()),
                              weightFormat(n.getWeight()),
                              n.getEps().convertToFloat(), {scale});
      })
      .Case<QuantizeActivationOp>([&](QuantizeActivationOp q) -> R {
        ActBlocksType blocks = q.getResult().getType();
        return lib.quantize(actQuant(blocks), blocks.getCols());
      })
      .Case<LinearOp>([&](LinearOp l) -> R {
        WeightType t = l.getWeight().getType();
        if (failed(checkInput(l.getInput(), t)))
          return failure();
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
        if (failed(checkInput(g.getInput(), t)))
          return failure();
        return lib.geglu(t.getFormat(), t.getRows(), t.getCols(),
                         rowsParam(g.getInput()));
      })
      .Case<RopeOp>([&](RopeOp r) -> R {
        RopeAttr rope = r.getRope();
        return lib.rope(r.getNumHeads(), r.getHeadDim(), rope.getFreqDim(),
                        rope.getRotatedPairs());
      })
      .Case<RMSNormRopeOp>([&](RMSNormRopeOp r) -> R {
        RopeAttr rope = r.getRope();
        return lib.rope(r.getNumHeads(), r.getHeadDim(), rope.getFreqDim(),
                        rope.getRotatedPairs(),
                        KernelLibrary::HeadNorm{weightFormat(r.getWeight()),
                                                r.getEps().convertToFloat()});
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
        return lib.binary(gpukernels::Binary::Add, widthOf(o.getResult()));
      })
      .Case<MulOp>([&](MulOp o) -> R {
        return lib.binary(gpukernels::Binary::Mul, widthOf(o.getResult()));
      })
      .Case<ScaleOp>([&](ScaleOp s) -> R {
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
      op.setAttr("gpu_kernel", FlatSymbolRefAttr::get(b.getContext(), *name));
    }
  }
};

} // namespace
