//===- GemmaGpuOps.cpp - verifiers of the GPU host ops --------------------===//

#include "dialects/gemma/GemmaDialect.h"

using namespace mlir;
using namespace gemmac::gemma;

LogicalResult GpuViewOp::verify() {
  // The getters are unsigned: the attributes tell a negative value.
  if (getOffsetAttr().getInt() < 0 || getOffsetPerCtxAttr().getInt() < 0 ||
      getBytesAttr().getInt() < 0 || getBytesPerCtxAttr().getInt() < 0)
    return emitOpError("offsets and sizes must not be negative");
  if ((getOffsetPerCtx() || getBytesPerCtx()) && getSpace() != GpuSpace::kv &&
      getSpace() != GpuSpace::rope)
    return emitOpError("only kv and rope ranges grow with the context");
  return success();
}

LogicalResult GpuSlotOp::verify() {
  bool blocks = isa<ActBlocksType>(getValue().getType());
  if (blocks == (getPart() == GpuSlotPart::rows))
    return emitOpError(blocks ? "of int8 blocks is their quants or aux"
                              : "of f32 rows is their rows");
  return success();
}

LogicalResult GpuRowsOp::verify() {
  if (getPerGroupAttr().getInt() < 1)
    return emitOpError("per_group must be positive");
  return success();
}
