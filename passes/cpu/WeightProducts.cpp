//===- WeightProducts.cpp - CPU lowering of ops that read weights ---------===//
//
// gemma.embed, gemma.linear and gemma.geglu call the weight kernel chosen by
// gemma-select-kernels (or the default for the weights' format and layout):
// projections, the logits projection and the fused GeGLU all read
// (rt, out, in, n_tokens, weights..., n_out, n_in). gemma.masked_logits (the
// centroid head) adds the cluster scores, top_k and the token ordering.
//
//===----------------------------------------------------------------------===//

#include "passes/cpu/CPULowering.h"

using namespace mlir;
using namespace gemmac::cpu;
using namespace gemmac::gemma;

namespace {

struct EmbedLowering : CPUOpLowering<EmbedOp> {
  using CPUOpLowering::CPUOpLowering;
  LogicalResult lower(EmbedOp e, CPULowering &l) const override {
    WeightType t = e.getTable().getType();
    FailureOr<const gemmac::KernelRow *> kernel = l.weightKernel(e, "embed", e.getTable());
    if (failed(kernel))
      return failure();
    Activation &out = l.allocate(e.getResult(), l.nTokens);
    return l.callKernel(e, **kernel,
                        {l.rt, out.view, l.tokens, l.nTokens,
                         l.weightView(e.getTable()), l.idx(t.getRows()),
                         l.idx(t.getCols()),
                         l.f32(e.getScale().convertToFloat())});
  }
};

struct LinearLowering : CPUOpLowering<LinearOp> {
  using CPUOpLowering::CPUOpLowering;
  LogicalResult lower(LinearOp op, CPULowering &l) const override {
    WeightType t = op.getWeight().getType();
    Activation in = l.act(op.getInput());
    FailureOr<const gemmac::KernelRow *> kernel =
        l.weightKernel(op, "linear", op.getWeight());
    if (failed(kernel))
      return failure();
    Activation &out = l.allocate(op.getResult(), in.rows);
    return l.callKernel(op, **kernel,
                        {l.rt, out.view, in.view, in.rows,
                         l.weightView(op.getWeight()), l.idx(t.getRows()),
                         l.idx(t.getCols())});
  }
};

struct GeGLULowering : CPUOpLowering<GeGLUOp> {
  using CPUOpLowering::CPUOpLowering;
  LogicalResult lower(GeGLUOp g, CPULowering &l) const override {
    WeightType t = g.getGate().getType();
    Activation in = l.act(g.getInput());
    FailureOr<const gemmac::KernelRow *> kernel =
        l.weightKernel(g, "geglu", {g.getGate(), g.getUp()});
    if (failed(kernel))
      return failure();
    Activation &out = l.allocate(g.getResult(), in.rows);
    return l.callKernel(g, **kernel,
                        {l.rt, out.view, in.view, in.rows,
                         l.weightView(g.getGate()), l.weightView(g.getUp()),
                         l.idx(t.getRows()), l.idx(t.getCols())});
  }
};

struct MaskedLogitsLowering : CPUOpLowering<MaskedLogitsOp> {
  using CPUOpLowering::CPUOpLowering;
  LogicalResult lower(MaskedLogitsOp op, CPULowering &l) const override {
    WeightType t = op.getTable().getType();
    Activation in = l.act(op.getInput());
    Activation scores = l.act(op.getScores());
    FailureOr<const gemmac::KernelRow *> kernel =
        l.weightKernel(op, "masked_logits", op.getTable());
    if (failed(kernel))
      return failure();
    Activation &out = l.allocate(op.getResult(), in.rows);
    return l.callKernel(op, **kernel,
                        {l.rt, out.view, in.view, in.rows,
                         l.weightView(op.getTable()), l.idx(t.getRows()),
                         l.idx(t.getCols()), scores.view, l.idx(scores.width),
                         l.idx(op.getTopK()), l.weightView(op.getOrdering())});
  }
};

} // namespace

void gemmac::cpu::populateWeightProductLowerings(RewritePatternSet &patterns,
                                                 CPULowering &lowering) {
  patterns
      .add<EmbedLowering, LinearLowering, GeGLULowering, MaskedLogitsLowering>(
          lowering);
}
