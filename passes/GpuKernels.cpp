//===- GpuKernels.cpp - Gemma 4's device kernels in the gpu dialect -------===//
//
// Each kernel is written once with the helpers below and specialized by its
// constants. Reductions go through workgroup memory with barriers (a tree
// over the 64 threads), which every Vulkan device and every CUDA GPU runs the
// same way, whatever its subgroup size.
//
//===----------------------------------------------------------------------===//

#include "passes/GpuKernels.h"
#include "abi/gpu_program.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SPIRV/IR/SPIRVOps.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"

#include <cmath>
#include <functional>
#include <cstring>

using namespace mlir;
using namespace gemmac;
using namespace gemmac::gemma;
using namespace gemmac::gpukernels;
// MLIR's gpu dialect; gemmac::gpu is the runtime's program format.
namespace mgpu = mlir::gpu;

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
  Emitter(ImplicitLocOpBuilder &b, bool spirv)
      : b(b), spirv(spirv), fmaThroughDouble(spirv) {}
  ImplicitLocOpBuilder &b;
  bool spirv; // SPIR-V (Vulkan) rather than NVVM (CUDA)
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
  Value shrs(Value x, int64_t s) {
    return arith::ShRSIOp::create(b, x, i32(s));
  }
  Value bxor(Value x, int64_t m) { return arith::XOrIOp::create(b, x, i32(m)); }
  /// acc + the dot product of the four signed bytes of x and of y: dp4a on
  /// NVVM, OpSDot on SPIR-V. Integer sums: exact in any order.
  Value dot4(Value x, Value y, Value acc) {
    if (spirv) {
      auto packed = spirv::PackedVectorFormatAttr::get(
          b.getContext(), spirv::PackedVectorFormat::PackedVectorFormat4x8Bit);
      return iadd(spirv::SDotOp::create(b, b.getI32Type(), x, y, packed), acc);
    }
    auto bytes = VectorType::get({4}, b.getI8Type());
    return NVVM::DotAccumulate4WayOp::create(
        b, b.getI32Type(), LLVM::BitcastOp::create(b, bytes, x),
        NVVM::DotAccumulateType::SIGNED, LLVM::BitcastOp::create(b, bytes, y),
        NVVM::DotAccumulateType::SIGNED, acc);
  }
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

  Value threadId() { return mgpu::ThreadIdOp::create(b, mgpu::Dimension::x); }
  Value blockId(mgpu::Dimension d) { return mgpu::BlockIdOp::create(b, d); }
  void barrier() { mgpu::BarrierOp::create(b); }

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
    Value t = blockId(mgpu::Dimension::y);
    Value i = add(mul(blockId(mgpu::Dimension::x), idx(kWG)), threadId());
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
  mgpu::GPUModuleOp module;
  Target target;

  bool exists(StringRef name) { return module.lookupSymbol(name) != nullptr; }

  void build(StringRef name, ArrayRef<Type> args, int scratch,
             int64_t extraScratch,
             llvm::function_ref<void(Emitter &, ValueRange, ValueRange)> body,
             bool f64Scratch = false, int64_t i32Scratch = 0) {
    MLIRContext *ctx = module.getContext();
    ImplicitLocOpBuilder b(module.getLoc(), ctx);
    b.setInsertionPointToEnd(module.getBody());
    // Workgroup memory: the gpu dialect's address space for NVVM, Vulkan's
    // numeric space 3 (map-memref-spirv-storage-class: Workgroup) for SPIR-V.
    Attribute workgroup =
        target == Target::NVVM
            ? Attribute(mgpu::AddressSpaceAttr::get(
                  ctx, mgpu::AddressSpace::Workgroup))
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
    if (i32Scratch > 0) // last: shared.back()
      shared.push_back(MemRefType::get({i32Scratch}, b.getI32Type(),
                                       MemRefLayoutAttrInterface(), workgroup));
    // NVVM takes workgroup memory as the function's attributions; the SPIR-V
    // conversion takes it as allocations in the workgroup address space.
    bool attributions = target == Target::NVVM;
    auto fn = mgpu::GPUFuncOp::create(
        b, name, b.getFunctionType(args, {}),
        attributions ? TypeRange(shared) : TypeRange(), TypeRange());
    fn->setAttr(mgpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
    fn.setKnownBlockSizeAttr(b.getDenseI32ArrayAttr({kWG, 1, 1}));
    Block &entry = fn.getBody().front();
    b.setInsertionPointToStart(&entry);
    SmallVector<Value> sharedValues(fn.getWorkgroupAttributions());
    if (!attributions)
      for (Type t : shared)
        sharedValues.push_back(memref::AllocOp::create(b, cast<MemRefType>(t)));
    Emitter e(b, /*spirv=*/target == Target::SPIRV);
    body(e, fn.getArguments(), sharedValues);
    mgpu::ReturnOp::create(b);
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
  /// A weight of `elements` elements in `format`.
  Type weightBuf(WeightFormat format, int64_t elements) {
    return buf(weightElementType(module.getContext(), format),
               weightElementCount(format, elements));
  }
  /// An RMSNorm's (x, y[, w]) over [max_batch, width], w of `group`.
  SmallVector<Type> normArgs(int64_t width,
                             std::optional<WeightFormat> weight,
                             int64_t group) {
    SmallVector<Type> args = {f32Buf(kMaxBatch * width),
                              f32Buf(kMaxBatch * width)};
    if (weight)
      args.push_back(weightBuf(*weight, group));
    return args;
  }
  /// The int8 activation quants of [max_batch, cols], four per word, and
  /// their f32 side values.
  Type actQuants(int64_t cols) {
    return buf(IntegerType::get(module.getContext(), 32), kMaxBatch * cols / 4);
  }
  Type actAux(ActQuant q, int64_t cols) {
    return f32Buf(kMaxBatch * cols / actBlockElems(q) * actAuxPerBlock(q));
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

KernelLibrary::KernelLibrary(mgpu::GPUModuleOp module, Target target)
    : module(module), target(target) {}

static std::string formatName(WeightFormat f) {
  return stringifyWeightFormat(f).str();
}

namespace {
/// A quantized weight row against int8 activation blocks, with exactly the
/// operations of runtime/kernels/dot_reference.h (llama.cpp's AVX2 kernels),
/// in two phases so that a workgroup can share the work out:
///   - terms(): one block's integer sums for one token, from packed quants
///     through dot4 (dp4a / OpSDot). Integer sums are exact, so any thread
///     may compute any block, and a block's unpacked quants serve every
///     token of the workgroup;
///   - step(): the f32 chains, advanced block after block in order by the
///     one thread that owns the (row, token), then finish(): the AVX2
///     horizontal sum.
/// Weights are read as 16-bit words (every block size and field offset is
/// even), activation quants as 32-bit words of four.
struct QuantDot {
  enum Kind { Lanes32, Lanes32Affine, ChainQ4_0, GemmQ4_K, LanesK, LanesQ6_K };
  Emitter &e;
  WeightFormat format;
  int64_t rows, cols;
  Value qs, aux; // activation quant words (i32) and side values (f32)
  Kind kind = kindOf(format, rows);

  static Kind kindOf(WeightFormat format, int64_t rows) {
    switch (format) {
    case WeightFormat::q4_0:
      return rows % 8 == 0 ? ChainQ4_0 : Lanes32;
    case WeightFormat::q4_1:
    case WeightFormat::q5_1:
      return Lanes32Affine;
    case WeightFormat::q4_k:
      return rows % 8 == 0 ? GemmQ4_K : LanesK;
    case WeightFormat::q5_k:
      return LanesK;
    case WeightFormat::q6_k:
      return LanesQ6_K;
    default: // q8_0, q5_0
      return Lanes32;
    }
  }
  /// Integer terms per (block, token); f32 accumulators per (row, token).
  static int64_t numTerms(Kind kind) { return kind == ChainQ4_0 ? 1 : 8; }
  int64_t numTerms() const { return numTerms(kind); }
  int64_t numAcc() const {
    switch (kind) {
    case Lanes32Affine: return 9;
    case ChainQ4_0: return 1;
    case GemmQ4_K: return 2;
    case LanesK: return format == WeightFormat::q5_k ? 9 : 12;
    default: return 8;
    }
  }
  int64_t be() const { return formatBlockElems(format); }
  int64_t bb() const { return formatBlockBytes(format); }
  int64_t nb() const { return cols / be(); }

  Value i32(int64_t v) { return e.i32(v); }
  /// Index of the first 16-bit word of block b of `row`.
  Value blockWord(Value row, Value b) {
    return e.add(e.mul(row, nb() * bb() / 2), e.mul(b, bb() / 2));
  }
  Value u16(Value w, Value base, int64_t off) { // off even
    return e.fromI16(e.load(w, e.add(base, off / 2)));
  }
  Value u32(Value w, Value base, int64_t off) {
    return e.bor(u16(w, base, off), e.shl(u16(w, base, off + 2), 16));
  }
  Value byteAt(Value w, Value base, int64_t off) {
    Value h = u16(w, base, off & ~int64_t(1));
    return e.band(off & 1 ? e.shr(h, 8) : h, 255);
  }
  Value f16At(Value w, Value base, int64_t off) {
    Value h = e.load(w, e.add(base, off / 2));
    Value f = arith::BitcastOp::create(e.b, e.b.getF16Type(), h);
    return arith::ExtFOp::create(e.b, e.b.getF32Type(), f);
  }
  /// Activation word k (quants 4k..4k+3) of block b of token t.
  Value actWord(Value t, Value b, int64_t k) {
    return e.load(qs, e.add(e.add(e.mul(t, cols / 4), e.mul(b, be() / 4)),
                            e.idx(k)));
  }
  Value auxAt(Value t, Value b, int64_t k) {
    ActQuant aq = activationQuant(format);
    int64_t per = actAuxPerBlock(aq), blocks = cols / actBlockElems(aq);
    return e.load(aux, e.add(e.mul(e.add(e.mul(t, blocks), b), per), k));
  }
  Value bsum(Value t, Value b, int64_t g) {
    return e.fptosi(auxAt(t, b, 1 + g));
  }

  /// Bytes x - bias of bytes in [0, 2 bias): biased past 0x80 so that no
  /// borrow crosses a byte.
  Value unbias(Value x, int64_t bias) {
    Value up = e.sub(e.bor(x, i32(0x80808080)), i32(bias * 0x01010101));
    return e.bxor(up, 0x80808080);
  }
  /// 6-bit scale and min of sub-block j of a Q4_K/Q5_K block.
  std::pair<Value, Value> scaleMin(Value w, Value base, int64_t j) {
    auto s = [&](int64_t k) { return byteAt(w, base, 4 + k); };
    if (j < 4)
      return {e.band(s(j), 63), e.band(s(j + 4), 63)};
    Value a = s(j + 4), lo = s(j - 4), hi = s(j);
    return {e.bor(e.band(a, 15), e.shl(e.shr(lo, 6), 4)),
            e.bor(e.shr(a, 4), e.shl(e.shr(hi, 6), 4))};
  }

  /// A weight block's quants as signed bytes, four per word in element
  /// order (K formats: word 8s + l holds quants 4l.. of sub-block s), and
  /// the sub-block scales (and Q4_K/Q5_K minimums).
  struct Block {
    SmallVector<Value> words, scales, mins;
  };
  Block load(Value w, Value row, Value b) {
    Block k;
    Value base = blockWord(row, b);
    switch (format) {
    case WeightFormat::q8_0:
      for (int l = 0; l < 8; ++l)
        k.words.push_back(u32(w, base, 2 + 4 * l));
      break;
    case WeightFormat::q4_0:
    case WeightFormat::q4_1:
    case WeightFormat::q5_0:
    case WeightFormat::q5_1: {
      bool q50 = format == WeightFormat::q5_0;
      bool q51 = format == WeightFormat::q5_1;
      int64_t qsOff = format == WeightFormat::q4_0 ? 2
                      : format == WeightFormat::q4_1 ? 4
                      : q50 ? 6 : 8;
      int64_t bias = format == WeightFormat::q4_0 ? 8 : q50 ? 16 : 0;
      Value qh = q50 ? u32(w, base, 2) : q51 ? u32(w, base, 4) : Value();
      Value v[4];
      for (int l = 0; l < 4; ++l)
        v[l] = u32(w, base, qsOff + 4 * l);
      for (int l = 0; l < 8; ++l) {
        // Quants 4l..4l+3: low nibbles of bytes 4l.. (l < 4), else high.
        Value q = e.band(l < 4 ? v[l] : e.shr(v[l - 4], 4), 0x0F0F0F0F);
        if (qh) { // fifth bits 4l..4l+3 of qh to bit 4 of each byte
          Value x = e.shr(qh, 4 * l);
          q = e.bor(q, e.bor(e.bor(e.shl(e.band(x, 1), 4),
                                   e.shl(e.band(x, 2), 11)),
                             e.bor(e.shl(e.band(x, 4), 18),
                                   e.shl(e.band(x, 8), 25))));
        }
        k.words.push_back(bias ? unbias(q, bias) : q);
      }
      break;
    }
    case WeightFormat::q4_k:
    case WeightFormat::q5_k: {
      bool five = format == WeightFormat::q5_k;
      for (int s = 0; s < 8; ++s) {
        auto [sc, mn] = scaleMin(w, base, s);
        k.scales.push_back(sc);
        k.mins.push_back(mn);
      }
      Value high[8];
      if (five)
        for (int l = 0; l < 8; ++l)
          high[l] = u32(w, base, 16 + 4 * l);
      for (int pair = 0; pair < 4; ++pair) {
        Value v[8];
        for (int l = 0; l < 8; ++l)
          v[l] = u32(w, base, (five ? 48 : 16) + 32 * pair + 4 * l);
        for (int s = 2 * pair; s < 2 * pair + 2; ++s)
          for (int l = 0; l < 8; ++l) {
            Value q = e.band(e.shr(v[l], 4 * (s % 2)), 0x0F0F0F0F);
            if (five)
              q = e.bor(q, e.shl(e.band(e.shr(high[l], s), 0x01010101), 4));
            k.words.push_back(q);
          }
      }
      break;
    }
    case WeightFormat::q6_k:
      for (int c = 0; c < 8; ++c) {
        int64_t n = c / 4, qd = c % 4;
        for (int l = 0; l < 8; ++l) {
          Value lo = e.band(
              e.shr(u32(w, base, 64 * n + 32 * (qd % 2) + 4 * l), 4 * (qd / 2)),
              0x0F0F0F0F);
          Value hi = e.band(e.shr(u32(w, base, 128 + 32 * n + 4 * l), 2 * qd),
                            0x03030303);
          k.words.push_back(e.bor(lo, e.shl(hi, 4)));
        }
      }
      for (int i = 0; i < 16; ++i) // signed 8-bit scales
        k.scales.push_back(e.shrs(e.shl(byteAt(w, base, 192 + i), 24), 24));
      break;
    default:
      llvm_unreachable("float formats take floatMatvecBody");
    }
    return k;
  }

  /// Block b's integer terms for token t.
  SmallVector<Value> terms(const Block &k, Value t, Value b) {
    auto dot = [&](int64_t word, Value acc) {
      return e.dot4(k.words[word], actWord(t, b, word), acc);
    };
    SmallVector<Value> out;
    switch (kind) {
    case Lanes32:
    case Lanes32Affine: // lane l: quants 4l..4l+3
      for (int l = 0; l < 8; ++l)
        out.push_back(dot(l, i32(0)));
      break;
    case ChainQ4_0: {
      Value sum = i32(0);
      for (int l = 0; l < 8; ++l)
        sum = dot(l, sum);
      out.push_back(sum);
      break;
    }
    case GemmQ4_K: { // scaled sums of sub-block pairs, then minimums
      Value sub[8];
      for (int s = 0; s < 8; ++s) {
        sub[s] = i32(0);
        for (int l = 0; l < 8; ++l)
          sub[s] = dot(8 * s + l, sub[s]);
      }
      for (int p = 0; p < 4; ++p)
        out.push_back(e.iadd(e.imul(k.scales[2 * p], sub[2 * p]),
                             e.imul(k.scales[2 * p + 1], sub[2 * p + 1])));
      for (int p = 0; p < 4; ++p) {
        Value bs0 = e.iadd(bsum(t, b, 4 * p), bsum(t, b, 4 * p + 1));
        Value bs1 = e.iadd(bsum(t, b, 4 * p + 2), bsum(t, b, 4 * p + 3));
        out.push_back(e.iadd(e.imul(bs0, k.mins[2 * p]),
                             e.imul(bs1, k.mins[2 * p + 1])));
      }
      break;
    }
    case LanesK: // lane l: sum over sub-blocks of scale * (4 products)
      for (int l = 0; l < 8; ++l) {
        Value sum = i32(0);
        for (int s = 0; s < 8; ++s)
          sum = e.iadd(sum, e.imul(k.scales[s], dot(8 * s + l, i32(0))));
        out.push_back(sum);
      }
      break;
    case LanesQ6_K: // the -32 through the activation sums
      for (int l = 0; l < 8; ++l) {
        Value sum = i32(0);
        for (int c = 0; c < 8; ++c)
          sum = e.iadd(sum, e.imul(k.scales[2 * c + (l >= 4 ? 1 : 0)],
                                   dot(8 * c + l, i32(0))));
        Value corr = e.iadd(e.imul(bsum(t, b, 2 * l), k.scales[2 * l]),
                            e.imul(bsum(t, b, 2 * l + 1), k.scales[2 * l + 1]));
        out.push_back(e.sub(sum, e.imul(corr, 32)));
      }
      break;
    }
    return out;
  }

  /// The f32 chains after block b of token t (terms `T`).
  SmallVector<Value> step(Value w, Value row, Value t, Value b,
                          ArrayRef<Value> T, ValueRange acc) {
    Value base = blockWord(row, b);
    SmallVector<Value> next(acc.begin(), acc.end());
    switch (kind) {
    case Lanes32:
    case Lanes32Affine: {
      if (kind == Lanes32Affine)
        next[8] = e.fadd(acc[8], e.fmul(f16At(w, base, 2), auxAt(t, b, 1)));
      Value d = e.fmul(f16At(w, base, 0), auxAt(t, b, 0));
      for (int l = 0; l < 8; ++l)
        next[l] = e.fma(d, e.sitofp(T[l]), acc[l]);
      break;
    }
    case ChainQ4_0: {
      Value d = e.fmul(f16At(w, base, 0), auxAt(t, b, 0));
      next[0] = e.fma(e.sitofp(T[0]), d, acc[0]);
      break;
    }
    case GemmQ4_K: {
      Value ad = auxAt(t, b, 0);
      Value D = e.fmul(f16At(w, base, 0), ad);
      Value Dm = e.fmul(f16At(w, base, 2), ad);
      for (int p = 0; p < 4; ++p) {
        next[0] = e.fma(e.sitofp(T[p]), D, next[0]);
        next[1] = e.fma(e.sitofp(T[4 + p]), Dm, next[1]);
      }
      break;
    }
    case LanesK: {
      Value ad = auxAt(t, b, 0);
      Value d = e.fmul(ad, f16At(w, base, 0));
      Value dmin =
          arith::NegFOp::create(e.b, e.fmul(ad, f16At(w, base, 2)));
      Value P[4];
      for (int p = 0; p < 4; ++p) {
        Value bs0 = e.iadd(bsum(t, b, 4 * p), bsum(t, b, 4 * p + 1));
        Value bs1 = e.iadd(bsum(t, b, 4 * p + 2), bsum(t, b, 4 * p + 3));
        P[p] = e.iadd(e.imul(scaleMin(w, base, 2 * p).second, bs0),
                      e.imul(scaleMin(w, base, 2 * p + 1).second, bs1));
      }
      if (format == WeightFormat::q5_k) {
        Value all = e.iadd(e.iadd(e.iadd(P[0], P[1]), P[2]), P[3]);
        next[8] = e.fma(e.sitofp(all), dmin, acc[8]);
      } else {
        for (int p = 0; p < 4; ++p)
          next[8 + p] = e.fma(dmin, e.sitofp(P[p]), acc[8 + p]);
      }
      for (int l = 0; l < 8; ++l)
        next[l] = e.fma(d, e.sitofp(T[l]), acc[l]);
      break;
    }
    case LanesQ6_K: {
      Value d = e.fmul(auxAt(t, b, 0), f16At(w, base, 208));
      for (int l = 0; l < 8; ++l)
        next[l] = e.fma(d, e.sitofp(T[l]), acc[l]);
      break;
    }
    }
    return next;
  }

  static Value hsum8(Emitter &e, ArrayRef<Value> v) {
    return e.fadd(e.fadd(e.fadd(v[0], v[4]), e.fadd(v[2], v[6])),
                  e.fadd(e.fadd(v[1], v[5]), e.fadd(v[3], v[7])));
  }
  /// The row's dot product from its accumulators.
  Value finish(ArrayRef<Value> acc) {
    switch (kind) {
    case ChainQ4_0:
      return acc[0];
    case GemmQ4_K:
      return e.fsub(acc[0], acc[1]);
    case Lanes32Affine:
    case LanesK: {
      Value sum = hsum8(e, acc.take_front(8));
      if (acc.size() == 9)
        return e.fadd(sum, acc[8]);
      return e.fadd(sum, e.fadd(e.fadd(acc[8], acc[10]),
                                e.fadd(acc[9], acc[11])));
    }
    default:
      return hsum8(e, acc.take_front(8));
    }
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
  Value t = e.blockId(mgpu::Dimension::y);
  Value row = e.add(e.mul(e.blockId(mgpu::Dimension::x), kWG / lanes),
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

/// Quantized weights: a workgroup takes matvecRowsPerGroup rows and
/// kQuantMatvecTokensPerGroup tokens, 32 threads per row. Per chunk of 32
/// blocks, thread j unpacks block j of its row once and computes its integer
/// terms for every token of the group (coalesced weight reads, shared
/// across tokens: the prefill GEMM's reuse); then thread j < tokens advances
/// token j's f32 chains over the chunk's blocks in order.
static void quantMatvecBody(Emitter &e, WeightFormat format, int64_t rows,
                            int64_t cols, unsigned nw, Param rowsParam,
                            ValueRange a, Value terms) {
  const int64_t R = gemmac::gpu::matvecRowsPerGroup(false, rows, cols);
  const int64_t G = kWG / R, TT = gemmac::gpu::kQuantMatvecTokensPerGroup;
  QuantDot dot{e, format, rows, cols, a[nw], a[nw + 1]};
  const int64_t K = dot.numTerms(), NA = dot.numAcc(), nb = dot.nb();
  Value tid = e.threadId();
  Value r = e.div(tid, G), j = e.rem(tid, G);
  Value row = e.add(e.mul(e.blockId(mgpu::Dimension::x), R), r);
  Value live = e.ult(row, e.idx(rows));
  Value safeRow = e.sel(live, row, e.idx(0));
  Value t0 = e.mul(e.blockId(mgpu::Dimension::y), TT);
  // params follows y and the GELU table (not a.back(): on NVVM `a` ends
  // with the workgroup buffers).
  Value nT = param(e, a[nw + 3 + (nw == 2 ? 1 : 0)], rowsParam);
  Value token = e.add(t0, j); // the token whose chains thread j advances
  Value owner =
      arith::AndIOp::create(e.b, e.ult(j, e.idx(TT)), e.ult(token, nT));
  // terms[r][tt][k][term][block in chunk]
  auto slot = [&](Value tt, unsigned k, int64_t term, Value blockInChunk) {
    Value i = e.add(e.mul(e.add(e.mul(r, TT), tt), nw), e.idx(k));
    return e.add(e.mul(e.add(e.mul(i, K), e.idx(term)), G), blockInChunk);
  };
  SmallVector<Value> init(nw * NA, e.f32(0.0f));
  SmallVector<Value> acc = e.loop(
      e.idx(0), e.idx((nb + G - 1) / G), e.idx(1), init,
      [&](Value c, ValueRange v) -> SmallVector<Value> {
        Value b = e.add(e.mul(c, G), j);
        e.when(e.ult(b, e.idx(nb)), [&] {
          for (unsigned k = 0; k < nw; ++k) {
            QuantDot::Block blk = dot.load(a[k], safeRow, b);
            // This group's tokens: min(TT, max(nT - t0, 0)).
            Value tokens = arith::MinUIOp::create(
                e.b, e.idx(TT),
                e.sub(arith::MaxUIOp::create(e.b, t0, nT), t0));
            e.loop(e.idx(0), tokens, e.idx(1), [&](Value tt) {
              SmallVector<Value> T = dot.terms(blk, e.add(t0, tt), b);
              for (int64_t term = 0; term < K; ++term)
                e.store(T[term], terms, slot(tt, k, term, j));
            });
          }
        });
        e.barrier();
        Value inChunk = arith::MinUIOp::create(e.b, e.idx(G),
                                               e.sub(e.idx(nb), e.mul(c, G)));
        SmallVector<Value> next = e.loop(
            e.idx(0), e.sel(owner, inChunk, e.idx(0)), e.idx(1), v,
            [&](Value i, ValueRange cur) -> SmallVector<Value> {
              SmallVector<Value> out;
              for (unsigned k = 0; k < nw; ++k) {
                SmallVector<Value> T;
                for (int64_t term = 0; term < K; ++term)
                  T.push_back(e.load(terms, slot(j, k, term, i)));
                SmallVector<Value> s =
                    dot.step(a[k], safeRow, token, e.add(e.mul(c, G), i), T,
                             cur.slice(k * NA, NA));
                out.append(s.begin(), s.end());
              }
              return out;
            });
        e.barrier(); // the terms are read before the next chunk's stores
        return next;
      });
  Value y = dot.finish(ArrayRef<Value>(acc).take_front(NA));
  if (nw == 2)
    y = e.fmul(e.geluTanhTable(y, a[nw + 3]),
               dot.finish(ArrayRef<Value>(acc).slice(NA, NA)));
  e.when(arith::AndIOp::create(e.b, owner, live),
         [&] { e.store(y, a[nw + 2], e.add(e.mul(token, rows), row)); });
}

/// linear (one weight) and geglu (gate and up, then gelu(gate) * up). Float
/// weights: floatMatvecBody, a token per grid row. Quantized weights:
/// quantMatvecBody over the activation blocks quantize() wrote, with the
/// params buffer last for the row count (`rowsParam`).
static std::string matvec(mgpu::GPUModuleOp module, Target target,
                          WeightFormat format, int64_t rows, int64_t cols,
                          bool geglu, Param rowsParam) {
  const bool quantized = !isFloatFormat(format);
  std::string name = llvm::formatv(
      "{0}_{1}_{2}x{3}{4}", geglu ? "geglu" : "linear", formatName(format),
      rows, cols, quantized && rowsParam == kOutRows ? "_out" : "");
  KernelBuilder kb{module, target};
  if (kb.exists(name))
    return name;
  MLIRContext *ctx = module.getContext();
  const unsigned nw = geglu ? 2 : 1;
  SmallVector<Type> args;
  if (!quantized) {
    args.append(nw, kb.buf(weightElementType(ctx, format), rows * cols));
    args.push_back(kb.f32Buf(kMaxBatch * cols));
  } else {
    // Weights as 16-bit words; activation quants as words of four.
    args.append(nw, kb.buf(IntegerType::get(ctx, 16),
                           weightElementCount(format, rows * cols) / 2));
    args.push_back(kb.actQuants(cols));
    args.push_back(kb.actAux(activationQuant(format), cols));
  }
  args.push_back(kb.f32Buf(kMaxBatch * rows));
  if (geglu)
    args.push_back(kb.geluTable());
  if (quantized)
    args.push_back(kb.params());
  const int64_t termScratch =
      quantized ? kWG * gemmac::gpu::kQuantMatvecTokensPerGroup * nw *
                      QuantDot::numTerms(QuantDot::kindOf(format, rows))
                : 0;
  // Float weights: one scratch buffer per sum (the second reduction must not
  // overwrite the first one's result before every thread has read it).
  kb.build(
      name, args, quantized ? 0 : nw, 0,
      [&](Emitter &e, ValueRange a, ValueRange shared) {
        if (quantized)
          quantMatvecBody(e, format, rows, cols, nw, rowsParam, a,
                          shared.back());
        else
          floatMatvecBody(e, format, rows, cols, nw, a, shared);
      },
      /*f64Scratch=*/false, termScratch);
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
static const char *actQuantName(ActQuant q) {
  static const char *names[] = {"", "q8_0", "q8_1", "q8_k"};
  return names[static_cast<int>(q)];
}
int64_t actAuxPerBlock(ActQuant q) {
  return q == ActQuant::Q8_K ? 17 : q == ActQuant::Q8_1 ? 2 : 1;
}

/// llama.cpp's activation quantizers (runtime/formats quantizeRowQ8_*) for
/// one block whose element i is x(i): Q8_0/Q8_1 q = rne(x * (127/amax)),
/// d = f16(amax/127) (Q8_1: s = f16(d * sum q)); Q8_K iscale = -127/max
/// with max the first element of largest magnitude, q = min(127,
/// rne(iscale x)), d = 1/iscale, sums of 16 quants. The quants go to
/// words [base/4, ...) of `qs` (four per word, little-endian, as the CPU's
/// int8 rows), the side values to aux[auxBase...].
static void quantizeBlock(Emitter &e, ActQuant q,
                          llvm::function_ref<Value(Value)> x, Value qs,
                          Value aux, Value base, Value auxBase) {
  const int64_t be = actBlockElems(q);
  // quantOf(i) for elements [lo, hi), four to a word; their sum.
  auto quantWords = [&](int64_t lo, int64_t hi,
                        llvm::function_ref<Value(Value)> quantOf) {
    return e.loop(
        e.idx(lo / 4), e.idx(hi / 4), e.idx(1), {e.i32(0)},
        [&](Value wi, ValueRange v) -> SmallVector<Value> {
          Value word = e.i32(0), sum = v[0];
          for (int k = 0; k < 4; ++k) {
            Value qi = quantOf(e.add(e.mul(wi, 4), k));
            word = e.bor(word, e.shl(e.band(qi, 255), 8 * k));
            sum = e.iadd(sum, qi);
          }
          e.store(word, qs, e.add(e.div(base, 4), wi));
          return {sum};
        })[0];
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
    Value sum = quantWords(0, be, [&](Value i) {
      Value r = math::RoundEvenOp::create(e.b, e.fmul(x(i), id));
      r = e.fmax(arith::MinimumFOp::create(e.b, r, e.f32(127.0f)),
                 e.f32(-127.0f));
      return e.fptosi(r);
    });
    e.store(e.roundToF16(d), aux, auxBase);
    if (q == ActQuant::Q8_1)
      e.store(e.roundToF16(e.fmul(d, e.sitofp(sum))), aux, e.add(auxBase, 1));
    return;
  }
  Value iscale = e.fdiv(e.f32(-127.0f), mx[1]);
  for (int g = 0; g < 16; ++g) {
    Value sum = quantWords(16 * g, 16 * g + 16, [&](Value i) {
      Value r = arith::MinimumFOp::create(
          e.b, math::RoundEvenOp::create(e.b, e.fmul(iscale, x(i))),
          e.f32(127.0f));
      return e.sel(zero, e.i32(0), e.fptosi(r));
    });
    e.store(e.sitofp(sum), aux, e.add(auxBase, 1 + g));
  }
  e.store(e.sel(zero, e.f32(0.0f), e.fdiv(e.f32(1.0f), iscale)), aux,
          auxBase);
}

/// The int8 blocks of x (quantizeBlock), a thread per block.
std::string KernelLibrary::quantize(ActQuant q, int64_t cols) {
  std::string name = llvm::formatv("quantize_{0}_{1}", actQuantName(q), cols);
  KernelBuilder kb{module, target};
  if (kb.exists(name))
    return name;
  const int64_t be = actBlockElems(q), per = actAuxPerBlock(q);
  const int64_t blocks = cols / be;
  kb.build(name, {kb.f32Buf(kMaxBatch * cols), kb.actQuants(cols),
                  kb.actAux(q, cols)},
           0, 0, [&](Emitter &e, ValueRange a, ValueRange) {
             Value t = e.blockId(mgpu::Dimension::y);
             Value blk = e.add(e.mul(e.blockId(mgpu::Dimension::x), kWG),
                               e.threadId());
             e.when(e.ult(blk, e.idx(blocks)), [&] {
               Value base = e.add(e.mul(t, cols), e.mul(blk, be));
               quantizeBlock(
                   e, q, [&](Value i) { return e.load(a[0], e.add(base, i)); },
                   a[1], a[2], base,
                   e.mul(e.add(e.mul(t, blocks), blk), per));
             });
           });
  return name;
}

std::string KernelLibrary::linear(WeightFormat format, int64_t rows,
                                  int64_t cols, Param rowsParam) {
  return matvec(module, target, format, rows, cols, /*geglu=*/false,
                rowsParam);
}

std::string KernelLibrary::geglu(WeightFormat format, int64_t rows,
                                 int64_t cols, Param rowsParam) {
  return matvec(module, target, format, rows, cols, /*geglu=*/true, rowsParam);
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

/// A norm's part of a kernel name: its weight's format (or "unweighted")
/// and "_e" with its epsilon's bits.
static std::string normTag(std::optional<WeightFormat> weight, float eps) {
  return (weight ? formatName(*weight) : std::string("unweighted")) + "_e" +
         bitsOf(eps);
}

/// RMSNorm of the `group` values at x[base...] as llama.cpp computes it:
/// the squares (rounded to f32) summed in double (through the f64
/// workgroup buffer `scratch`), the mean rounded to f32, scale =
/// 1/sqrtf(mean + eps); returns i -> (x[base + i] * scale) * w[i].
static std::function<Value(Value)>
rmsNormed(Emitter &e, Value x, Value base, int64_t group, Value w,
          std::optional<WeightFormat> weight, float eps, Value scratch) {
  Value tid = e.threadId();
  Value partial =
      e.loop(tid, e.idx(group), e.idx(kWG), {e.f64(0.0)},
             [&](Value i, ValueRange acc) -> SmallVector<Value> {
               Value xi = e.load(x, e.add(base, i));
               return {e.fadd(acc[0], e.toF64(e.fmul(xi, xi)))};
             })[0];
  Value sum = e.reduceF64(partial, scratch, tid);
  Value mean = e.toF32(e.fdiv(sum, e.f64(static_cast<double>(group))));
  Value scale = e.fdiv(e.f32(1.0f),
                       math::SqrtOp::create(e.b, e.fadd(mean, e.f32(eps))));
  return [&e, x, base, scale, w, weight, group](Value i) {
    Value y = e.fmul(e.load(x, e.add(base, i)), scale);
    if (weight)
      y = e.fmul(y, e.weightAt(*weight, w, e.idx(0), i, group));
    return y;
  };
}

std::string KernelLibrary::rmsNorm(int64_t width, int64_t group,
                                   std::optional<WeightFormat> weight,
                                   float eps, ActQuant quantizeAs) {
  const bool quantize = quantizeAs != ActQuant::None;
  assert((!quantize || group == width) && "quantizing needs whole rows");
  std::string name = llvm::formatv(
      "rms_norm_{0}_g{1}_{2}{3}{4}", width, group, normTag(weight, eps),
      quantize ? "_" : "", quantize ? actQuantName(quantizeAs) : "");
  KernelBuilder kb{module, target};
  if (kb.exists(name))
    return name;
  SmallVector<Type> args = kb.normArgs(width, weight, group);
  if (quantize) {
    args.push_back(kb.actQuants(width));
    args.push_back(kb.actAux(quantizeAs, width));
  }
  kb.build(
      name, args, 0, 0,
      [&](Emitter &e, ValueRange a, ValueRange shared) {
        Value g = e.blockId(mgpu::Dimension::x);
        Value t = e.blockId(mgpu::Dimension::y);
        Value tid = e.threadId();
        Value base = e.add(e.mul(t, width), e.mul(g, group));
        auto normed = rmsNormed(e, a[0], base, group, weight ? a[2] : Value(),
                                weight, eps, shared.back());
        e.loop(tid, e.idx(group), e.idx(kWG), [&](Value i) {
          e.store(normed(i), a[1], e.add(base, i));
        });
        if (!quantize)
          return;
        // The quantizer of the matvecs that read y, fused: a thread per
        // block recomputes the block's outputs (the same operations, so the
        // same bits) rather than reading back what other threads stored.
        const int64_t be = actBlockElems(quantizeAs);
        const int64_t blocks = width / be, per = actAuxPerBlock(quantizeAs);
        // (Not a.take_back: on NVVM `a` ends with the workgroup buffers.)
        ValueRange out = a.slice(weight ? 3 : 2, 2);
        e.loop(tid, e.idx(blocks), e.idx(kWG), [&](Value blk) {
          Value first = e.mul(blk, be);
          quantizeBlock(
              e, quantizeAs, [&](Value i) { return normed(e.add(first, i)); },
              out[0], out[1], e.add(base, first),
              e.mul(e.add(e.mul(t, blocks), blk), per));
        });
      },
      /*f64Scratch=*/true);
  return name;
}

std::string KernelLibrary::rmsNormAdd(int64_t width,
                                      std::optional<WeightFormat> weight,
                                      float eps, NormEpilogue epilogue) {
  std::string name = llvm::formatv(
      "rms_norm_{0}_{1}_add{2}{3}", width, normTag(weight, eps),
      epilogue.scale ? "_scale_c" : "",
      epilogue.scale ? bitsOf(*epilogue.scale) : std::string());
  KernelBuilder kb{module, target};
  if (kb.exists(name))
    return name;
  SmallVector<Type> args = kb.normArgs(width, weight, width);
  args.push_back(kb.f32Buf(kMaxBatch * width));
  // The add and scale kernels' operations, on the norm's values.
  kb.build(
      name, args, 0, 0,
      [&](Emitter &e, ValueRange a, ValueRange shared) {
        Value t = e.blockId(mgpu::Dimension::y);
        Value base = e.mul(t, width);
        auto normed = rmsNormed(e, a[0], base, width, weight ? a[2] : Value(),
                                weight, eps, shared.back());
        Value residual = a[weight ? 3 : 2];
        e.loop(e.threadId(), e.idx(width), e.idx(kWG), [&](Value i) {
          Value y = e.fadd(normed(i), e.load(residual, e.add(base, i)));
          if (epilogue.scale)
            y = e.fmul(y, e.f32(*epilogue.scale));
          e.store(y, a[1], e.add(base, i));
        });
      },
      /*f64Scratch=*/true);
  return name;
}

std::string KernelLibrary::rope(int64_t heads, int64_t headDim,
                                int64_t freqDim, int64_t rotatedPairs,
                                std::optional<HeadNorm> norm) {
  std::string name = llvm::formatv("rope_h{0}_d{1}_f{2}_p{3}", heads, headDim,
                                   freqDim, rotatedPairs);
  if (norm)
    name = llvm::formatv("rms_norm_{0}_{1}_{2}", headDim,
                         normTag(norm->weight, norm->eps), name);
  KernelBuilder kb{module, target};
  if (kb.exists(name))
    return name;
  const int64_t width = heads * headDim, half = freqDim / 2;
  SmallVector<Type> args = {kb.f32Buf(kMaxBatch * width),
                            kb.f32Buf(kMaxBatch * width), kb.params(),
                            kb.f32Buf(int64_t(1) << 30)};
  if (norm && norm->weight)
    args.push_back(kb.weightBuf(*norm->weight, headDim));
  // The angles' cos and sin come from a table the runtime fills with the
  // host's sincosf (as llama.cpp computes them): [position][pair] (cos, sin).
  kb.build(name, args, 0, 0,
           [&](Emitter &e, ValueRange a, ValueRange shared) {
             Value h = e.blockId(mgpu::Dimension::x);
             Value t = e.blockId(mgpu::Dimension::y);
             Value tid = e.threadId();
             Value base = e.add(e.mul(t, width), e.mul(h, headDim));
             Value pos = e.add(param(e, a[2], kPos0), t);
             Value rowBase = e.mul(pos, 2 * rotatedPairs);
             // The head's input element i: x, or (fused) its RMSNorm, which
             // every thread recomputes for the elements it reads.
             std::function<Value(Value)> in = [&](Value i) {
               return e.load(a[0], e.add(base, i));
             };
             if (norm)
               in = rmsNormed(e, a[0], base, headDim,
                              norm->weight ? a[4] : Value(), norm->weight,
                              norm->eps, shared.back());
             // Thread pairs: element j with j + half for j < rotatedPairs.
             e.loop(tid, e.idx(rotatedPairs), e.idx(kWG), [&](Value j) {
               Value c = e.load(a[3], e.add(rowBase, e.mul(j, 2)));
               Value sn = e.load(a[3], e.add(e.add(rowBase, e.mul(j, 2)), 1));
               Value x0 = in(j);
               Value x1 = in(e.add(j, half));
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
                      [&] { e.store(in(i), a[1], e.add(base, i)); });
             });
           },
           /*f64Scratch=*/norm.has_value());
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
        Value h = e.blockId(mgpu::Dimension::x);
        Value t = e.blockId(mgpu::Dimension::y);
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
             Value t = e.blockId(mgpu::Dimension::y);
             Value i = e.add(e.mul(e.blockId(mgpu::Dimension::x), kWG),
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
