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
// model phase
//===----------------------------------------------------------------------===//

def ReencodeGPTQ : Pass<"gemma-reencode-gptq", "mlir::ModuleOp"> {
  let summary = "store GPTQ weights losslessly in the block formats that have fast kernels";
  let description = [{
    A weight with `gptq = #gemma.gptq<...>` is imported as f32: its exact
    values, scale * (q - z). Where the groups allow it, this pass narrows
    the stored format without changing a single value: q4_0 when the zero
    points are all 8 and every 32 columns share a group (d = the fp16
    scale, the nibbles as they are), q8_0 when only the groups line up
    (d = the scale, q - z in the int8s). compile-model then writes the
    blocks straight from the GPTQ tensors, and the weight is computed as
    llama.cpp computes Q4_0 and Q8_0 (activations quantized to Q8_0).
    Every reference to a narrowed weight gets its new type. Runs first in
    the model phase, so that GeGLU fusion and kernel selection see the
    final formats; without it the weights stay f32 (exact, 8x larger).

    With activations=f32 the same blocks are stored as q4_0_f32 and
    q8_0_f32, which multiply unquantized f32 activations (the W4A16
    numerics vLLM runs GPTQ checkpoints with).
  }];
  let options = [
    Option<"activations", "activations", "std::string", /*default=*/"\"q8_0\"",
           "what narrowed GPTQ weights multiply: q8_0 (llama.cpp's Q4_0 and "
           "Q8_0 numerics) or f32 (W4A16)">
  ];
}

def NVFP4Activations : Pass<"gemma-nvfp4-activations", "mlir::ModuleOp"> {
  let summary = "choose what NVFP4 weights multiply";
  let description = [{
    NVFP4 weights multiply llama.cpp's Q8_0 activations by default
    (activations=q8_0: nothing changes). activations=f32 stores them as
    nvfp4_f32, the same blocks multiplying unquantized f32 activations (vLLM's
    Marlin W4A16 kernel on Hopper; input_scale unused). activations=fp4
    does the same behind a gemma.quantize_fp4 of each such linear's input,
    with G = 1 / the weight's input_scale: Blackwell's W4A4 numerics. A
    weight without an input_scale is an error in that mode. Expert weights
    (mixture of experts) keep the default in every mode. Runs in the model
    phase after gemma-reencode-gptq, before fusion.
  }];
  let options = [
    Option<"activations", "activations", "std::string", /*default=*/"\"q8_0\"",
           "q8_0 (llama.cpp's numerics), f32 (W4A16) or fp4 (W4A4)">
  ];
}

def FuseGeGLU : Pass<"gemma-fuse-geglu", "mlir::func::FuncOp"> {
  let summary = "fuse gate/up linears, tanh GELU and the product into gemma.geglu";
  let description = [{
    Rewrites mul(gelu_tanh(linear(x, Wg)), linear(x, Wu)) into
    gemma.geglu(x, Wg, Wu), whose kernel converts x once and reads both
    weights in one pass; likewise the experts' form,
    mul(gelu_tanh(expert_linear(x, Wg, r)), expert_linear(x, Wu, r)) into
    gemma.expert_geglu (the slices may be of one fused gate_up weight). Only the exact pattern fuses: an erf GELU, another
    activation, different inputs or weight shapes/formats, or intermediate
    values used elsewhere leave the ops as they are.
  }];
}

def SpecializeLayers : Pass<"gemma-specialize-layers", "mlir::ModuleOp"> {
  let summary = "pin each decoder layer's shape and pick shape-specialized kernels";
  let description = [{
    Collects each layer's specialization from its ops (kind, head dim, heads,
    kv heads, window, rope, kv source, K=V, MLP width), checks that the ops of
    a layer agree, records the list as `gemma.layers` on the module, and gives
    attention and RoPE ops the kernel instantiated for their head dim (loops
    with constant trip counts), shared by every layer of that shape. Head
    dims without an instantiation keep the generic kernel.
  }];
}

