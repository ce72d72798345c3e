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
