//===- GemmaOps.td - the gemma dialect ---------------------*- tablegen -*-===//
//
// Model-level operations that carry Gemma 4 semantics as attributes. Every
// layer is unrolled and specialized: a layer's head dim, kv heads, window and
// rope are attributes of its ops, so code generation sees them as constants.
// Activations are 2-D f32 tensors [tokens, width] with a dynamic token count.
// Weights are referenced by handle (gemma.weight_def symbols), never stored in
// the IR.
//
//===----------------------------------------------------------------------===//

#ifndef GEMMAC_GEMMA_OPS
#define GEMMAC_GEMMA_OPS

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"
include "mlir/IR/SymbolInterfaces.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Dialect/LLVMIR/LLVMOpBase.td"

def Gemma_Dialect : Dialect {
  let name = "gemma";
  let cppNamespace = "::gemmac::gemma";
  let summary = "Gemma 4 model-level operations";
  let useDefaultTypePrinterParser = 1;
  let useDefaultAttributePrinterParser = 1;
  let dependentDialects = ["::mlir::func::FuncDialect",
                           "::mlir::LLVM::LLVMDialect"];
  let hasConstantMaterializer = 0;

  // The discardable attributes `gemma.<name>` (generated accessors:
  // GemmaDialect::get<Name>AttrHelper(); verified by
  // verifyOperationAttribute).
  let discardableAttrs = (ins
    // On the module, set at import: the model config ...
    "::mlir::StringAttr":$source,
    "::mlir::IntegerAttr":$vocab_size,
    "::mlir::IntegerAttr":$hidden_size,
    "::mlir::IntegerAttr":$num_layers,
    "::mlir::IntegerAttr":$context_length,
    // ... the target the phases compile for (cpu:<cpu>, cuda:<sm>, vulkan)
    // and, for a CPU, the features kernel selection uses ...
    "::mlir::StringAttr":$target,
    "::mlir::StringAttr":$target_features,
    // ... the abi/cpu_features.h bits that CPU has (the program checks
    // them at startup) ...
    "::mlir::IntegerAttr":$cpu_features,
    // ... whether the program picks its kernel set at startup from the CPU
    // it runs on (--target cpu:x86-64-multi) instead of from cpu_features ...
    "::mlir::UnitAttr":$kernels_at_startup,
    // ... and the KV caches' element type, f16, f32 or f8E4M3FN (E4M3), with
    // an E4M3 cache's scales: k and v of each layer's own cache, 2 x
    // num_layers values (absent: all 1.0).
    "::mlir::TypeAttr":$kv_cache_type,
    "::mlir::DenseF32ArrayAttr":$kv_scales,
    // ... and the most tokens a speculative step drafts (compile-model
    // --draft-max): sliding rings keep that many rows beyond the window, so
    // a verify step and its rollback never lose a key still needed.
    "::mlir::IntegerAttr":$draft_max,
    // On the module, set by the model and quant phases.
    "::mlir::ArrayAttr":$layers,
    "::mlir::ArrayAttr":$kv_plan,
    "::mlir::IntegerAttr":$weights_bytes,
    "::mlir::IntegerAttr":$weights_fingerprint,
    // On the function the program runs (the entry).
    "::mlir::UnitAttr":$entry,
    // On the MTP drafter's function (compile-model --draft), beside the
    // entry: (tokens, target hidden rows, pos0, num_outputs) -> (logits,
    // the next draft step's hidden rows); its attention reads the entry's
    // KV caches. The module's `draft_source` names the drafter's checkpoint,
    // which weights with source_file = 1 are read from.
    "::mlir::UnitAttr":$draft,
    "::mlir::StringAttr":$draft_source,
    // On an op of decoder layer N, set at import: N.
    "::mlir::IntegerAttr":$layer,
    // On an op the CPU lowering turns into a runtime kernel call, set by
    // kernel selection: the kernel's declaration (a private func.func whose
    // type is its abi/kernels.def signature).
    "::mlir::FlatSymbolRefAttr":$kernel
  );
  let hasOperationAttrVerify = 1;
}

//===----------------------------------------------------------------------===//
// Enums, types, attributes
//===----------------------------------------------------------------------===//

