//===- Elementwise.cpp - CPU lowering of element-wise ops and slices ------===//
//
// Residual adds, products, scales and softcap become linalg.generic loops
// over the activations' views (written in place when the input dies here);
// GELU calls its kernel (the tanh form rounds through llama.cpp's table).
// gemma.column_slice copies columns; gemma.last_rows is a view of the last
// n_out rows, copied only when it is the entry's result.
//
//===----------------------------------------------------------------------===//

#include "passes/cpu/CPULowering.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace gemmac;
using namespace gemmac::cpu;
using namespace gemmac::gemma;

namespace {

template <typename OpT, typename ArithOp>
struct BinaryLowering : CPUOpLowering<OpT> {
  using CPUOpLowering<OpT>::CPUOpLowering;
  LogicalResult lower(OpT e, CPULowering &l) const override {
    Activation lhs = l.act(e.getLhs()), rhs = l.act(e.getRhs());
    Activation &out = l.allocate(e.getResult(), lhs.rows, e.getLhs());
    l.elementwise({lhs.view, rhs.view}, out.view,
                  [](OpBuilder &nb, Location loc, ValueRange x) -> Value {
                    return ArithOp::create(nb, loc, x[0], x[1]);
                  });
    return success();
  }
};

/// out = in * factor, for a factor computed before the loop.
void scaleBy(CPULowering &l, Activation in, Activation &out, Value factor) {
  l.elementwise({in.view}, out.view,
                [&](OpBuilder &nb, Location loc, ValueRange x) -> Value {
                  return arith::MulFOp::create(nb, loc, x[0], factor);
                });
}

struct ScaleLowering : CPUOpLowering<ScaleOp> {
  using CPUOpLowering::CPUOpLowering;
  LogicalResult lower(ScaleOp s, CPULowering &l) const override {
    Activation in = l.act(s.getInput());
    Activation &out = l.allocate(s.getResult(), in.rows, s.getInput());
    scaleBy(l, in, out, l.f32(s.getFactor().convertToFloat()));
    return success();
  }
};

/// The factor is a one-element weight: a constant when the importer folded
/// its value in, else loaded from the weight buffer.
struct ScaleByWeightLowering : CPUOpLowering<ScaleByWeightOp> {
  using CPUOpLowering::CPUOpLowering;
  LogicalResult lower(ScaleByWeightOp s, CPULowering &l) const override {
    Activation in = l.act(s.getInput());
    Activation &out = l.allocate(s.getResult(), in.rows, s.getInput());
    WeightDefOp def = l.weightDef(s.getFactor());
    Value factor;
    if (auto value = def.getValueAttr()) {
      factor = l.f32(cast<DenseFPElementsAttr>(value).getValues<float>()[0]);
    } else if (def.getWeightType().getFormat() != WeightFormat::f32) {
      return s.emitOpError("needs the value of its ")
             << def.getWeightType() << " factor (folded at import)";
    } else {
      Value cell = l.view(l.weights, l.idx(*def.getBlobOffset()), l.idx(1),
                          l.rewriter().getF32Type());
      factor = memref::LoadOp::create(l.rewriter(), l.loc(), cell,
                                      ValueRange{l.idx(0)});
    }
    scaleBy(l, in, out, factor);
    return success();
  }
};

struct GeluLowering : CPUOpLowering<GeluOp> {
  using CPUOpLowering::CPUOpLowering;
  LogicalResult lower(GeluOp g, CPULowering &l) const override {
    Activation in = l.act(g.getInput());
    Activation &out = l.allocate(g.getResult(), in.rows, g.getInput());
    return l.callKernel(
        g,
        g.getApproximation() == GeluApprox::tanh ? "gmk_gelu_tanh"
                                                 : "gmk_gelu_erf",
        {l.rt, out.view, in.view, l.mul(in.rows, l.idx(in.width))});
  }
};

/// NVFP4 activations emulated (gmk_quantize_fp4).
struct QuantizeFP4Lowering : CPUOpLowering<QuantizeFP4Op> {
  using CPUOpLowering::CPUOpLowering;
  LogicalResult lower(QuantizeFP4Op q, CPULowering &l) const override {
    Activation in = l.act(q.getInput());
    Activation &out = l.allocate(q.getResult(), in.rows, q.getInput());
    return l.callKernel(q, "gmk_quantize_fp4",
                        {l.rt, out.view, in.view,
                         l.mul(in.rows, l.idx(in.width)),
                         l.f32(q.getGlobalScale().convertToFloat())});
  }
};

/// cap * tanh(x / cap).
struct SoftcapLowering : CPUOpLowering<SoftcapOp> {
  using CPUOpLowering::CPUOpLowering;
  LogicalResult lower(SoftcapOp s, CPULowering &l) const override {
    Activation in = l.act(s.getInput());
    Activation &out = l.allocate(s.getResult(), in.rows, s.getInput());
    float cap = s.getCap().convertToFloat();
    Value inv = l.f32(1.0f / cap), capV = l.f32(cap);
    l.elementwise({in.view}, out.view,
                  [&](OpBuilder &nb, Location loc, ValueRange x) -> Value {
                    Value t = math::TanhOp::create(
                        nb, loc, arith::MulFOp::create(nb, loc, x[0], inv));
                    return arith::MulFOp::create(nb, loc, t, capV);
                  });
    return success();
  }
};

/// For every row t < rows: dst[t, dstAt + c] = src[t, srcAt + c], c < n
/// (row-major views of widths srcWidth and dstWidth).
void copyColumns(CPULowering &l, Value rows, Value src, int64_t srcWidth,
                 int64_t srcAt, Value dst, int64_t dstWidth, int64_t dstAt,
                 int64_t n) {
  OpBuilder &b = l.rewriter();
  Location loc = l.loc();
  Value c0 = l.idx(0), c1 = l.idx(1);
  auto rowsLoop = scf::ForOp::create(b, loc, c0, rows, c1);
  OpBuilder::InsertionGuard g(b);
  b.setInsertionPointToStart(rowsLoop.getBody());
  Value t = rowsLoop.getInductionVar();
  auto colLoop = scf::ForOp::create(b, loc, c0, l.idx(n), c1);
  b.setInsertionPointToStart(colLoop.getBody());
  Value c = colLoop.getInductionVar();
  Value from = l.add(l.add(l.mul(t, l.idx(srcWidth)), l.idx(srcAt)), c);
  Value to = l.add(l.add(l.mul(t, l.idx(dstWidth)), l.idx(dstAt)), c);
  Value v = memref::LoadOp::create(b, loc, src, ValueRange{from});
  memref::StoreOp::create(b, loc, v, dst, ValueRange{to});
}

struct ColumnSliceLowering : CPUOpLowering<ColumnSliceOp> {
  using CPUOpLowering::CPUOpLowering;
  LogicalResult lower(ColumnSliceOp s, CPULowering &l) const override {
    Activation in = l.act(s.getInput());
    Activation &out = l.allocate(s.getResult(), in.rows);
    copyColumns(l, in.rows, in.view, in.width, s.getOffset(), out.view,
                s.getSize(), 0, s.getSize());
    return success();
  }
};

/// out row t = [lhs row t ; rhs row t].
struct ConcatColumnsLowering : CPUOpLowering<ConcatColumnsOp> {
  using CPUOpLowering::CPUOpLowering;
  LogicalResult lower(ConcatColumnsOp op, CPULowering &l) const override {
    Activation lhs = l.act(op.getLhs()), rhs = l.act(op.getRhs());
    Activation &out = l.allocate(op.getResult(), lhs.rows);
    copyColumns(l, lhs.rows, lhs.view, lhs.width, 0, out.view, out.width, 0,
                lhs.width);
    copyColumns(l, lhs.rows, rhs.view, rhs.width, 0, out.view, out.width,
                lhs.width, rhs.width);
    return success();
  }
};

/// The rows whose outputs the step wants (out_rows), gathered.
struct LastRowsLowering : CPUOpLowering<LastRowsOp> {
  using CPUOpLowering::CPUOpLowering;
  LogicalResult lower(LastRowsOp r, CPULowering &l) const override {
    Activation in = l.act(r.getInput());
    Activation &out = l.allocate(r.getResult(), l.nOut);
    return l.callKernel(r, "gmk_gather_rows",
                        {l.rt, out.view, in.view, l.outRows, l.nOut,
                         l.idx(in.width)});
  }
};

} // namespace

void gemmac::cpu::populateElementwiseLowerings(RewritePatternSet &patterns,
                                               CPULowering &lowering) {
  patterns.add<BinaryLowering<AddOp, arith::AddFOp>,
               BinaryLowering<MulOp, arith::MulFOp>, ScaleLowering,
               ScaleByWeightLowering, GeluLowering, QuantizeFP4Lowering,
               SoftcapLowering,
               ColumnSliceLowering, ConcatColumnsLowering,
               LastRowsLowering>(lowering);
}
