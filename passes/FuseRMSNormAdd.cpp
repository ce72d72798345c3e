//===- FuseRMSNormAdd.cpp - whole-row RMSNorm + residual add [+ scale] ----===//
//
// Gemma's post-attention and post-FFN norms are read only by the residual
// add (and the layer scale after it): gemma.rms_norm_add computes the three
// in one kernel (a GPU workgroup per row; one CPU pass over each row).
//
//===----------------------------------------------------------------------===//

#include "dialects/gemma/GemmaDialect.h"
#include "passes/Passes.h"

#include "mlir/IR/Builders.h"

namespace gemmac {
#define GEN_PASS_DEF_FUSERMSNORMADD
#include "passes/Passes.h.inc"
} // namespace gemmac

using namespace mlir;
using namespace gemmac::gemma;

namespace {

int64_t widthOf(Value v) {
  return cast<RankedTensorType>(v.getType()).getDimSize(1);
}

/// The whole-row norm `add` can compute: read by nothing else, and the
/// add's other operand no norm (a kernel computes one norm).
std::pair<RMSNormOp, Value> normOfAdd(AddOp add) {
  for (auto [mine, other] : {std::pair(add.getLhs(), add.getRhs()),
                             std::pair(add.getRhs(), add.getLhs())}) {
    auto norm = mine.getDefiningOp<RMSNormOp>();
    if (norm && norm.getResult().hasOneUse() &&
        norm.getGroup() == widthOf(norm.getInput()) &&
        !other.getDefiningOp<RMSNormOp>())
      return {norm, other};
  }
  return {};
}

struct FuseRMSNormAddPass
    : public gemmac::impl::FuseRMSNormAddBase<FuseRMSNormAddPass> {
  void runOnOperation() override {
    SmallVector<AddOp> adds;
    getOperation().walk([&](AddOp a) { adds.push_back(a); });
    for (AddOp add : adds) {
      auto [norm, residual] = normOfAdd(add);
      if (!norm)
        continue;
      // A scale that is the sum's only reader (the layer scale) joins too.
      Operation *last = add;
      FloatAttr scale;
      if (add.getResult().hasOneUse())
        if (auto s = dyn_cast<ScaleOp>(*add->getUsers().begin())) {
          last = s;
          scale = s.getFactorAttr();
        }
      OpBuilder b(last);
      auto fused = RMSNormAddOp::create(
          b, last->getLoc(), add.getType(), norm.getInput(), residual,
          norm.getWeight(), norm.getEpsAttr(), scale);
      last->getResult(0).replaceAllUsesWith(fused.getResult());
      last->erase();
      if (last != add.getOperation())
        add.erase();
      norm.erase();
    }
  }
};

} // namespace
