//===- Experts.cpp - CPU lowering of the mixture-of-experts ops -----------===//
//
// gemma.moe_route, the expert products (gemma.expert_linear and the fused
// gemma.expert_geglu, weight kernels chosen per format and layout like a
// linear's), gemma.expert_scale and gemma.moe_combine call their runtime
// kernels (runtime/kernels/moe.cpp, linear.cpp); gemma.scale_columns, the
// router's per-feature scale, calls gmk_scale_columns.
//
//===----------------------------------------------------------------------===//

#include "passes/cpu/CPULowering.h"

using namespace mlir;
using namespace gemmac::cpu;
using namespace gemmac::gemma;

namespace {

struct ScaleColumnsLowering : CPUOpLowering<ScaleColumnsOp> {
  using CPUOpLowering::CPUOpLowering;
  LogicalResult lower(ScaleColumnsOp s, CPULowering &l) const override {
    Activation in = l.act(s.getInput());
    Activation &out = l.allocate(s.getResult(), in.rows, s.getInput());
    return l.callKernel(s, "gmk_scale_columns",
                        {l.rt, out.view, in.view, in.rows, l.idx(in.width),
                         l.weightView(s.getFactors()),
                         l.weightFormat(s.getFactors())});
  }
};

struct MoERouteLowering : CPUOpLowering<MoERouteOp> {
  using CPUOpLowering::CPUOpLowering;
  LogicalResult lower(MoERouteOp r, CPULowering &l) const override {
    Activation in = l.act(r.getLogits());
    Activation &out = l.allocate(r.getRouting(), in.rows);
    return l.callKernel(r, "gmk_moe_route",
                        {l.rt, out.view, in.view, in.rows, l.idx(in.width),
                         l.idx(r.getNumUsed())});
  }
};

int64_t slots(Value routing) {
  return cast<RankedTensorType>(routing.getType()).getDimSize(1) / 2;
}

struct ExpertLinearLowering : CPUOpLowering<ExpertLinearOp> {
  using CPUOpLowering::CPUOpLowering;
  LogicalResult lower(ExpertLinearOp op, CPULowering &l) const override {
    WeightType t = op.getWeight().getType();
    Activation in = l.act(op.getInput());
    Activation routing = l.act(op.getRouting());
    FailureOr<const gemmac::KernelRow *> kernel =
        l.weightKernel(op, "expert_linear", op.getWeight());
    if (failed(kernel))
      return failure();
    Activation &out = l.allocate(op.getResult(), in.rows);
    return l.callKernel(
        op, **kernel,
        {l.rt, out.view, in.view, in.rows, l.weightView(op.getWeight()),
         l.idx(op.getNumRows()), l.idx(t.getCols()), routing.view,
         l.idx(slots(op.getRouting())), l.idx(t.getExpertRows()),
         l.idx(op.getFirstRow()), l.idx(op.isPerSlot() ? 1 : 0)});
  }
};

struct ExpertGeGLULowering : CPUOpLowering<ExpertGeGLUOp> {
  using CPUOpLowering::CPUOpLowering;
  LogicalResult lower(ExpertGeGLUOp g, CPULowering &l) const override {
    WeightType gt = g.getGate().getType(), ut = g.getUp().getType();
    Activation in = l.act(g.getInput());
    Activation routing = l.act(g.getRouting());
    FailureOr<const gemmac::KernelRow *> kernel =
        l.weightKernel(g, "expert_geglu", {g.getGate(), g.getUp()});
    if (failed(kernel))
      return failure();
    Activation &out = l.allocate(g.getResult(), in.rows);
    return l.callKernel(
        g, **kernel,
        {l.rt, out.view, in.view, in.rows, l.weightView(g.getGate()),
         l.weightView(g.getUp()), l.idx(g.getNumRows()), l.idx(gt.getCols()),
         routing.view, l.idx(slots(g.getRouting())),
         l.idx(gt.getExpertRows()), l.idx(g.getGateFirstRow()),
         l.idx(ut.getExpertRows()), l.idx(g.getUpFirstRow())});
  }
};

struct ExpertScaleLowering : CPUOpLowering<ExpertScaleOp> {
  using CPUOpLowering::CPUOpLowering;
  LogicalResult lower(ExpertScaleOp s, CPULowering &l) const override {
    Activation in = l.act(s.getInput());
    Activation routing = l.act(s.getRouting());
    Activation &out = l.allocate(s.getResult(), in.rows, s.getInput());
    const int64_t k = slots(s.getRouting());
    return l.callKernel(
        s, "gmk_expert_scale",
        {l.rt, out.view, in.view, in.rows, l.idx(in.width / k), routing.view,
         l.idx(k), l.weightView(s.getScales()), l.weightFormat(s.getScales()),
         l.idx(s.getScales().getType().getCols())});
  }
};

struct MoECombineLowering : CPUOpLowering<MoECombineOp> {
  using CPUOpLowering::CPUOpLowering;
  LogicalResult lower(MoECombineOp c, CPULowering &l) const override {
    Activation in = l.act(c.getInput());
    Activation routing = l.act(c.getRouting());
    const int64_t k = slots(c.getRouting());
    Activation &out = l.allocate(c.getResult(), in.rows);
    return l.callKernel(c, "gmk_moe_combine",
                        {l.rt, out.view, in.view, in.rows,
                         l.idx(in.width / k), routing.view, l.idx(k)});
  }
};

} // namespace

void gemmac::cpu::populateExpertLowerings(RewritePatternSet &patterns,
                                          CPULowering &lowering) {
  patterns.add<ScaleColumnsLowering, MoERouteLowering, ExpertLinearLowering,
               ExpertGeGLULowering, ExpertScaleLowering, MoECombineLowering>(
      lowering);
}
