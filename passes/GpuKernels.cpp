//===- GpuKernels.cpp - Gemma 4's device kernels in the gpu dialect -------===//
//
// Each kernel is written once with the helpers below and specialized by its
// constants. Reductions go through workgroup memory with barriers (a tree
// over the 64 threads), which every Vulkan device and every CUDA GPU runs the
// same way, whatever its subgroup size.
//
//===----------------------------------------------------------------------===//

#include "passes/GpuKernels.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"

#include <cmath>
#include <cstring>

using namespace mlir;
using namespace gemmac;
using namespace gemmac::gemma;
using namespace gemmac::gpukernels;

namespace {

constexpr int64_t kWG = kWorkgroupSize;

/// A float constant's bits, for kernel names that must tell values apart.
std::string bitsOf(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return llvm::utohexstr(u, /*LowerCase=*/true);
}

/// Builds one kernel body: thin wrappers over arith/memref/scf/gpu ops.
class Emitter {
public:
  Emitter(ImplicitLocOpBuilder &b, bool fmaThroughDouble)
      : b(b), fmaThroughDouble(fmaThroughDouble) {}
  ImplicitLocOpBuilder &b;
  /// Vulkan allows OpExtInst Fma to round twice (lavapipe does): an f32 fma
  /// is then computed in double, where the product is exact and the sum is
  /// rounded once before the final rounding to f32 (which differs from a
  /// fused fma only when the double lands on an f32 midpoint, about 2^-28
  /// of the time). CUDA's fma.rn is fused.
  bool fmaThroughDouble;

  Value idx(int64_t v) { return arith::ConstantIndexOp::create(b, v); }
  Value f32(float v) {
    return arith::ConstantOp::create(b, b.getF32FloatAttr(v));
  }
  Value i32(int64_t v) {
    return arith::ConstantOp::create(b, b.getI32IntegerAttr(v));
  }
  Value add(Value x, Value y) { return arith::AddIOp::create(b, x, y); }
  Value sub(Value x, Value y) { return arith::SubIOp::create(b, x, y); }
  Value mul(Value x, Value y) { return arith::MulIOp::create(b, x, y); }
  Value div(Value x, Value y) { return arith::DivUIOp::create(b, x, y); }
  Value rem(Value x, Value y) { return arith::RemUIOp::create(b, x, y); }
  Value add(Value x, int64_t y) { return add(x, idx(y)); }
  Value mul(Value x, int64_t y) { return mul(x, idx(y)); }
  Value div(Value x, int64_t y) { return div(x, idx(y)); }
  Value rem(Value x, int64_t y) { return rem(x, idx(y)); }
  Value fadd(Value x, Value y) { return arith::AddFOp::create(b, x, y); }
  Value fsub(Value x, Value y) { return arith::SubFOp::create(b, x, y); }
  Value fmul(Value x, Value y) { return arith::MulFOp::create(b, x, y); }
  Value fdiv(Value x, Value y) { return arith::DivFOp::create(b, x, y); }
  Value fma(Value x, Value y, Value z) {
    if (fmaThroughDouble && x.getType().isF32()) {
      auto wide = [&](Value v) {
        return arith::ExtFOp::create(b, b.getF64Type(), v);
      };
      Value sum = arith::AddFOp::create(
          b, arith::MulFOp::create(b, wide(x), wide(y)), wide(z));
      return arith::TruncFOp::create(b, b.getF32Type(), sum);
    }
    return math::FmaOp::create(b, x, y, z);
  }
  Value fmax(Value x, Value y) { return arith::MaximumFOp::create(b, x, y); }
  Value sel(Value c, Value x, Value y) {
    return arith::SelectOp::create(b, c, x, y);
  }
  Value ult(Value x, Value y) {
    return arith::CmpIOp::create(b, arith::CmpIPredicate::ult, x, y);
  }
  Value ule(Value x, Value y) {
    return arith::CmpIOp::create(b, arith::CmpIPredicate::ule, x, y);
  }
  Value eq(Value x, Value y) {
    return arith::CmpIOp::create(b, arith::CmpIPredicate::eq, x, y);
  }
  Value fcmp(arith::CmpFPredicate p, Value x, Value y) {
    return arith::CmpFOp::create(b, p, x, y);
  }
  // i32 bit operations.
  Value band(Value x, int64_t m) { return arith::AndIOp::create(b, x, i32(m)); }
  Value bor(Value x, Value y) { return arith::OrIOp::create(b, x, y); }
  Value shl(Value x, Value s) { return arith::ShLIOp::create(b, x, s); }
  Value shr(Value x, Value s) { return arith::ShRUIOp::create(b, x, s); }
  Value shl(Value x, int64_t s) { return shl(x, i32(s)); }
  Value shr(Value x, int64_t s) { return shr(x, i32(s)); }
  Value toI32(Value index) {
    return arith::IndexCastOp::create(b, b.getI32Type(), index);
  }
  Value toIndex(Value i) {
    return arith::IndexCastOp::create(b, b.getIndexType(), i);
  }
  Value sitofp(Value i) { return arith::SIToFPOp::create(b, b.getF32Type(), i); }
  Value fptosi(Value f) {
    return arith::FPToSIOp::create(b, b.getI32Type(), f);
  }
  Value iadd(Value x, Value y) { return arith::AddIOp::create(b, x, y); }
  Value imul(Value x, Value y) { return arith::MulIOp::create(b, x, y); }
  Value imul(Value x, int64_t y) { return imul(x, i32(y)); }
  Value uitofp(Value i) { return arith::UIToFPOp::create(b, b.getF32Type(), i); }
  Value bitcastF32(Value i) {
    return arith::BitcastOp::create(b, b.getF32Type(), i);
  }
  Value bitcastI32(Value f) {
    return arith::BitcastOp::create(b, b.getI32Type(), f);
  }

  Value load(Value mem, Value i) { return memref::LoadOp::create(b, mem, i); }
  void store(Value v, Value mem, Value i) { memref::StoreOp::create(b, v, mem, i); }
  /// A byte of an i8 buffer, zero- or sign-extended to i32.
  Value u8(Value mem, Value i) {
    return arith::ExtUIOp::create(b, b.getI32Type(), load(mem, i));
  }
  Value s8(Value mem, Value i) {
    return arith::ExtSIOp::create(b, b.getI32Type(), load(mem, i));
  }
  // f16 <-> f32 in integer arithmetic: Vulkan lets a driver round OpFConvert
  // to f16 toward zero where llama.cpp rounds to nearest even, so KV caches
  // hold f16 bits in i16 buffers and every rounding to f16 is done here.

  /// The f32 value of the f16 bits in the low half of i32 `h`.
  Value halfToFloat(Value h) {
    Value sign = shl(band(h, 0x8000), 16);
    Value em = band(h, 0x7fff);
    Value exp = shr(em, 10);
    Value normal = bitcastF32(add(shl(em, 13), i32(112 << 23)));
    // Subnormals scaled as integers: no f32 denormal ever appears.
    Value subnormal = fmul(uitofp(em), f32(0x1p-24f));
    Value special = bitcastF32(bor(shl(em, 13), i32(0x7f800000)));
    Value v = sel(eq(exp, i32(0)), subnormal,
                  sel(eq(exp, i32(31)), special, normal));
    return bitcastF32(bor(bitcastI32(v), sign));
  }
  /// f16 bits (in an i32) of f32 `f`, rounded to nearest even.
  Value floatToHalf(Value f) {
    Value x = bitcastI32(f);
    Value sign = band(shr(x, 16), 0x8000);
    Value ax = band(x, 0x7fffffff);
    Value m = sub(ax, i32(0x38000000)); // rebias 127 -> 15
    Value normal = shr(add(add(m, i32(0xfff)), band(shr(m, 13), 1)), 13);
    Value subnormal = arith::FPToUIOp::create(
        b, b.getI32Type(),
        math::RoundEvenOp::create(b, fmul(bitcastF32(ax), f32(0x1p24f))));
    Value inf = i32(0x7c00);
    Value nan = i32(0x7e00);
    Value h = sel(ult(ax, i32(0x38800000)), subnormal,
                  sel(ult(ax, i32(0x477ff000)), normal,
                      sel(ult(i32(0x7f800000), ax), nan, inf)));
    return bor(h, sign);
  }
  Value fromI16(Value v) { return arith::ExtUIOp::create(b, b.getI32Type(), v); }
  Value toI16(Value v) { return arith::TruncIOp::create(b, b.getI16Type(), v); }
  /// f32 rounded to bf16 (nearest even) and back.
  Value roundToBF16(Value f) {
    Value x = bitcastI32(f);
    Value rounded = add(add(x, i32(0x7fff)), band(shr(x, 16), 1));
    return bitcastF32(shl(shr(rounded, 16), 16));
  }
  Value roundToF16(Value f) { return halfToFloat(floatToHalf(f)); }

  // f64 arithmetic (SPIR-V Float64, PTX .f64) where llama.cpp sums in double.
  Value f64(double v) {
    return arith::ConstantOp::create(b, b.getF64FloatAttr(v));
  }
  Value toF64(Value f) { return arith::ExtFOp::create(b, b.getF64Type(), f); }
  Value toF32(Value d) { return arith::TruncFOp::create(b, b.getF32Type(), d); }

