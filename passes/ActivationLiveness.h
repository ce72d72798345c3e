//===- ActivationLiveness.h - when each activation dies ---------*- C++ -*-===//
//
// Both targets place the activations of a forward step in one arena
// (ArenaPlanner.h): a value takes a range when its op computes it and gives it
// back after the last op that reads it. This is that last reader, for the CPU
// lowering and for the GPU arena planner alike.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "mlir/IR/Block.h"
#include "mlir/IR/Value.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/STLFunctionalExtras.h"

#include <cstdint>

namespace gemmac {

struct ActivationLiveness {
  /// Each op's position in its block.
  llvm::DenseMap<mlir::Operation *, int64_t> order;
  /// The position of the last op that reads a value (directly, or through
  /// a value whose storage is that value's, see below); absent when none.
  llvm::DenseMap<mlir::Value, int64_t> lastUse;

  int64_t lastUseOf(mlir::Value v) const { return lastUse.lookup(v); }
};

/// The liveness of the values `body`'s ops read. `storageOf(v)`, when given,
/// names the value whose storage v lives in (a view's source, an
/// activation's int8 blocks: both must outlive every reader of v), or null;
/// a read of v counts as a read of each value along that chain. `reads(op)`,
/// when given, says whether op's operands count (ops that only describe
/// another op's launch do not).
ActivationLiveness computeActivationLiveness(
    mlir::Block &body,
    llvm::function_ref<mlir::Value(mlir::Value)> storageOf = nullptr,
    llvm::function_ref<bool(mlir::Operation *)> reads = nullptr);

} // namespace gemmac
