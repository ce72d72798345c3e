//===- NVFP4Activations.cpp - what NVFP4 weights multiply -----------------===//

#include "dialects/gemma/GemmaDialect.h"
#include "passes/Passes.h"
#include "passes/RetypeWeights.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"

namespace gemmac {
#define GEN_PASS_DEF_NVFP4ACTIVATIONS
#include "passes/Passes.h.inc"
} // namespace gemmac

using namespace mlir;
using namespace gemmac::gemma;

namespace {

struct NVFP4ActivationsPass
    : public gemmac::impl::NVFP4ActivationsBase<NVFP4ActivationsPass> {
  using Base::Base;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (activations == "q8_0")
      return; // llama.cpp's numerics: the weights stay nvfp4
    if (activations != "f32" && activations != "fp4") {
      module.emitError("gemma-nvfp4-activations: activations must be q8_0, "
                       "f32 or fp4, not '")
          << activations << "'";
      return signalPassFailure();
    }
    SymbolTable symbols(module);
    if (activations == "fp4") {
      // Each linear over an NVFP4 weight reads its input as W4A4 kernels
      // see it: quantized with the weight's calibrated input scale.
      WalkResult walk = module.walk([&](LinearOp op) {
        auto w = op.getWeight().getDefiningOp<WeightOp>();
        if (!w || w.getType().getFormat() != WeightFormat::nvfp4)
          return WalkResult::advance();
        auto def = symbols.lookup<WeightDefOp>(w.getName());
        FloatAttr inputScale = def ? def.getInputScaleAttr() : FloatAttr();
        if (!inputScale) {
          op.emitOpError("weight @")
              << w.getName()
              << " has no input_scale: --nvfp4-activations fp4 quantizes "
                 "activations with the checkpoint's calibrated scales";
          return WalkResult::interrupt();
        }
        OpBuilder b(op);
        const float g = 1.0f / inputScale.getValue().convertToFloat();
        Value q = QuantizeFP4Op::create(b, op.getLoc(), op.getInput().getType(),
                                        op.getInput(), b.getF32FloatAttr(g));
        op.getInputMutable().assign(q);
        return WalkResult::advance();
      });
      if (walk.wasInterrupted())
        return signalPassFailure();
    }
    // f32 and fp4: the same blocks multiply f32 activations. Expert weights
    // (3-D) keep llama.cpp's numerics: the modes are the dense linears'.
    llvm::StringMap<WeightType> retyped;
    for (WeightDefOp def : module.getOps<WeightDefOp>()) {
      WeightType type = def.getWeightType();
      if (type.getFormat() == WeightFormat::nvfp4 && type.getRank() == 2)
        retyped[def.getSymName()] = WeightType::get(
            &getContext(), WeightFormat::nvfp4_f32, type.getShape());
    }
    gemmac::retypeWeights(module, retyped);
  }
};

} // namespace