  /// ggml's vectorized exp (ggml_v_expf) on one lane, operation by operation
  /// (runtime/kernels/attention_reference.h, polyExp). Exact only because
  /// the SPIR-V marks every operation NoContraction.
  Value polyExp(Value x) {
    Value magic = f32(0x1.8p23f);
    Value z = fma(x, f32(0x1.715476p+0f), magic);
    Value n = fsub(z, magic);
    Value negN = arith::NegFOp::create(b, n);
    Value bb = fma(negN, f32(0x1.7f7d1cp-20f), fma(negN, f32(0x1.62e4p-1f), x));
    Value e = shl(bitcastI32(z), 23);
    Value k = bitcastF32(add(e, i32(0x3f800000)));
    Value u = fmul(bb, bb);
    Value j = fma(fma(fma(f32(0x1.0e4020p-7f), bb, f32(0x1.573e2ep-5f)), u,
                      fma(f32(0x1.555e66p-3f), bb, f32(0x1.fffdb6p-2f))),
                  u, fmul(f32(0x1.ffffecp-1f), bb));
    Value absN = math::AbsFOp::create(b, n);
    Value g = sel(fcmp(arith::CmpFPredicate::OLE, n, f32(0.0f)),
                  i32(static_cast<int32_t>(0x82000000u)), i32(0));
    Value s1 = bitcastF32(add(g, i32(0x7f000000)));
    Value s2 = bitcastF32(sub(e, g));
    Value big = sel(fcmp(arith::CmpFPredicate::OGT, absN, f32(192.0f)),
                    fmul(s1, s1), fmul(fma(s2, j, s2), s1));
    return sel(fcmp(arith::CmpFPredicate::OLE, absN, f32(126.0f)), fma(j, k, k),
               big);
  }

  /// expf(x) for x <= 0 as glibc returns it (correctly rounded): e^x in
  /// double to ~1e-16 relative, rounded once to f32. x = k ln2 + r, e^r by
  /// its Taylor series to r^13 (|r| <= ln2/2), 2^k as two exact f32 powers.
  Value expfNonPositive(Value x) {
    Value xd = toF64(fmax(x, f32(-150.0f))); // below: 0 after rounding
    Value kd = math::RoundEvenOp::create(b, fmul(xd, f64(1.4426950408889634)));
    Value r = fma(arith::NegFOp::create(b, kd), f64(0x1.62e42fefa39efp-1), xd);
    r = fma(arith::NegFOp::create(b, kd), f64(0x1.abc9e3b39803fp-56), r);
    Value p = f64(1.0 / 6227020800.0); // 1/13!
    double fact = 6227020800.0;
    for (int i = 12; i >= 0; --i) {
      fact /= (i + 1);
      p = fma(p, r, f64(1.0 / fact));
    }
    Value k = arith::FPToSIOp::create(b, b.getI32Type(), kd);
    // k in [-217, 0]: 2^k = 2^k1 * 2^k2 with both within f32's normal range.
    Value k1 = arith::MaxSIOp::create(b, k, i32(-126));
    Value k2 = sub(k, k1);
    Value pow1 = toF64(bitcastF32(shl(add(k1, i32(127)), 23)));
    Value pow2 = toF64(bitcastF32(shl(add(k2, i32(127)), 23)));
    Value result = toF32(fmul(fmul(p, pow1), pow2));
    return sel(fcmp(arith::CmpFPredicate::OLT, x, f32(-150.0f)), f32(0.0f),
               result);
  }

  /// A little-endian f16 at byte offset i, as f32.
  Value f16At(Value mem, Value i) {
    Value bits = bor(u8(mem, i), shl(u8(mem, add(i, 1)), 8));
    Value h = arith::TruncIOp::create(b, b.getI16Type(), bits);
    Value f = arith::BitcastOp::create(b, b.getF16Type(), h);
    return arith::ExtFOp::create(b, b.getF32Type(), f);
  }
  /// A little-endian u32 at byte offset i.
  Value u32At(Value mem, Value i) {
    Value v = u8(mem, i);
    for (int k = 1; k < 4; ++k)
      v = bor(v, shl(u8(mem, add(i, k)), 8 * k));
    return v;
  }

  Value threadId() { return gpu::ThreadIdOp::create(b, gpu::Dimension::x); }
  Value blockId(gpu::Dimension d) { return gpu::BlockIdOp::create(b, d); }
  void barrier() { gpu::BarrierOp::create(b); }

  /// for (iv = lb; iv < ub; iv += step) body(iv).
  void loop(Value lb, Value ub, Value step, llvm::function_ref<void(Value)> body) {
    auto forOp = scf::ForOp::create(b, lb, ub, step);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(forOp.getBody()->getTerminator());
    body(forOp.getInductionVar());
  }
  /// A loop carrying values: body(iv, carried) returns the next ones.
  /// MLIR's SCF-to-SPIR-V conversion carries the values in variables that
  /// only the loop body stores, so a loop that runs zero times would yield
  /// garbage: unless the bounds show it runs, the loop sits in an scf.if
  /// whose other branch yields `init`.
  SmallVector<Value>
  loop(Value lb, Value ub, Value step, ValueRange init,
       llvm::function_ref<SmallVector<Value>(Value, ValueRange)> body) {
    std::optional<int64_t> l = getConstantIntValue(lb),
                           u = getConstantIntValue(ub);
    if (init.empty() || (l && u && *l < *u))
      return forLoop(lb, ub, step, init, body);
    auto ifOp = scf::IfOp::create(b, init.getTypes(), ult(lb, ub),
                                  /*withElseRegion=*/true);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(ifOp.thenBlock());
    scf::YieldOp::create(b, forLoop(lb, ub, step, init, body));
    b.setInsertionPointToStart(ifOp.elseBlock());
    scf::YieldOp::create(b, init);
    return SmallVector<Value>(ifOp.getResults());
  }
  SmallVector<Value>
  forLoop(Value lb, Value ub, Value step, ValueRange init,
          llvm::function_ref<SmallVector<Value>(Value, ValueRange)> body) {
    auto forOp = scf::ForOp::create(b, lb, ub, step, init);
    {
      OpBuilder::InsertionGuard guard(b);
      Block *block = forOp.getBody();
      if (!block->empty() && block->back().hasTrait<OpTrait::IsTerminator>())
        block->back().erase();
      b.setInsertionPointToEnd(block);
      SmallVector<Value> next =
          body(forOp.getInductionVar(), forOp.getRegionIterArgs());
      scf::YieldOp::create(b, next);
    }
    return SmallVector<Value>(forOp.getResults());
  }
  /// if (cond) body().
  void when(Value cond, llvm::function_ref<void()> body) {
    auto ifOp = scf::IfOp::create(b, cond, /*withElseRegion=*/false);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(ifOp.thenBlock()->getTerminator());
    body();
  }

  /// The element-wise grid (ceil(n/64), rows): body(t, i) for row t and
  /// column i < n of this thread.
  void forEachColumn(int64_t n, llvm::function_ref<void(Value, Value)> body) {
    Value t = blockId(gpu::Dimension::y);
    Value i = add(mul(blockId(gpu::Dimension::x), idx(kWG)), threadId());
    when(ult(i, idx(n)), [&] { body(t, i); });
  }

  /// Sum (or max) of one value per thread over the workgroup, through the
  /// workgroup buffer `scratch` of 64 floats. Every thread gets the result.
  Value reduce(Value v, Value scratch, Value tid, bool isMax) {
    barrier(); // earlier readers of scratch are done
    store(v, scratch, tid);
    barrier();
    for (int64_t s = kWG / 2; s >= 1; s /= 2) {
      when(ult(tid, idx(s)), [&] {
        Value x = load(scratch, tid), y = load(scratch, add(tid, s));
        store(isMax ? fmax(x, y) : fadd(x, y), scratch, tid);
      });
      barrier();
    }
    return load(scratch, idx(0));
  }
  /// Sum of one f64 per thread through an f64 workgroup buffer.
  Value reduceF64(Value v, Value scratch, Value tid) {
    barrier();
    store(v, scratch, tid);
    barrier();
    for (int64_t s = kWG / 2; s >= 1; s /= 2) {
      when(ult(tid, idx(s)), [&] {
        store(fadd(load(scratch, tid), load(scratch, add(tid, s))), scratch,
              tid);
      });
      barrier();
    }
    return load(scratch, idx(0));
  }

