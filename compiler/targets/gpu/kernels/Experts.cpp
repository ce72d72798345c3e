//===- Experts.cpp - routing and the per-slot steps of an MoE layer -------===//
//
// The mixture-of-experts kernels around the expert products (Matvec.cpp):
// the router's per-feature scale, the softmax gating with its top-k, the
// per-expert output scale and the weighted sum of the slots, each as
// runtime/kernels/moe.cpp computes it (llama.cpp's CPU graph, operation by
// operation).
//
//===----------------------------------------------------------------------===//

#include "compiler/targets/gpu/kernels/QuantDot.h"

#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace gemmac::gemma;
using namespace gemmac::gpukernels::detail;

namespace gemmac::gpukernels {

/// One workgroup per token. ggml_soft_max: the maximum (NaN skipped, as the
/// CPU's `x > max ? x : max`), ggml_v_expf of each group of eight summed in
/// the AVX2 order and added into a double group after group (thread 0, in
/// order), a correctly rounded expf for a tail, every probability times the
/// f32 reciprocal of the sum. Then `used` rounds of an arg-max over the
/// workgroup, each the next in (probability descending, index ascending)
/// order after the previous pick (NaN ranks as -inf, as the CPU's sort
/// takes it), and the picks renormalized by their double sum.
std::string KernelLibrary::moeRoute(int64_t experts, int64_t used) {
  std::string name = llvm::formatv("moe_route_e{0}_k{1}", experts, used);
  KernelBuilder kb{module, target};
  if (kb.exists(name))
    return name;
  const int64_t groups = experts / 8, full = groups * 8;
  kb.build(
      name, {kb.f32Buf(kMaxBatch * experts), kb.f32Buf(kMaxBatch * 2 * used)},
      /*scratch=*/1, /*extraScratch=*/std::max<int64_t>(groups, 1),
      [&](Emitter &e, ValueRange a, ValueRange shared) {
        Value logits = a[0], routing = a[1];
        Value values = shared[0], groupSums = shared[1], index = shared[2];
        Value tid = e.threadId();
        Value t = e.blockId(mgpu::Dimension::y);
        Value base = e.mul(t, experts), out = e.mul(t, 2 * used);
        auto x = [&](Value i) { return e.load(logits, e.add(base, i)); };
        using P = arith::CmpFPredicate;
        Value localMax = e.loop(
            tid, e.idx(experts), e.idx(kWG), {e.f32(-INFINITY)},
            [&](Value i, ValueRange m) -> SmallVector<Value> {
              Value v = x(i);
              return {e.sel(e.fcmp(P::OGT, v, m[0]), v, m[0])};
            })[0];
        Value max = e.reduce(localMax, values, tid, /*isMax=*/true);
        // exp(x_i - max): ggml's lanes for whole groups of 8, expf after.
        auto expOf = [&](Value i) {
          Value d = e.fsub(x(i), max);
          if (full == experts)
            return e.polyExp(d);
          return e.sel(e.ult(i, e.idx(full)), e.polyExp(d),
                       e.expfNonPositive(d));
        };
        e.loop(tid, e.idx(groups), e.idx(kWG), [&](Value g) {
          Value v[8];
          for (int l = 0; l < 8; ++l)
            v[l] = e.polyExp(e.fsub(x(e.add(e.mul(g, 8), l)), max));
          e.store(QuantDot::hsum8(e, v), groupSums, g);
        });
        e.barrier();
        e.when(e.eq(tid, e.idx(0)), [&] {
          Value sum = e.loop(e.idx(0), e.idx(groups), e.idx(1), {e.f64(0.0)},
                             [&](Value g, ValueRange s) -> SmallVector<Value> {
                               return {e.fadd(s[0],
                                              e.toF64(e.load(groupSums, g)))};
                             })[0];
          sum = e.loop(e.idx(full), e.idx(experts), e.idx(1), {sum},
                       [&](Value i, ValueRange s) -> SmallVector<Value> {
                         return {e.fadd(s[0], e.toF64(expOf(i)))};
                       })[0];
          e.store(e.toF32(e.fdiv(e.f64(1.0), sum)), groupSums, e.idx(0));
        });
        e.barrier();
        Value inv = e.load(groupSums, e.idx(0));
        auto prob = [&](Value i) {
          Value p = e.fmul(expOf(i), inv);
          return e.sel(e.fcmp(P::UNO, p, p), e.f32(-INFINITY), p);
        };
        // (p, i) ranks before (q, j) when p > q, or p == q and i < j.
        Value none = e.idx(experts);
        auto before = [&](Value p, Value i, Value q, Value j) {
          Value tie = arith::AndIOp::create(e.b, e.fcmp(P::OEQ, p, q),
                                            e.ult(i, j));
          return arith::OrIOp::create(e.b, e.fcmp(P::OGT, p, q), tie);
        };
        Value prevP = e.f32(INFINITY), prevI = none;
        for (int64_t k = 0; k < used; ++k) {
          // This thread's best candidate after the previous pick.
          SmallVector<Value> best = e.loop(
              tid, e.idx(experts), e.idx(kWG), {e.f32(-INFINITY), none},
              [&](Value i, ValueRange cur) -> SmallVector<Value> {
                Value p = prob(i);
                Value after = k == 0 ? e.ult(i, none)
                                     : before(prevP, prevI, p, i);
                Value better = arith::OrIOp::create(
                    e.b, e.eq(cur[1], none), e.fcmp(P::OGT, p, cur[0]));
                Value take = arith::AndIOp::create(e.b, after, better);
                return {e.sel(take, p, cur[0]), e.sel(take, i, cur[1])};
              });
          // The workgroup's best: a tree over (value, index) pairs.
          e.barrier();
          e.store(best[0], values, tid);
          e.store(e.toI32(best[1]), index, tid);
          e.barrier();
          for (int64_t s = kWG / 2; s >= 1; s /= 2) {
            e.when(e.ult(tid, e.idx(s)), [&] {
              Value o = e.add(tid, s);
              Value p = e.load(values, tid), q = e.load(values, o);
              Value i = e.toIndex(e.load(index, tid));
              Value j = e.toIndex(e.load(index, o));
              Value takeOther = arith::AndIOp::create(
                  e.b, e.ult(j, none),
                  arith::OrIOp::create(e.b, e.eq(i, none),
                                       before(q, j, p, i)));
              e.when(takeOther, [&] {
                e.store(q, values, tid);
                e.store(e.toI32(j), index, tid);
              });
            });
            e.barrier();
          }
          prevP = e.load(values, e.idx(0));
          prevI = e.toIndex(e.load(index, e.idx(0)));
          e.when(e.eq(tid, e.idx(0)), [&] {
            e.store(prevP, routing, e.add(out, k));
            e.store(e.uitofp(e.toI32(prevI)), routing,
                    e.add(out, used + k));
          });
        }
        // ggml_sum_rows in slot order (a double), clamped, then a division.
        e.when(e.eq(tid, e.idx(0)), [&] {
          Value sum =
              e.loop(e.idx(0), e.idx(used), e.idx(1), {e.f64(0.0)},
                     [&](Value k, ValueRange s) -> SmallVector<Value> {
                       return {e.fadd(s[0],
                                      e.toF64(e.load(routing, e.add(out, k))))};
                     })[0];
          Value s = e.fmax(e.toF32(sum), e.f32(6.103515625e-5f));
          e.loop(e.idx(0), e.idx(used), e.idx(1), [&](Value k) {
            Value at = e.add(out, k);
            e.store(e.fdiv(e.load(routing, at), s), routing, at);
          });
        });
      },
      /*f64Scratch=*/false, /*i32Scratch=*/kWG);
  return name;
}

std::string KernelLibrary::expertScale(WeightFormat format, int64_t experts,
                                       int64_t slots, int64_t width) {
  std::string name = llvm::formatv("expert_scale_{0}_e{1}_k{2}_{3}",
                                   formatName(format), experts, slots, width);
  KernelBuilder kb{module, target};
  if (kb.exists(name))
    return name;
  Type act = kb.f32Buf(kMaxBatch * slots * width);
  kb.build(name,
           {act, kb.f32Buf(kMaxBatch * 2 * slots), kb.weightBuf(format, experts),
            act},
           0, 0, [&](Emitter &e, ValueRange a, ValueRange) {
             e.forEachColumn(slots * width, [&](Value t, Value i) {
               Value s = e.div(i, width);
               Value id = e.toIndex(e.fptosi(
                   e.load(a[1], e.add(e.add(e.mul(t, 2 * slots), slots), s))));
               id = arith::MinUIOp::create(e.b, id, e.idx(experts - 1));
               Value f = e.weightAt(format, a[2], e.idx(0), id, experts);
               Value at = e.add(e.mul(t, slots * width), i);
               e.store(e.fmul(e.load(a[0], at), f), a[3], at);
             });
           });
  return name;
}

std::string KernelLibrary::moeCombine(int64_t slots, int64_t width) {
  std::string name = llvm::formatv("moe_combine_k{0}_{1}", slots, width);
  KernelBuilder kb{module, target};
  if (kb.exists(name))
    return name;
  kb.build(name,
           {kb.f32Buf(kMaxBatch * slots * width),
            kb.f32Buf(kMaxBatch * 2 * slots), kb.f32Buf(kMaxBatch * width)},
           0, 0, [&](Emitter &e, ValueRange a, ValueRange) {
             e.forEachColumn(width, [&](Value t, Value j) {
               Value in = e.mul(t, slots * width), w = e.mul(t, 2 * slots);
               auto term = [&](Value s) {
                 return e.fmul(e.load(a[0], e.add(in, e.add(e.mul(s, width), j))),
                               e.load(a[1], e.add(w, s)));
               };
               Value acc = e.loop(e.idx(1), e.idx(slots), e.idx(1),
                                  {term(e.idx(0))},
                                  [&](Value s, ValueRange cur)
                                      -> SmallVector<Value> {
                                    return {e.fadd(cur[0], term(s))};
                                  })[0];
               e.store(acc, a[2], e.add(e.mul(t, width), j));
             });
           });
  return name;
}

std::string KernelLibrary::scaleColumns(WeightFormat format, int64_t width) {
  std::string name =
      llvm::formatv("scale_columns_{0}_{1}", formatName(format), width);
  KernelBuilder kb{module, target};
  if (kb.exists(name))
    return name;
  Type act = kb.f32Buf(kMaxBatch * width);
  kb.build(name, {act, kb.weightBuf(format, width), act}, 0, 0,
           [&](Emitter &e, ValueRange a, ValueRange) {
             e.forEachColumn(width, [&](Value t, Value c) {
               Value at = e.add(e.mul(t, width), c);
               Value w = e.weightAt(format, a[1], e.idx(0), c, width);
               e.store(e.fmul(e.load(a[0], at), w), a[2], at);
             });
           });
  return name;
}

} // namespace gemmac::gpukernels
