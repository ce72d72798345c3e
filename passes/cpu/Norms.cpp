//===- Norms.cpp - CPU lowering of normalizations -------------------------===//
//
// gemma.rms_norm normalizes every group of `group` features, in place when
// its input dies here; the optional weight is passed with its format id.
//
//===----------------------------------------------------------------------===//

#include "passes/cpu/CPULowering.h"

using namespace mlir;
using namespace gemmac::cpu;
using namespace gemmac::gemma;

namespace {

struct RMSNormLowering : CPUOpLowering<RMSNormOp> {
  using CPUOpLowering::CPUOpLowering;
  LogicalResult lower(RMSNormOp n, CPULowering &l) const override {
    Activation in = l.act(n.getInput());
    Activation &out = l.allocate(n.getResult(), in.rows, n.getInput());
    if (Value w = n.getWeight()) {
      auto wt = cast<WeightType>(w.getType());
      return l.callKernel(n, "gmk_rms_norm",
                          {l.rt, out.view, in.view, in.rows, l.idx(in.width),
                           l.idx(n.getGroup()), l.weightView(w),
                           l.i32(static_cast<int32_t>(wt.getFormat())),
                           l.f32(n.getEps().convertToFloat())});
    }
    return l.callKernel(n, "gmk_rms_norm_unweighted",
                        {l.rt, out.view, in.view, in.rows, l.idx(in.width),
                         l.idx(n.getGroup()),
                         l.f32(n.getEps().convertToFloat())});
  }
};

} // namespace

void gemmac::cpu::populateNormLowerings(RewritePatternSet &patterns,
                                        CPULowering &lowering) {
  patterns.add<RMSNormLowering>(lowering);
}
