//===- GemmaWeightAttrs.cpp - how a weight's stored bytes are made --------===//

#include "dialects/gemma/GemmaDialect.h"

#include <cstdint>

using namespace mlir;
using namespace gemmac::gemma;

//===----------------------------------------------------------------------===//
// SRDFoldAttr
//===----------------------------------------------------------------------===//

LogicalResult SRDFoldAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                  int64_t tensor, WeightFormat, WeightFormat,
                                  llvm::APFloat alpha) {
  if (tensor < 0)
    return emitError() << "SRD fold: tensor index " << tensor << " is negative";
  if (&alpha.getSemantics() != &llvm::APFloat::IEEEsingle())
    return emitError() << "SRD fold: alpha must be an f32";
  if (!alpha.isFinite())
    return emitError() << "SRD fold: alpha must be finite";
  return success();
}

LogicalResult
SRDFoldAttr::verifyFor(WeightType weight,
                       function_ref<InFlightDiagnostic()> emitError) const {
  if (weight.getRank() != 2)
    return emitError() << "SRD fold on a weight of rank " << weight.getRank()
                       << ": the corrections replace the rows of a matrix";
  if (weight.getFormat() != getFormat())
    return emitError() << "SRD fold stores W' as "
                       << stringifyWeightFormat(getFormat())
                       << ", the weight's type as "
                       << stringifyWeightFormat(weight.getFormat());
  int64_t block = formatBlockElems(getBase());
  if (weight.getCols() % block != 0)
    return emitError() << "SRD fold: the checkpoint's rows of "
                       << weight.getCols() << " elements are not whole "
                       << stringifyWeightFormat(getBase()) << " blocks of "
                       << block;
  return success();
}

//===----------------------------------------------------------------------===//
// GPTQSourceAttr
//===----------------------------------------------------------------------===//

LogicalResult
GPTQSourceAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                       int64_t qzeros, int64_t scales, int64_t gIdx,
                       int64_t group, int64_t zeroOffset, bool, bool) {
  if (qzeros < 0 || scales < 0 || gIdx < -1)
    return emitError() << "GPTQ source: offsets must be non-negative (g_idx "
                          "-1 when absent)";
  if (group <= 0)
    return emitError() << "GPTQ source: group " << group
                       << " must be positive";
  if (zeroOffset != 0 && zeroOffset != 1)
    return emitError() << "GPTQ source: zero_offset must be 0 (v2) or 1 (v1)";
  return success();
}

LogicalResult
GPTQSourceAttr::verifyFor(WeightType weight,
                          function_ref<InFlightDiagnostic()> emitError) const {
  if (weight.getRank() != 2 || weight.getRows() % 8 != 0 ||
      weight.getCols() % 8 != 0)
    return emitError() << "GPTQ source on " << weight
                       << ": needs a matrix of whole 8-element packs";
  switch (weight.getFormat()) {
  case WeightFormat::f32:
    return success();
  case WeightFormat::q8_0:
  case WeightFormat::q4_0:
  case WeightFormat::q8_0_f32:
  case WeightFormat::q4_0_f32: {
    const bool q4 = weight.getFormat() == WeightFormat::q4_0 ||
                    weight.getFormat() == WeightFormat::q4_0_f32;
    if (!getBlockUniform() || weight.getCols() % 32 != 0)
      return emitError() << "GPTQ source stored as "
                         << stringifyWeightFormat(weight.getFormat())
                         << " needs every 32 columns in one group";
    if (q4 && !getSymmetric())
      return emitError() << "GPTQ source stored as "
                         << stringifyWeightFormat(weight.getFormat())
                         << " needs symmetric zero points (all 8)";
    return success();
  }
  default:
    return emitError() << "GPTQ source cannot be stored as "
                       << stringifyWeightFormat(weight.getFormat())
                       << " (f32, q8_0, q4_0, q8_0_f32 or q4_0_f32)";
  }
}

//===----------------------------------------------------------------------===//
// FP8BlocksSourceAttr
//===----------------------------------------------------------------------===//

LogicalResult
FP8BlocksSourceAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                            int64_t scales, int64_t block) {
  if (scales < 0)
    return emitError() << "FP8 blocks: the scales' offset must be non-negative";
  if (block <= 0 || block % 64 != 0)
    return emitError() << "FP8 blocks: block " << block
                       << " must be a positive multiple of 64";
  return success();
}

LogicalResult FP8BlocksSourceAttr::verifyFor(
    WeightType weight, function_ref<InFlightDiagnostic()> emitError) const {
  if (weight.getRank() != 2 || weight.getFormat() != WeightFormat::f8_b64)
    return emitError() << "FP8 blocks are stored as an f8_b64 matrix, not "
                       << weight;
  return success();
}

LogicalResult
NVFP4SourceAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                        int64_t scales) {
  if (scales < 0)
    return emitError() << "NVFP4 source: the scales' offset must be "
                          "non-negative";
  return success();
}

LogicalResult NVFP4SourceAttr::verifyFor(
    WeightType weight, function_ref<InFlightDiagnostic()> emitError) const {
  if (weight.getRank() != 2 || (weight.getFormat() != WeightFormat::nvfp4 &&
                                 weight.getFormat() != WeightFormat::nvfp4_f32))
    return emitError() << "an NVFP4 source is stored as an nvfp4 matrix, not "
                       << weight;
  return success();
}
