//===- KVPlan.h - where each KV cache lives ------------------------*- C++ -*-===//
#pragma once

#include "dialects/gemma/GemmaDialect.h"

#include "mlir/IR/BuiltinOps.h"

#include <algorithm>
#include <map>

namespace gemmac {

/// Bytes of one KV element for the module's gemma.kv_cache_type (2, 4 or 1).
mlir::FailureOr<int64_t> kvElementBytes(mlir::ModuleOp module);

/// The caches the entry function's attention ops read, keyed by owner layer.
/// `rings`: sliding caches hold `window` rows (plus the module's draft_max);
/// otherwise every cache holds
/// one row per context token. Layouts rings first, then per-context caches.
mlir::FailureOr<std::map<int64_t, gemma::KVCacheAttr>>
computeKVPlan(mlir::ModuleOp module, mlir::func::FuncOp entry, bool rings);

/// The plan the code generators use: gemma-plan-kv-cache's (module
/// attribute gemma.kv_plan), or without it one row per context token for
/// every cache (always correct, just larger).
mlir::FailureOr<std::map<int64_t, gemma::KVCacheAttr>>
moduleKVPlan(mlir::ModuleOp module, mlir::func::FuncOp entry);

/// Bytes of a plan: `fixed` + `perToken` x n_ctx. Code generation sizes the
/// KV buffer (gemmac_kv_bytes) and --print-memory-plan reports with this.
struct KVPlanSize {
  int64_t fixed = 0, perToken = 0;
  int64_t bytes(int64_t nCtx) const { return fixed + perToken * nCtx; }
};
KVPlanSize kvPlanSize(const std::map<int64_t, gemma::KVCacheAttr> &plan,
                      int64_t elementBytes);

/// Bytes one cache takes for a context of n_ctx tokens (K and V).
inline int64_t kvCacheBytes(gemma::KVCacheAttr c, int64_t elementBytes,
                            int64_t nCtx) {
  return 2 * (c.getRows() ? c.getRows() : nCtx) * c.getWidth() * elementBytes;
}

/// The rows a CPU program's ring of `window` rows holds for a context of
/// `nCtx` tokens (CPULowering::kvLayout): no more than the context, rounded
/// up to 64. GPU programs keep whole windows.
inline int64_t cpuRingRows(int64_t window, int64_t nCtx) {
  return std::min(window, (nCtx + 63) / 64 * 64);
}

} // namespace gemmac
