//===- GpuLaunch.cpp - a kernel's launch as IR ----------------------------===//

#include "passes/GpuLaunch.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/Builders.h"

using namespace mlir;
using namespace gemmac::gemma;

namespace gemmac {

/// Whether an argument of `kind` fits a kernel parameter of `type`: f32
/// rows, i32 quants and params, f32 side values and constants.
static bool fits(const GpuLaunchArg &a, Type type) {
  Type element = cast<MemRefType>(type).getElementType();
  switch (a.kind) {
  case GpuLaunchArg::Kind::Slot:
    return a.part == GpuSlotPart::quants ? element.isInteger(32)
                                         : element.isF32();
  case GpuLaunchArg::Kind::Constant:
    return element.isF32();
  case GpuLaunchArg::Kind::View:
    return a.space != GpuSpace::params || element.isInteger(32);
  case GpuLaunchArg::Kind::Rope:
    return element.isF32();
  }
  return false;
}

LogicalResult emitGpuLaunch(Operation *op, mlir::gpu::GPUModuleOp kernels,
                            const GpuLaunch &l) {
  auto fn = kernels.lookupSymbol<mlir::gpu::GPUFuncOp>(l.kernel);
  ArrayRef<Type> params = fn.getArgumentTypes();
  if (params.size() != l.args.size())
    return op->emitOpError("launches @")
           << l.kernel << " with " << l.args.size() << " buffers; it takes "
           << params.size();
  OpBuilder b(op->getContext());
  b.setInsertionPointAfter(op);
  Location loc = op->getLoc();
  SmallVector<Value> operands;
  for (auto [i, a] : llvm::enumerate(l.args)) {
    Type type = params[i];
    if (!fits(a, type))
      return op->emitOpError("argument ")
             << i << " of @" << l.kernel << " does not fit parameter type "
             << type;
    Value v;
    switch (a.kind) {
    case GpuLaunchArg::Kind::Slot:
      v = GpuSlotOp::create(b, loc, type, a.value, a.part);
      break;
    case GpuLaunchArg::Kind::View:
      v = GpuViewOp::create(b, loc, type, a.space, a.offset, a.offsetPerCtx,
                            a.bytes, a.bytesPerCtx);
      break;
    case GpuLaunchArg::Kind::Constant:
      v = GpuConstantOp::create(b, loc, type, b.getF32FloatAttr(a.constant));
      break;
    case GpuLaunchArg::Kind::Rope:
      v = GpuRopeTableOp::create(b, loc, type, a.rope);
      break;
    }
    operands.push_back(v);
  }
  auto index = [&](int64_t n) -> Value {
    return arith::ConstantIndexOp::create(b, loc, n);
  };
  Value rows = GpuRowsOp::create(b, loc, l.rows, l.perGroup);
  Value gridX = index(l.gridX), one = index(1),
        workgroup = index(gpukernels::kWorkgroupSize);
  mlir::gpu::LaunchFuncOp::create(
      b, loc, fn, {gridX, rows, one}, {workgroup, one, one},
      /*dynamicSharedMemorySize=*/Value(), operands);
  return success();
}

} // namespace gemmac