  /// exp(x): n = round(x / ln 2) and r = x - n ln 2 (Cody-Waite, two
  /// parts), e^r by ggml's degree-5 polynomial, times 2^n built from n's
  /// bits. n comes from a rounding instruction rather than the add-and-
  /// subtract-1.5*2^23 trick: Vulkan drivers may simplify float arithmetic
  /// that SPIR-V does not mark exact, and (x + M) - M folds to x.
  Value exp(Value x) {
    Value xc = fmax(arith::MinimumFOp::create(b, x, f32(88.0f)), f32(-87.0f));
    Value n = math::RoundEvenOp::create(b, fmul(xc, f32(0x1.715476p+0f)));
    Value negN = arith::NegFOp::create(b, n);
    Value r = fma(negN, f32(0x1.7f7d1cp-20f), fma(negN, f32(0x1.62e4p-1f), xc));
    Value ni = arith::FPToSIOp::create(b, b.getI32Type(), n);
    Value k = bitcastF32(shl(add(ni, i32(127)), 23));
    Value u = fmul(r, r);
    Value j = fma(fma(fma(f32(0x1.0e4020p-7f), r, f32(0x1.573e2ep-5f)), u,
                      fma(f32(0x1.555e66p-3f), r, f32(0x1.fffdb6p-2f))),
                  u, fmul(f32(0x1.ffffecp-1f), r));
    Value out = fma(j, k, k);
    Value over = fcmp(arith::CmpFPredicate::OGT, x, f32(88.72f));
    Value under = fcmp(arith::CmpFPredicate::OLT, x, f32(-87.33f));
    out = sel(over, f32(INFINITY), out);
    return sel(under, f32(0.0f), out); // exp(-inf) = 0 too
  }

  /// tanh(y) = sign(y) (1 - 2 / (exp(2|y|) + 1)).
  Value tanh(Value y) {
    Value a = math::AbsFOp::create(b, y);
    Value e = exp(fmul(a, f32(2.0f)));
    Value t = fsub(f32(1.0f), fdiv(f32(2.0f), fadd(e, f32(1.0f))));
    return math::CopySignOp::create(b, t, y);
  }
  /// erf(x), Abramowitz & Stegun 7.1.26 refined (|error| < 1.5e-7).
  Value erf(Value x) {
    Value a = math::AbsFOp::create(b, x);
    Value t = fdiv(f32(1.0f), fma(a, f32(0.3275911f), f32(1.0f)));
    Value p = f32(1.061405429f);
    for (float c : {-1.453152027f, 1.421413741f, -0.284496736f, 0.254829592f})
      p = fma(p, t, f32(c));
    p = fmul(p, t);
    Value e = exp(fsub(f32(0.0f), fmul(a, a)));
    Value r = fsub(f32(1.0f), fmul(p, e));
    return math::CopySignOp::create(b, r, x);
  }
  /// gelu_tanh as llama.cpp's CPU backend computes it: its table of f16
  /// results indexed by x rounded to f16 (`table`, built by the runtime);
  /// exact outside +-10.
  Value geluTanhTable(Value x, Value table) {
    Value g = halfToFloat(fromI16(load(table, toIndex(floatToHalf(x)))));
    Value low = fcmp(arith::CmpFPredicate::OLE, x, f32(-10.0f));
    Value high = fcmp(arith::CmpFPredicate::OGE, x, f32(10.0f));
    return sel(low, f32(0.0f), sel(high, x, g));
  }
  Value geluErf(Value x) {
    Value e = erf(fmul(x, f32(0.70710678118654752f)));
    return fmul(fmul(f32(0.5f), x), fadd(f32(1.0f), e));
  }


  /// Weight element (row, col) of a [rows, cols] weight in `format`.
  Value weightAt(WeightFormat format, Value w, Value row, Value col,
                 int64_t cols);
};

Value Emitter::weightAt(WeightFormat format, Value w, Value row, Value col,
                        int64_t cols) {
  switch (format) {
  case WeightFormat::f32:
    return load(w, add(mul(row, cols), col));
  case WeightFormat::f16:
    return arith::ExtFOp::create(b, b.getF32Type(),
                                 load(w, add(mul(row, cols), col)));
  case WeightFormat::bf16: {
    Value bits = arith::ExtUIOp::create(b, b.getI32Type(),
                                        load(w, add(mul(row, cols), col)));
    return bitcastF32(shl(bits, 16));
  }
  default:
    break;
  }
  const int64_t be = formatBlockElems(format), bb = formatBlockBytes(format);
  Value base = mul(add(mul(row, cols / be), div(col, be)), bb);
  Value e = rem(col, be);
  // The nibble of quant byte (e mod 16) in 32-element formats.
  auto nibble32 = [&](int64_t qsOffset) {
    Value byte = u8(w, add(add(base, qsOffset), rem(e, 16)));
    return band(shr(byte, toI32(mul(div(e, 16), 4))), 15);
  };
  switch (format) {
  case WeightFormat::q8_0:
    return fmul(f16At(w, base), sitofp(s8(w, add(add(base, 2), e))));
  case WeightFormat::q4_0:
    return fmul(f16At(w, base),
                sitofp(sub(nibble32(2), i32(8))));
  case WeightFormat::q4_1:
    return fadd(fmul(f16At(w, base), uitofp(nibble32(4))),
                f16At(w, add(base, 2)));
  case WeightFormat::q5_0:
  case WeightFormat::q5_1: {
    bool hasMin = format == WeightFormat::q5_1;
    Value qh = u32At(w, add(base, hasMin ? 4 : 2));
    Value high = band(shr(qh, toI32(e)), 1);
    Value q = bor(nibble32(hasMin ? 8 : 6), shl(high, 4));
    if (!hasMin)
      return fmul(f16At(w, base),
                  sitofp(sub(q, i32(16))));
    return fadd(fmul(f16At(w, base), uitofp(q)), f16At(w, add(base, 2)));
  }
  case WeightFormat::q4_k:
  case WeightFormat::q5_k: {
    // 8 sub-blocks of 32 with 6-bit scales and mins (get_scale_min_k4).
    Value g = div(e, 64), l = rem(e, 64), upper = div(l, 32);
    Value j = add(mul(g, 2), upper);
    Value s = add(base, 4);
    Value low = ult(j, idx(4));
    Value a = u8(w, add(s, sel(low, j, add(j, 4))));
    Value bq = u8(w, add(s, sel(low, add(j, 4), sub(j, idx(4)))));
    Value c = u8(w, add(s, j));
    Value sc = sel(low, band(a, 63), bor(band(a, 15), shl(shr(bq, 6), 4)));
    Value mn = sel(low, band(bq, 63), bor(shr(a, 4), shl(shr(c, 6), 4)));
    bool five = format == WeightFormat::q5_k;
    Value qsBase = add(base, five ? 48 : 16);
    Value byte = u8(w, add(add(qsBase, mul(g, 32)), rem(l, 32)));
    Value q = band(shr(byte, toI32(mul(upper, 4))), 15);
    if (five) {
      Value hb = band(shr(u8(w, add(add(base, 16), rem(l, 32))), toI32(j)), 1);
      q = bor(q, shl(hb, 4));
    }
    Value d = fmul(f16At(w, base), uitofp(sc));
    Value m = fmul(f16At(w, add(base, 2)), uitofp(mn));
    return fsub(fmul(d, uitofp(q)), m);
  }
  case WeightFormat::q6_k: {
    Value n = div(e, 128), r = rem(e, 128), qd = div(r, 32), l = rem(r, 32);
    Value qlb = u8(w, add(base, add(add(mul(n, 64), l), mul(rem(qd, 2), 32))));
    Value lo = band(shr(qlb, toI32(mul(div(qd, 2), 4))), 15);
    Value qhb = u8(w, add(base, add(add(mul(n, 32), l), idx(128))));
    Value hi = band(shr(qhb, toI32(mul(qd, 2))), 3);
    Value q = sub(bor(lo, shl(hi, 4)), i32(32));
    Value scIdx = add(add(base, 192), add(add(mul(n, 8), div(l, 16)), mul(qd, 2)));
    Value d = fmul(f16At(w, add(base, 208)), sitofp(s8(w, scIdx)));
    return fmul(d, sitofp(q));
  }
  default:
    llvm_unreachable("float formats are handled above");
  }
}

/// A 1-D buffer argument type: runtime-sized for SPIR-V (a runtime array),
/// static for NVVM's bare-pointer convention (the size only documents).
MemRefType bufferType(Target target, Type element, int64_t count) {
  int64_t n = target == Target::SPIRV ? ShapedType::kDynamic
                                      : std::max<int64_t>(count, 1);
  return MemRefType::get({n}, element);
}

Type weightElementType(MLIRContext *ctx, WeightFormat format) {
  switch (format) {
  case WeightFormat::f32:
    return Float32Type::get(ctx);
  case WeightFormat::f16:
    return Float16Type::get(ctx);
  case WeightFormat::bf16:
    return IntegerType::get(ctx, 16);
  default:
    return IntegerType::get(ctx, 8);
  }
}

int64_t weightElementCount(WeightFormat format, int64_t elements) {
  if (isFloatFormat(format))
    return elements;
  return elements / formatBlockElems(format) * formatBlockBytes(format);
}

} // namespace

namespace gemmac::gpukernels {

namespace {
/// Creates kernel `name` with the given buffer arguments and `scratch`
/// workgroup buffers of 64 floats (plus `extraScratch` more floats in one
/// more buffer when > 0), and builds its body.
struct KernelBuilder {
  gpu::GPUModuleOp module;
  Target target;

  bool exists(StringRef name) { return module.lookupSymbol(name) != nullptr; }

