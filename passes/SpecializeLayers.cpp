//===- SpecializeLayers.cpp - each layer's shape, pinned ------------------===//

#include "dialects/gemma/GemmaDialect.h"
#include "passes/KernelCatalogue.h"
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

/// The runtime's attention over `kvType` caches instantiated for `headDim`
/// (a "_d<N>" row of abi/kernels.def), if it has one.
const KernelRow *specializedAttention(StringRef kvType, int64_t headDim) {
  for (const KernelRow &row : kernelCatalogue())
    if (row.kind == "attention" && row.format == kvType &&
        row.variant == std::to_string(headDim))
      return &row;
  return nullptr;
}

/// The decoder layer an op belongs to, from the importer's "blk.N" location.
std::optional<int64_t> layerOf(Operation *op) {
  auto name = dyn_cast<NameLoc>(op->getLoc());
  if (!name || !name.getName().getValue().starts_with("blk."))
    return std::nullopt;
  int64_t layer;
  if (name.getName().getValue().drop_front(4).getAsInteger(10, layer))
    return std::nullopt;
  return layer;
}

struct SpecializeLayersPass
    : public gemmac::impl::SpecializeLayersBase<SpecializeLayersPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    StringRef kv = kvCacheType(module).isF32() ? "f32" : "f16";

    // The widest MLP projection of each layer (its intermediate size).
    DenseMap<int64_t, int64_t> ffn;
    module.walk([&](Operation *op) {
      auto layer = layerOf(op);
      if (!layer)
        return;
      int64_t width = 0;
      if (auto g = dyn_cast<GeGLUOp>(op))
        width = g.getGate().getType().getRows();
      else if (auto l = dyn_cast<LinearOp>(op))
        if (l->hasOneUse() && isa<GeluOp, MulOp>(*l->getUsers().begin()))
          width = l.getWeight().getType().getRows();
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
      // One instantiation per head dim, shared by every layer of that shape.
      if (!att->hasAttr("kernel"))
        if (const KernelRow *row = specializedAttention(kv, att.getHeadDim()))
          att->setAttr("kernel", StringAttr::get(ctx, row->symbol));
      return WalkResult::advance();
    });
    if (r.wasInterrupted())
      return signalPassFailure();
    if (!layers.empty())
      module->setAttr("gemma.layers", ArrayAttr::get(ctx, layers));
  }
};

} // namespace
