//===- Reports.h - compile-model's --print-memory-plan, --kernel-report ---===//
#pragma once

#include "mlir/IR/BuiltinOps.h"

namespace gemmac {

/// The KV cache plan for a context of nCtx tokens: per layer and in total,
/// against a full-length cache for every layer.
void printKVPlan(mlir::ModuleOp module, int64_t nCtx);

/// The kernel chosen for every weight op, one line each.
void printKernelReport(mlir::ModuleOp module);

} // namespace gemmac