  void build(StringRef name, ArrayRef<Type> args, int scratch,
             int64_t extraScratch,
             llvm::function_ref<void(Emitter &, ValueRange, ValueRange)> body,
             bool f64Scratch = false) {
    MLIRContext *ctx = module.getContext();
    ImplicitLocOpBuilder b(module.getLoc(), ctx);
    b.setInsertionPointToEnd(module.getBody());
    // Workgroup memory: the gpu dialect's address space for NVVM, Vulkan's
    // numeric space 3 (map-memref-spirv-storage-class: Workgroup) for SPIR-V.
    Attribute workgroup =
        target == Target::NVVM
            ? Attribute(gpu::AddressSpaceAttr::get(ctx, gpu::AddressSpace::Workgroup))
            : Attribute(b.getI64IntegerAttr(3));
    SmallVector<Type> shared;
    for (int i = 0; i < scratch; ++i)
      shared.push_back(MemRefType::get({kWG}, b.getF32Type(),
                                       MemRefLayoutAttrInterface(), workgroup));
    if (extraScratch > 0)
      shared.push_back(MemRefType::get({extraScratch}, b.getF32Type(),
                                       MemRefLayoutAttrInterface(), workgroup));
    if (f64Scratch) // after the f32 ones: shared.back()
      shared.push_back(MemRefType::get({kWG}, b.getF64Type(),
                                       MemRefLayoutAttrInterface(), workgroup));
    // NVVM takes workgroup memory as the function's attributions; the SPIR-V
    // conversion takes it as allocations in the workgroup address space.
    bool attributions = target == Target::NVVM;
    auto fn = gpu::GPUFuncOp::create(
        b, name, b.getFunctionType(args, {}),
        attributions ? TypeRange(shared) : TypeRange(), TypeRange());
    fn->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
    fn.setKnownBlockSizeAttr(b.getDenseI32ArrayAttr({kWG, 1, 1}));
    Block &entry = fn.getBody().front();
    b.setInsertionPointToStart(&entry);
    SmallVector<Value> sharedValues(fn.getWorkgroupAttributions());
    if (!attributions)
      for (Type t : shared)
        sharedValues.push_back(memref::AllocOp::create(b, cast<MemRefType>(t)));
    Emitter e(b, /*fmaThroughDouble=*/target == Target::SPIRV);
    body(e, fn.getArguments(), sharedValues);
    gpu::ReturnOp::create(b);
  }

  Type buf(Type element, int64_t count) {
    return bufferType(target, element, count);
  }
  Type f32Buf(int64_t count) {
    return buf(Float32Type::get(module.getContext()), count);
  }
  Type params() {
    return MemRefType::get({kNumParams},
                           IntegerType::get(module.getContext(), 32));
  }
  /// llama.cpp's GELU table: f16 results indexed by f16 inputs.
  Type geluTable() {
    return buf(IntegerType::get(module.getContext(), 16), kGeluTableEntries);
  }
};

/// The runtime scalar `p` of the params buffer as an index.
Value param(Emitter &e, Value params, Param p) {
  return e.toIndex(e.load(params, e.idx(p)));
}
} // namespace

KernelLibrary::KernelLibrary(gpu::GPUModuleOp module, Target target)
    : module(module), target(target) {}

static std::string formatName(WeightFormat f) {
  return stringifyWeightFormat(f).str();
}

namespace {
/// One row of a quantized weight against one token's int8 activation blocks,
/// with exactly the operations of runtime/kernels/dot_reference.h (llama.cpp's
/// AVX2 kernels): integer block sums, then f32 chains per lane in block
/// order and the AVX2 horizontal sum. One thread computes one output.
struct QuantDot {
  Emitter &e;
  WeightFormat format;
  Value w, qs, aux; // weight bytes, activation quants (i8), side values
  int64_t rows, cols;
  Value row, t;

  int64_t be() const { return formatBlockElems(format); }
  int64_t bb() const { return formatBlockBytes(format); }
  int64_t nb() const { return cols / be(); }
  ActQuant aq() const { return activationQuant(format); }

  Value i32(int64_t v) { return e.i32(v); }
  Value blockBase(Value b) {
    return e.mul(e.add(e.mul(row, nb()), b), bb());
  }
  /// Activation quant `el` (an index offset) of block b, as i32.
  Value act(Value b, Value el) {
    return e.s8(qs, e.add(e.add(e.mul(t, cols), e.mul(b, be())), el));
  }
  Value act(Value b, int64_t el) { return act(b, e.idx(el)); }
  Value auxAt(Value b, int64_t k) {
    int64_t per = actAuxPerBlock(aq());
    int64_t blocks = cols / actBlockElems(aq());
    return e.load(aux, e.add(e.mul(e.add(e.mul(t, blocks), b), per), k));
  }
  Value byteAt(Value base, int64_t off) { return e.u8(w, e.add(base, off)); }
  Value byteAt(Value base, Value off) { return e.u8(w, e.add(base, off)); }
  Value nibble(Value byte, bool high) {
    return high ? e.shr(byte, 4) : e.band(byte, 15);
  }

  static Value hsum8(Emitter &e, ArrayRef<Value> v) {
    return e.fadd(e.fadd(e.fadd(v[0], v[4]), e.fadd(v[2], v[6])),
                  e.fadd(e.fadd(v[1], v[5]), e.fadd(v[3], v[7])));
  }

  /// The signed (Q8_0/Q4_0/Q5_0) or unsigned (Q4_1/Q5_1) quants of a 32-block.
  SmallVector<Value> quants32(Value base) {
    SmallVector<Value> q(32);
    Value qh;
    int64_t qsOff = 2;
    switch (format) {
    case WeightFormat::q8_0:
      for (int j = 0; j < 32; ++j)
        q[j] = e.s8(w, e.add(base, 2 + j));
      return q;
    case WeightFormat::q4_1: qsOff = 4; break;
    case WeightFormat::q5_0: qh = e.u32At(w, e.add(base, 2)); qsOff = 6; break;
    case WeightFormat::q5_1: qh = e.u32At(w, e.add(base, 4)); qsOff = 8; break;
    default: break;
    }
    for (int j = 0; j < 16; ++j) {
      Value byte = byteAt(base, qsOff + j);
      q[j] = nibble(byte, false);
      q[j + 16] = nibble(byte, true);
      if (qh) {
        q[j] = e.bor(q[j], e.shl(e.band(e.shr(qh, j), 1), 4));
        q[j + 16] = e.bor(q[j + 16], e.shl(e.band(e.shr(qh, j + 16), 1), 4));
      }
    }
    int64_t bias = format == WeightFormat::q4_0 ? 8
                   : format == WeightFormat::q5_0 ? 16 : 0;
    if (bias)
      for (Value &v : q)
        v = e.sub(v, i32(bias));
    return q;
  }

  /// 6-bit scale and min of sub-block j (a Value in 0..7) of a K block.
  std::pair<Value, Value> scaleMin(Value base, Value j) {
    Value sBase = e.add(base, 4);
    Value low = e.ult(j, e.idx(4));
    Value a = byteAt(sBase, e.sel(low, j, e.add(j, 4)));
    Value bq = byteAt(sBase, e.sel(low, e.add(j, 4), e.sub(j, e.idx(4))));
    Value c = byteAt(sBase, j);
    Value sc = e.sel(low, e.band(a, 63), e.bor(e.band(a, 15), e.shl(e.shr(bq, 6), 4)));
    Value mn = e.sel(low, e.band(bq, 63), e.bor(e.shr(a, 4), e.shl(e.shr(c, 6), 4)));
    return {sc, mn};
  }
  /// Unsigned quant l (constant 0..31) of sub-block s of a Q4_K/Q5_K block.
  Value quantK(Value base, Value s, int64_t l) {
    bool five = format == WeightFormat::q5_k;
    Value chunk = e.div(s, 2), upper = e.rem(s, 2);
    Value byte = byteAt(e.add(base, five ? 48 : 16), e.add(e.mul(chunk, 32), l));
    Value q = e.band(e.shr(byte, e.toI32(e.mul(upper, 4))), 15);
    if (five) {
      Value hb = e.band(e.shr(byteAt(base, 16 + l), e.toI32(s)), 1);
      q = e.bor(q, e.shl(hb, 4));
    }
    return q;
  }
  /// Unsigned 6-bit quant l (constant 0..31) of chunk c (0..7) of Q6_K.
  Value quant6(Value base, Value c, int64_t l) {
    Value n = e.div(c, 4), qd = e.rem(c, 4);
    Value qlb = byteAt(base, e.add(e.add(e.mul(n, 64), l), e.mul(e.rem(qd, 2), 32)));
    Value lo = e.band(e.shr(qlb, e.toI32(e.mul(e.div(qd, 2), 4))), 15);
    Value qhb = byteAt(base, e.add(e.add(e.mul(n, 32), l), 128));
    Value hi = e.band(e.shr(qhb, e.toI32(e.mul(qd, 2))), 3);
    return e.bor(lo, e.shl(hi, 4));
  }
  Value bsum(Value b, int64_t g) { return e.fptosi(auxAt(b, 1 + g)); }

  Value dot() {
    switch (format) {
    case WeightFormat::q8_0:
    case WeightFormat::q5_0:
      return lanes32(false);
    case WeightFormat::q4_0:
      return rows % 8 == 0 ? chainQ4_0() : lanes32(false);
    case WeightFormat::q4_1:
    case WeightFormat::q5_1:
      return lanes32(true);
    case WeightFormat::q4_k:
      return rows % 8 == 0 ? gemmQ4_K() : lanesK();
    case WeightFormat::q5_k:
      return lanesK();
    case WeightFormat::q6_k:
      return lanesQ6_K();
    default:
      llvm_unreachable("float formats take floatMatvecBody");
    }
  }

