//===- KernelBuilder.cpp - one gpu.func per kernel ------------------------===//

#include "compiler/targets/gpu/kernels/KernelBuilder.h"

#include "llvm/ADT/StringExtras.h"

#include <cstring>

namespace gemmac::gpukernels::detail {

std::string bitsOf(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return llvm::utohexstr(u, /*LowerCase=*/true);
}

std::string formatName(WeightFormat f) {
  return gemma::stringifyWeightFormat(f).str();
}

std::string normTag(std::optional<WeightFormat> weight, float eps) {
  return (weight ? formatName(*weight) : std::string("unweighted")) + "_e" +
         bitsOf(eps);
}

MemRefType bufferType(Target target, Type element, int64_t count) {
  int64_t n = target == Target::SPIRV ? ShapedType::kDynamic
                                      : std::max<int64_t>(count, 1);
  return MemRefType::get({n}, element);
}

Type weightElementType(MLIRContext *ctx, WeightFormat format) {
  switch (format) {
  case WeightFormat::f32:
    return Float32Type::get(ctx);
  case WeightFormat::f16:
    return Float16Type::get(ctx);
  case WeightFormat::bf16:
    return IntegerType::get(ctx, 16);
  default:
    return IntegerType::get(ctx, 8);
  }
}

int64_t weightElementCount(WeightFormat format, int64_t elements) {
  if (isFloatFormat(format))
    return elements;
  return elements / formatBlockElems(format) * formatBlockBytes(format);
}

void KernelBuilder::build(
    StringRef name, ArrayRef<Type> args, int scratch,
           int64_t extraScratch,
           llvm::function_ref<void(Emitter &, ValueRange, ValueRange)> body,
           bool f64Scratch, int64_t i32Scratch) {
  MLIRContext *ctx = module.getContext();
  ImplicitLocOpBuilder b(module.getLoc(), ctx);
  b.setInsertionPointToEnd(module.getBody());
  // Workgroup memory: the gpu dialect's address space for NVVM, Vulkan's
  // numeric space 3 (map-memref-spirv-storage-class: Workgroup) for SPIR-V.
  Attribute workgroup =
      target == Target::NVVM
          ? Attribute(mgpu::AddressSpaceAttr::get(
                ctx, mgpu::AddressSpace::Workgroup))
          : Attribute(b.getI64IntegerAttr(3));
  SmallVector<Type> shared;
  for (int i = 0; i < scratch; ++i)
    shared.push_back(MemRefType::get({kWG}, b.getF32Type(),
                                     MemRefLayoutAttrInterface(), workgroup));
  if (extraScratch > 0)
    shared.push_back(MemRefType::get({extraScratch}, b.getF32Type(),
                                     MemRefLayoutAttrInterface(), workgroup));
  if (f64Scratch) // after the f32 ones: shared.back()
    shared.push_back(MemRefType::get({kWG}, b.getF64Type(),
                                     MemRefLayoutAttrInterface(), workgroup));
  if (i32Scratch > 0) // last: shared.back()
    shared.push_back(MemRefType::get({i32Scratch}, b.getI32Type(),
                                     MemRefLayoutAttrInterface(), workgroup));
  // NVVM takes workgroup memory as the function's attributions; the SPIR-V
  // conversion takes it as allocations in the workgroup address space.
  bool attributions = target == Target::NVVM;
  auto fn = mgpu::GPUFuncOp::create(
      b, name, b.getFunctionType(args, {}),
      attributions ? TypeRange(shared) : TypeRange(), TypeRange());
  fn->setAttr(mgpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  fn.setKnownBlockSizeAttr(b.getDenseI32ArrayAttr({kWG, 1, 1}));
  Block &entry = fn.getBody().front();
  b.setInsertionPointToStart(&entry);
  SmallVector<Value> sharedValues(fn.getWorkgroupAttributions());
  if (!attributions)
    for (Type t : shared)
      sharedValues.push_back(memref::AllocOp::create(b, cast<MemRefType>(t)));
  Emitter e(b, /*spirv=*/target == Target::SPIRV);
  body(e, fn.getArguments(), sharedValues);
  mgpu::ReturnOp::create(b);
}


Value param(Emitter &e, Value params, Param p) {
  return e.toIndex(e.load(params, e.idx(p)));
}

Value rowParam(Emitter &e, Value params, Value row, Param field) {
  return e.toIndex(e.load(
      params, e.add(e.mul(row, kRowFields), e.idx(kRowTable + field))));
}

Value rowPosition(Emitter &e, Value params, Value row) {
  return e.add(rowParam(e, params, row, kRowSegPos0),
               e.sub(row, rowParam(e, params, row, kRowSegRow0)));
}

Value slotBase(Emitter &e, Value params, Value row, int64_t width,
               int64_t ringRows) {
  Value rows = ringRows ? e.idx(ringRows) : param(e, params, kContextRows);
  return e.mul(rowParam(e, params, row, kRowSlot), e.mul(rows, width));
}

} // namespace gemmac::gpukernels::detail
