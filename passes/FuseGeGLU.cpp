//===- FuseGeGLU.cpp - gate/up products + tanh GELU + product -> geglu ----===//

#include "dialects/gemma/GemmaDialect.h"
#include "passes/Passes.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace gemmac {
#define GEN_PASS_DEF_FUSEGEGLU
#include "passes/Passes.h.inc"
} // namespace gemmac

using namespace mlir;
using namespace gemmac::gemma;

namespace {

/// mul(gelu_tanh(linear(x, Wg)), linear(x, Wu)) -> geglu(x, Wg, Wu).
struct FuseGeGLUPattern : public OpRewritePattern<MulOp> {
  using OpRewritePattern<MulOp>::OpRewritePattern;

  LogicalResult matchAndRewrite(MulOp mul,
                                PatternRewriter &rewriter) const override {
    for (int gateSide = 0; gateSide < 2; ++gateSide) {
      Value gated = mul->getOperand(gateSide);
      Value other = mul->getOperand(1 - gateSide);
      auto gelu = gated.getDefiningOp<GeluOp>();
      auto up = other.getDefiningOp<LinearOp>();
      if (!gelu || !up || gelu.getApproximation() != GeluApprox::tanh)
        continue;
      auto gate = gelu.getInput().getDefiningOp<LinearOp>();
      if (!gate || gate.getInput() != up.getInput())
        continue;
      WeightType wg = gate.getWeight().getType(), wu = up.getWeight().getType();
      if (wg != wu)
        continue; // different shapes or formats: no single kernel reads both
      // The intermediates must not be needed anywhere else.
      if (!gate->hasOneUse() || !gelu->hasOneUse() || !up->hasOneUse())
        continue;
      // The fused op stays in its layer (gemma.layer): the attributes are
      // read before the replacement erases `mul`.
      DictionaryAttr layerAttrs = mul->getDiscardableAttrDictionary();
      auto geglu = rewriter.replaceOpWithNewOp<GeGLUOp>(
          mul, mul.getType(), gate.getInput(), gate.getWeight(),
          up.getWeight(), GeluApproxAttr::get(getContext(), GeluApprox::tanh));
      geglu->setDiscardableAttrs(layerAttrs);
      rewriter.eraseOp(gelu);
      rewriter.eraseOp(gate);
      rewriter.eraseOp(up);
      return success();
    }
    return rewriter.notifyMatchFailure(mul, "not a tanh GeGLU");
  }
};

/// mul(gelu_tanh(expert_linear(x, Wg, r)), expert_linear(x, Wu, r)) ->
/// expert_geglu(x, Wg, Wu, r): the experts' gate and up slices (of one fused
/// weight or two) read in one pass per chosen expert.
struct FuseExpertGeGLUPattern : public OpRewritePattern<MulOp> {
  using OpRewritePattern<MulOp>::OpRewritePattern;

  LogicalResult matchAndRewrite(MulOp mul,
                                PatternRewriter &rewriter) const override {
    for (int gateSide = 0; gateSide < 2; ++gateSide) {
      auto gelu = mul->getOperand(gateSide).getDefiningOp<GeluOp>();
      auto up = mul->getOperand(1 - gateSide).getDefiningOp<ExpertLinearOp>();
      if (!gelu || !up || gelu.getApproximation() != GeluApprox::tanh)
        continue;
      auto gate = gelu.getInput().getDefiningOp<ExpertLinearOp>();
      if (!gate || gate.getInput() != up.getInput() ||
          gate.getRouting() != up.getRouting() || gate.isPerSlot() ||
          gate.getNumRows() != up.getNumRows())
        continue;
      WeightType wg = gate.getWeight().getType(), wu = up.getWeight().getType();
      if (wg.getFormat() != wu.getFormat() || wg.getCols() != wu.getCols() ||
          wg.getExperts() != wu.getExperts())
        continue;
      if (!gate->hasOneUse() || !gelu->hasOneUse() || !up->hasOneUse())
        continue;
      DictionaryAttr layerAttrs = mul->getDiscardableAttrDictionary();
      auto geglu = rewriter.replaceOpWithNewOp<ExpertGeGLUOp>(
          mul, mul.getType(), gate.getInput(), gate.getWeight(),
          up.getWeight(), gate.getRouting(), gate.getFirstRowAttr(),
          up.getFirstRowAttr(), gate.getNumRowsAttr(),
          GeluApproxAttr::get(getContext(), GeluApprox::tanh));
      geglu->setDiscardableAttrs(layerAttrs);
      rewriter.eraseOp(gelu);
      rewriter.eraseOp(gate);
      rewriter.eraseOp(up);
      return success();
    }
    return rewriter.notifyMatchFailure(mul, "not a tanh expert GeGLU");
  }
};

struct FuseGeGLUPass : public gemmac::impl::FuseGeGLUBase<FuseGeGLUPass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<FuseGeGLUPattern, FuseExpertGeGLUPattern>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
