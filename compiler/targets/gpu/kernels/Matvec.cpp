//===- Matvec.cpp - linear, geglu and embed kernels -----------------------===//
//
// Matrix-vector products over the weights: float weights the way llama.cpp's
// tinyBLAS / vec_dot sum them, quantized weights against int8 activation
// blocks (QuantDot), the expert products (mul_mat_id: each (token, slot)
// pair's own expert), and the embedding lookup.
//
//===----------------------------------------------------------------------===//

#include "compiler/targets/gpu/kernels/QuantDot.h"
#include "abi/gpu_program.h"

#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace gemmac::gemma;
using namespace gemmac::gpukernels::detail;

namespace gemmac::gpukernels {

/// The expert of (token, slot) pair v of an expert product: routing[t,
/// k + s] (an exact small integer in f32), clamped into the weight.
static Value expertOf(Emitter &e, Value routing, const ExpertSlices &ex,
                      Value v) {
  const int64_t k = ex.slots;
  Value at = e.add(e.add(e.mul(e.div(v, k), 2 * k), k), e.rem(v, k));
  Value id = e.toIndex(e.fptosi(e.load(routing, at)));
  return arith::MinUIOp::create(e.b, id, e.idx(ex.experts - 1));
}

/// Row `row` of weight w (0: gate or the only one, 1: up) for (token, slot)
/// pair v: the row of its expert's slice, or `row` itself without experts.
static Value weightRow(Emitter &e, Value routing, const ExpertSlices *ex,
                       unsigned w, Value v, Value row) {
  if (!ex)
    return row;
  return e.add(e.mul(expertOf(e, routing, *ex, v), ex->expertRows[w]),
               e.add(row, ex->firstRow[w]));
}

/// The activation row pair v reads: its own (per slot) or its token's.
static Value inputRow(Emitter &e, const ExpertSlices *ex, Value v) {
  return ex && !ex->perSlot ? e.div(v, ex->slots) : v;
}

/// Whether an expert product groups its pairs by expert: when the batch
/// holds at least `perExpert` (token, slot) pairs per expert on average, so
/// that an expert's weights, read once for a group of pairs, serve several.
/// Smaller batches (decode) read each pair's expert rows as they come.
static Value groupsByExpert(Emitter &e, const ExpertSlices &ex, Value tokens,
                            int64_t perExpert) {
  return e.ule(e.idx(ex.experts * perExpert), e.mul(tokens, ex.slots));
}

/// The pairs of one expert, in (token, slot) order, as countPairs found
/// them: thread i scans pairs [begin, end) of the routing, `mine` of which
/// are the expert's, listed from position `first`; `total` in all.
struct ExpertPairs {
  Value expert, begin, end, mine, first, total;
};

/// Counts the expert's pairs among the first `pairs` of the routing: each
/// thread its contiguous share, then an exclusive sum over the threads
/// through counts[base, base + 64) (free workgroup memory, used only here).
static ExpertPairs countPairs(Emitter &e, Value routing, const ExpertSlices &ex,
                              Value expert, Value pairs, Value counts,
                              int64_t base) {
  ExpertPairs p;
  p.expert = expert;
  Value tid = e.threadId();
  Value per = e.div(e.add(pairs, kWG - 1), kWG);
  p.begin = e.mul(tid, per);
  p.end = arith::MinUIOp::create(e.b, e.add(p.begin, per), pairs);
  p.mine = e.loop(p.begin, p.end, e.idx(1), {e.idx(0)},
                  [&](Value v, ValueRange n) -> SmallVector<Value> {
                    Value m = e.eq(expertOf(e, routing, ex, v), expert);
                    return {e.sel(m, e.add(n[0], 1), n[0])};
                  })[0];
  e.barrier(); // the counts' previous readers are done
  e.store(e.toI32(p.mine), counts, e.add(tid, base));
  e.barrier();
  auto sumOfCounts = [&](Value upTo) {
    return e.loop(e.idx(0), upTo, e.idx(1), {e.idx(0)},
                  [&](Value i, ValueRange n) -> SmallVector<Value> {
                    return {e.add(n[0], e.toIndex(e.load(counts, e.add(i, base))))};
                  })[0];
  };
  p.first = sumOfCounts(tid);
  p.total = sumOfCounts(e.idx(kWG));
  e.barrier(); // every thread has its sums before the memory is reused
  return p;
}

/// Writes the expert's pairs at positions [w0, w0 + width) of its list to
/// list[base + position - w0] (threads whose pairs fall there rescan their
/// share), then waits for the whole workgroup. The list memory must be
/// free.
static void windowOfPairs(Emitter &e, Value routing, const ExpertSlices &ex,
                          const ExpertPairs &p, Value w0, int64_t width,
                          Value list, int64_t base) {
  Value w1 = e.add(w0, width);
  Value overlaps = arith::AndIOp::create(
      e.b, e.ult(p.first, w1), e.ult(w0, e.add(p.first, p.mine)));
  e.when(overlaps, [&] {
    e.loop(p.begin, p.end, e.idx(1), {p.first},
           [&](Value v, ValueRange at) -> SmallVector<Value> {
             Value m = e.eq(expertOf(e, routing, ex, v), p.expert);
             Value inside = arith::AndIOp::create(
                 e.b, m,
                 arith::AndIOp::create(e.b, e.ule(w0, at[0]), e.ult(at[0], w1)));
             e.when(inside, [&] {
               e.store(e.toI32(v), list, e.add(e.sub(at[0], w0), base));
             });
             return {e.sel(m, e.add(at[0], 1), at[0])};
           });
  });
  e.barrier();
}

/// Float weights (F32/F16/BF16) as llama.cpp's CPU backend multiplies them:
/// activations rounded to the weight's type, then (tinyBLAS, k % 8 == 0 and
/// rows % 4 == 0) eight lanes per row, lane t one fused chain over elements
/// t, t+8, ..., summed ((v0+v4)+(v2+v6)) + ((v1+v5)+(v3+v7)); or (vec_dot,
/// and always for expert products: mul_mat_id never uses tinyBLAS) 4x8
/// lanes over blocks of 32, reduced in GGML_F32x8_REDUCE's order (bf16:
/// the horizontal sum above), the leftovers added in double. A workgroup
/// takes eight rows (tinyBLAS) or two (vec_dot) of one token, or of each of
/// one token's slots in turn, or (a batch with a pair per expert or more) of
/// each pair of its experts in turn.
static void floatMatvecBody(Emitter &e, WeightFormat format, int64_t rows,
                            int64_t cols, unsigned nw, Param rowsParam,
                            ValueRange a, ValueRange shared,
                            const ExpertSlices *ex) {
  const bool tiny = !ex && cols % 8 == 0 && rows % 4 == 0;
  const int64_t lanes = tiny ? 8 : 32;
  Value tid = e.threadId();
  Value t = e.blockId(mgpu::Dimension::y);
  Value row = e.add(e.mul(e.blockId(mgpu::Dimension::x), kWG / lanes),
                    e.div(tid, lanes));
  Value lane = e.rem(tid, lanes);
  Value live = e.ult(row, e.idx(rows));
  Value safeRow = e.sel(live, row, e.idx(0));
  // An expert product's params and routing follow y and the GELU table.
  const unsigned paramsArg = nw + 2 + (nw == 2 ? 1 : 0);
  Value routing = ex ? a[paramsArg + 1] : Value();
  // One token's product, or one (token, slot) pair's.
  auto product = [&](Value v) {
    Value xBase = e.mul(inputRow(e, ex, v), cols);
    SmallVector<Value> wRow;
    for (unsigned k = 0; k < nw; ++k)
      wRow.push_back(weightRow(e, routing, ex, k, v, safeRow));
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
                e.fma(e.weightAt(format, a[k], wRow[k], c, cols), x, v[k]));
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
          v[j] =
              e.fadd(e.fadd(lv(j), lv(16 + j)), e.fadd(lv(8 + j), lv(24 + j)));
        Value r8 =
            format == WeightFormat::bf16
                ? QuantDot::hsum8(e, v)
                : e.fadd(e.fadd(e.fadd(v[0], v[4]), e.fadd(v[1], v[5])),
                         e.fadd(e.fadd(v[2], v[6]), e.fadd(v[3], v[7])));
        Value d = e.loop(e.idx(np), e.idx(cols), e.idx(1), {e.toF64(r8)},
                         [&](Value c, ValueRange s) -> SmallVector<Value> {
                           Value p = e.fmul(
                               e.weightAt(format, a[k], wRow[k], c, cols),
                               act(c));
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
           [&] { e.store(y, a[nw + 1], e.add(e.mul(v, rows), row)); });
  };
  if (!ex)
    return product(t);
  // Grouped: workgroup y takes experts y, y + tokens, ..., each expert's
  // pairs in turn (its rows stay in cache); otherwise token y's slots.
  Value tokens = param(e, a[paramsArg], rowsParam);
  Value grouped = groupsByExpert(e, *ex, tokens, 1);
  e.when(grouped, [&] {
    // counts[0, 64), then a window of up to kMaxBatch listed pairs.
    Value list = shared.back();
    e.loop(t, e.idx(ex->experts), tokens, [&](Value expert) {
      ExpertPairs p = countPairs(e, routing, *ex, expert,
                                 e.mul(tokens, ex->slots), list, 0);
      e.loop(e.idx(0), p.total, e.idx(kMaxBatch), [&](Value w0) {
        e.barrier(); // the previous window's pairs have been read
        windowOfPairs(e, routing, *ex, p, w0, kMaxBatch, list, kWG);
        Value n = arith::MinUIOp::create(e.b, e.idx(kMaxBatch),
                                         e.sub(p.total, w0));
        e.loop(e.idx(0), n, e.idx(1), [&](Value i) {
          product(e.toIndex(e.load(list, e.add(i, kWG))));
        });
      });
    });
  });
  e.when(e.negate(grouped), [&] {
    e.loop(e.idx(0), e.idx(ex->slots), e.idx(1),
           [&](Value s) { product(e.add(e.mul(t, ex->slots), s)); });
  });
}

/// Quantized weights: a workgroup takes matvecRowsPerGroup rows and
/// kQuantMatvecTokensPerGroup tokens, 32 threads per row. Per chunk of 32
/// blocks, thread j unpacks block j of its row once and computes its integer
/// terms for every token of the group (coalesced weight reads, shared
/// across tokens: the prefill GEMM's reuse); then thread j < tokens advances
/// token j's f32 chains over the chunk's blocks in order. An expert product
/// over a batch with fewer than kQuantMatvecTokensPerGroup pairs per expert
/// (decode) takes one token's slots (as many rounds as it takes), each
/// slot's block read from its own expert; over a larger batch it takes
/// whole experts (groupsByExpert), each expert's block read once for
/// kQuantMatvecTokensPerGroup of its pairs, as the dense product does for
/// tokens (fewer pairs per expert would mean more rounds than token by
/// token). Each pair's chains are the same either way.
static void quantMatvecBody(Emitter &e, WeightFormat format, int64_t rows,
                            int64_t cols, unsigned nw, Param rowsParam,
                            ValueRange a, Value terms,
                            const ExpertSlices *ex) {
  const int64_t R = gemmac::gpu::matvecRowsPerGroup(false, rows, cols);
  const int64_t G = kWG / R, TT = gemmac::gpu::kQuantMatvecTokensPerGroup;
  QuantDot dot{e, format, rows, cols, a[nw], a[nw + 1]};
  if (ex)
    dot.kind = QuantDot::expertKind(format, *ex);
  const int64_t K = dot.numTerms(), NA = dot.numAcc(), nb = dot.nb();
  Value tid = e.threadId();
  Value r = e.div(tid, G), j = e.rem(tid, G);
  Value row = e.add(e.mul(e.blockId(mgpu::Dimension::x), R), r);
  Value live = e.ult(row, e.idx(rows));
  Value safeRow = e.sel(live, row, e.idx(0));
  // params follows y and the GELU table (not a.back(): on NVVM `a` ends
  // with the workgroup buffers); an expert product's routing follows it.
  const unsigned paramsArg = nw + 3 + (nw == 2 ? 1 : 0);
  Value routing = ex ? a[paramsArg + 1] : Value();
  // One round: the rows at positions [t0, min(t0 + TT, end)) of the ones
  // this workgroup computes, position i being row pairAt(i) (a token, or a
  // (token, slot) pair). `expert`: the expert all of them use (grouped, or
  // a dense product: null) or null when each reads its own.
  auto round = [&](Value t0, Value end, Value expert,
                   llvm::function_ref<Value(Value)> pairAt) {
    const bool shared = !ex || expert;
    auto weightRowOf = [&](unsigned k, Value pair) {
      if (ex && expert)
        return e.add(e.mul(expert, ex->expertRows[k]),
                     e.add(safeRow, ex->firstRow[k]));
      return weightRow(e, routing, ex, k, pair, safeRow);
    };
    Value at = e.add(t0, j); // the position whose chains thread j advances
    Value owner =
        arith::AndIOp::create(e.b, e.ult(j, e.idx(TT)), e.ult(at, end));
    Value own = pairAt(e.sel(owner, at, t0)); // in range for the reads below
    SmallVector<Value> ownWeightRow;
    for (unsigned k = 0; k < nw; ++k)
      ownWeightRow.push_back(weightRowOf(k, own));
    // This round's rows: min(TT, max(end - t0, 0)).
    Value count = arith::MinUIOp::create(
        e.b, e.idx(TT), e.sub(arith::MaxUIOp::create(e.b, t0, end), t0));
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
              auto store = [&](const QuantDot::Block &blk, Value tt,
                               Value pair) {
                SmallVector<Value> T = dot.terms(blk, inputRow(e, ex, pair), b);
                for (int64_t term = 0; term < K; ++term)
                  e.store(T[term], terms, slot(tt, k, term, j));
              };
              if (shared) { // one block serves every row of the round
                QuantDot::Block blk = dot.load(a[k], weightRowOf(k, own), b);
                e.loop(e.idx(0), count, e.idx(1), [&](Value tt) {
                  store(blk, tt, pairAt(e.add(t0, tt)));
                });
              } else { // each slot reads its own expert's block
                e.loop(e.idx(0), count, e.idx(1), [&](Value tt) {
                  Value pair = pairAt(e.add(t0, tt));
                  store(dot.load(a[k], weightRowOf(k, pair), b), tt, pair);
                });
              }
            }
          });
          e.barrier();
          Value inChunk = arith::MinUIOp::create(
              e.b, e.idx(G), e.sub(e.idx(nb), e.mul(c, G)));
          SmallVector<Value> next = e.loop(
              e.idx(0), e.sel(owner, inChunk, e.idx(0)), e.idx(1), v,
              [&](Value i, ValueRange cur) -> SmallVector<Value> {
                SmallVector<Value> out;
                for (unsigned k = 0; k < nw; ++k) {
                  SmallVector<Value> T;
                  for (int64_t term = 0; term < K; ++term)
                    T.push_back(e.load(terms, slot(j, k, term, i)));
                  SmallVector<Value> s = dot.step(
                      a[k], ownWeightRow[k], inputRow(e, ex, own),
                      e.add(e.mul(c, G), i), T, cur.slice(k * NA, NA));
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
           [&] { e.store(y, a[nw + 2], e.add(e.mul(own, rows), row)); });
  };
  auto identity = [](Value v) { return v; };
  Value tokens = param(e, a[paramsArg], rowsParam);
  if (!ex) // tokens [y TT, min((y + 1) TT, tokens))
    return round(e.mul(e.blockId(mgpu::Dimension::y), TT), tokens, Value(),
                 identity);
  Value y = e.blockId(mgpu::Dimension::y);
  Value grouped = groupsByExpert(e, *ex, tokens, TT);
  e.when(grouped, [&] {
    // Experts y, y + tokens, ...: each expert's pairs, TT per round. The
    // counts and each round's pairs pass through the terms' memory while
    // no round uses it; the round keeps its pairs in registers.
    e.loop(y, e.idx(ex->experts), tokens, [&](Value expert) {
      ExpertPairs p = countPairs(e, routing, *ex, expert,
                                 e.mul(tokens, ex->slots), terms, 0);
      e.loop(e.idx(0), e.div(e.add(p.total, TT - 1), TT), e.idx(1),
             [&](Value i) {
        Value t0 = e.mul(i, TT);
        windowOfPairs(e, routing, *ex, p, t0, TT, terms, 0);
        Value inRound = e.sub(p.total, t0); // >= 1
        SmallVector<Value> pairs;
        for (int64_t k = 0; k < TT; ++k) {
          Value id = e.toIndex(e.load(terms, e.idx(k)));
          pairs.push_back(k == 0 ? id
                                 : e.sel(e.ult(e.idx(k), inRound), id, pairs[0]));
        }
        e.barrier(); // read by all before the round's terms overwrite them
        round(t0, p.total, expert, [&](Value pos) {
          Value k = e.sub(pos, t0), id = pairs[0];
          for (int64_t j = 1; j < TT; ++j)
            id = e.sel(e.eq(k, e.idx(j)), pairs[j], id);
          return id;
        });
      });
    });
  });
  e.when(e.negate(grouped), [&] {
    // Token y's slots, TT per round, each reading its own expert.
    Value v0 = e.mul(y, ex->slots), vEnd = e.add(v0, ex->slots);
    e.loop(e.idx(0), e.idx((ex->slots + TT - 1) / TT), e.idx(1), [&](Value i) {
      round(e.add(v0, e.mul(i, TT)), vEnd, Value(), identity);
    });
  });
}

