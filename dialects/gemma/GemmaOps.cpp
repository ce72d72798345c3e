//===- GemmaOps.cpp - verifiers of the gemma operations -------------------===//

#include "dialects/gemma/GemmaDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"

using namespace mlir;
using namespace gemmac::gemma;

#define GET_OP_CLASSES
#include "dialects/gemma/GemmaOps.cpp.inc"

/// I64Attr getters return uint64_t; verifiers compare signed values.
static int64_t sv(uint64_t v) { return static_cast<int64_t>(v); }

/// Features per row of a [tokens, features] activation.
static int64_t width(Value v) {
  return cast<RankedTensorType>(v.getType()).getDimSize(1);
}

static LogicalResult checkWidth(Operation *op, StringRef what, int64_t got,
                                int64_t want) {
  if (ShapedType::isDynamic(got) || got == want)
    return success();
  return op->emitOpError() << what << " has " << got << " features, expected "
                           << want;
}

LogicalResult WeightDefOp::verify() {
  if (sv(getSourceOffset()) < 0)
    return emitOpError("source_offset must be non-negative");
  if (auto value = getValueAttr()) {
    int64_t n = cast<ElementsAttr>(value).getNumElements();
    if (n != getWeightType().getNumElements())
      return emitOpError("value has ")
             << n << " elements, the weight "
             << getWeightType().getNumElements();
  }
  return success();
}

LogicalResult WeightOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  auto def = symbolTable.lookupNearestSymbolFrom<WeightDefOp>(*this,
                                                              getNameAttr());
  if (!def)
    return emitOpError("references unknown weight ") << getNameAttr();
  if (def.getType() != getType())
    return emitOpError("type ")
           << getType() << " does not match the definition's " << def.getType();
  return success();
}

LogicalResult EmbedOp::verify() {
  WeightType table = getTable().getType();
  if (table.getRank() != 2)
    return emitOpError("embedding table must be 2-D");
  return checkWidth(*this, "result", width(getResult()), table.getCols());
}

LogicalResult RMSNormOp::verify() {
  int64_t n = width(getInput());
  if (sv(getGroup()) <= 0 ||
      (!ShapedType::isDynamic(n) && n % sv(getGroup()) != 0))
    return emitOpError("group ") << getGroup() << " does not divide the "
                                 << n << " features";
  if (getEps().convertToFloat() < 0)
    return emitOpError("eps must be non-negative");
  if (getInput().getType() != getResult().getType())
    return emitOpError("result type must equal the input type");
  if (Value w = getWeight()) {
    auto wt = cast<WeightType>(w.getType());
    if (wt.getRank() != 1 || wt.getCols() != sv(getGroup()))
      return emitOpError("norm weight must be 1-D of ")
             << getGroup() << " elements, got " << wt;
    if (!isFloatFormat(wt.getFormat()))
      return emitOpError("norm weight must be f32, f16 or bf16");
  }
  return success();
}

LogicalResult LinearOp::verify() {
  WeightType w = getWeight().getType();
  if (w.getRank() != 2)
    return emitOpError("weight must be 2-D");
  if (failed(checkWidth(*this, "input", width(getInput()), w.getCols())))
    return failure();
  return checkWidth(*this, "result", width(getResult()), w.getRows());
}

LogicalResult GeGLUOp::verify() {
  WeightType g = getGate().getType(), u = getUp().getType();
  if (g.getRank() != 2 || g.getShape() != u.getShape())
    return emitOpError("gate and up weights must be 2-D of the same shape");
  if (failed(checkWidth(*this, "input", width(getInput()), g.getCols())))
    return failure();
  return checkWidth(*this, "result", width(getResult()), g.getRows());
}

LogicalResult RopeOp::verify() {
  if (sv(getNumHeads()) <= 0 || sv(getHeadDim()) <= 0 || getHeadDim() % 2 != 0)
    return emitOpError("needs positive num_heads and an even head_dim");
  if (failed(checkWidth(*this, "input", width(getInput()),
                        getNumHeads() * getHeadDim())))
    return failure();
  if (getInput().getType() != getResult().getType())
    return emitOpError("result type must equal the input type");
  if (getRope().getFreqDim() > sv(getHeadDim()))
    return emitOpError("rope freq_dim ")
           << getRope().getFreqDim() << " exceeds the head dim "
           << getHeadDim();
  return success();
}

LogicalResult AttentionOp::verify() {
  int64_t nh = getNumHeads(), nkv = getNumKvHeads(), hd = getHeadDim();
  if (nh <= 0 || nkv <= 0 || hd <= 0)
    return emitOpError("needs positive num_heads, num_kv_heads and head_dim");
  if (nh % nkv != 0)
    return emitOpError("num_heads ") << nh << " is not a multiple of num_kv_heads "
                                     << nkv;
  if (sv(getWindow()) < 0 || sv(getKvCache()) < 0 || sv(getLayer()) < 0)
    return emitOpError("window, kv_cache and layer must be non-negative");
  if (failed(checkWidth(*this, "q", width(getQ()), nh * hd)) ||
      failed(checkWidth(*this, "k", width(getK()), nkv * hd)) ||
      failed(checkWidth(*this, "v", width(getV()), nkv * hd)) ||
      failed(checkWidth(*this, "result", width(getResult()), nh * hd)))
    return failure();
  return success();
}

LogicalResult KVStoreOp::verify() {
  if (getK().getType() != getV().getType())
    return emitOpError("k and v must have the same type");
  if (sv(getKvCache()) < 0)
    return emitOpError("kv_cache must be non-negative");
  return success();
}

LogicalResult ScaleByWeightOp::verify() {
  WeightType f = getFactor().getType();
  if (f.getNumElements() != 1 || f.getFormat() != WeightFormat::f32)
    return emitOpError("factor must be a one-element f32 weight, got ") << f;
  if (getInput().getType() != getResult().getType())
    return emitOpError("result type must equal the input type");
  return success();
}

LogicalResult SoftcapOp::verify() {
  if (getCap().convertToFloat() <= 0)
    return emitOpError("cap must be positive");
  return success();
}

LogicalResult ColumnSliceOp::verify() {
  int64_t n = width(getInput());
  if (sv(getOffset()) < 0 || sv(getSize()) <= 0 ||
      (!ShapedType::isDynamic(n) &&
       sv(getOffset() + getSize()) > n))
    return emitOpError("slice [")
           << getOffset() << ", " << getOffset() + getSize()
           << ") is outside the " << n << " features";
  return checkWidth(*this, "result", width(getResult()), getSize());
}
