//===- RetypeWeights.h - give weights a new storage type ----------*- C++ -*-===//
//
// Passes that change how a weight is stored (gemma-reencode-gptq,
// gemma-nvfp4-activations) retype its definition and every reference.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "dialects/gemma/GemmaDialect.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/StringMap.h"

namespace gemmac {

/// Sets the type of each named weight definition and of every gemma.weight
/// that references it.
inline void retypeWeights(mlir::ModuleOp module,
                          const llvm::StringMap<gemma::WeightType> &types) {
  if (types.empty())
    return;
  for (gemma::WeightDefOp def : module.getOps<gemma::WeightDefOp>()) {
    auto it = types.find(def.getSymName());
    if (it != types.end())
      def.setTypeAttr(mlir::TypeAttr::get(it->second));
  }
  module.walk([&](gemma::WeightOp op) {
    auto it = types.find(op.getName());
    if (it != types.end())
      op.getResult().setType(it->second);
  });
}

} // namespace gemmac
