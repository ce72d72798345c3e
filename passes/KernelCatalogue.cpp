//===- KernelCatalogue.cpp - abi/kernels.def for the compiler -------------===//

#include "passes/KernelCatalogue.h"
#include "dialects/gemma/GemmaDialect.h"

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
  case 'I':
    return buffer(b.getI64Type());
  case 'W':
  case 'e':
  case 'E':
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

func::FuncOp declareKernel(Operation *op, ModuleOp module,
                           const KernelRow &row) {
  MLIRContext *ctx = module.getContext();
  SmallVector<Type> types;
  for (char c : row.signature)
    types.push_back(kernelArgType(c, ctx));
  auto type = FunctionType::get(ctx, types, {});
  if (auto fn = module.lookupSymbol<func::FuncOp>(row.symbol)) {
    if (fn.getFunctionType() == type)
      return fn;
    op->emitOpError("calls kernel '")
        << row.symbol << "', which the module declares as "
        << fn.getFunctionType() << ", not as its signature \"" << row.signature
        << "\" (" << type << ")";
    return {};
  }
  OpBuilder b(ctx);
  b.setInsertionPointToStart(module.getBody());
  auto fn = func::FuncOp::create(b, op->getLoc(), row.symbol, type);
  fn.setPrivate();
  return fn;
}

LogicalResult setKernel(Operation *op, ModuleOp module, const KernelRow &row) {
  func::FuncOp fn = declareKernel(op, module, row);
  if (!fn)
    return failure();
  gemma::gemmaDialect(op->getContext())
      ->getKernelAttrHelper()
      .setAttr(op, FlatSymbolRefAttr::get(fn));
  return success();
}

FailureOr<const KernelRow *> chosenKernel(Operation *op) {
  FlatSymbolRefAttr symbol =
      gemma::gemmaDialect(op->getContext())->getKernelAttrHelper().getAttr(op);
  if (!symbol)
    return static_cast<const KernelRow *>(nullptr);
  if (const KernelRow *row = lookupKernel(symbol.getValue()))
    return row;
  return op->emitOpError("kernel ")
         << symbol << " is not in the runtime's catalogue (abi/kernels.def)";
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
  for (auto [i, arg] : llvm::enumerate(args)) {
    Type expected = kernelArgType(row.signature[i], ctx);
    if (arg.getType() != expected)
      return op->emitOpError("calls kernel '")
             << row.symbol << "' with " << arg.getType() << " as argument " << i
             << ", its signature \"" << row.signature << "\" takes " << expected
             << " ('" << row.signature[i] << "')";
  }
  func::FuncOp fn = declareKernel(op, module, row);
  if (!fn)
    return failure();
  func::CallOp::create(b, loc, fn, args);
  return success();
}

} // namespace gemmac
