//===- GemmaWeightAttrs.td - how a weight's bytes are made -*- tablegen -*-===//
//
// Attributes of gemma.weight_def that change the bytes compile-model writes
// for a weight (compiler/artifact/WeightTransform.h applies them). Included
// by GemmaOps.td after the dialect and the weight formats.
//
//===----------------------------------------------------------------------===//

#ifndef GEMMAC_GEMMA_WEIGHT_ATTRS
#define GEMMAC_GEMMA_WEIGHT_ATTRS

// An f32 parameter printed and parsed as a float literal, compared bitwise.
def Gemma_F32Parameter : AttrOrTypeParameter<"::llvm::APFloat", "an f32"> {
  let comparator = "$_lhs.bitwiseIsEqual($_rhs)";
  let parser = [{ [&]() -> ::mlir::FailureOr<::llvm::APFloat> {
    ::llvm::APFloat value(0.0f);
    if ($_parser.parseFloat(::llvm::APFloat::IEEEsingle(), value))
      return ::mlir::failure();
    return value;
  }() }];
  let printer = [{ $_printer.printFloat($_self) }];
}

def Gemma_SRDFoldAttr : AttrDef<Gemma_Dialect, "SRDFold"> {
  let mnemonic = "srd";
  let summary = "an SRD correction W' that replaces a weight's rows";
  let description = [{
    Recorded by gemma-fold-srd: the weight's rows are W' = S4*W4 +
    alpha*S8*D8 of residual tensor #`tensor` of the residual source, stored
    in `format` (the weight type's format, which the definition's verifier
    checks); rows the source cannot vouch for keep the checkpoint's, which
    are stored there as `base`.

      #gemma.srd<tensor = 3, format = q8_0, base = q4_0, alpha = 5.000000e-01>
  }];
  let parameters = (ins "int64_t":$tensor,
                        EnumParameter<Gemma_WeightFormat>:$format,
                        EnumParameter<Gemma_WeightFormat>:$base,
                        Gemma_F32Parameter:$alpha);
  let assemblyFormat = [{
    `<` `tensor` `=` $tensor `,` `format` `=` $format `,` `base` `=` $base `,`
        `alpha` `=` $alpha `>`
  }];
  let genVerifyDecl = 1;
  let builders = [
    AttrBuilder<(ins "int64_t":$tensor, "WeightFormat":$format,
                     "WeightFormat":$base, "float":$alpha), [{
      return $_get($_ctxt, tensor, format, base, ::llvm::APFloat(alpha));
    }]>
  ];
  let extraClassDeclaration = [{
    float getAlphaValue() const { return getAlpha().convertToFloat(); }
    /// Checks the fold against the weight it is recorded on: a matrix stored
    /// in `format` whose rows are whole blocks of `base`.
    ::mlir::LogicalResult
    verifyFor(WeightType weight,
              ::llvm::function_ref<::mlir::InFlightDiagnostic()> emitError) const;
  }];
}

def Gemma_GPTQSourceAttr : AttrDef<Gemma_Dialect, "GPTQSource"> {
  let mnemonic = "gptq";
  let summary = "a weight stored in the checkpoint as GPTQ 4-bit tensors";
  let description = [{
    Recorded by the safetensors importer on a GPTQ-quantized linear: its
    `qweight` (I32 [cols/8, rows], nibbles LSB-first along cols) lies at the
    definition's source_offset, `qzeros` (I32 [groups, rows/8]), `scales`
    (F16 [groups, rows]) and `g_idx` (I32 [cols], -1: absent, then column k
    is in group k / group) at the given checkpoint offsets. Element (n, k) is
    scales[g][n] * (q - z), z = the qzeros nibble + zero_offset (1 for GPTQ
    v1 checkpoints, 0 for v2), g = g_idx[k].

    The importer reads the zero points and groups and records what they
    allow: `symmetric` (every z is 8), `block_uniform` (every 32 consecutive
    columns share a group). The weight's format says how its rows are
    stored: f32 (the exact values), or re-encoded losslessly by
    gemma-reencode-gptq as q8_0 (d = scale, q - z in the int8s; needs
    block_uniform) or q4_0 (d = scale, q in the nibbles; needs symmetric and
    block_uniform).

      #gemma.gptq<qzeros = 1024, scales = 2048, g_idx = 4096, group = 128,
                  zero_offset = 1, symmetric = true, block_uniform = true>
  }];
  let parameters = (ins "int64_t":$qzeros, "int64_t":$scales, "int64_t":$g_idx,
                        "int64_t":$group, "int64_t":$zero_offset,
                        "bool":$symmetric, "bool":$block_uniform);
  let assemblyFormat = [{
    `<` `qzeros` `=` $qzeros `,` `scales` `=` $scales `,` `g_idx` `=` $g_idx
        `,` `group` `=` $group `,` `zero_offset` `=` $zero_offset `,`
        `symmetric` `=` $symmetric `,` `block_uniform` `=` $block_uniform `>`
  }];
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// Checks the source against the weight it is recorded on: a matrix of
    /// whole 8-element packs both ways, stored in a format the tensors can
    /// be re-encoded into without loss.
    ::mlir::LogicalResult
    verifyFor(WeightType weight,
              ::llvm::function_ref<::mlir::InFlightDiagnostic()> emitError) const;
  }];
}

