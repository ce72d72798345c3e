//===- Norms.cpp - CPU lowering of normalizations -------------------------===//
//
// gemma.rms_norm normalizes every group of `group` features, in place when
// its input dies here; the optional weight is passed with its format id.
// gemma.rms_norm_add and gemma.rms_norm_rope call fused kernels.
//
//===----------------------------------------------------------------------===//

#include "passes/cpu/CPULowering.h"

using namespace mlir;
using namespace gemmac::cpu;
using namespace gemmac::gemma;

namespace {

/// out = RMSNorm(in) over groups of `group` features [* weight].
LogicalResult normInto(CPULowering &l, Operation *op, const Activation &in,
                       const Activation &out, Value weight, int64_t group,
                       APFloat eps) {
  if (weight) {
    return l.callKernel(op, "gmk_rms_norm",
                        {l.rt, out.view, in.view, in.rows, l.idx(in.width),
                         l.idx(group), l.weightView(weight),
                         l.weightFormat(weight),
                         l.f32(eps.convertToFloat())});
  }
  return l.callKernel(op, "gmk_rms_norm_unweighted",
                      {l.rt, out.view, in.view, in.rows, l.idx(in.width),
                       l.idx(group), l.f32(eps.convertToFloat())});
}

struct RMSNormLowering : CPUOpLowering<RMSNormOp> {
  using CPUOpLowering::CPUOpLowering;
  LogicalResult lower(RMSNormOp n, CPULowering &l) const override {
    Activation in = l.act(n.getInput());
    Activation &out = l.allocate(n.getResult(), in.rows, n.getInput());
    return normInto(l, n, in, out, n.getWeight(), n.getGroup(), n.getEps());
  }
};

// The fused norms (gemma-fuse-rms-norm-add / -rope in the CPU kernel phase):
// one kernel call each, one pass over the row and one parallel dispatch
// instead of two or three, rounded as the ops they replace.

/// (RMSNorm(input) * weight + residual) [* scale].
struct RMSNormAddLowering : CPUOpLowering<RMSNormAddOp> {
  using CPUOpLowering::CPUOpLowering;
  LogicalResult lower(RMSNormAddOp n, CPULowering &l) const override {
    Activation in = l.act(n.getInput()), residual = l.act(n.getResidual());
    // Written in place of the input only when the residual is another value.
    Value reuse = n.getInput() != n.getResidual() ? n.getInput() : Value();
    Activation &out = l.allocate(n.getResult(), in.rows, reuse);
    // Without a layer scale the sum is multiplied by 1, which is exact.
    Value scale = l.f32(n.getScale() ? n.getScale()->convertToFloat() : 1.0f);
    Value eps = l.f32(n.getEps().convertToFloat());
    if (Value weight = n.getWeight()) {
        return l.callKernel(n, "gmk_rms_norm_add",
                          {l.rt, out.view, in.view, residual.view, in.rows,
                           l.idx(in.width), l.weightView(weight),
                           l.weightFormat(weight), eps,
                           scale});
    }
    return l.callKernel(n, "gmk_rms_norm_add_unweighted",
                        {l.rt, out.view, in.view, residual.view, in.rows,
                         l.idx(in.width), eps, scale});
  }
};

/// RoPE of the per-head RMSNorm, a token at a time.
struct RMSNormRopeLowering : CPUOpLowering<RMSNormRopeOp> {
  using CPUOpLowering::CPUOpLowering;
  LogicalResult lower(RMSNormRopeOp r, CPULowering &l) const override {
    Activation in = l.act(r.getInput());
    Activation &out = l.allocate(r.getResult(), in.rows, r.getInput());
    RopeAttr rope = r.getRope();
    SmallVector<Value> args = {l.rt,
                               out.view,
                               in.view,
                               in.rows,
                               l.idx(r.getNumHeads()),
                               l.idx(r.getHeadDim()),
                               l.positions,
                               l.f32(static_cast<float>(rope.getThetaValue())),
                               l.idx(rope.getFreqDim()),
                               l.idx(rope.getRotatedPairs())};
    Value eps = l.f32(r.getEps().convertToFloat());
    if (Value weight = r.getWeight()) {
        args.append({l.weightView(weight),
                   l.weightFormat(weight), eps});
      return l.callKernel(r, "gmk_rms_norm_rope", args);
    }
    args.push_back(eps);
    return l.callKernel(r, "gmk_rms_norm_rope_unweighted", args);
  }
};

} // namespace

void gemmac::cpu::populateNormLowerings(RewritePatternSet &patterns,
                                        CPULowering &lowering) {
  patterns.add<RMSNormLowering, RMSNormAddLowering, RMSNormRopeLowering>(
      lowering);
}
