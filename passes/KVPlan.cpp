//===- KVPlan.cpp - where each KV cache lives -----------------------------===//

#include "passes/KVPlan.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"

using namespace mlir;
using namespace gemmac;
using namespace gemmac::gemma;

static int64_t alignUp(int64_t x) { return (x + 63) / 64 * 64; }

FailureOr<int64_t> gemmac::kvElementBytes(ModuleOp module) {
  // The dialect verifies gemma.kv_cache_type is f16, f32 or f8E4M3FN.
  return int64_t(kvCacheType(module).getIntOrFloatBitWidth() / 8);
}

FailureOr<std::map<int64_t, KVCacheAttr>>
gemmac::moduleKVPlan(ModuleOp module, func::FuncOp entry) {
  ArrayAttr recorded =
      gemmaDialect(module.getContext())->getKvPlanAttrHelper().getAttr(module);
  if (!recorded)
    return computeKVPlan(module, entry, /*rings=*/false);
  std::map<int64_t, KVCacheAttr> plan;
  for (Attribute a : recorded) {
    auto cache = dyn_cast<KVCacheAttr>(a);
    if (!cache)
      return module.emitError("gemma.kv_plan holds a non-cache attribute");
    plan[cache.getOwner()] = cache;
  }
  return plan;
}

FailureOr<std::map<int64_t, KVCacheAttr>>
gemmac::computeKVPlan(ModuleOp module, func::FuncOp entry, bool rings) {
  auto elemBytes = kvElementBytes(module);
  if (failed(elemBytes))
    return failure();
  struct Info {
    int64_t width = 0, window = -1;
    SmallVector<int64_t> readers;
  };
  std::map<int64_t, Info> infos;
  WalkResult r = entry.walk([&](AttentionOp att) {
    Info &c = infos[att.getKvCache()];
    int64_t width = att.getNumKvHeads() * att.getHeadDim();
    int64_t window = att.getWindow();
    if (c.window >= 0 && (c.window != window || c.width != width)) {
      att.emitOpError("reads cache ")
          << att.getKvCache() << " with window " << window << " and width "
          << width << ", but another layer reads it with window " << c.window
          << " and width " << c.width;
      return WalkResult::interrupt();
    }
    c.width = width;
    c.window = window;
    c.readers.push_back(att.getLayer());
    return WalkResult::advance();
  });
  if (r.wasInterrupted())
    return failure();

  MLIRContext *ctx = module.getContext();
  std::map<int64_t, KVCacheAttr> plan;
  int64_t fixed = 0, perToken = 0;
  // A ring keeps draft_max rows beyond its window: a verify step writes
  // draft + 1 rows, and a rollback of up to draft_max + 1 positions must
  // still find the window before the position it returns to.
  const int64_t extra = draftMax(module);
  for (auto &[owner, c] : infos) // rings: a fixed size
    if (rings && c.window > 0) {
      const int64_t rows = c.window + extra;
      plan[owner] =
          KVCacheAttr::get(ctx, owner, c.readers, c.width, rows, fixed, 0);
      fixed += alignUp(2 * rows * c.width * *elemBytes);
    }
  for (auto &[owner, c] : infos) // one row per context token, after the rings
    if (!plan.count(owner)) {
      plan[owner] = KVCacheAttr::get(ctx, owner, c.readers, c.width, 0, 0,
                                     perToken);
      perToken += 2 * c.width * *elemBytes;
    }
  // Per-context caches start after the rings.
  for (auto &[owner, c] : plan)
    if (c.getRows() == 0)
      plan[owner] = KVCacheAttr::get(ctx, owner, c.getReaders(), c.getWidth(),
                                     0, alignUp(fixed), c.getPerToken());
  return plan;
}

KVPlanSize gemmac::kvPlanSize(const std::map<int64_t, KVCacheAttr> &plan,
                              int64_t elementBytes) {
  KVPlanSize size;
  for (auto &[owner, c] : plan) {
    if (c.getRows()) {
      size.fixed = std::max(size.fixed, c.getOffset() +
                                            kvCacheBytes(c, elementBytes, 0));
    } else {
      size.fixed = std::max(size.fixed, c.getOffset());
      size.perToken = std::max(size.perToken,
                               c.getPerToken() + kvCacheBytes(c, elementBytes, 1));
    }
  }
  size.fixed = alignUp(size.fixed);
  return size;
}
