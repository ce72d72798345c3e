//===- gemmac-opt.cpp - parse, verify, transform and print gemma IR -------===//

#include "dialects/gemma/GemmaDialect.h"
#include "compiler/pipeline/Pipeline.h"
#include "compiler/targets/Target.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  registry.insert<gemmac::gemma::GemmaDialect, mlir::func::FuncDialect,
                  mlir::arith::ArithDialect, mlir::memref::MemRefDialect,
                  mlir::linalg::LinalgDialect, mlir::scf::SCFDialect,
                  mlir::math::MathDialect, mlir::tensor::TensorDialect,
                  mlir::LLVM::LLVMDialect, mlir::cf::ControlFlowDialect>();
  // GPU dumps (gpu.module, NVVM, SPIR-V) parse and continue as CPU ones do.
  gemmac::registerTargetDialects(registry);
  mlir::registerTransformsPasses();
  gemmac::registerGemmacPasses();
  gemmac::registerPhasePipelines();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "gemmac optimizer driver\n", registry));
}
