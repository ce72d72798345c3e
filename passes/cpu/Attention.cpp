//===- Attention.cpp - CPU lowering of attention, KV stores and RoPE ------===//
//
// Attention reads the step's q/k/v and its KV cache's K and V arrays (views
// of slot 0's caches at the cache's planned offset; each segment of the step
// reaches its own slot's, abi/step.h); gemma.kv_store writes the step's k/v
// into them; RoPE rotates queries and keys in place at each row's position.
//
//===----------------------------------------------------------------------===//

#include "passes/KernelCatalogue.h"
#include "passes/cpu/CPULowering.h"

using namespace mlir;
using namespace gemmac;
using namespace gemmac::cpu;
using namespace gemmac::gemma;

namespace {

/// An E4M3 cache's kernels take its owner's K and V scales last.
void appendKVScales(CPULowering &l, KVCacheAttr cache,
                    llvm::SmallVectorImpl<Value> &args) {
  if (l.kvName != "f8")
    return;
  auto [k, v] = kvScales(l.getModule(), cache.getOwner());
  args.push_back(l.f32(k));
  args.push_back(l.f32(v));
}

struct RopeLowering : CPUOpLowering<RopeOp> {
  using CPUOpLowering::CPUOpLowering;
  LogicalResult lower(RopeOp r, CPULowering &l) const override {
    Activation in = l.act(r.getInput());
    Activation &out = l.allocate(r.getResult(), in.rows, r.getInput());
    return callRope(l, r, out, in, r.getNumHeads(), r.getHeadDim(),
                    r.getRope());
  }
};

/// The kernel gemma-select-kernels chose (a head dim's instantiation), else
/// the one for any head dim over this module's caches.
struct AttentionLowering : CPUOpLowering<AttentionOp> {
  using CPUOpLowering::CPUOpLowering;
  LogicalResult lower(AttentionOp a, CPULowering &l) const override {
    Activation &out = l.allocate(a.getResult(), l.nTokens);
    FailureOr<KVCacheAttr> cache = l.kvCache(a, a.getKvCache());
    if (failed(cache))
      return failure();
    CPULowering::CacheViews c = l.cacheViews(*cache);
    FailureOr<const KernelRow *> kernel = chosenKernel(a);
    if (succeeded(kernel) && !*kernel)
      kernel = l.catalogueKernel(a, "attention", l.kvName);
    if (failed(kernel))
      return failure();
    // An instantiation for one head dim reads heads of that size only.
    const KernelRow &row = **kernel;
    int64_t dim;
    if (row.kind == "attention" && !row.variant.getAsInteger(10, dim) &&
        dim != static_cast<int64_t>(a.getHeadDim()))
      return a.emitOpError("kernel '")
             << row.symbol << "' is instantiated for head dim " << dim
             << ", not " << a.getHeadDim();
    llvm::SmallVector<Value> args = {
        l.rt, out.view, l.act(a.getQ()).view, l.act(a.getK()).view,
        l.act(a.getV()).view, l.nTokens, l.seqs, l.nSeqs,
        l.idx(a.getNumHeads()), l.idx(a.getNumKvHeads()),
        l.idx(a.getHeadDim()), l.idx(a.getWindow()), c.k, c.v, c.capacity,
        l.seqStride, l.f32(a.getScale().convertToFloat())};
    appendKVScales(l, *cache, args);
    return l.callKernel(a, row, args);
  }
};

/// The drafter's query-only attention over a target cache.
struct CachedAttentionLowering : CPUOpLowering<CachedAttentionOp> {
  using CPUOpLowering::CPUOpLowering;
  LogicalResult lower(CachedAttentionOp a, CPULowering &l) const override {
    Activation &out = l.allocate(a.getResult(), l.nTokens);
    FailureOr<KVCacheAttr> cache = l.kvCache(a, a.getKvCache());
    if (failed(cache))
      return failure();
    if (cache->getWidth() != a.getNumKvHeads() * a.getHeadDim() ||
        (cache->getRows() > 0) != (a.getWindow() > 0))
      return a.emitOpError("reads cache ")
             << a.getKvCache() << " as " << a.getNumKvHeads() << " kv heads of "
             << a.getHeadDim() << (a.getWindow() ? " in a ring" : "")
             << ", which the plan does not hold";
    FailureOr<const KernelRow *> kernel =
        l.catalogueKernel(a, "attention_cached", l.kvName);
    if (failed(kernel))
      return failure();
    CPULowering::CacheViews c = l.cacheViews(*cache);
    llvm::SmallVector<Value> args = {
        l.rt, out.view, l.act(a.getQ()).view, l.nTokens, l.seqs, l.nSeqs,
        l.idx(a.getNumHeads()), l.idx(a.getNumKvHeads()),
        l.idx(a.getHeadDim()), l.idx(a.getWindow()), c.k, c.v, c.capacity,
        l.seqStride, l.f32(a.getScale().convertToFloat())};
    appendKVScales(l, *cache, args);
    return l.callKernel(a, **kernel, args);
  }
};

struct KVStoreLowering : CPUOpLowering<KVStoreOp> {
  using CPUOpLowering::CPUOpLowering;
  LogicalResult lower(KVStoreOp s, CPULowering &l) const override {
    FailureOr<KVCacheAttr> cache = l.kvCache(s, s.getKvCache());
    if (failed(cache))
      return failure();
    FailureOr<const KernelRow *> kernel =
        l.catalogueKernel(s, "kv_store", l.kvName);
    if (failed(kernel))
      return failure();
    CPULowering::CacheViews c = l.cacheViews(*cache);
    llvm::SmallVector<Value> args = {
        l.rt, c.k, c.v, l.act(s.getK()).view, l.act(s.getV()).view,
        l.nTokens, l.seqs, l.nSeqs, l.idx(cache->getWidth()),
        l.idx(cache->getRows()), c.capacity, l.seqStride};
    appendKVScales(l, *cache, args);
    return l.callKernel(s, **kernel, args);
  }
};

} // namespace

LogicalResult gemmac::cpu::callRope(CPULowering &l, Operation *op,
                                   const Activation &out, const Activation &in,
                                   int64_t numHeads, int64_t headDim,
                                   RopeAttr rope) {
  return l.callKernel(op, "gmk_rope",
                      {l.rt, out.view, in.view, in.rows, l.idx(numHeads),
                       l.idx(headDim), l.positions,
                       l.f32(static_cast<float>(rope.getThetaValue())),
                       l.idx(rope.getFreqDim()),
                       l.idx(rope.getRotatedPairs())});
}

void gemmac::cpu::populateAttentionLowerings(RewritePatternSet &patterns,
                                             CPULowering &lowering) {
  patterns.add<RopeLowering, AttentionLowering, CachedAttentionLowering,
               KVStoreLowering>(lowering);
}
