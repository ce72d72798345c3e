//===- KernelCatalogue.h - the runtime's kernels, compiler side -*- C++ -*-===//
//
// abi/kernels.def read once: kernel selection picks symbols from it and the
// CPU lowering builds every kernel call from a row's signature, checking the
// operands' types as it does.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/Operation.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringRef.h"

namespace gemmac {

/// One row of abi/kernels.def.
struct KernelRow {
  llvm::StringRef symbol;
  llvm::StringRef kind;      // linear, logits, geglu, embed, attention, ...
  llvm::StringRef format;    // weight format / KV element type / "none"
  llvm::StringRef variant;   // weight layout, head dim or form; "" = plain
  llvm::StringRef signature; // abi/kernel_signature.h

  bool isInterleaved() const { return variant == "x8"; }
};

/// Every kernel the runtime provides, in catalogue order.
llvm::ArrayRef<KernelRow> kernelCatalogue();

/// The row of `symbol`, or null when the runtime has no such kernel.
const KernelRow *lookupKernel(llvm::StringRef symbol);

/// The kernel of `kind` for `format` in `variant`, or null when the runtime
/// has none.
const KernelRow *findKernel(llvm::StringRef kind, llvm::StringRef format,
                            llvm::StringRef variant = "");

/// The IR type a kernel argument of signature character `c` is passed as
/// (null for an unknown character).
mlir::Type kernelArgType(char c, mlir::MLIRContext *ctx);

/// `row`'s kernel declared in `module`: a private func.func whose type is the
/// row's signature, created on first use. Null, with an error on `op`, when
/// the module already declares the symbol with another type.
mlir::func::FuncOp declareKernel(mlir::Operation *op, mlir::ModuleOp module,
                                 const KernelRow &row);

/// Records that `op` calls `row`'s kernel (gemma.kernel = @symbol, declared).
mlir::LogicalResult setKernel(mlir::Operation *op, mlir::ModuleOp module,
                              const KernelRow &row);

/// The catalogue row of the kernel `op` was given (gemma.kernel): null when it
/// has none; failure, with an error on `op`, when the runtime has no such
/// kernel.
mlir::FailureOr<const KernelRow *> chosenKernel(mlir::Operation *op);

/// Declares `row`'s kernel in `module` (once) and calls it with `args` at the
/// builder's insertion point. An argument list that does not fit the row's
/// signature is an error on `op` naming the op, the kernel and the argument.
mlir::LogicalResult buildKernelCall(mlir::OpBuilder &b, mlir::Location loc,
                                    mlir::Operation *op, mlir::ModuleOp module,
                                    const KernelRow &row,
                                    llvm::ArrayRef<mlir::Value> args);

} // namespace gemmac
