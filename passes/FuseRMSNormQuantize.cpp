//===- FuseRMSNormQuantize.cpp - a norm that writes its int8 blocks -------===//
//
// A whole-row RMSNorm read by quantized matvecs becomes
// gemma.rms_norm_quantize: its GPU kernel writes the normalized rows and
// their int8 blocks, which those matvecs then read (one quantizer launch
// fewer). Runs before gemma-quantize-activations, which quantizes the
// inputs left over.
//
//===----------------------------------------------------------------------===//

#include "dialects/gemma/GemmaDialect.h"
#include "passes/Passes.h"

#include "mlir/IR/Builders.h"

namespace gemmac {
#define GEN_PASS_DEF_FUSERMSNORMQUANTIZE
#include "passes/Passes.h.inc"
} // namespace gemmac

using namespace mlir;
using namespace gemmac::gemma;

namespace {

/// The weight of a matvec (linear, geglu, expert product) reading `v` as its
/// input, if `user` is one.
Value matvecWeightOf(Operation *user, Value v) {
  if (user->getNumOperands() == 0 || user->getOperand(0) != v)
    return {};
  if (auto l = dyn_cast<LinearOp>(user))
    return l.getWeight();
  if (auto g = dyn_cast<GeGLUOp>(user))
    return g.getGate();
  if (auto e = dyn_cast<ExpertLinearOp>(user))
    return e.getWeight();
  if (auto e = dyn_cast<ExpertGeGLUOp>(user))
    return e.getGate();
  return {};
}

std::optional<ActQuantizer> quantizerOf(Value weight) {
  return ActBlocksType::quantizerFor(
      cast<WeightType>(weight.getType()).getFormat());
}

struct FuseRMSNormQuantizePass
    : public gemmac::impl::FuseRMSNormQuantizeBase<FuseRMSNormQuantizePass> {
  void runOnOperation() override {
    SmallVector<RMSNormOp> norms;
    getOperation().walk([&](RMSNormOp n) { norms.push_back(n); });
    for (RMSNormOp norm : norms) {
      auto type = cast<RankedTensorType>(norm.getType());
      if (static_cast<int64_t>(norm.getGroup()) != type.getDimSize(1))
        continue; // the quantizer's blocks span whole rows
      // The blocks of the first quantized matvec reader (the kernel writes
      // one kind; readers of other kinds quantize for themselves).
      std::optional<ActQuantizer> q;
      for (Operation *user : norm.getResult().getUsers())
        if (Value w = matvecWeightOf(user, norm.getResult()))
          if ((q = quantizerOf(w)))
            break;
      if (!q)
        continue;
      OpBuilder b(norm);
      auto fused = RMSNormQuantizeOp::create(
          b, norm.getLoc(), type,
          ActBlocksType::get(&getContext(), *q, type.getDimSize(1)),
          norm.getInput(), norm.getWeight(), norm.getEpsAttr());
      norm.getResult().replaceAllUsesWith(fused.getResult());
      norm.erase();
      SmallVector<Operation *> users(fused.getResult().getUsers());
      for (Operation *user : users)
        if (Value w = matvecWeightOf(user, fused.getResult());
            w && quantizerOf(w) == q)
          user->setOperand(0, fused.getBlocks());
    }
  }
};

} // namespace