def Gemma_FP8BlocksSourceAttr : AttrDef<Gemma_Dialect, "FP8BlocksSource"> {
  let mnemonic = "fp8_blocks";
  let summary = "a weight stored as FP8 E4M3 with square block scales";
  let description = [{
    Recorded by the safetensors importer on a ModelOpt FP8 weight-only
    linear (FP8_PB_WO): its `weight` (F8_E4M3 [rows, cols]) lies at the
    definition's source_offset, `weight_scale` (F32, ceil(rows/block) x
    ceil(cols/block), row-major; partial blocks at the high end) at
    `scales`. Element (n, k) is e4m3(weight[n][k]) * scale[n / block][k /
    block]. The weight is stored as f8_b64: each 64 elements of a row with
    the scale of their block, so the kernel reads one byte per weight.

      #gemma.fp8_blocks<scales = 4096, block = 128>
  }];
  let parameters = (ins "int64_t":$scales, "int64_t":$block);
  let assemblyFormat = "`<` `scales` `=` $scales `,` `block` `=` $block `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    ::mlir::LogicalResult
    verifyFor(WeightType weight,
              ::llvm::function_ref<::mlir::InFlightDiagnostic()> emitError) const;
  }];
}

def Gemma_NVFP4SourceAttr : AttrDef<Gemma_Dialect, "NVFP4Source"> {
  let mnemonic = "nvfp4_source";
  let summary = "a weight stored in ModelOpt's NVFP4 layout";
  let description = [{
    Recorded by the safetensors importer on a ModelOpt NVFP4 linear: its
    `weight` (U8 [rows, cols/2], byte c of a row holding element 2c in the
    low nibble and 2c+1 in the high one) lies at the definition's
    source_offset, `weight_scale` (F8_E4M3 [rows, cols/16], one per 16
    consecutive elements, never negative) at `scales`. The weight is
    stored as nvfp4 (ggml's blocks: the same codes and scale bytes,
    reordered), as llama.cpp's converter repacks it; the per-tensor
    `weight_scale_2` is applied to the product's output (the `.scale`
    weight the importer multiplies by).

      #gemma.nvfp4_source<scales = 4096>
  }];
  let parameters = (ins "int64_t":$scales);
  let assemblyFormat = "`<` `scales` `=` $scales `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    ::mlir::LogicalResult
    verifyFor(WeightType weight,
              ::llvm::function_ref<::mlir::InFlightDiagnostic()> emitError) const;
  }];
}

def Gemma_WeightPartAttr : AttrDef<Gemma_Dialect, "WeightPart"> {
  let mnemonic = "part";
  let summary = "consecutive rows of a weight stored as a tensor of their own";
  let description = [{
    A weight whose rows the checkpoint stores as several 2-D tensors (the
    per-expert gate, up and down projections of a quantized mixture-of-
    experts export) lists them in order in its definition's `parts`: each
    `rows` rows whose checkpoint data starts at `source_offset`, BF16, F16
    or F32 as the weight's format says, GPTQ tensors as `gptq` describes
    them (the weight's format then says how they are stored, as for a
    whole GPTQ weight), ModelOpt NVFP4 codes with their scales at
    `nvfp4_source` (an nvfp4 weight; each part's `weight_scale_2` is the
    per-expert `.scale` weight beside it), or FP8 E4M3 with block scales as
    `fp8_blocks` describes them (an f8_b64 weight).

      #gemma.part<source_offset = 4096, rows = 96>
      #gemma.part<source_offset = 4096, rows = 96, gptq = #gemma.gptq<...>>
      #gemma.part<source_offset = 4096, rows = 96,
                  nvfp4_source = #gemma.nvfp4_source<scales = 8192>>
      #gemma.part<source_offset = 4096, rows = 96,
                  fp8_blocks = #gemma.fp8_blocks<scales = 8192, block = 128>>
  }];
  let parameters = (ins "int64_t":$source_offset, "int64_t":$rows,
                        OptionalParameter<"GPTQSourceAttr">:$gptq,
                        OptionalParameter<"NVFP4SourceAttr">:$nvfp4_source,
                        OptionalParameter<"FP8BlocksSourceAttr">:$fp8_blocks);
  let assemblyFormat = "`<` struct(params) `>`";
}

#endif // GEMMAC_GEMMA_WEIGHT_ATTRS