def PlanKVCache : Pass<"gemma-plan-kv-cache", "mlir::ModuleOp"> {
  let summary = "lay out the KV caches: rings for sliding layers, aliases for shared KV";
  let description = [{
    Gives every cache a place in the KV buffer: a ring of `window` rows for a
    sliding layer (independent of the context), one row per context token for
    a global one; layers that share another layer's KV read that cache (an
    alias, no copy). Each cache's kv_store moves after its last reader, so a
    ring never overwrites a key a later reader of the same step needs. The
    plan is recorded as `gemma.kv_plan`; code generation and the runtime
    allocate exactly what it says.
  }];
}

//===----------------------------------------------------------------------===//
// right after import (compile-model --srd)
//===----------------------------------------------------------------------===//

def FoldSRD : Pass<"gemma-fold-srd", "mlir::ModuleOp"> {
  let summary = "attach SRD corrections to their weights and give them the stored format";
  let description = [{
    Maps each tensor of an SRD residual source (HF module names) to the GGUF
    weight it replaces, checks the shape, changes the weight's format to the
    one W' is stored in (`format`, default the base weight's) and records
    `srd = #gemma.srd<tensor, format, base, alpha>` on its
    `gemma.weight_def`.
    compile-model then writes W' for those weights instead of the
    checkpoint's bytes. It runs before the model phase so that GeGLU fusion,
    kernel selection (x8 layouts) and the blob layout see the final format.
    compile-model hands it the opened, verified source; `path` opens a
    .srd4 itself (tests).
  }];
  let options = [
    Option<"path", "path", "std::string", /*default=*/"\"\"",
           "a .srd4 sidecar to open (tests; compile-model opens .axm and "
           "sealed containers)">,
    Option<"format", "format", "std::string", /*default=*/"\"\"",
           "storage format of W' (f32, f16, bf16, q8_0, q4_0, q4_1, q5_0, "
           "q5_1, q4_k, q5_k, q6_k); default: the base weight's">,
    Option<"alpha", "alpha", "std::string", /*default=*/"\"\"",
           "alpha overriding the file's">
  ];
}

//===----------------------------------------------------------------------===//
// quant phase
//===----------------------------------------------------------------------===//

