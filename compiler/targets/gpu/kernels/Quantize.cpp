//===- Quantize.cpp - int8 activation blocks ------------------------------===//
//
// llama.cpp's activation quantizers (Q8_0, Q8_1, Q8_K) for the quantized
// matvecs: the block writer shared with the norm that quantizes its output,
// and the stand-alone quantize kernel.
//
//===----------------------------------------------------------------------===//

#include "compiler/targets/gpu/kernels/KernelBuilder.h"

#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace gemmac::gemma;
using namespace gemmac::gpukernels::detail;

namespace gemmac::gpukernels {

ActQuant activationQuant(WeightFormat format) {
  if (std::optional<ActQuantizer> q = ActBlocksType::quantizerFor(format))
    return static_cast<ActQuant>(*q);
  return ActQuant::None;
}
int64_t actBlockElems(ActQuant q) {
  return ActBlocksType::blockElems(static_cast<ActQuantizer>(q));
}
const char *detail::actQuantName(ActQuant q) {
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
void detail::quantizeBlock(Emitter &e, ActQuant q,
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

} // namespace gemmac::gpukernels
