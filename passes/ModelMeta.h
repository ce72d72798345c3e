//===- ModelMeta.h - the model facts every compiled program exports -*- C++ -*-===//
//
// gemmac_model_meta (abi/model_meta.h) is the same table for CPU and
// GPU programs: both code generators compute it here.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "abi/gpu_params.h"
#include "abi/model_meta.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/SmallVector.h"

namespace gemmac {

/// The table's entries for the module after gemma-layout-weights; `entry` is
/// the tensor-level entry function (for the bytes a decoded token reads);
/// `maxBatch` is abi::kMaxBatch.
llvm::SmallVector<int64_t> computeModelMeta(mlir::ModuleOp module,
                                            mlir::func::FuncOp entry,
                                            int64_t maxBatch);

/// Adds the table to `module` as the constant LLVM global gemmac_model_meta.
void emitModelMeta(mlir::ModuleOp module, llvm::ArrayRef<int64_t> meta);

} // namespace gemmac