def LayoutWeights : Pass<"gemma-layout-weights", "mlir::ModuleOp"> {
  let summary = "place every used weight in the compiled program's weight blob";
  let description = [{
    Assigns each referenced `gemma.weight_def` an aligned `blob_offset`
    (64 bytes, 256 for GPU targets: Vulkan's largest storage buffer offset
    alignment), drops definitions nothing references, and records the
    blob's size and a fingerprint of its layout on the module
    (`gemma.weights_bytes`, `gemma.weights_fingerprint`) so that a program
    refuses a weight file laid out for another build.
  }];
  let options = [
    Option<"alignment", "alignment", "int64_t", /*default=*/"64",
           "byte alignment of every weight in the blob">,
  ];
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
                           "mlir::scf::SCFDialect",
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

def SelectKernels : Pass<"gemma-select-kernels", "mlir::ModuleOp"> {
  let summary = "choose the kernel of each weight op by format, target and shape";
  let description = [{
    Records a `kernel` attribute on every linear, geglu and embed op: the
    storage format picks the arithmetic, the target's features the
    instruction set, and the shape the variant (the vocabulary-sized output
    projection and small projections get their own). Q4_0 and Q4_K weights
    with a multiple of 8 rows whose readers all have kernels for it get
    `layout = #gemma<layout x8>`: compile-model writes their rows
    interleaved eight at a time and the x8 kernels stream a group of eight
    rows per pass. The choices are what `compile-model --kernel-report`
    prints.
  }];
  let options = [
    Option<"features", "features", "std::string", /*default=*/"\"\"",
           "target CPU features, e.g. +avx2,+fma">
  ];
}

def FuseRMSNormRope : Pass<"gemma-fuse-rms-norm-rope", "mlir::func::FuncOp"> {
  let summary = "compute a per-head q/k RMSNorm inside the RoPE that reads it";
  let description = [{
    Kernel phase (CPU and GPU). A gemma.rms_norm over groups of one head
    whose only reader is a gemma.rope over those heads becomes
    gemma.rms_norm_rope, which one kernel computes (on a GPU a workgroup
    normalizes and rotates a head; on a CPU a thread does a token's heads).
    A norm with other readers, or grouped otherwise, stays.
  }];
}

def FuseRMSNormAdd : Pass<"gemma-fuse-rms-norm-add", "mlir::func::FuncOp"> {
  let summary = "compute a whole-row RMSNorm in the residual add that reads it";
  let description = [{
    Kernel phase (CPU and GPU). A whole-row gemma.rms_norm read only by a gemma.add
    (whose other operand is no norm) becomes gemma.rms_norm_add with the
    add's other operand as the residual; a gemma.scale that is the sum's
    only reader (the layer scale) joins as its `scale`.
  }];
}

def FuseRMSNormQuantize : Pass<"gemma-fuse-rms-norm-quantize", "mlir::func::FuncOp"> {
  let summary = "let a whole-row RMSNorm write the int8 blocks its matvecs read";
  let description = [{
    GPU kernel phase, before gemma-quantize-activations. A whole-row
    gemma.rms_norm read by a linear or geglu over a quantized weight becomes
    gemma.rms_norm_quantize, whose second result (the int8 blocks of the
    first such reader's quantizer) every reader of that quantizer takes.
  }];
}

def QuantizeActivations : Pass<"gemma-quantize-activations", "mlir::func::FuncOp"> {
  let summary = "quantize each matvec input once into the int8 blocks it needs";
  let description = [{
    GPU kernel phase. Every linear or geglu over a quantized weight whose
    input is still f32 rows reads a gemma.quantize_activation of that input
    instead, one per (input, quantizer), placed before its first reader.
  }];
}

def LowerToGPU : Pass<"gemma-lower-to-gpu", "mlir::ModuleOp"> {
  let summary = "build the device kernels of a GPU target in a gpu.module";
  let description = [{
    The kernel phase for CUDA and Vulkan: every gemma op of the entry
    function gets a kernel in `gpu.module @gemmac_kernels`, specialized for
    its shapes and constants (one kernel per distinct specialization, shared
    by the layers that need the same one), and is followed by the
    `gpu.launch_func` of that kernel over the buffers it reads and writes
    (gemma.gpu_slot, gemma.gpu_view, ...: GemmaGpuOps.td), grid.y the step's
    rows (gemma.gpu_rows). Kernels use the gpu, scf, arith, math and memref
    dialects only, so one source lowers to NVVM (PTX) and to SPIR-V.
  }];
  let options = [
    Option<"target", "target", "std::string", /*default=*/"\"nvvm\"",
           "nvvm (bare-pointer static buffers) or spirv (runtime arrays)">
  ];
  let dependentDialects = ["mlir::gpu::GPUDialect", "mlir::scf::SCFDialect",
                           "mlir::arith::ArithDialect",
                           "mlir::math::MathDialect",
                           "mlir::memref::MemRefDialect",
                           "mlir::LLVM::LLVMDialect",
                           "mlir::NVVM::NVVMDialect",
                           "mlir::spirv::SPIRVDialect"];
}

def PlanGpuArena : Pass<"gemma-plan-gpu-arena", "mlir::ModuleOp"> {
  let summary = "place a GPU program's activations in its arena";
  let description = [{
    After gemma-lower-to-gpu: every activation (and every activation's int8
    blocks) gets a slot of max_batch rows in the arena, first fit, from the
    op that computes it until its last reader, never overlapping the
    operands of the op that writes it. Each gemma.gpu_slot becomes the
    gemma.gpu_view of its arena range; gemma.gpu_arena records the arena's
    size and where the logits are.
  }];
}

#endif // GEMMAC_PASSES
