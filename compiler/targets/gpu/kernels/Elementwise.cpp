//===- Elementwise.cpp - element-wise kernels -----------------------------===//

#include "compiler/targets/gpu/kernels/KernelBuilder.h"

#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace gemmac::gemma;
using namespace gemmac::gpukernels::detail;

namespace gemmac::gpukernels {

std::string KernelLibrary::quantizeFP4(int64_t width, float globalScale) {
  std::string name =
      llvm::formatv("quantize_fp4_{0}_g{1}", width, bitsOf(globalScale));
  KernelBuilder kb{module, target};
  if (kb.exists(name))
    return name;
  Type act = kb.f32Buf(kMaxBatch * width);
  kb.build(name, {act, act}, 0, 0, [&](Emitter &e, ValueRange a, ValueRange) {
    e.forEachColumn(width / 16, [&](Value t, Value block) {
      Value first = e.add(e.mul(t, width), e.mul(block, 16));
      Value amax = e.f32(0.0f);
      for (int64_t j = 0; j < 16; ++j) { // std::max(amax, |x|): NaN skipped
        Value x = math::AbsFOp::create(e.b, e.load(a[0], e.add(first, j)));
        amax = e.sel(e.fcmp(arith::CmpFPredicate::OLT, amax, x), x, amax);
      }
      Value g = e.f32(globalScale);
      Value s = e.e4m3(e.floatToE4M3(
          e.fmul(e.fmul(g, amax), e.f32(1.0f / 6.0f))));
      Value toCode = e.fdiv(g, s);
      Value zero = e.fcmp(arith::CmpFPredicate::OEQ, s, e.f32(0.0f));
      for (int64_t j = 0; j < 16; ++j) {
        Value at = e.add(first, j);
        Value code = e.floatToE2M1(e.fmul(e.load(a[0], at), toCode));
        Value v = e.fmul(e.sitofp(e.e2m1Doubled(code)), e.f32(0.5f));
        e.store(e.sel(zero, e.f32(0.0f), e.fdiv(e.fmul(v, s), g)), a[1], at);
      }
    });
  });
  return name;
}

std::string KernelLibrary::unary(Unary op, int64_t width, float constant) {
  static const char *names[] = {"scale", "gelu_tanh", "gelu_erf", "softcap",
                                "copy"};
  std::string name = llvm::formatv("{0}_{1}", names[static_cast<int>(op)],
                                   width);
  if (op == Unary::Scale || op == Unary::Softcap)
    name += "_c" + bitsOf(constant);
  KernelBuilder kb{module, target};
  if (kb.exists(name))
    return name;
  Type act = kb.f32Buf(kMaxBatch * width);
  SmallVector<Type> args = {act, act};
  if (op == Unary::GeluTanh)
    args.push_back(kb.geluTable());
  kb.build(name, args, 0, 0, [&](Emitter &e, ValueRange a, ValueRange) {
    e.forEachColumn(width, [&](Value t, Value i) {
      Value at = e.add(e.mul(t, width), i);
      Value x = e.load(a[0], at);
      Value y = x;
      switch (op) {
      case Unary::Scale:
        y = e.fmul(x, e.f32(constant));
        break;
      case Unary::GeluTanh:
        y = e.geluTanhTable(x, a[2]);
        break;
      case Unary::GeluErf:
        y = e.geluErf(x);
        break;
      case Unary::Softcap:
        y = e.fmul(e.tanh(e.fmul(x, e.f32(1.0f / constant))), e.f32(constant));
        break;
      case Unary::Copy:
        break;
      }
      e.store(y, a[1], at);
    });
  });
  return name;
}

std::string KernelLibrary::binary(Binary op, int64_t width) {
  std::string name = llvm::formatv("{0}_{1}", op == Binary::Add ? "add" : "mul",
                                   width);
  KernelBuilder kb{module, target};
  if (kb.exists(name))
    return name;
  Type act = kb.f32Buf(kMaxBatch * width);
  kb.build(name, {act, act, act}, 0, 0, [&](Emitter &e, ValueRange a, ValueRange) {
    e.forEachColumn(width, [&](Value t, Value i) {
      Value at = e.add(e.mul(t, width), i);
      Value x = e.load(a[0], at), y = e.load(a[1], at);
      e.store(op == Binary::Add ? e.fadd(x, y) : e.fmul(x, y), a[2], at);
    });
  });
  return name;
}

std::string KernelLibrary::scaleByWeight(int64_t width) {
  std::string name = llvm::formatv("scale_by_weight_{0}", width);
  KernelBuilder kb{module, target};
  if (kb.exists(name))
    return name;
  Type act = kb.f32Buf(kMaxBatch * width);
  kb.build(name, {act, kb.f32Buf(1), act}, 0, 0,
           [&](Emitter &e, ValueRange a, ValueRange) {
             e.forEachColumn(width, [&](Value t, Value i) {
               Value at = e.add(e.mul(t, width), i);
               e.store(e.fmul(e.load(a[0], at), e.load(a[1], e.idx(0))), a[2],
                       at);
             });
           });
  return name;
}

std::string KernelLibrary::columnSlice(int64_t width, int64_t offset,
                                       int64_t size) {
  std::string name =
      llvm::formatv("column_slice_{0}_{1}_{2}", width, offset, size);
  KernelBuilder kb{module, target};
  if (kb.exists(name))
    return name;
  kb.build(name, {kb.f32Buf(kMaxBatch * width), kb.f32Buf(kMaxBatch * size)},
           0, 0, [&](Emitter &e, ValueRange a, ValueRange) {
             e.forEachColumn(size, [&](Value t, Value i) {
               Value x = e.load(a[0], e.add(e.add(e.mul(t, width), offset), i));
               e.store(x, a[1], e.add(e.mul(t, size), i));
             });
           });
  return name;
}

std::string KernelLibrary::lastRows(int64_t width) {
  std::string name = llvm::formatv("last_rows_{0}", width);
  KernelBuilder kb{module, target};
  if (kb.exists(name))
    return name;
  Type act = kb.f32Buf(kMaxBatch * width);
  kb.build(name, {act, act, kb.params()}, 0, 0,
           [&](Emitter &e, ValueRange a, ValueRange) {
             e.forEachColumn(width, [&](Value t, Value i) {
               Value row = e.toIndex(
                   e.load(a[2], e.add(t, e.idx(kOutTable))));
               Value x = e.load(a[0], e.add(e.mul(row, width), i));
               e.store(x, a[1], e.add(e.mul(t, width), i));
             });
           });
  return name;
}

} // namespace gemmac::gpukernels

