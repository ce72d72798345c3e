//===- ReencodeGPTQ.cpp - GPTQ weights into q4_0 / q8_0 without loss ------===//

#include "dialects/gemma/GemmaDialect.h"
#include "passes/Passes.h"

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
  void runOnOperation() override {
    ModuleOp module = getOperation();
    llvm::StringMap<WeightType> narrowed;
    for (WeightDefOp def : module.getOps<WeightDefOp>()) {
      GPTQSourceAttr gptq = def.getGptqAttr();
      WeightType type = def.getWeightType();
      if (!gptq || type.getFormat() != WeightFormat::f32 ||
          !gptq.getBlockUniform() || type.getCols() % 32 != 0)
        continue;
      WeightFormat format =
          gptq.getSymmetric() ? WeightFormat::q4_0 : WeightFormat::q8_0;
      WeightType to = WeightType::get(&getContext(), format, type.getShape());
      def.setTypeAttr(TypeAttr::get(to));
      narrowed[def.getSymName()] = to;
    }
    if (narrowed.empty())
      return;
    module.walk([&](WeightOp op) {
      auto it = narrowed.find(op.getName());
      if (it != narrowed.end())
        op.getResult().setType(it->second);
    });
  }
};

} // namespace
