//===- PlanKVCache.cpp - rings for sliding layers, aliases for shared KV --===//

#include "passes/KVPlan.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"

namespace gemmac {
#define GEN_PASS_DEF_PLANKVCACHE
#include "passes/Passes.h.inc"
} // namespace gemmac

using namespace mlir;
using namespace gemmac;
using namespace gemmac::gemma;

namespace {

struct PlanKVCachePass
    : public gemmac::impl::PlanKVCacheBase<PlanKVCachePass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    func::FuncOp entry = lookupEntry(module);
    if (!entry)
      return; // nothing to plan

    // A cache is written once per step, after its last reader: readers of
    // the same step see positions before pos0 in the cache (a ring must
    // still hold them) and the step's own keys as values.
    DenseMap<int64_t, Operation *> lastReader;
    entry.walk([&](AttentionOp att) { lastReader[att.getKvCache()] = att; });
    SmallVector<KVStoreOp> stores(entry.getOps<KVStoreOp>());
    for (KVStoreOp store : stores) {
      Operation *reader = lastReader.lookup(store.getKvCache());
      if (reader && store->isBeforeInBlock(reader))
        store->moveAfter(reader);
    }

    auto plan = computeKVPlan(module, entry, /*rings=*/true);
    if (failed(plan))
      return signalPassFailure();
    SmallVector<Attribute> caches;
    for (auto &[owner, cache] : *plan)
      caches.push_back(cache);
    gemmaDialect(&getContext())
        ->getKvPlanAttrHelper()
        .setAttr(module, ArrayAttr::get(&getContext(), caches));
  }
};

} // namespace
