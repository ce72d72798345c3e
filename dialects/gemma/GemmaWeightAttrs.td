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

#endif // GEMMAC_GEMMA_WEIGHT_ATTRS