  /// dotLanes / dotLanesAffine.
  Value lanes32(bool affine) {
    SmallVector<Value> init(affine ? 9 : 8, e.f32(0.0f));
    SmallVector<Value> acc = e.loop(
        e.idx(0), e.idx(nb()), e.idx(1), init,
        [&](Value b, ValueRange v) -> SmallVector<Value> {
          Value base = blockBase(b);
          SmallVector<Value> next(v.begin(), v.end());
          if (affine)
            next[8] = e.fadd(v[8], e.fmul(e.f16At(w, e.add(base, 2)), auxAt(b, 1)));
          SmallVector<Value> q = quants32(base);
          Value d = e.fmul(e.f16At(w, base), auxAt(b, 0));
          for (int l = 0; l < 8; ++l) {
            Value isum = i32(0);
            for (int j = 4 * l; j < 4 * l + 4; ++j)
              isum = e.iadd(isum, e.imul(q[j], act(b, j)));
            next[l] = e.fma(d, e.sitofp(isum), v[l]);
          }
          return next;
        });
    Value sum = hsum8(e, ArrayRef<Value>(acc).take_front(8));
    return affine ? e.fadd(sum, acc[8]) : sum;
  }

  /// dotQ4_0Chain: one chain, one fused step per block.
  Value chainQ4_0() {
    return e.loop(e.idx(0), e.idx(nb()), e.idx(1), {e.f32(0.0f)},
                  [&](Value b, ValueRange v) -> SmallVector<Value> {
                    Value base = blockBase(b);
                    SmallVector<Value> q = quants32(base);
                    Value isum = i32(0);
                    for (int j = 0; j < 32; ++j)
                      isum = e.iadd(isum, e.imul(q[j], act(b, j)));
                    Value d = e.fmul(e.f16At(w, base), auxAt(b, 0));
                    return {e.fma(e.sitofp(isum), d, v[0])};
                  })[0];
  }

  /// Integer dot of sub-block s (a Value) with the activation quants.
  Value subDotK(Value base, Value b, Value s) {
    Value d = i32(0);
    for (int l = 0; l < 32; ++l)
      d = e.iadd(d, e.imul(quantK(base, s, l),
                           act(b, e.add(e.mul(s, 32), l))));
    return d;
  }

  /// dotQ4_KGemm: pairs of sub-blocks per fused step; minimums apart.
  Value gemmQ4_K() {
    SmallVector<Value> r = e.loop(
        e.idx(0), e.idx(nb()), e.idx(1), {e.f32(0.0f), e.f32(0.0f)},
        [&](Value b, ValueRange v) -> SmallVector<Value> {
          Value base = blockBase(b);
          Value ad = auxAt(b, 0);
          Value D = e.fmul(e.f16At(w, base), ad);
          Value Dm = e.fmul(e.f16At(w, e.add(base, 2)), ad);
          Value acc = v[0], accm = v[1];
          for (int sb = 0; sb < 4; ++sb) {
            Value s0 = e.idx(2 * sb), s1 = e.idx(2 * sb + 1);
            auto [sc0, mn0] = scaleMin(base, s0);
            auto [sc1, mn1] = scaleMin(base, s1);
            Value S = e.iadd(e.imul(sc0, subDotK(base, b, s0)),
                             e.imul(sc1, subDotK(base, b, s1)));
            Value bs0 = e.iadd(bsum(b, 4 * sb), bsum(b, 4 * sb + 1));
            Value bs1 = e.iadd(bsum(b, 4 * sb + 2), bsum(b, 4 * sb + 3));
            Value M = e.iadd(e.imul(bs0, mn0), e.imul(bs1, mn1));
            acc = e.fma(e.sitofp(S), D, acc);
            accm = e.fma(e.sitofp(M), Dm, accm);
          }
          return {acc, accm};
        });
    return e.fsub(r[0], r[1]);
  }

  /// dotK: eight lanes weighted by sub-block scales; Q4_K's minimums in four
  /// lanes, Q5_K's in one fused chain.
  Value lanesK() {
    bool five = format == WeightFormat::q5_k;
    // acc[0..7], then am[0..3] (Q4_K) or summs (Q5_K).
    SmallVector<Value> init(five ? 9 : 12, e.f32(0.0f));
    SmallVector<Value> r = e.loop(
        e.idx(0), e.idx(nb()), e.idx(1), init,
        [&](Value b, ValueRange v) -> SmallVector<Value> {
          Value base = blockBase(b);
          Value ad = auxAt(b, 0);
          Value d = e.fmul(ad, e.f16At(w, base));
          Value dmin = arith::NegFOp::create(
              e.b, e.fmul(ad, e.f16At(w, e.add(base, 2))));
          SmallVector<Value> next(v.begin(), v.end());
          Value P[4];
          for (int k = 0; k < 4; ++k) {
            Value bs0 = e.iadd(bsum(b, 4 * k), bsum(b, 4 * k + 1));
            Value bs1 = e.iadd(bsum(b, 4 * k + 2), bsum(b, 4 * k + 3));
            Value mn0 = scaleMin(base, e.idx(2 * k)).second;
            Value mn1 = scaleMin(base, e.idx(2 * k + 1)).second;
            P[k] = e.iadd(e.imul(mn0, bs0), e.imul(mn1, bs1));
          }
          if (five) {
            Value all = e.iadd(e.iadd(e.iadd(P[0], P[1]), P[2]), P[3]);
            next[8] = e.fma(e.sitofp(all), dmin, v[8]);
          } else {
            for (int k = 0; k < 4; ++k)
              next[8 + k] = e.fma(dmin, e.sitofp(P[k]), v[8 + k]);
          }
          // L[lane] = sum over sub-blocks of scale * (4-element part).
          SmallVector<Value> L = e.loop(
              e.idx(0), e.idx(8), e.idx(1), SmallVector<Value>(8, i32(0)),
              [&](Value sIdx, ValueRange lv) -> SmallVector<Value> {
                Value sc = scaleMin(base, sIdx).first;
                SmallVector<Value> out;
                for (int l = 0; l < 8; ++l) {
                  Value part = i32(0);
                  for (int j = 4 * l; j < 4 * l + 4; ++j)
                    part = e.iadd(part,
                                  e.imul(quantK(base, sIdx, j),
                                         act(b, e.add(e.mul(sIdx, 32), j))));
                  out.push_back(e.iadd(lv[l], e.imul(sc, part)));
                }
                return out;
              });
          for (int l = 0; l < 8; ++l)
            next[l] = e.fma(d, e.sitofp(L[l]), v[l]);
          return next;
        });
    Value sum = hsum8(e, ArrayRef<Value>(r).take_front(8));
    if (five)
      return e.fadd(sum, r[8]);
    return e.fadd(sum, e.fadd(e.fadd(r[8], r[10]), e.fadd(r[9], r[11])));
  }

