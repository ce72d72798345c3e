//===- Norms.cpp - CPU lowering of normalizations -------------------------===//
//
// gemma.rms_norm normalizes every group of `group` features, in place when
// its input dies here; the optional weight is passed with its format id.
// gemma.rms_norm_add and gemma.rms_norm_rope call the same kernel, then add
// the residual [and scale] or rotate in place.
//
//===----------------------------------------------------------------------===//

#include "passes/cpu/CPULowering.h"

#include "mlir/Dialect/Arith/IR/Arith.h"

using namespace mlir;
using namespace gemmac::cpu;
using namespace gemmac::gemma;

namespace {

/// out = RMSNorm(in) over groups of `group` features [* weight].
LogicalResult normInto(CPULowering &l, Operation *op, const Activation &in,
                       const Activation &out, Value weight, int64_t group,
                       APFloat eps) {
  if (weight) {
    auto wt = cast<WeightType>(weight.getType());
    return l.callKernel(op, "gmk_rms_norm",
                        {l.rt, out.view, in.view, in.rows, l.idx(in.width),
                         l.idx(group), l.weightView(weight),
                         l.i32(static_cast<int32_t>(wt.getFormat())),
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

// The fused norms of a GPU target's kernel phase, lowered as the ops they
// replace (the same kernel calls and loops, so the same bits): the CPU has no
// fused kernel for them yet, so its pipeline does not run those fusions, but
// a module that has them still compiles for the CPU.

/// (RMSNorm(input) * weight + residual) [* scale].
struct RMSNormAddLowering : CPUOpLowering<RMSNormAddOp> {
  using CPUOpLowering::CPUOpLowering;
  LogicalResult lower(RMSNormAddOp n, CPULowering &l) const override {
    Activation in = l.act(n.getInput()), residual = l.act(n.getResidual());
    // Written in place of the input only when the residual is another value.
    Value reuse = n.getInput() != n.getResidual() ? n.getInput() : Value();
    Activation &out = l.allocate(n.getResult(), in.rows, reuse);
    if (failed(normInto(l, n, in, out, n.getWeight(), in.width, n.getEps())))
      return failure();
    l.elementwise({out.view, residual.view}, out.view,
                  [](OpBuilder &nb, Location loc, ValueRange x) -> Value {
                    return arith::AddFOp::create(nb, loc, x[0], x[1]);
                  });
    if (std::optional<APFloat> scale = n.getScale()) {
      Value factor = l.f32(scale->convertToFloat());
      l.elementwise({out.view}, out.view,
                    [&](OpBuilder &nb, Location loc, ValueRange x) -> Value {
                      return arith::MulFOp::create(nb, loc, x[0], factor);
                    });
    }
    return success();
  }
};

/// RoPE of the per-head RMSNorm, rotated in place of the norm's result.
struct RMSNormRopeLowering : CPUOpLowering<RMSNormRopeOp> {
  using CPUOpLowering::CPUOpLowering;
  LogicalResult lower(RMSNormRopeOp r, CPULowering &l) const override {
    Activation in = l.act(r.getInput());
    Activation &out = l.allocate(r.getResult(), in.rows, r.getInput());
    if (failed(normInto(l, r, in, out, r.getWeight(), r.getHeadDim(),
                        r.getEps())))
      return failure();
    return callRope(l, r, out, out, r.getNumHeads(), r.getHeadDim(),
                    r.getRope());
  }
};

} // namespace

void gemmac::cpu::populateNormLowerings(RewritePatternSet &patterns,
                                        CPULowering &lowering) {
  patterns.add<RMSNormLowering, RMSNormAddLowering, RMSNormRopeLowering>(
      lowering);
}
