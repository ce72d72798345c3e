//===- Emitter.h - a kernel body's builder ----------------------*- C++ -*-===//
//
// Thin wrappers over arith/memref/scf/gpu ops that every kernel body is
// written with, and the exact-arithmetic helpers (f16 rounding in integers,
// ggml's exp, llama.cpp's GELU table) that keep the kernels bit-for-bit
// equal to llama.cpp's CPU backend on CUDA and on Vulkan.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "compiler/targets/gpu/kernels/KernelLibrary.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Arith/Utils/Utils.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SPIRV/IR/SPIRVOps.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "mlir/IR/ImplicitLocOpBuilder.h"

#include <cmath>

namespace gemmac::gpukernels::detail {

using namespace mlir;
using gemma::WeightFormat;
namespace mgpu = mlir::gpu;

constexpr int64_t kWG = kWorkgroupSize;

/// Builds one kernel body: arithmetic through MLIR's ArithBuilder (one
/// add/sub/mul/select for integers and floats alike), plus the memref, scf,
/// gpu and target ops it lacks.
class Emitter {
public:
  Emitter(ImplicitLocOpBuilder &b, bool spirv)
      : b(b), arith(b, b.getLoc()), spirv(spirv), fmaThroughDouble(spirv) {}
  ImplicitLocOpBuilder &b;
  ArithBuilder arith;
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
  Value add(Value x, Value y) { return arith.add(x, y); }
  Value sub(Value x, Value y) { return arith.sub(x, y); }
  Value mul(Value x, Value y) { return arith.mul(x, y); }
  Value div(Value x, Value y) { return arith::DivUIOp::create(b, x, y); }
  Value rem(Value x, Value y) { return arith::RemUIOp::create(b, x, y); }
  Value add(Value x, int64_t y) { return add(x, idx(y)); }
  Value mul(Value x, int64_t y) { return mul(x, idx(y)); }
  Value div(Value x, int64_t y) { return div(x, idx(y)); }
  Value rem(Value x, int64_t y) { return rem(x, idx(y)); }
  Value fadd(Value x, Value y) { return arith.add(x, y); }
  Value fsub(Value x, Value y) { return arith.sub(x, y); }
  Value fmul(Value x, Value y) { return arith.mul(x, y); }
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
  Value sel(Value c, Value x, Value y) { return arith.select(c, x, y); }
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
  /// Logical not of an i1.
  Value negate(Value c) {
    return arith::XOrIOp::create(
        b, c, arith::ConstantIntOp::create(b, b.getI1Type(), 1));
  }
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
  Value iadd(Value x, Value y) { return arith.add(x, y); }
  Value imul(Value x, Value y) { return arith.mul(x, y); }
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
  /// ggml's doubled E2M1 value of a 4-bit code (i32): 0, 1, 2, 3 for codes
  /// 0-3, (2 + (m & 1)) << ((m >> 1) - 1) = 4, 6, 8, 12 for 4-7; bit 3 the
  /// sign.
  Value e2m1Doubled(Value code) {
    Value m = band(code, 7);
    Value big = shl(add(i32(2), band(m, 1)), band(sub(shr(m, 1), i32(1)), 3));
    Value mag = sel(ult(m, i32(4)), m, big);
    return sel(eq(band(code, 8), i32(8)), sub(i32(0), mag), mag);
  }
  /// ggml's UE4M3 scale of a byte (i32 -> f32): the E4M3 value of bits
  /// 6..0 (the sign bit is not read), halved; the byte 0x7F reads as 0.
  Value ue4m3(Value byte) {
    Value ex = band(shr(byte, 3), 15), m = band(byte, 7);
    // 2^(ex-8) * (1 + m/8); ex = 0: m * 2^-10.
    Value normal = bitcastF32(bor(shl(add(ex, i32(119)), 23), shl(m, 20)));
    Value subnormal = fmul(sitofp(m), f32(0x1p-10f));
    Value v = sel(eq(ex, i32(0)), subnormal, normal);
    return sel(eq(byte, i32(0x7F)), f32(0.0f), v);
  }
  /// The value of an E4M3 byte (i32 -> f32): sign, 4-bit exponent with bias
  /// 7, 3-bit mantissa; exponent 0 is subnormal (m * 2^-9); 0x7F and 0xFF
  /// are NaN (the OCP FN variant: no infinities).
  Value e4m3(Value byte) {
    Value ex = band(shr(byte, 3), 15), m = band(byte, 7);
    Value normal = bitcastF32(bor(shl(add(ex, i32(120)), 23), shl(m, 20)));
    Value subnormal = fmul(sitofp(m), f32(0x1p-9f));
    Value v = sel(eq(ex, i32(0)), subnormal, normal);
    v = sel(eq(band(byte, 0x7F), i32(0x7F)), f32(NAN), v);
    return bitcastF32(bor(bitcastI32(v), shl(band(byte, 0x80), 24)));
  }
  /// The E4M3 byte (in an i32) of f32 f: nearest, ties to even; |f| >= 448
  /// saturates to 0x7E, NaN is 0x7F (formats' f32ToE4M3).
  Value floatToE4M3(Value f) {
    Value x = bitcastI32(f);
    Value sign = band(shr(x, 24), 0x80);
    Value ax = band(x, 0x7fffffff);
    // Normal: round the 23-bit mantissa to 3 bits as integers (a carry
    // moves into the exponent), then rebias 127 -> 7.
    Value rounded = shr(add(add(ax, i32(0x7ffff)), band(shr(ax, 20), 1)), 20);
    Value normal = arith::MinUIOp::create(b, sub(rounded, i32(120 << 3)),
                                          i32(0x7E));
    // Below 2^-6: multiples of 2^-9 (scaling by 512 is exact).
    Value subnormal = arith::FPToUIOp::create(
        b, b.getI32Type(),
        math::RoundEvenOp::create(b, fmul(bitcastF32(ax), f32(512.0f))));
    Value code = sel(ult(ax, i32(0x3c800000)), subnormal,
                     sel(ult(ax, i32(0x43e00000)), normal, i32(0x7E)));
    return sel(ult(i32(0x7f800000), ax), i32(0x7F), bor(code, sign));
  }
  /// The E2M1 code (i32, bit 3 the sign) of x: the nearest of 0, 0.5, 1,
  /// 1.5, 2, 3, 4, 6, ties to the even code, saturating; NaN -> code 0
  /// (formats' f32ToE2M1). The magnitude counts the midpoints it passes.
  Value floatToE2M1(Value x) {
    Value a = math::AbsFOp::create(b, x);
    Value code = i32(0);
    // (midpoint, whether the tie goes up: to an even code)
    for (auto [mid, up] : {std::pair{0.25f, false}, {0.75f, true},
                           {1.25f, false}, {1.75f, true}, {2.5f, false},
                           {3.5f, true}, {5.0f, false}}) {
      Value past = fcmp(up ? arith::CmpFPredicate::OGE
                           : arith::CmpFPredicate::OGT,
                        a, f32(mid));
      code = add(code, arith::ExtUIOp::create(b, b.getI32Type(), past));
    }
    Value negative = ult(i32(0x7fffffff), bitcastI32(x)); // the sign bit
    return bor(code, sel(negative, i32(8), i32(0)));
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

} // namespace gemmac::gpukernels::detail