  /// dotQ6_K: eight lanes; the -32 through the activation sums.
  Value lanesQ6_K() {
    SmallVector<Value> acc = e.loop(
        e.idx(0), e.idx(nb()), e.idx(1), SmallVector<Value>(8, e.f32(0.0f)),
        [&](Value b, ValueRange v) -> SmallVector<Value> {
          Value base = blockBase(b);
          auto scale = [&](Value i) {
            return e.s8(w, e.add(e.add(base, 192), i));
          };
          Value d = e.fmul(auxAt(b, 0), e.f16At(w, e.add(base, 208)));
          SmallVector<Value> L = e.loop(
              e.idx(0), e.idx(8), e.idx(1), SmallVector<Value>(8, i32(0)),
              [&](Value c, ValueRange lv) -> SmallVector<Value> {
                SmallVector<Value> out;
                for (int l = 0; l < 8; ++l) {
                  Value part = i32(0);
                  for (int j = 4 * l; j < 4 * l + 4; ++j)
                    part = e.iadd(part, e.imul(quant6(base, c, j),
                                               act(b, e.add(e.mul(c, 32), j))));
                  Value sc = scale(e.add(e.mul(c, 2), l >= 4 ? 1 : 0));
                  out.push_back(e.iadd(lv[l], e.imul(sc, part)));
                }
                return out;
              });
          SmallVector<Value> next;
          for (int l = 0; l < 8; ++l) {
            Value corr = e.iadd(e.imul(bsum(b, 2 * l), scale(e.idx(2 * l))),
                                e.imul(bsum(b, 2 * l + 1), scale(e.idx(2 * l + 1))));
            Value Ll = e.sub(L[l], e.imul(corr, 32));
            next.push_back(e.fma(d, e.sitofp(Ll), v[l]));
          }
          return next;
        });
    return hsum8(e, acc);
  }
};
} // namespace

/// Float weights (F32/F16/BF16) as llama.cpp's CPU backend multiplies them:
/// activations rounded to the weight's type, then (tinyBLAS, k % 8 == 0 and
/// rows % 4 == 0) eight lanes per row, lane t one fused chain over elements
/// t, t+8, ..., summed ((v0+v4)+(v2+v6)) + ((v1+v5)+(v3+v7)); or (vec_dot)
/// 4x8 lanes over blocks of 32, the leftovers added in double. A workgroup
/// takes eight rows (tinyBLAS) or two (vec_dot) of one token.
static void floatMatvecBody(Emitter &e, WeightFormat format, int64_t rows,
                            int64_t cols, unsigned nw, ValueRange a,
                            ValueRange shared) {
  const bool tiny = cols % 8 == 0 && rows % 4 == 0;
  const int64_t lanes = tiny ? 8 : 32;
  Value tid = e.threadId();
  Value t = e.blockId(gpu::Dimension::y);
  Value row = e.add(e.mul(e.blockId(gpu::Dimension::x), kWG / lanes),
                    e.div(tid, lanes));
  Value lane = e.rem(tid, lanes);
  Value live = e.ult(row, e.idx(rows));
  Value safeRow = e.sel(live, row, e.idx(0));
  Value xBase = e.mul(t, cols);
  auto act = [&](Value c) {
    Value x = e.load(a[nw], e.add(xBase, c));
    if (format == WeightFormat::f16)
      return e.roundToF16(x);
    if (format == WeightFormat::bf16)
      return e.roundToBF16(x);
    return x;
  };
  // This lane's fused chain(s), one per weight.
  SmallVector<Value> init(nw, e.f32(0.0f));
  const int64_t np = tiny ? cols : cols / 32 * 32;
  // tinyBLAS: lane t takes t, t+8, ...; vec_dot: lane 8a+t takes 8a+t,
  // 8a+t+32, ... of the whole blocks of 32.
  SmallVector<Value> acc = e.loop(
      lane, e.idx(np), e.idx(tiny ? 8 : 32), init,
      [&](Value c, ValueRange v) -> SmallVector<Value> {
        Value x = act(c);
        SmallVector<Value> next;
        for (unsigned k = 0; k < nw; ++k)
          next.push_back(
              e.fma(e.weightAt(format, a[k], safeRow, c, cols), x, v[k]));
        return next;
      });
  SmallVector<Value> sums;
  for (unsigned k = 0; k < nw; ++k) {
    Value scratch = shared[k];
    e.barrier();
    e.store(acc[k], scratch, tid);
    e.barrier();
    Value base = e.mul(e.div(tid, lanes), lanes); // this row's first lane
    auto lv = [&](int64_t l) { return e.load(scratch, e.add(base, l)); };
    Value sum;
    if (tiny) {
      sum = e.fadd(e.fadd(e.fadd(lv(0), lv(4)), e.fadd(lv(2), lv(6))),
                   e.fadd(e.fadd(lv(1), lv(5)), e.fadd(lv(3), lv(7))));
    } else {
      // lane 8a + j holds acc[a][j]: v[j] = (acc0+acc2) + (acc1+acc3).
      Value v[8];
      for (int j = 0; j < 8; ++j)
        v[j] = e.fadd(e.fadd(lv(j), lv(16 + j)), e.fadd(lv(8 + j), lv(24 + j)));
      Value r8 = e.fadd(e.fadd(e.fadd(v[0], v[4]), e.fadd(v[1], v[5])),
                        e.fadd(e.fadd(v[2], v[6]), e.fadd(v[3], v[7])));
      Value d = e.loop(e.idx(np), e.idx(cols), e.idx(1), {e.toF64(r8)},
                       [&](Value c, ValueRange s) -> SmallVector<Value> {
                         Value p = e.fmul(
                             e.weightAt(format, a[k], safeRow, c, cols), act(c));
                         return {e.fadd(s[0], e.toF64(p))};
                       })[0];
      sum = e.toF32(d);
    }
    sums.push_back(sum);
  }
  Value y = sums[0];
  if (nw == 2)
    y = e.fmul(e.geluTanhTable(sums[0], a[nw + 2]), sums[1]);
  e.when(arith::AndIOp::create(e.b, live, e.eq(lane, e.idx(0))),
         [&] { e.store(y, a[nw + 1], e.add(e.mul(t, rows), row)); });
}

/// linear (one weight) and geglu (gate and up, then gelu(gate) * up). Float
/// weights: floatMatvecBody. Quantized weights: a thread per output row
/// (QuantDot) over the activation blocks quantize() wrote.
static std::string matvec(gpu::GPUModuleOp module, Target target,
                          WeightFormat format, int64_t rows, int64_t cols,
                          bool geglu) {
  std::string name = llvm::formatv("{0}_{1}_{2}x{3}",
                                   geglu ? "geglu" : "linear",
                                   formatName(format), rows, cols);
  KernelBuilder kb{module, target};
  if (kb.exists(name))
    return name;
  MLIRContext *ctx = module.getContext();
  Type w = kb.buf(weightElementType(ctx, format),
                  weightElementCount(format, rows * cols));
  const unsigned nw = geglu ? 2 : 1;
  const ActQuant aq = activationQuant(format);
  SmallVector<Type> args(nw, w);
  if (aq == ActQuant::None) {
    args.push_back(kb.f32Buf(kMaxBatch * cols));
  } else {
    args.push_back(kb.buf(IntegerType::get(ctx, 8), kMaxBatch * cols));
    args.push_back(kb.f32Buf(kMaxBatch * cols / actBlockElems(aq) *
                             actAuxPerBlock(aq)));
  }
  args.push_back(kb.f32Buf(kMaxBatch * rows));
  if (geglu)
    args.push_back(kb.geluTable());
  // One scratch buffer per sum: the second reduction must not overwrite the
  // first one's result before every thread has read it.
  kb.build(name, args, nw, 0, [&](Emitter &e, ValueRange a, ValueRange shared) {
    if (isFloatFormat(format))
      return floatMatvecBody(e, format, rows, cols, nw, a, shared);
    // A thread per output row: QuantDot.
    Value t = e.blockId(gpu::Dimension::y);
    Value row = e.add(e.mul(e.blockId(gpu::Dimension::x), kWG), e.threadId());
    Value live = e.ult(row, e.idx(rows));
    Value safeRow = e.sel(live, row, e.idx(0));
    SmallVector<Value> sums;
    for (unsigned k = 0; k < nw; ++k) {
      QuantDot dot{e, format, a[k], a[nw], a[nw + 1], rows, cols, safeRow, t};
      sums.push_back(dot.dot());
    }
    Value y = sums[0];
    if (geglu)
      y = e.fmul(e.geluTanhTable(sums[0], a[nw + 3]), sums[1]);
    e.when(live, [&] { e.store(y, a[nw + 2], e.add(e.mul(t, rows), row)); });
  });
  return name;
}

ActQuant activationQuant(WeightFormat format) {
  switch (format) {
  case WeightFormat::q8_0:
  case WeightFormat::q4_0:
  case WeightFormat::q5_0:
    return ActQuant::Q8_0;
  case WeightFormat::q4_1:
  case WeightFormat::q5_1:
    return ActQuant::Q8_1;
  case WeightFormat::q4_k:
  case WeightFormat::q5_k:
  case WeightFormat::q6_k:
    return ActQuant::Q8_K;
  default:
    return ActQuant::None;
  }
}
int64_t actBlockElems(ActQuant q) { return q == ActQuant::Q8_K ? 256 : 32; }
int64_t actAuxPerBlock(ActQuant q) {
  return q == ActQuant::Q8_K ? 17 : q == ActQuant::Q8_1 ? 2 : 1;
}

/// llama.cpp's activation quantizers (runtime/formats quantizeRowQ8_*), a
/// thread per block: Q8_0/Q8_1 q = rne(x * (127/amax)), d = f16(amax/127)
/// (Q8_1: s = f16(d * sum q)); Q8_K iscale = -127/max with max the first
/// element of largest magnitude, q = min(127, rne(iscale x)), d = 1/iscale,
/// sums of 16 quants.
std::string KernelLibrary::quantize(ActQuant q, int64_t cols) {
  static const char *names[] = {"", "q8_0", "q8_1", "q8_k"};
  std::string name =
      llvm::formatv("quantize_{0}_{1}", names[static_cast<int>(q)], cols);
  KernelBuilder kb{module, target};
  if (kb.exists(name))
    return name;
  MLIRContext *ctx = module.getContext();
  const int64_t be = actBlockElems(q), per = actAuxPerBlock(q);
  const int64_t blocks = cols / be;
  kb.build(
      name,
      {kb.f32Buf(kMaxBatch * cols),
       kb.buf(IntegerType::get(ctx, 8), kMaxBatch * cols),
       kb.f32Buf(kMaxBatch * blocks * per)},
      0, 0, [&](Emitter &e, ValueRange a, ValueRange) {
        Value t = e.blockId(gpu::Dimension::y);
        Value blk = e.add(e.mul(e.blockId(gpu::Dimension::x), kWG),
                          e.threadId());
        e.when(e.ult(blk, e.idx(blocks)), [&] {
          Value base = e.add(e.mul(t, cols), e.mul(blk, be));
          Value auxBase = e.mul(e.add(e.mul(t, blocks), blk), per);
          auto x = [&](Value i) { return e.load(a[0], e.add(base, i)); };
          auto store = [&](Value i, Value qv) {
            e.store(arith::TruncIOp::create(e.b, e.b.getI8Type(), qv), a[1],
                    e.add(base, i));
          };
          // amax (and Q8_K: the signed value of the first largest).
          SmallVector<Value> mx = e.loop(
              e.idx(0), e.idx(be), e.idx(1), {e.f32(0.0f), e.f32(0.0f)},
              [&](Value i, ValueRange v) -> SmallVector<Value> {
                Value xi = x(i);
                Value ax = math::AbsFOp::create(e.b, xi);
                Value bigger = e.fcmp(arith::CmpFPredicate::OGT, ax, v[0]);
                return {e.sel(bigger, ax, v[0]), e.sel(bigger, xi, v[1])};
              });
          Value amax = mx[0];
          Value zero = e.fcmp(arith::CmpFPredicate::OEQ, amax, e.f32(0.0f));
          if (q != ActQuant::Q8_K) {
            Value d = e.fdiv(amax, e.f32(127.0f));
            Value id = e.sel(zero, e.f32(0.0f), e.fdiv(e.f32(127.0f), amax));
            Value sum = e.loop(
                e.idx(0), e.idx(be), e.idx(1), {e.i32(0)},
                [&](Value i, ValueRange v) -> SmallVector<Value> {
                  Value r = math::RoundEvenOp::create(e.b, e.fmul(x(i), id));
                  r = e.fmax(arith::MinimumFOp::create(e.b, r, e.f32(127.0f)),
                             e.f32(-127.0f));
                  Value qi = e.fptosi(r);
                  store(i, qi);
                  return {e.iadd(v[0], qi)};
                })[0];
            e.store(e.roundToF16(d), a[2], auxBase);
            if (q == ActQuant::Q8_1)
              e.store(e.roundToF16(e.fmul(d, e.sitofp(sum))), a[2],
                      e.add(auxBase, 1));
            return;
          }
          Value iscale = e.fdiv(e.f32(-127.0f), mx[1]);
          for (int g = 0; g < 16; ++g) {
            Value sum = e.loop(
                e.idx(16 * g), e.idx(16 * g + 16), e.idx(1), {e.i32(0)},
                [&](Value i, ValueRange v) -> SmallVector<Value> {
                  Value r = arith::MinimumFOp::create(
                      e.b, math::RoundEvenOp::create(e.b, e.fmul(iscale, x(i))),
                      e.f32(127.0f));
                  Value qi = e.sel(zero, e.i32(0), e.fptosi(r));
                  store(i, qi);
                  return {e.iadd(v[0], qi)};
                })[0];
            e.store(e.sitofp(sum), a[2], e.add(auxBase, 1 + g));
          }
          e.store(e.sel(zero, e.f32(0.0f), e.fdiv(e.f32(1.0f), iscale)), a[2],
                  auxBase);
        });
      });
  return name;
}

std::string KernelLibrary::linear(WeightFormat format, int64_t rows,
                                  int64_t cols) {
  return matvec(module, target, format, rows, cols, /*geglu=*/false);
}

std::string KernelLibrary::geglu(WeightFormat format, int64_t rows,
                                 int64_t cols) {
  return matvec(module, target, format, rows, cols, /*geglu=*/true);
}

std::string KernelLibrary::embed(WeightFormat format, int64_t rows,
                                 int64_t cols, float scale) {
  std::string name = llvm::formatv("embed_{0}_{1}x{2}_s{3}", formatName(format),
                                   rows, cols, bitsOf(scale));
  KernelBuilder kb{module, target};
  if (kb.exists(name))
    return name;
  MLIRContext *ctx = module.getContext();
  Type w = kb.buf(weightElementType(ctx, format),
                  weightElementCount(format, rows * cols));
  Type tokens = kb.buf(IntegerType::get(ctx, 32), kMaxBatch);
  kb.build(name, {w, tokens, kb.f32Buf(kMaxBatch * cols)}, 0, 0,
           [&](Emitter &e, ValueRange a, ValueRange) {
             e.forEachColumn(cols, [&](Value t, Value c) {
               Value token = e.toIndex(e.load(a[1], t));
               Value v = e.weightAt(format, a[0], token, c, cols);
               e.store(e.fmul(v, e.f32(scale)), a[2],
                       e.add(e.mul(t, cols), c));
             });
           });
  return name;
}

std::string KernelLibrary::rmsNorm(int64_t width, int64_t group,
                                   std::optional<WeightFormat> weight,
                                   float eps) {
  std::string name = llvm::formatv(
      "rms_norm_{0}_g{1}_{2}_e{3}", width, group,
      weight ? formatName(*weight) : std::string("unweighted"), bitsOf(eps));
  KernelBuilder kb{module, target};
  if (kb.exists(name))
    return name;
  MLIRContext *ctx = module.getContext();
  SmallVector<Type> args = {kb.f32Buf(kMaxBatch * width),
                            kb.f32Buf(kMaxBatch * width)};
  if (weight)
    args.push_back(kb.buf(weightElementType(ctx, *weight),
                          weightElementCount(*weight, group)));
  // As llama.cpp: the squares (rounded to f32) summed in double, the mean
  // rounded to f32, scale = 1/sqrtf(mean + eps), then (x * scale) * w.
  kb.build(
      name, args, 0, 0,
      [&](Emitter &e, ValueRange a, ValueRange shared) {
        Value g = e.blockId(gpu::Dimension::x);
        Value t = e.blockId(gpu::Dimension::y);
        Value tid = e.threadId();
        Value base = e.add(e.mul(t, width), e.mul(g, group));
        Value partial =
            e.loop(tid, e.idx(group), e.idx(kWG), {e.f64(0.0)},
                   [&](Value i, ValueRange acc) -> SmallVector<Value> {
                     Value x = e.load(a[0], e.add(base, i));
                     return {e.fadd(acc[0], e.toF64(e.fmul(x, x)))};
                   })[0];
        Value sum = e.reduceF64(partial, shared.back(), tid);
        Value mean = e.toF32(e.fdiv(sum, e.f64(static_cast<double>(group))));
        Value scale = e.fdiv(
            e.f32(1.0f), math::SqrtOp::create(e.b, e.fadd(mean, e.f32(eps))));
        e.loop(tid, e.idx(group), e.idx(kWG), [&](Value i) {
          Value y = e.fmul(e.load(a[0], e.add(base, i)), scale);
          if (weight)
            y = e.fmul(y, e.weightAt(*weight, a[2], e.idx(0), i, group));
          e.store(y, a[1], e.add(base, i));
        });
      },
      /*f64Scratch=*/true);
  return name;
}

std::string KernelLibrary::rope(int64_t heads, int64_t headDim,
                                int64_t freqDim, int64_t rotatedPairs) {
  std::string name = llvm::formatv("rope_h{0}_d{1}_f{2}_p{3}", heads, headDim,
                                   freqDim, rotatedPairs);
  KernelBuilder kb{module, target};
  if (kb.exists(name))
    return name;
  const int64_t width = heads * headDim, half = freqDim / 2;
  // The angles' cos and sin come from a table the runtime fills with the
  // host's sincosf (as llama.cpp computes them): [position][pair] (cos, sin).
  kb.build(name,
           {kb.f32Buf(kMaxBatch * width), kb.f32Buf(kMaxBatch * width),
            kb.params(), kb.f32Buf(int64_t(1) << 30)},
           0, 0, [&](Emitter &e, ValueRange a, ValueRange) {
             Value h = e.blockId(gpu::Dimension::x);
             Value t = e.blockId(gpu::Dimension::y);
             Value tid = e.threadId();
             Value base = e.add(e.mul(t, width), e.mul(h, headDim));
             Value pos = e.add(param(e, a[2], kPos0), t);
             Value rowBase = e.mul(pos, 2 * rotatedPairs);
             // Thread pairs: element j with j + half for j < rotatedPairs.
             e.loop(tid, e.idx(rotatedPairs), e.idx(kWG), [&](Value j) {
               Value c = e.load(a[3], e.add(rowBase, e.mul(j, 2)));
               Value sn = e.load(a[3], e.add(e.add(rowBase, e.mul(j, 2)), 1));
               Value x0 = e.load(a[0], e.add(base, j));
               Value x1 = e.load(a[0], e.add(base, e.add(j, half)));
               e.store(e.fma(x0, c, arith::NegFOp::create(e.b, e.fmul(x1, sn))),
                       a[1], e.add(base, j));
               e.store(e.fma(x0, sn, e.fmul(x1, c)), a[1],
                       e.add(base, e.add(j, half)));
             });
             // Everything else is copied.
             e.loop(tid, e.idx(headDim), e.idx(kWG), [&](Value i) {
               Value j = e.rem(i, half);
               Value rotated = arith::AndIOp::create(
                   e.b, e.ult(i, e.idx(freqDim)),
                   e.ult(j, e.idx(rotatedPairs)));
               e.when(arith::XOrIOp::create(
                          e.b, rotated,
                          arith::ConstantIntOp::create(e.b, 1, 1)),
                      [&] {
                        e.store(e.load(a[0], e.add(base, i)), a[1],
                                e.add(base, i));
                      });
             });
           });
  return name;
}

std::string KernelLibrary::attention(int64_t heads, int64_t kvHeads,
                                     int64_t headDim, int64_t window,
                                     int64_t ringRows, float scale,
                                     bool f16Cache) {
  std::string name = llvm::formatv(
      "attention_h{0}_kv{1}_d{2}_w{3}_r{4}_s{5}_{6}", heads, kvHeads, headDim,
      window, ringRows, bitsOf(scale), f16Cache ? "f16" : "f32");
  KernelBuilder kb{module, target};
  if (kb.exists(name))
    return name;
  MLIRContext *ctx = module.getContext();
  const int64_t width = kvHeads * headDim, group = heads / kvHeads;
  Type cacheElem = f16Cache ? Type(IntegerType::get(ctx, 16)) : Float32Type::get(ctx);
  Type cache = kb.buf(cacheElem, ringRows ? ringRows * width : int64_t(1) << 30);
  Type q = kb.f32Buf(kMaxBatch * heads * headDim);
  Type kv = kb.f32Buf(kMaxBatch * width);
  // Arguments: q, k, v (the batch), k cache, v cache, out, params.
  kb.build(
      name, {q, kv, kv, cache, cache, q, kb.params()}, 2, headDim,
      [&](Emitter &e, ValueRange a, ValueRange shared) {
        Value scratch = shared[0], probs = shared[1], acc = shared[2];
        Value h = e.blockId(gpu::Dimension::x);
        Value t = e.blockId(gpu::Dimension::y);
        Value tid = e.threadId();
        Value pos0 = param(e, a[6], kPos0);
        Value pos = e.add(pos0, t);
        Value first = e.idx(0);
        if (window > 0) {
          Value lo = e.sub(e.add(pos, 1), e.idx(window));
          first = e.sel(e.ult(pos, e.idx(window)), e.idx(0), lo);
        }
        Value g = e.div(h, group);
        Value qBase = e.add(e.mul(t, heads * headDim), e.mul(h, headDim));
        // Element i of the key or value at position p: from the cache before
        // pos0, else from the batch (rounded as the cache would store it).
        auto kvAt = [&](Value cacheBuf, Value fresh, Value p, Value i) {
          Value inCache = e.ult(p, pos0);
          auto ifOp = scf::IfOp::create(e.b, e.b.getF32Type(), inCache, true);
          OpBuilder::InsertionGuard guard(e.b);
          e.b.setInsertionPointToStart(ifOp.thenBlock());
          Value r = ringRows ? e.rem(p, ringRows) : p;
          Value v = e.load(cacheBuf, e.add(e.add(e.mul(r, width),
                                                 e.mul(g, headDim)), i));
          if (f16Cache)
            v = e.halfToFloat(e.fromI16(v));
          scf::YieldOp::create(e.b, v);
          e.b.setInsertionPointToStart(ifOp.elseBlock());
          Value f = e.load(fresh, e.add(e.add(e.mul(e.sub(p, pos0), width),
                                              e.mul(g, headDim)), i));
          if (f16Cache)
            f = e.halfToFloat(e.floatToHalf(f));
          scf::YieldOp::create(e.b, f);
          return ifOp.getResult(0);
        };
        e.loop(tid, e.idx(headDim), e.idx(kWG),
               [&](Value i) { e.store(e.f32(0.0f), acc, i); });
        // llama.cpp's tiled flash attention (attention_reference.h): tiles
        // of 64 positions aligned to 64, a thread per key of the tile.
        Value negInf = e.f32(-INFINITY);
        Value tile0 = e.mul(e.div(first, kWG), kWG);
        SmallVector<Value> ms = e.loop(
            tile0, e.add(pos, 1), e.idx(kWG), {negInf, e.f32(0.0f)},
            [&](Value tile, ValueRange carried) -> SmallVector<Value> {
              Value m = carried[0], s = carried[1];
              Value kp = e.add(tile, tid);
              Value visible = arith::AndIOp::create(e.b, e.ule(first, kp),
                                                    e.ule(kp, pos));
              auto ifOp = scf::IfOp::create(e.b, e.b.getF32Type(), visible, true);
              {
                OpBuilder::InsertionGuard guard(e.b);
                e.b.setInsertionPointToStart(ifOp.thenBlock());
                Value dot = e.loop(e.idx(0), e.idx(headDim), e.idx(1),
                                   {e.f32(0.0f)},
                                   [&](Value i, ValueRange d) -> SmallVector<Value> {
                                     Value qi = e.load(a[0], e.add(qBase, i));
                                     return {e.fma(qi, kvAt(a[3], a[1], kp, i),
                                                   d[0])};
                                   })[0];
                scf::YieldOp::create(
                    e.b, e.fadd(e.fmul(dot, e.f32(scale)), e.f32(0.0f)));
                e.b.setInsertionPointToStart(ifOp.elseBlock());
                scf::YieldOp::create(e.b, negInf);
              }
              Value score = ifOp.getResult(0);
              Value tileMax = e.reduce(score, scratch, tid, true);
              Value mNew = e.fmax(m, tileMax);
              Value grew = e.fcmp(arith::CmpFPredicate::OGT, mNew, m);
              Value corr = e.sel(grew, e.expfNonPositive(e.fsub(m, mNew)),
                                 e.f32(1.0f));
              s = e.sel(grew, e.fmul(s, corr), s);
              Value p = e.polyExp(e.fsub(score, mNew));
              e.barrier(); // the last tile's readers of probs are done
              e.store(p, probs, tid);
              e.barrier();
              // Eight-wide horizontal sums, added into a double in order.
              Value sum = e.f64(0.0);
              for (int g8 = 0; g8 < kWG / 8; ++g8) {
                auto pv = [&](int l) { return e.load(probs, e.idx(8 * g8 + l)); };
                Value h = e.fadd(e.fadd(e.fadd(pv(0), pv(4)), e.fadd(pv(2), pv(6))),
                                 e.fadd(e.fadd(pv(1), pv(5)), e.fadd(pv(3), pv(7))));
                sum = e.fadd(sum, e.toF64(h));
              }
              Value sNew = e.toF32(e.fadd(e.toF64(s), sum));
              // Visible positions of the tile: [lo, hi) from its start.
              Value lo = e.sub(e.sel(e.ult(tile, first), first, tile), tile);
              Value end = e.add(pos, 1);
              Value tileEnd = e.add(tile, kWG);
              Value hi = e.sub(e.sel(e.ult(end, tileEnd), end, tileEnd), tile);
              e.loop(tid, e.idx(headDim), e.idx(kWG), [&](Value i) {
                Value o = e.load(acc, i);
                o = e.sel(grew, e.fmul(o, corr), o);
                o = e.loop(lo, hi, e.idx(1), {o},
                           [&](Value j, ValueRange v) -> SmallVector<Value> {
                             Value vj = kvAt(a[4], a[2], e.add(tile, j), i);
                             return {e.fma(e.load(probs, j), vj, v[0])};
                           })[0];
                e.store(o, acc, i);
              });
              return {mNew, sNew};
            });
        Value total = ms[1];
        Value inv = e.sel(e.fcmp(arith::CmpFPredicate::OEQ, total, e.f32(0.0f)),
                          e.f32(0.0f), e.fdiv(e.f32(1.0f), total));
        Value oBase = qBase;
        e.loop(tid, e.idx(headDim), e.idx(kWG), [&](Value i) {
          e.store(e.fmul(e.load(acc, i), inv), a[5], e.add(oBase, i));
        });
      });
  return name;
}

std::string KernelLibrary::kvStore(int64_t width, int64_t ringRows,
                                   bool f16Cache) {
  std::string name = llvm::formatv("kv_store_{0}_r{1}_{2}", width, ringRows,
                                   f16Cache ? "f16" : "f32");
  KernelBuilder kb{module, target};
  if (kb.exists(name))
    return name;
  MLIRContext *ctx = module.getContext();
  Type cacheElem = f16Cache ? Type(IntegerType::get(ctx, 16)) : Float32Type::get(ctx);
  Type cache = kb.buf(cacheElem, ringRows ? ringRows * width : int64_t(1) << 30);
  Type kv = kb.f32Buf(kMaxBatch * width);
  kb.build(name, {kv, kv, cache, cache, kb.params()}, 0, 0,
           [&](Emitter &e, ValueRange a, ValueRange) {
             Value t = e.blockId(gpu::Dimension::y);
             Value i = e.add(e.mul(e.blockId(gpu::Dimension::x), kWG),
                             e.threadId());
             Value tokens = param(e, a[4], kTokens);
             Value pos = e.add(param(e, a[4], kPos0), t);
             Value store = e.ult(i, e.idx(width));
             if (ringRows) // only the batch's last ringRows tokens survive
               store = arith::AndIOp::create(e.b, 
                   store, e.ule(tokens, e.add(t, ringRows)));
             e.when(store, [&] {
               Value r = ringRows ? e.rem(pos, ringRows) : pos;
               for (int c = 0; c < 2; ++c) {
                 Value v = e.load(a[c], e.add(e.mul(t, width), i));
                 if (f16Cache)
                   v = e.toI16(e.floatToHalf(v));
                 e.store(v, a[2 + c], e.add(e.mul(r, width), i));
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
               Value skip = e.sub(param(e, a[2], kTokens),
                                  param(e, a[2], kOutRows));
               Value x = e.load(a[0], e.add(e.mul(e.add(skip, t), width), i));
               e.store(x, a[1], e.add(e.mul(t, width), i));
             });
           });
  return name;
}

} // namespace gemmac::gpukernels
