//===- SpecializeLayers.cpp - each layer's shape, pinned ------------------===//

#include "dialects/gemma/GemmaDialect.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

namespace gemmac {
#define GEN_PASS_DEF_SPECIALIZELAYERS
#include "passes/Passes.h.inc"
} // namespace gemmac

using namespace mlir;
using namespace gemmac;
using namespace gemmac::gemma;

namespace {

/// The decoder layer an op belongs to (gemma.layer, set at import).
std::optional<int64_t> layerOf(Operation *op) {
  if (IntegerAttr layer =
          gemmaDialect(op->getContext())->getLayerAttrHelper().getAttr(op))
    return layer.getInt();
  return std::nullopt;
}

struct SpecializeLayersPass
    : public gemmac::impl::SpecializeLayersBase<SpecializeLayersPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();

    // The widest MLP projection of each layer (its intermediate size).
    DenseMap<int64_t, int64_t> ffn;
    module.walk([&](Operation *op) {
      auto layer = layerOf(op);
      if (!layer)
        return;
      int64_t width = 0;
      if (auto g = dyn_cast<GeGLUOp>(op))
        width = g.getGate().getType().getRows();
      else if (auto l = dyn_cast<LinearOp>(op)) {
        Operation *user = l->hasOneUse() ? *l->getUsers().begin() : nullptr;
        // Through an output scale (an NVFP4 projection's).
        if (user && isa<ScaleOp, ScaleByWeightOp>(user) && user->hasOneUse())
          user = *user->getUsers().begin();
        if (user && isa<GeluOp, MulOp>(user))
          width = l.getWeight().getType().getRows();
      }
      ffn[*layer] = std::max(ffn.lookup(*layer), width);
    });

    SmallVector<Attribute> layers;
    WalkResult r = module.walk([&](AttentionOp att) {
      auto rope = att.getQ().getDefiningOp<RopeOp>();
      if (!rope)
        return att.emitOpError("queries do not come from gemma.rope"),
               WalkResult::interrupt();
      if (rope.getNumHeads() != att.getNumHeads() ||
          rope.getHeadDim() != att.getHeadDim())
        return att.emitOpError("has ")
                   << att.getNumHeads() << " heads of " << att.getHeadDim()
                   << " but its queries were rotated as "
                   << rope.getNumHeads() << " heads of " << rope.getHeadDim(),
               WalkResult::interrupt();
      // K = V when the value is normalized from the key's own projection.
      bool kEqualsV = false;
      if (auto vNorm = att.getV().getDefiningOp<RMSNormOp>())
        if (auto kRope = att.getK().getDefiningOp<RopeOp>())
          if (auto kNorm = kRope.getInput().getDefiningOp<RMSNormOp>())
            kEqualsV = vNorm.getInput() == kNorm.getInput();
      int64_t layer = att.getLayer();
      layers.push_back(LayerAttr::get(
          ctx, layer, att.getWindow() > 0, att.getHeadDim(),
          att.getNumHeads(), att.getNumKvHeads(), att.getWindow(),
          att.getKvCache(), kEqualsV, ffn.lookup(layer), rope.getRope()));
      return WalkResult::advance();
    });
    if (r.wasInterrupted())
      return signalPassFailure();
    if (!layers.empty())
      gemmaDialect(ctx)->getLayersAttrHelper().setAttr(
          module, ArrayAttr::get(ctx, layers));
  }
};

} // namespace
