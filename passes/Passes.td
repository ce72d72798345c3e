//===- Passes.td - gemmac passes ---------------------------*- tablegen -*-===//
//
// One pass per file in passes/, grouped by the pipeline phase that runs it
// (see compiler/pipeline/Pipeline.cpp).
//
//===----------------------------------------------------------------------===//
#ifndef GEMMAC_PASSES
#define GEMMAC_PASSES

include "mlir/Pass/PassBase.td"

//===----------------------------------------------------------------------===//
// quant phase
//===----------------------------------------------------------------------===//

def LayoutWeights : Pass<"gemma-layout-weights", "mlir::ModuleOp"> {
  let summary = "place every used weight in the compiled program's weight blob";
  let description = [{
    Assigns each referenced `gemma.weight_def` a 64-byte aligned
    `blob_offset`, drops definitions nothing references, and records the
    blob's size and a fingerprint of its layout on the module
    (`gemma.weights_bytes`, `gemma.weights_fingerprint`) so that a program
    refuses a weight file laid out for another build.
  }];
}

//===----------------------------------------------------------------------===//
// kernel phase
//===----------------------------------------------------------------------===//

def LowerToCPU : Pass<"gemma-lower-to-cpu", "mlir::ModuleOp"> {
  let summary = "lower the model to kernel calls and generated loops over buffers";
  let description = [{
    Turns the tensor-level entry function into `gemmac_forward`, which takes
    the runtime's raw pointers (weights, KV cache, scratch arena, tokens,
    logits). Weight ops become calls to the runtime's kernels with every shape
    a constant; elementwise ops become `linalg.generic` loops; activations get
    offsets in a scratch arena planned once per token (sizes scale with the
    token count); each KV cache gets its place (a ring of `window` rows for
    sliding layers, `n_ctx` rows for global ones). Also emits
    `gemmac_kv_bytes(n_ctx)`, `gemmac_arena_bytes(n_tokens)` and the
    `gemmac_model_meta` table the runtime reads.
  }];
  let dependentDialects = ["mlir::arith::ArithDialect",
                           "mlir::memref::MemRefDialect",
                           "mlir::linalg::LinalgDialect",
                           "mlir::math::MathDialect",
                           "mlir::LLVM::LLVMDialect"];
}

//===----------------------------------------------------------------------===//
// target phase
//===----------------------------------------------------------------------===//

def ConvertToLLVM : Pass<"gemma-convert-to-llvm", "mlir::ModuleOp"> {
  let summary = "convert the kernel-phase module to the LLVM dialect";
  let description = [{
    Standard conversions (func, memref, arith, math, control flow) plus
    `gemma.buffer`, which becomes a memref descriptor over a raw pointer, and
    calls to external kernels, which receive each memref as a bare pointer to
    its first element.
  }];
  let dependentDialects = ["mlir::LLVM::LLVMDialect"];
}

#endif // GEMMAC_PASSES