/// linear (one weight) and geglu (gate and up, then gelu(gate) * up), and
/// the expert products (`ex`). Float weights: floatMatvecBody, a token per
/// grid row. Quantized weights: quantMatvecBody over the activation blocks
/// quantize() wrote, with the params buffer after the outputs for the row
/// count (`rowsParam`). An expert product's routing comes last.
static std::string matvec(mgpu::GPUModuleOp module, Target target,
                          WeightFormat format, int64_t rows, int64_t cols,
                          bool geglu, Param rowsParam,
                          const ExpertSlices *ex = nullptr) {
  // Quantized: int8 activation blocks. Float weights, and the block formats
  // that multiply f32 activations (q4_0_f32, ...: decoded by weightAt,
  // tinyBLAS's lanes, which the launcher's shape rule guarantees), read f32.
  const bool quantized = activationQuant(format) != ActQuant::None;
  const unsigned nw = geglu ? 2 : 1;
  std::string name = llvm::formatv(
      "{0}_{1}_{2}x{3}{4}", geglu ? "geglu" : "linear", formatName(format),
      rows, cols, (quantized || ex) && rowsParam == kOutRows ? "_out" : "");
  if (ex) {
    name = llvm::formatv("expert_{0}_e{1}_k{2}{3}", name, ex->experts,
                         ex->slots, ex->perSlot ? "_slot" : "");
    for (unsigned w = 0; w < nw; ++w)
      name += llvm::formatv("_r{0}f{1}", ex->expertRows[w], ex->firstRow[w]);
  }
  KernelBuilder kb{module, target};
  if (kb.exists(name))
    return name;
  MLIRContext *ctx = module.getContext();
  // A weight's elements: [rows, cols], or every expert's [expertRows, cols].
  auto weightElems = [&](unsigned w) {
    return weightElementCount(
        format, (ex ? ex->experts * ex->expertRows[w] : rows) * cols);
  };
  // The input's rows hold one token's cols, or its k slots' (per slot).
  const int64_t inCols = ex && ex->perSlot ? ex->slots * cols : cols;
  const int64_t outCols = ex ? ex->slots * rows : rows;
  SmallVector<Type> args;
  for (unsigned w = 0; w < nw; ++w)
    args.push_back(quantized // as 16-bit words
                       ? kb.buf(IntegerType::get(ctx, 16), weightElems(w) / 2)
                       : kb.buf(weightElementType(ctx, format), weightElems(w)));
  if (!quantized) {
    args.push_back(kb.f32Buf(kMaxBatch * inCols));
  } else { // activation quants as words of four
    args.push_back(kb.actQuants(inCols));
    args.push_back(kb.actAux(activationQuant(format), inCols));
  }
  args.push_back(kb.f32Buf(kMaxBatch * outCols));
  if (geglu)
    args.push_back(kb.geluTable());
  if (quantized || ex)
    args.push_back(kb.params());
  if (ex)
    args.push_back(kb.f32Buf(kMaxBatch * 2 * ex->slots));
  const int64_t termScratch =
      quantized ? kWG * gemmac::gpu::kQuantMatvecTokensPerGroup * nw *
                      QuantDot::numTerms(
                          ex ? QuantDot::expertKind(format, *ex)
                             : QuantDot::kindOf(format, rows))
                : 0;
  // Float weights: one scratch buffer per sum (the second reduction must not
  // overwrite the first one's result before every thread has read it).
  // Float expert products list their pairs in an i32 buffer of their own
  // (countPairs' counts, then a window of pairs); quantized ones in the
  // terms' buffer.
  kb.build(
      name, args, quantized ? 0 : nw, 0,
      [&](Emitter &e, ValueRange a, ValueRange shared) {
        if (quantized)
          quantMatvecBody(e, format, rows, cols, nw, rowsParam, a,
                          shared.back(), ex);
        else
          floatMatvecBody(e, format, rows, cols, nw, rowsParam, a, shared,
                          ex);
      },
      /*f64Scratch=*/false,
      quantized ? termScratch : ex ? kWG + kMaxBatch : 0);
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

std::string KernelLibrary::expertLinear(WeightFormat format, int64_t rows,
                                        int64_t cols,
                                        const ExpertSlices &slices,
                                        Param rowsParam) {
  return matvec(module, target, format, rows, cols, /*geglu=*/false,
                rowsParam, &slices);
}

std::string KernelLibrary::expertGeglu(WeightFormat format, int64_t rows,
                                       int64_t cols,
                                       const ExpertSlices &slices,
                                       Param rowsParam) {
  return matvec(module, target, format, rows, cols, /*geglu=*/true, rowsParam,
                &slices);
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

} // namespace gemmac::gpukernels
