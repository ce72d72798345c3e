//===- ConvertToLLVM.cpp - kernel-phase module -> LLVM dialect ------------===//

#include "dialects/gemma/GemmaDialect.h"
#include "passes/Passes.h"

#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/FuncToLLVM/ConvertFuncToLLVM.h"
#include "mlir/Conversion/IndexToLLVM/IndexToLLVM.h"
#include "mlir/Conversion/LLVMCommon/ConversionTarget.h"
#include "mlir/Conversion/LLVMCommon/MemRefBuilder.h"
#include "mlir/Conversion/LLVMCommon/Pattern.h"
#include "mlir/Conversion/LLVMCommon/TypeConverter.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/MemRefToLLVM/MemRefToLLVM.h"
#include "mlir/Conversion/UBToLLVM/UBToLLVM.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Transforms/DialectConversion.h"

namespace gemmac {
#define GEN_PASS_DEF_CONVERTTOLLVM
#include "passes/Passes.h.inc"
} // namespace gemmac

using namespace mlir;
using namespace gemmac::gemma;

namespace {

/// gemma.buffer -> a 1-D memref descriptor {ptr, ptr, 0, [bytes], [1]}.
struct BufferOpLowering : public ConvertOpToLLVMPattern<BufferOp> {
  using ConvertOpToLLVMPattern<BufferOp>::ConvertOpToLLVMPattern;

  LogicalResult
  matchAndRewrite(BufferOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto descType = typeConverter->convertType(op.getType());
    if (!descType)
      return failure();
    auto desc = MemRefDescriptor::poison(rewriter, loc, descType);
    desc.setAllocatedPtr(rewriter, loc, adaptor.getPtr());
    desc.setAlignedPtr(rewriter, loc, adaptor.getPtr());
    Type i64 = getIndexType();
    desc.setOffset(rewriter, loc, createIndexAttrConstant(rewriter, loc, i64, 0));
    desc.setSize(rewriter, loc, 0, adaptor.getBytes());
    desc.setStride(rewriter, loc, 0,
                   createIndexAttrConstant(rewriter, loc, i64, 1));
    rewriter.replaceOp(op, {desc});
    return success();
  }
};

/// Kernels are external functions that take plain pointers: a declaration's
/// memref parameters become !llvm.ptr (MLIR's bare-pointer convention only
/// covers static shapes; kernel buffers are dynamic).
struct KernelDeclLowering : public ConvertOpToLLVMPattern<func::FuncOp> {
  KernelDeclLowering(const LLVMTypeConverter &converter)
      : ConvertOpToLLVMPattern<func::FuncOp>(converter, /*benefit=*/2) {}

  LogicalResult
  matchAndRewrite(func::FuncOp op, OpAdaptor,
                  ConversionPatternRewriter &rewriter) const override {
    if (!op.isExternal())
      return failure();
    SmallVector<Type> params;
    for (Type t : op.getArgumentTypes()) {
      Type c = isa<MemRefType>(t) ? LLVM::LLVMPointerType::get(getContext())
                                  : typeConverter->convertType(t);
      if (!c)
        return failure();
      params.push_back(c);
    }
    if (op.getNumResults() > 1)
      return failure();
    Type result = op.getNumResults()
                      ? typeConverter->convertType(op.getResultTypes()[0])
                      : LLVM::LLVMVoidType::get(getContext());
    rewriter.replaceOpWithNewOp<LLVM::LLVMFuncOp>(
        op, op.getSymName(), LLVM::LLVMFunctionType::get(result, params));
    return success();
  }
};

/// Calls to kernels pass each memref as the address of its first element.
struct KernelCallLowering : public ConvertOpToLLVMPattern<func::CallOp> {
  KernelCallLowering(const LLVMTypeConverter &converter)
      : ConvertOpToLLVMPattern<func::CallOp>(converter, /*benefit=*/2) {}

  LogicalResult
  matchAndRewrite(func::CallOp op, OpAdaptor adaptor,
                  ConversionPatternRewriter &rewriter) const override {
    // The declaration may already have been converted to llvm.func.
    Operation *callee =
        SymbolTable::lookupNearestSymbolFrom(op, op.getCalleeAttr());
    auto fn = dyn_cast_or_null<func::FuncOp>(callee);
    auto llvmFn = dyn_cast_or_null<LLVM::LLVMFuncOp>(callee);
    if (!(fn && fn.isExternal()) && !(llvmFn && llvmFn.isExternal()))
      return failure();
    SmallVector<Value> args;
    for (auto [orig, conv] :
         llvm::zip(op.getOperands(), adaptor.getOperands())) {
      if (auto mt = dyn_cast<MemRefType>(orig.getType())) {
        MemRefDescriptor desc(conv);
        args.push_back(desc.bufferPtr(rewriter, op.getLoc(),
                                      *getTypeConverter(), mt));
      } else {
        args.push_back(conv);
      }
    }
    SmallVector<Type> results;
    if (failed(typeConverter->convertTypes(op.getResultTypes(), results)))
      return failure();
    auto call = LLVM::CallOp::create(rewriter, op.getLoc(), results,
                                     op.getCallee(), args);
    rewriter.replaceOp(op, call.getResults());
    return success();
  }
};

struct ConvertToLLVMPass
    : public gemmac::impl::ConvertToLLVMBase<ConvertToLLVMPass> {
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    LowerToLLVMOptions options(ctx);
    LLVMTypeConverter converter(ctx, options);

    RewritePatternSet patterns(ctx);
    arith::populateArithToLLVMConversionPatterns(converter, patterns);
    cf::populateControlFlowToLLVMConversionPatterns(converter, patterns);
    populateFuncToLLVMConversionPatterns(converter, patterns);
    populateFinalizeMemRefToLLVMConversionPatterns(converter, patterns);
    populateMathToLLVMConversionPatterns(converter, patterns);
    index::populateIndexToLLVMConversionPatterns(converter, patterns);
    ub::populateUBToLLVMConversionPatterns(converter, patterns);
    patterns.add<BufferOpLowering, KernelDeclLowering, KernelCallLowering>(
        converter);

    LLVMConversionTarget target(*ctx);
    target.addLegalOp<ModuleOp>();
    if (failed(applyFullConversion(getOperation(), target,
                                   std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
