//===- FuseRMSNormRope.cpp - per-head RMSNorm + RoPE -> rms_norm_rope -----===//
//
// A per-head RMSNorm (Gemma 4's q and k norms) read only by the RoPE over
// the same heads becomes gemma.rms_norm_rope: a kernel normalizes each head
// where it rotates it (a GPU workgroup; a CPU thread, a token at a time),
// which saves a launch and a trip of the normalized heads through memory.
//
//===----------------------------------------------------------------------===//

#include "dialects/gemma/GemmaDialect.h"
#include "passes/Passes.h"

#include "mlir/IR/Builders.h"

namespace gemmac {
#define GEN_PASS_DEF_FUSERMSNORMROPE
#include "passes/Passes.h.inc"
} // namespace gemmac

using namespace mlir;
using namespace gemmac::gemma;

namespace {

struct FuseRMSNormRopePass
    : public gemmac::impl::FuseRMSNormRopeBase<FuseRMSNormRopePass> {
  void runOnOperation() override {
    SmallVector<RopeOp> ropes;
    getOperation().walk([&](RopeOp r) { ropes.push_back(r); });
    for (RopeOp rope : ropes) {
      auto norm = rope.getInput().getDefiningOp<RMSNormOp>();
      // The RoPE's workgroup holds one head: the norm's groups must be its
      // heads, and nothing else may need the normalized values.
      if (!norm || norm.getGroup() != rope.getHeadDim() ||
          !norm.getResult().hasOneUse())
        continue;
      OpBuilder b(rope);
      auto fused = RMSNormRopeOp::create(
          b, rope.getLoc(), rope.getType(), norm.getInput(), rope.getPos0(),
          norm.getWeight(), norm.getEpsAttr(), rope.getNumHeadsAttr(),
          rope.getHeadDimAttr(), rope.getRopeAttr());
      rope.getResult().replaceAllUsesWith(fused.getResult());
      rope.erase();
      norm.erase();
    }
  }
};

} // namespace