// Values equal ggml's type ids so GGUF tensor types map one to one.
def Gemma_WeightFormat : I32EnumAttr<"WeightFormat", "storage format of a weight", [
    I32EnumAttrCase<"f32", 0>,
    I32EnumAttrCase<"f16", 1>,
    I32EnumAttrCase<"q4_0", 2>,
    I32EnumAttrCase<"q4_1", 3>,
    I32EnumAttrCase<"q5_0", 6>,
    I32EnumAttrCase<"q5_1", 7>,
    I32EnumAttrCase<"q8_0", 8>,
    I32EnumAttrCase<"q4_k", 12>,
    I32EnumAttrCase<"q5_k", 13>,
    I32EnumAttrCase<"q6_k", 14>,
    I32EnumAttrCase<"bf16", 30>,
    I32EnumAttrCase<"nvfp4", 40>,
    I32EnumAttrCase<"f8_b64", 256>,
    I32EnumAttrCase<"q4_0_f32", 257>,
    I32EnumAttrCase<"q8_0_f32", 258>,
    I32EnumAttrCase<"nvfp4_f32", 259>
  ]> {
  let cppNamespace = "::gemmac::gemma";
  let genSpecializedAttr = 0;
}

// How a weight's rows are arranged in the compiled program's weight blob
// (formats/repack.h): as stored, or interleaved eight rows at a time.
def Gemma_WeightLayout : I32EnumAttr<"WeightLayout", "arrangement of a weight's rows", [
    I32EnumAttrCase<"rows", 0>,
    I32EnumAttrCase<"x8", 1>
  ]> {
  let cppNamespace = "::gemmac::gemma";
  let genSpecializedAttr = 0;
}

def Gemma_WeightLayoutAttr : EnumAttr<Gemma_Dialect, Gemma_WeightLayout, "layout">;
def Gemma_WeightFormatAttr : EnumAttr<Gemma_Dialect, Gemma_WeightFormat, "weight_format">;

include "GemmaWeightAttrs.td"

def Gemma_GeluApprox : I32EnumAttr<"GeluApprox", "GELU formula", [
    I32EnumAttrCase<"tanh", 0>,
    I32EnumAttrCase<"erf", 1>
  ]> {
  let cppNamespace = "::gemmac::gemma";
  let genSpecializedAttr = 0;
}

def Gemma_GeluApproxAttr : EnumAttr<Gemma_Dialect, Gemma_GeluApprox, "gelu">;

def Gemma_WeightType : TypeDef<Gemma_Dialect, "Weight"> {
  let mnemonic = "weight";
  let summary = "a weight tensor in its storage format, [rows, cols] (out, in), or [experts, rows, cols]";
  let parameters = (ins EnumParameter<Gemma_WeightFormat>:$format,
                        ArrayRefParameter<"int64_t">:$shape);
  let assemblyFormat = "`<` $format `,` `[` $shape `]` `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    int64_t getRank() const { return getShape().size(); }
    /// Rows as stored: a 2-D weight's output features; every expert's rows
    /// of a 3-D one (its experts' slabs lie one after the other).
    int64_t getRows() const {
      return getShape().size() == 1 ? 1 : getNumElements() / getCols();
    }
    /// Experts of a 3-D weight (1 otherwise) and the rows of each.
    int64_t getExperts() const { return getShape().size() == 3 ? getShape()[0] : 1; }
    int64_t getExpertRows() const { return getRows() / getExperts(); }
    /// Input features (the contiguous, block-quantized dimension).
    int64_t getCols() const { return getShape().back(); }
    int64_t getNumElements() const;
    /// Bytes the weight occupies in its storage format.
    int64_t getStorageBytes() const;
  }];
}

// The int8 blocks llama.cpp multiplies a quantized weight with
// (gemma.quantize_activation); values match the GPU kernels' ActQuant.
def Gemma_ActQuantizer : I32EnumAttr<"ActQuantizer",
    "int8 block format an activation is quantized into", [
    I32EnumAttrCase<"q8_0", 1>,
    I32EnumAttrCase<"q8_1", 2>,
    I32EnumAttrCase<"q8_k", 3>
  ]> {
  let cppNamespace = "::gemmac::gemma";
  let genSpecializedAttr = 0;
}

def Gemma_ActBlocksType : TypeDef<Gemma_Dialect, "ActBlocks"> {
  let mnemonic = "act_blocks";
  let summary = "a [tokens, cols] activation quantized into int8 blocks";
  let description = [{
    Every row of an f32 activation as llama.cpp's int8 blocks of `quantizer`
    (32 elements for q8_0/q8_1, 256 for q8_k): the quants and, per block,
    their f32 side values (q8_0: d; q8_1: d and s; q8_k: d and 16 sums).
    A linear or geglu over a weight whose kernels multiply int8 blocks takes
    these instead of the f32 rows, so that an activation read by several
    such matvecs is quantized once.
  }];
  let parameters = (ins EnumParameter<Gemma_ActQuantizer>:$quantizer,
                        "int64_t":$cols);
  let assemblyFormat = "`<` $quantizer `,` $cols `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Elements per block (32, or 256 for q8_k).
    static int64_t blockElems(ActQuantizer q) {
      return q == ActQuantizer::q8_k ? 256 : 32;
    }
    /// The blocks a weight of `format` is multiplied with, if it is one of
    /// the quantized formats (llama.cpp's vec_dot_type).
    static std::optional<ActQuantizer> quantizerFor(WeightFormat format);
  }];
}

