//===- Attention.cpp - attention and KV store kernels ---------------------===//
//
// llama.cpp's tiled flash attention over the KV cache and the batch's fresh
// keys and values, and the kernel that stores the batch into the cache. A
// step's rows may belong to several sequences: each row reads its
// sequence's rows and KV slot (the params' row table).
//
//===----------------------------------------------------------------------===//

#include "compiler/targets/gpu/kernels/KernelBuilder.h"

#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace gemmac::gemma;
using namespace gemmac::gpukernels::detail;

namespace gemmac::gpukernels {

std::string KernelLibrary::KVCacheFormat::suffix() const {
  switch (kind) {
  case F32:
    return "f32";
  case F16:
    return "f16";
  case F8:
    return "f8k" + bitsOf(kScale) + "v" + bitsOf(vScale);
  }
  llvm_unreachable("KV cache kinds are covered");
}

namespace {
/// A cache's element type and its conversions, as the CPU kernels define
/// them (attention_reference.h: toCached, loadCached, roundTo).
struct CacheAccess {
  KernelLibrary::KVCacheFormat format;

  Type element(MLIRContext *ctx) const {
    switch (format.kind) {
    case KernelLibrary::KVCacheFormat::F32:
      return Float32Type::get(ctx);
    case KernelLibrary::KVCacheFormat::F16:
      return IntegerType::get(ctx, 16);
    case KernelLibrary::KVCacheFormat::F8:
      return IntegerType::get(ctx, 8);
    }
    llvm_unreachable("KV cache kinds are covered");
  }
  float scale(bool isV) const { return isV ? format.vScale : format.kScale; }
  /// What the cache stores for x (K, or V when isV).
  Value store(Emitter &e, Value x, bool isV) const {
    switch (format.kind) {
    case KernelLibrary::KVCacheFormat::F32:
      return x;
    case KernelLibrary::KVCacheFormat::F16:
      return e.toI16(e.floatToHalf(x));
    case KernelLibrary::KVCacheFormat::F8:
      return arith::TruncIOp::create(
          e.b, e.b.getI8Type(),
          e.floatToE4M3(e.fdiv(x, e.f32(scale(isV)))));
    }
    llvm_unreachable("KV cache kinds are covered");
  }
  /// The value a stored element reads back as.
  Value load(Emitter &e, Value stored, bool isV) const {
    switch (format.kind) {
    case KernelLibrary::KVCacheFormat::F32:
      return stored;
    case KernelLibrary::KVCacheFormat::F16:
      return e.halfToFloat(e.fromI16(stored));
    case KernelLibrary::KVCacheFormat::F8:
      return e.fmul(e.e4m3(arith::ExtUIOp::create(e.b, e.b.getI32Type(),
                                                   stored)),
                    e.f32(scale(isV)));
    }
    llvm_unreachable("KV cache kinds are covered");
  }
};
} // namespace

std::string KernelLibrary::attention(int64_t heads, int64_t kvHeads,
                                     int64_t headDim, int64_t window,
                                     int64_t ringRows, float scale,
                                     KVCacheFormat format) {
  std::string name = llvm::formatv(
      "attention_h{0}_kv{1}_d{2}_w{3}_r{4}_s{5}_{6}", heads, kvHeads, headDim,
      window, ringRows, bitsOf(scale), format.suffix());
  KernelBuilder kb{module, target};
  if (kb.exists(name))
    return name;
  MLIRContext *ctx = module.getContext();
  const int64_t width = kvHeads * headDim, group = heads / kvHeads;
  const CacheAccess access{format};
  // Every KV slot's cache: the step's rows may belong to several sequences.
  Type cache = kb.buf(access.element(ctx), int64_t(1) << 30);
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
        // Row t's sequence: its rows in this step start at row segRow0 and
        // position pos0; its cache is in KV slot `slot`.
        Value pos0 = rowParam(e, a[6], t, kRowSegPos0);
        Value segRow0 = rowParam(e, a[6], t, kRowSegRow0);
        Value pos = rowPosition(e, a[6], t);
        Value slot = slotBase(e, a[6], t, width, ringRows);
        Value first = e.idx(0);
        if (window > 0) {
          Value lo = e.sub(e.add(pos, 1), e.idx(window));
          first = e.sel(e.ult(pos, e.idx(window)), e.idx(0), lo);
        }
        Value g = e.div(h, group);
        Value qBase = e.add(e.mul(t, heads * headDim), e.mul(h, headDim));
        // Element i of the key or value at position p: from the cache before
        // pos0, else from the sequence's rows of the batch (rounded as the
        // cache would store it).
        auto kvAt = [&](Value cacheBuf, Value fresh, Value p, Value i,
                        bool isV) {
          Value inCache = e.ult(p, pos0);
          auto ifOp = scf::IfOp::create(e.b, e.b.getF32Type(), inCache, true);
          OpBuilder::InsertionGuard guard(e.b);
          e.b.setInsertionPointToStart(ifOp.thenBlock());
          Value r = ringRows ? e.rem(p, ringRows) : p;
          Value v = e.load(cacheBuf,
                           e.add(e.add(e.add(slot, e.mul(r, width)),
                                       e.mul(g, headDim)),
                                 i));
          scf::YieldOp::create(e.b, access.load(e, v, isV));
          e.b.setInsertionPointToStart(ifOp.elseBlock());
          Value row = e.add(segRow0, e.sub(p, pos0));
          Value f = e.load(fresh, e.add(e.add(e.mul(row, width),
                                              e.mul(g, headDim)), i));
          scf::YieldOp::create(e.b,
                               access.load(e, access.store(e, f, isV), isV));
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
                                     return {e.fma(qi, kvAt(a[3], a[1], kp, i, false),
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
                             Value vj = kvAt(a[4], a[2], e.add(tile, j), i, true);
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
                                   KVCacheFormat format) {
  std::string name = llvm::formatv("kv_store_{0}_r{1}_{2}", width, ringRows,
                                   format.suffix());
  KernelBuilder kb{module, target};
  if (kb.exists(name))
    return name;
  MLIRContext *ctx = module.getContext();
  const CacheAccess access{format};
  Type cache = kb.buf(access.element(ctx), int64_t(1) << 30);
  Type kv = kb.f32Buf(kMaxBatch * width);
  kb.build(name, {kv, kv, cache, cache, kb.params()}, 0, 0,
           [&](Emitter &e, ValueRange a, ValueRange) {
             Value t = e.blockId(mgpu::Dimension::y);
             Value i = e.add(e.mul(e.blockId(mgpu::Dimension::x), kWG),
                             e.threadId());
             Value pos = rowPosition(e, a[4], t);
             Value store = e.ult(i, e.idx(width));
             if (ringRows) { // only the sequence's last ringRows rows survive
               Value rows = rowParam(e, a[4], t, kRowSegRows);
               Value local = e.sub(t, rowParam(e, a[4], t, kRowSegRow0));
               store = arith::AndIOp::create(e.b, store,
                                             e.ule(rows, e.add(local, ringRows)));
             }
             e.when(store, [&] {
               Value r = ringRows ? e.rem(pos, ringRows) : pos;
               Value base = e.add(slotBase(e, a[4], t, width, ringRows),
                                  e.mul(r, width));
               for (int c = 0; c < 2; ++c) {
                 Value v = e.load(a[c], e.add(e.mul(t, width), i));
                 e.store(access.store(e, v, c == 1), a[2 + c], e.add(base, i));
               }
             });
           });
  return name;
}

} // namespace gemmac::gpukernels
