//===- ReencodeGPTQ.cpp - GPTQ weights into q4_0 / q8_0 without loss ------===//

#include "dialects/gemma/GemmaDialect.h"
#include "passes/Passes.h"
#include "passes/RetypeWeights.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/StringMap.h"

namespace gemmac {
#define GEN_PASS_DEF_REENCODEGPTQ
#include "passes/Passes.h.inc"
} // namespace gemmac

using namespace mlir;
using namespace gemmac::gemma;

namespace {

struct ReencodeGPTQPass
    : public gemmac::impl::ReencodeGPTQBase<ReencodeGPTQPass> {
  using Base::Base;
  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (activations != "q8_0" && activations != "f32") {
      module.emitError("gemma-reencode-gptq: activations must be q8_0 or "
                       "f32, not '")
          << activations << "'";
      return signalPassFailure();
    }
    const bool f32 = activations == "f32";
    llvm::StringMap<WeightType> narrowed;
    for (WeightDefOp def : module.getOps<WeightDefOp>()) {
      // A whole GPTQ weight, or one stacked from GPTQ parts: all of them
      // must allow the encoding.
      SmallVector<GPTQSourceAttr> sources;
      if (GPTQSourceAttr gptq = def.getGptqAttr())
        sources.push_back(gptq);
      if (ArrayAttr parts = def.getPartsAttr())
        for (WeightPartAttr p : parts.getAsRange<WeightPartAttr>())
          if (GPTQSourceAttr gptq = p.getGptq())
            sources.push_back(gptq);
      WeightType type = def.getWeightType();
      if (sources.empty() || type.getFormat() != WeightFormat::f32 ||
          type.getCols() % 32 != 0 ||
          !llvm::all_of(sources, [](GPTQSourceAttr g) {
            return g.getBlockUniform();
          }))
        continue;
      bool symmetric = llvm::all_of(
          sources, [](GPTQSourceAttr g) { return g.getSymmetric(); });
      WeightFormat format =
          symmetric
              ? (f32 ? WeightFormat::q4_0_f32 : WeightFormat::q4_0)
              : (f32 ? WeightFormat::q8_0_f32 : WeightFormat::q8_0);
      narrowed[def.getSymName()] =
          WeightType::get(&getContext(), format, type.getShape());
    }
    gemmac::retypeWeights(module, narrowed);
  }
};

} // namespace