def Gemma_RopeAttr : AttrDef<Gemma_Dialect, "Rope"> {
  let mnemonic = "rope";
  let summary = "NeoX rotary embedding of one layer type";
  let description = [{
    ggml's NeoX rotation: for pair j < freq_dim/2, dims (j, j + freq_dim/2) of
    each head rotate by pos * theta^(-2j/freq_dim) when j < rotated_pairs and
    pass through otherwise; dims >= freq_dim pass through. Gemma 4 local layers
    rotate every pair of the head (freq_dim = head_dim); global layers use
    "proportional" RoPE: 64 of 256 pairs rotate with frequencies computed over
    the full 512-wide head.
  }];
  let parameters = (ins APFloatParameter<"rotation base">:$theta, "int64_t":$rotatedPairs,
                        "int64_t":$freqDim);
  let hasCustomAssemblyFormat = 1;
  let extraClassDeclaration = [{
    double getThetaValue() const { return getTheta().convertToDouble(); }
  }];
}

def Gemma_KVCacheAttr : AttrDef<Gemma_Dialect, "KVCache"> {
  let mnemonic = "kv_cache";
  let summary = "one KV cache of the memory plan";
  let description = [{
    The cache owned by layer `owner` and read by `readers`, with rows of
    `width` elements (kv heads x head dim). `rows` = 0 means one row per
    context token; otherwise the cache is a ring of `rows` rows (a sliding
    window). Its K array starts at byte `offset` + `per_token` x n_ctx of the
    KV buffer and its V array right after it.
  }];
  let parameters = (ins "int64_t":$owner,
                        ArrayRefParameter<"int64_t">:$readers,
                        "int64_t":$width, "int64_t":$rows,
                        "int64_t":$offset, "int64_t":$per_token);
  let assemblyFormat = [{
    `<` `owner` `=` $owner `,` `readers` `=` `[` $readers `]` `,`
        `width` `=` $width `,` `rows` `=` $rows `,`
        `offset` `=` $offset `,` `per_token` `=` $per_token `>`
  }];
}

def Gemma_LayerAttr : AttrDef<Gemma_Dialect, "Layer"> {
  let mnemonic = "layer";
  let summary = "the specialization of one decoder layer";
  let parameters = (ins "int64_t":$index, "bool":$sliding,
                        "int64_t":$headDim, "int64_t":$numHeads,
                        "int64_t":$numKvHeads, "int64_t":$window,
                        "int64_t":$kvSource, "bool":$kEqualsV,
                        "int64_t":$ffnDim, Gemma_RopeAttr:$rope);
  let assemblyFormat = [{
    `<` $index `,` custom<LayerKind>($sliding) `,` `head_dim` `=` $headDim `,`
        `heads` `=` $numHeads `,` `kv_heads` `=` $numKvHeads `,`
        `window` `=` $window `,` `kv_source` `=` $kvSource `,`
        `k_eq_v` `=` $kEqualsV `,` `ffn` `=` $ffnDim `,` `rope` `=` $rope `>`
  }];
}

class Gemma_Op<string mnemonic, list<Trait> traits = []>
    : Op<Gemma_Dialect, mnemonic, traits>;

def Gemma_Activation : TensorRankOf<[F32], [2]>;
def Gemma_Tokens : TensorRankOf<[I32], [1]>;
// A matvec's input: f32 rows, or (GPU kernel phase) the int8 blocks that a
// quantized weight multiplies (gemma-quantize-activations).
def Gemma_MatvecInput : AnyTypeOf<[Gemma_Activation, Gemma_ActBlocksType]>;

//===----------------------------------------------------------------------===//
// Weights
//===----------------------------------------------------------------------===//

