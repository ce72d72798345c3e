//===- KernelCatalogue.cpp - abi/kernels.def for the compiler -------------===//

#include "passes/KernelCatalogue.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/StringMap.h"

using namespace mlir;

namespace gemmac {

ArrayRef<KernelRow> kernelCatalogue() {
  static const KernelRow rows[] = {
#define GEMMAC_KERNEL(symbol, kind, format, variant, signature)                \
  {#symbol, #kind, #format, variant, signature},
#include "abi/kernels.def"
#undef GEMMAC_KERNEL
  };
  return rows;
}

const KernelRow *lookupKernel(StringRef symbol) {
  static const llvm::StringMap<const KernelRow *> bySymbol = [] {
    llvm::StringMap<const KernelRow *> m;
    for (const KernelRow &row : kernelCatalogue())
      m[row.symbol] = &row;
    return m;
  }();
  return bySymbol.lookup(symbol);
}

const KernelRow *findKernel(StringRef kind, StringRef format,
                            StringRef variant) {
  for (const KernelRow &row : kernelCatalogue())
    if (row.kind == kind && row.format == format && row.variant == variant)
      return &row;
  return nullptr;
}

Type kernelArgType(char c, MLIRContext *ctx) {
  auto buffer = [&](Type elem) {
    return MemRefType::get({ShapedType::kDynamic}, elem);
  };
  Builder b(ctx);
  switch (c) {
  case 'R':
    return LLVM::LLVMPointerType::get(ctx);
  case 'O':
  case 'A':
  case 'k':
  case 'K':
    return buffer(b.getF32Type());
  case 'T':
    return buffer(b.getI32Type());
  case 'W':
    return buffer(b.getI8Type());
  case 'h':
  case 'H':
    return buffer(b.getF16Type());
  case 'i':
    return b.getIndexType();
  case 'n':
    return b.getI32Type();
  case 'f':
    return b.getF32Type();
  default:
    return {};
  }
}

LogicalResult buildKernelCall(OpBuilder &b, Location loc, Operation *op,
                              ModuleOp module, const KernelRow &row,
                              ArrayRef<Value> args) {
  MLIRContext *ctx = b.getContext();
  if (args.size() != row.signature.size())
    return op->emitOpError("calls kernel '")
           << row.symbol << "' with " << args.size()
           << " arguments, its signature \"" << row.signature << "\" takes "
           << row.signature.size();
  SmallVector<Type> types;
  for (auto [i, arg] : llvm::enumerate(args)) {
    Type expected = kernelArgType(row.signature[i], ctx);
    if (arg.getType() != expected)
      return op->emitOpError("calls kernel '")
             << row.symbol << "' with " << arg.getType() << " as argument " << i
             << ", its signature \"" << row.signature << "\" takes " << expected
             << " ('" << row.signature[i] << "')";
    types.push_back(expected);
  }
  if (!module.lookupSymbol<func::FuncOp>(row.symbol)) {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(module.getBody());
    auto fn =
        func::FuncOp::create(b, loc, row.symbol, b.getFunctionType(types, {}));
    fn.setPrivate();
  }
  func::CallOp::create(b, loc, row.symbol, TypeRange{}, args);
  return success();
}

} // namespace gemmac