def Gemma_WeightDefOp : Gemma_Op<"weight_def", [Symbol]> {
  let summary = "declares a weight stored in the checkpoint";
  let description = [{
    A handle to tensor data that stays in the checkpoint file: its storage
    format, shape and byte offset. `blob_offset` is assigned when the weight
    blob of the compiled program is laid out, `layout` when kernel selection
    picks kernels that read the rows interleaved (the blob then holds them
    in that order), `srd` when gemma-fold-srd replaces its rows with an SRD
    correction, `gptq`, `fp8_blocks` or `nvfp4_source` when the checkpoint stores it
    as GPTQ tensors, block-scaled FP8 or ModelOpt NVFP4 (the bytes are then
    made from those). Scalars the model needs at compile time
    (a layer's output scale) may carry their `value`. An NVFP4 weight may
    carry its checkpoint's calibrated `input_scale` (amax(x) / 2688), which
    only --nvfp4-activations fp4 reads. `widen_from` (f16 or bf16) marks an
    f32 weight the checkpoint stores in that narrower type: its values are
    widened, exactly, when the blob is written (a Hugging Face router, which
    llama.cpp's converter stores as F32). `parts` lists the tensors a weight
    is stacked from when the checkpoint stores its rows in several (the
    per-expert tensors of a quantized MoE export; #gemma.part).
  }];
  let arguments = (ins SymbolNameAttr:$sym_name,
                       TypeAttrOf<Gemma_WeightType>:$type,
                       I64Attr:$source_offset,
                       OptionalAttr<I64Attr>:$blob_offset,
                       OptionalAttr<Gemma_WeightLayoutAttr>:$layout,
                       OptionalAttr<FloatElementsAttr<32>>:$value,
                       OptionalAttr<Gemma_SRDFoldAttr>:$srd,
                       OptionalAttr<Gemma_GPTQSourceAttr>:$gptq,
                       OptionalAttr<Gemma_FP8BlocksSourceAttr>:$fp8_blocks,
                       OptionalAttr<Gemma_NVFP4SourceAttr>:$nvfp4_source,
                       OptionalAttr<F32Attr>:$input_scale,
                       OptionalAttr<Gemma_WeightFormatAttr>:$widen_from,
                       OptionalAttr<TypedArrayAttrBase<Gemma_WeightPartAttr,
                                     "weight parts">>:$parts,
                       // 1: read from the MTP drafter's checkpoint (--draft).
                       OptionalAttr<I64Attr>:$source_file);
  let builders = [
    // As the importer declares a weight: gemma-fold-srd adds the SRD fold.
    OpBuilder<(ins "::mlir::StringAttr":$sym_name, "::mlir::TypeAttr":$type,
                   "::mlir::IntegerAttr":$source_offset,
                   "::mlir::IntegerAttr":$blob_offset,
                   "WeightLayoutAttr":$layout,
                   "::mlir::DenseFPElementsAttr":$value), [{
      build($_builder, $_state, sym_name, type, source_offset, blob_offset,
            layout, value, SRDFoldAttr(), GPTQSourceAttr(),
            FP8BlocksSourceAttr(), NVFP4SourceAttr(), FloatAttr(),
            WeightFormatAttr(), ::mlir::ArrayAttr(), ::mlir::IntegerAttr());
    }]>
  ];
  let assemblyFormat = "$sym_name `:` $type attr-dict";
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    WeightType getWeightType() { return ::llvm::cast<WeightType>(getType()); }
    bool isInterleaved() {
      return getLayout() && *getLayout() == WeightLayout::x8;
    }
  }];
}

def Gemma_WeightOp : Gemma_Op<"weight",
    [Pure, DeclareOpInterfaceMethods<SymbolUserOpInterface>]> {
  let summary = "references a weight by its symbol";
  let arguments = (ins FlatSymbolRefAttr:$name);
  let results = (outs Gemma_WeightType:$result);
  let assemblyFormat = "$name attr-dict `:` type($result)";
}

//===----------------------------------------------------------------------===//
// Model operations
//===----------------------------------------------------------------------===//

def Gemma_EmbedOp : Gemma_Op<"embed", [Pure]> {
  let summary = "embedding lookup, dequantized and scaled";
  let description = [{ out[t] = table[tokens[t]] * scale. }];
  let arguments = (ins Gemma_Tokens:$tokens, Gemma_WeightType:$table,
                       F32Attr:$scale);
  let results = (outs Gemma_Activation:$result);
  let assemblyFormat = [{
    $tokens `,` $table attr-dict `:` type($tokens) `,` type($table) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Gemma_RMSNormOp : Gemma_Op<"rms_norm", [Pure]> {
  let summary = "RMSNorm over groups of `group` features";
  let description = [{
    y = x / sqrt(mean(x^2) + eps) * w for every group of `group` consecutive
    features (a whole row, or one attention head). Without a weight the norm is
    unweighted (Gemma 4's V norm). Gemma 4 uses the weight as stored (no 1+w).
  }];
  let arguments = (ins Gemma_Activation:$input,
                       Optional<Gemma_WeightType>:$weight,
                       F32Attr:$eps, I64Attr:$group);
  let results = (outs Gemma_Activation:$result);
  let assemblyFormat = [{
    $input (`,` $weight^ `:` type($weight))? attr-dict `:` type($input) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Gemma_LinearOp : Gemma_Op<"linear", [Pure]> {
  let summary = "activation times the transpose of a stored weight";
  let description = [{
    y[t, n] = sum_k x[t, k] * W[n, k].
  }];
  let arguments = (ins Gemma_MatvecInput:$input, Gemma_WeightType:$weight);
  let results = (outs Gemma_Activation:$result);
  let assemblyFormat = [{
    $input `,` $weight attr-dict `:` type($input) `,` type($weight) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Gemma_MaskedLogitsOp : Gemma_Op<"masked_logits", [Pure]> {
  let summary = "logits of the top-k clusters' tokens only (a centroid head)";
  let description = [{
    The E2B/E4B MTP drafters' "masked embedder" (transformers'
    Gemma4AssistantMaskedEmbedder): per row, the `top_k` clusters of highest
    `scores` (ties: the lower cluster), each cluster's V / C tokens read from
    `ordering` (an f32 [V] weight of token ids, cluster c's at
    [c * V / C, (c + 1) * V / C)), and for those tokens only the product of
    `input` with their rows of `table`; every other logit is -inf.
  }];
  let arguments = (ins Gemma_Activation:$input, Gemma_Activation:$scores,
                       Gemma_WeightType:$table, Gemma_WeightType:$ordering,
                       I64Attr:$top_k);
  let results = (outs Gemma_Activation:$result);
  let assemblyFormat = [{
    $input `,` $scores `,` $table `,` $ordering attr-dict `:` type($input) `,`
    type($scores) `,` type($table) `,` type($ordering) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Gemma_GeGLUOp : Gemma_Op<"geglu", [Pure]> {
  let summary = "fused gate/up projections with GELU gating";
  let description = [{
    gelu(x W_gate^T) * (x W_up^T): one kernel reads both weights in a single
    pass over the activation.
  }];
  let arguments = (ins Gemma_MatvecInput:$input, Gemma_WeightType:$gate,
                       Gemma_WeightType:$up, Gemma_GeluApproxAttr:$approximation);
  let results = (outs Gemma_Activation:$result);
  let assemblyFormat = [{
    $input `,` $gate `,` $up attr-dict `:` type($input) `,` type($gate) `,` type($up) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Gemma_ExpertGeGLUOp : Gemma_Op<"expert_geglu", [Pure]> {
  let summary = "fused expert gate/up products with GELU gating";
  let description = [{
    gelu(expert_linear(x, gate)) * expert_linear(x, up), the two slices
    read in one pass over each chosen expert (fuse-geglu makes it). Gate and
    up may be one fused weight at different first rows.
  }];
  let arguments = (ins Gemma_MatvecInput:$input, Gemma_WeightType:$gate,
                       Gemma_WeightType:$up, Gemma_Activation:$routing,
                       I64Attr:$gate_first_row, I64Attr:$up_first_row,
                       I64Attr:$num_rows, Gemma_GeluApproxAttr:$approximation);
  let results = (outs Gemma_Activation:$result);
  let assemblyFormat = [{
    $input `,` $gate `,` $up `,` $routing attr-dict `:` type($input) `,` type($gate) `,` type($up) `,` type($routing) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Gemma_RopeOp : Gemma_Op<"rope", [Pure]> {
  let summary = "NeoX rotary position embedding of every head";
  let arguments = (ins Gemma_Activation:$input, Index:$pos0,
                       I64Attr:$num_heads, I64Attr:$head_dim,
                       Gemma_RopeAttr:$rope);
  let results = (outs Gemma_Activation:$result);
  let assemblyFormat = [{
    $input `,` $pos0 attr-dict `:` type($input) `->` type($result)
  }];
  let hasVerifier = 1;
}

def KVCacheResource : Resource<"::gemmac::gemma::KVCacheResource">;

def Gemma_AttentionOp : Gemma_Op<"attention",
    [MemoryEffects<[MemRead<KVCacheResource>]>]> {
  let summary = "causal (optionally sliding-window) GQA attention";
  let description = [{
    Attends the queries of tokens pos0.. over the keys of cache `kv_cache`
    (earlier tokens) and the new keys `k`/`v` of this batch. `pos0` stands
    for the step's positions: a CPU program's step holds rows of several
    sequences (abi/step.h), and each row attends within its own sequence's
    rows and cache. `window` = 0 is
    global causal attention; otherwise a query at p sees keys in (p-window, p].
    Layers that share another layer's KV pass that layer's k/v and cache.
    Scores are q.k * scale (Gemma 4: 1.0); softmax in f32.
  }];
  let arguments = (ins Gemma_Activation:$q, Gemma_Activation:$k,
                       Gemma_Activation:$v, Index:$pos0,
                       I64Attr:$layer, I64Attr:$num_heads, I64Attr:$num_kv_heads,
                       I64Attr:$head_dim, I64Attr:$window, I64Attr:$kv_cache,
                       F32Attr:$scale);
  let results = (outs Gemma_Activation:$result);
  let assemblyFormat = [{
    $q `,` $k `,` $v `,` $pos0 attr-dict `:` type($q) `,` type($k) `,` type($v) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Gemma_CachedAttentionOp : Gemma_Op<"cached_attention",
    [MemoryEffects<[MemRead<KVCacheResource>]>]> {
  let summary = "query-only GQA attention over an existing KV cache";
  let description = [{
    The MTP drafter's attention: the queries of rows at pos0 (one row per
    sequence: every draft step of a sequence is at the same position, the
    target's next) attend only to the keys and values cache `kv_cache`
    already holds, positions below the row's: a query at p sees cached
    positions in [p - window + 1, p - 1] (`window` = 0: [0, p - 1]). There
    are no new keys and nothing is written. Scores are q.k * scale.
  }];
  let arguments = (ins Gemma_Activation:$q, Index:$pos0,
                       I64Attr:$num_heads, I64Attr:$num_kv_heads,
                       I64Attr:$head_dim, I64Attr:$window, I64Attr:$kv_cache,
                       F32Attr:$scale);
  let results = (outs Gemma_Activation:$result);
  let assemblyFormat = [{
    $q `,` $pos0 attr-dict `:` type($q) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Gemma_ConcatColumnsOp : Gemma_Op<"concat_columns", [Pure]> {
  let summary = "[a ; b] along the width: each row a's columns, then b's";
  let arguments = (ins Gemma_Activation:$lhs, Gemma_Activation:$rhs);
  let results = (outs Gemma_Activation:$result);
  let assemblyFormat = [{
    $lhs `,` $rhs attr-dict `:` type($lhs) `,` type($rhs) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Gemma_KVStoreOp : Gemma_Op<"kv_store",
    [MemoryEffects<[MemWrite<KVCacheResource>]>]> {
  let summary = "appends a batch's keys and values to a KV cache";
  let description = [{
    Placed after the last attention that reads cache `kv_cache` in the step, so
    a sliding layer's ring buffer of `window` rows never overwrites a key a
    later reader of the same step still needs.
  }];
  let arguments = (ins Gemma_Activation:$k, Gemma_Activation:$v, Index:$pos0,
                       I64Attr:$kv_cache);
  let assemblyFormat = [{
    $k `,` $v `,` $pos0 attr-dict `:` type($k) `,` type($v)
  }];
  let hasVerifier = 1;
}

def Gemma_GeluOp : Gemma_Op<"gelu", [Pure, SameOperandsAndResultType]> {
  let summary = "GELU, tanh approximation or exact erf";
  let arguments = (ins Gemma_Activation:$input,
                       Gemma_GeluApproxAttr:$approximation);
  let results = (outs Gemma_Activation:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def Gemma_QuantizeFP4Op : Gemma_Op<"quantize_fp4", [Pure, SameOperandsAndResultType]> {
  let summary = "NVFP4 activation quantization, emulated in f32";
  let description = [{
    What Blackwell's W4A4 NVFP4 kernels do to a linear's input, with
    G = global_scale = 1 / the checkpoint's input_scale: per 16 consecutive
    features, s = e4m3(G * amax * (1/6)); each x becomes e2m1(x * (G / s)) *
    s / G (both roundings to nearest even, saturating; 0 where s is 0).
    Inserted by gemma-nvfp4-activations for --nvfp4-activations fp4.
  }];
  let arguments = (ins Gemma_Activation:$input, F32Attr:$global_scale);
  let results = (outs Gemma_Activation:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let hasVerifier = 1;
}

def Gemma_MulOp : Gemma_Op<"mul", [Pure, SameOperandsAndResultType, Commutative]> {
  let summary = "elementwise product";
  let arguments = (ins Gemma_Activation:$lhs, Gemma_Activation:$rhs);
  let results = (outs Gemma_Activation:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` type($lhs)";
}

def Gemma_AddOp : Gemma_Op<"add", [Pure, SameOperandsAndResultType, Commutative]> {
  let summary = "elementwise sum (residual connection)";
  let arguments = (ins Gemma_Activation:$lhs, Gemma_Activation:$rhs);
  let results = (outs Gemma_Activation:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` type($lhs)";
}

def Gemma_ScaleOp : Gemma_Op<"scale", [Pure, SameOperandsAndResultType]> {
  let summary = "multiplication by a compile-time constant";
  let description = [{
    Folds away a factor of 1, and merges into a preceding scale or embedding
    only where that is exact (one factor a power of two, so that one rounding
    gives the same bits as two).
  }];
  let arguments = (ins Gemma_Activation:$input, F32Attr:$factor);
  let results = (outs Gemma_Activation:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let hasFolder = 1;
  let hasCanonicalizer = 1;
}

def Gemma_ScaleByWeightOp : Gemma_Op<"scale_by_weight", [Pure]> {
  let summary = "multiplication by a one-element weight (a layer's output scale)";
  let description = [{
    Becomes gemma.scale when the weight's value is known at compile time.
  }];
  let hasCanonicalizer = 1;
  let arguments = (ins Gemma_Activation:$input, Gemma_WeightType:$factor);
  let results = (outs Gemma_Activation:$result);
  let assemblyFormat = [{
    $input `,` $factor attr-dict `:` type($input) `,` type($factor) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Gemma_SoftcapOp : Gemma_Op<"softcap", [Pure, SameOperandsAndResultType]> {
  let summary = "cap * tanh(x / cap)";
  let arguments = (ins Gemma_Activation:$input, F32Attr:$cap);
  let results = (outs Gemma_Activation:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let hasVerifier = 1;
}

def Gemma_ColumnSliceOp : Gemma_Op<"column_slice", [Pure]> {
  let summary = "features [offset, offset + size) of every row";
  let arguments = (ins Gemma_Activation:$input, I64Attr:$offset, I64Attr:$size);
  let results = (outs Gemma_Activation:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Gemma_LastRowsOp : Gemma_Op<"last_rows", [Pure, AllTypesMatch<["input", "result"]>]> {
  let summary = "the `count` rows whose logits are wanted";
  let description = [{
    The rows of the step whose outputs the caller wants. On CPU targets they
    are the forward call's out_rows (any ascending rows of the step: the
    last row of each sequence in a batch of several, abi/step.h); GPU
    programs still take the step's last `count` rows.
  }];
  let arguments = (ins Gemma_Activation:$input, Index:$count);
  let results = (outs Gemma_Activation:$result);
  let assemblyFormat = "$input `,` $count attr-dict `:` type($input)";
}

//===----------------------------------------------------------------------===//
// Mixture of experts (26B-A4B). A routing is an f32 activation [tokens,
// 2 * k]: per token the k renormalized gate weights of the chosen experts,
// then their k indices (exact integers), in slot order (descending
// probability). Expert weights are 3-D: [experts, rows, cols]. An expert
// product's result holds one row of `num_rows` features per (token, slot):
// [tokens, k * num_rows].
//===----------------------------------------------------------------------===//

def Gemma_ScaleColumnsOp : Gemma_Op<"scale_columns", [Pure, AllTypesMatch<["input", "result"]>]> {
  let summary = "multiplication of every row by a per-feature weight";
  let arguments = (ins Gemma_Activation:$input, Gemma_WeightType:$factors);
  let results = (outs Gemma_Activation:$result);
  let assemblyFormat = [{
    $input `,` $factors attr-dict `:` type($input) `,` type($factors)
  }];
  let hasVerifier = 1;
}

def Gemma_MoERouteOp : Gemma_Op<"moe_route", [Pure]> {
  let summary = "softmax gating: each token's top-k experts and their weights";
  let description = [{
    Softmax over the router logits of all experts, the `num_used` most
    probable (descending; ties in the order llama.cpp's std::sort leaves
    them), their probabilities divided by their sum.
  }];
  let arguments = (ins Gemma_Activation:$logits, I64Attr:$num_used);
  let results = (outs Gemma_Activation:$routing);
  let assemblyFormat = "$logits attr-dict `:` type($logits) `->` type($routing)";
  let hasVerifier = 1;
}

def Gemma_ExpertLinearOp : Gemma_Op<"expert_linear", [Pure]> {
  let summary = "each token's chosen experts times their slice of a 3-D weight";
  let description = [{
    y[t, k, n] = sum_c x[t, c] * W[e_tk, first_row + n, c] for n < num_rows.
    The input is either one row per token (width = cols) or one row per
    (token, slot) (width = k * cols), the layout of an expert product's
    result. On GPU targets a quantized weight's input is its int8 blocks
    (gemma-quantize-activations), as a linear's is.
  }];
  let arguments = (ins Gemma_MatvecInput:$input, Gemma_WeightType:$weight,
                       Gemma_Activation:$routing, I64Attr:$first_row,
                       I64Attr:$num_rows);
  let results = (outs Gemma_Activation:$result);
  let assemblyFormat = [{
    $input `,` $weight `,` $routing attr-dict `:` type($input) `,` type($weight) `,` type($routing) `->` type($result)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// Whether the input holds one row per (token, slot).
    bool isPerSlot();
  }];
}

def Gemma_ExpertScaleOp : Gemma_Op<"expert_scale", [Pure, AllTypesMatch<["input", "result"]>]> {
  let summary = "each slot's row times its expert's scale";
  let arguments = (ins Gemma_Activation:$input, Gemma_Activation:$routing,
                       Gemma_WeightType:$scales);
  let results = (outs Gemma_Activation:$result);
  let assemblyFormat = [{
    $input `,` $routing `,` $scales attr-dict `:` type($input) `,` type($routing) `,` type($scales)
  }];
  let hasVerifier = 1;
}

def Gemma_MoECombineOp : Gemma_Op<"moe_combine", [Pure]> {
  let summary = "the slots' rows weighted by their gate and summed in slot order";
  let arguments = (ins Gemma_Activation:$input, Gemma_Activation:$routing);
  let results = (outs Gemma_Activation:$result);
  let assemblyFormat = [{
    $input `,` $routing attr-dict `:` type($input) `,` type($routing) `->` type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Fused operations: created by the fusion passes of the kernel phase
// (passes/Fuse*.cpp, QuantizeActivations.cpp; the activation quantizers on
// GPU targets only), each computing what the ops it replaces compute,
// rounding for rounding, in one kernel.
//===----------------------------------------------------------------------===//

def Gemma_QuantizeActivationOp : Gemma_Op<"quantize_activation", [Pure]> {
  let summary = "an activation's int8 blocks, shared by the matvecs that read it";
  let description = [{
    Quantizes every row of `input` as llama.cpp quantizes a matvec's
    activation for the result type's quantizer (runtime/formats
    quantizeRowQ8_*). Every quantized linear or geglu of that input and
    quantizer reads the one result.
  }];
  let arguments = (ins Gemma_Activation:$input);
  let results = (outs Gemma_ActBlocksType:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

def Gemma_RMSNormQuantizeOp : Gemma_Op<"rms_norm_quantize", [Pure]> {
  let summary = "a whole-row RMSNorm that also writes its result's int8 blocks";
  let description = [{
    `result` is gemma.rms_norm of `input` over whole rows; `blocks` is
    gemma.quantize_activation of `result`, computed from the same values in
    the same kernel.
  }];
  let arguments = (ins Gemma_Activation:$input,
                       Optional<Gemma_WeightType>:$weight, F32Attr:$eps);
  let results = (outs Gemma_Activation:$result, Gemma_ActBlocksType:$blocks);
  let assemblyFormat = [{
    $input (`,` $weight^ `:` type($weight))? attr-dict `:` type($input) `->` type($result) `,` type($blocks)
  }];
  let hasVerifier = 1;
}

def Gemma_RMSNormAddOp : Gemma_Op<"rms_norm_add",
    [Pure, AllTypesMatch<["input", "residual", "result"]>]> {
  let summary = "a whole-row RMSNorm added to a residual, optionally scaled";
  let description = [{
    (rms_norm(input) * weight + residual) [* scale]: gemma.rms_norm over
    whole rows, gemma.add and (with `scale`) gemma.scale, each rounded as
    those ops round.
  }];
  let arguments = (ins Gemma_Activation:$input, Gemma_Activation:$residual,
                       Optional<Gemma_WeightType>:$weight, F32Attr:$eps,
                       OptionalAttr<F32Attr>:$scale);
  let results = (outs Gemma_Activation:$result);
  let assemblyFormat = [{
    $input `,` $residual (`,` $weight^ `:` type($weight))? attr-dict `:` type($input) `->` type($result)
  }];
  let hasVerifier = 1;
}

def Gemma_RMSNormRopeOp : Gemma_Op<"rms_norm_rope", [Pure]> {
  let summary = "a per-head RMSNorm and the NeoX RoPE of its result";
  let description = [{
    gemma.rope of gemma.rms_norm(input) with a group of `head_dim`: every
    head is normalized (times `weight`, if any) and rotated.
  }];
  let arguments = (ins Gemma_Activation:$input, Index:$pos0,
                       Optional<Gemma_WeightType>:$weight, F32Attr:$eps,
                       I64Attr:$num_heads, I64Attr:$head_dim,
                       Gemma_RopeAttr:$rope);
  let results = (outs Gemma_Activation:$result);
  let assemblyFormat = [{
    $input `,` $pos0 (`,` $weight^ `:` type($weight))? attr-dict `:` type($input) `->` type($result)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Kernel-phase operations
//===----------------------------------------------------------------------===//

def Gemma_BufferOp : Gemma_Op<"buffer", [Pure]> {
  let summary = "views `bytes` bytes at a pointer the runtime passes in";
  let description = [{
    The compiled entry point receives raw pointers (weights, KV cache, scratch
    arena, tokens, logits) under a C ABI; this op turns one into a memref so
    the kernel-phase IR can address it.
  }];
  let arguments = (ins LLVM_AnyPointer:$ptr, Index:$bytes);
  let results = (outs MemRefRankOf<[I8], [1]>:$result);
  let assemblyFormat = "$ptr `,` $bytes attr-dict `:` qualified(type($ptr)) `->` type($result)";
}

include "GemmaGpuOps.td"

#endif // GEMMAC_GEMMA_OPS
