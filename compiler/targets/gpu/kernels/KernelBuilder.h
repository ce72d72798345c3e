//===- KernelBuilder.h - one gpu.func per kernel ----------------*- C++ -*-===//
//
// What every kernel file shares: the buffer argument types of the two
// targets, the builder that creates a kernel's gpu.func with its workgroup
// memory, the pieces of kernel names, and the params buffer.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "compiler/targets/gpu/kernels/Emitter.h"

#include <functional>
#include <string>

namespace gemmac::gpukernels::detail {

/// A float constant's bits, for kernel names that must tell values apart.
std::string bitsOf(float f);
std::string formatName(WeightFormat f);
/// A norm's part of a kernel name: its weight's format (or "unweighted")
/// and "_e" with its epsilon's bits.
std::string normTag(std::optional<WeightFormat> weight, float eps);
/// The name of an activation quantizer ("q8_0", ...).
const char *actQuantName(ActQuant q);

/// A 1-D buffer argument type: runtime-sized for SPIR-V (a runtime array),
/// static for NVVM's bare-pointer convention (the size only documents).
MemRefType bufferType(Target target, Type element, int64_t count);
Type weightElementType(MLIRContext *ctx, WeightFormat format);
int64_t weightElementCount(WeightFormat format, int64_t elements);

/// Creates kernel `name` with the given buffer arguments and `scratch`
/// workgroup buffers of 64 floats (plus `extraScratch` more floats in one
/// more buffer when > 0), and builds its body.
struct KernelBuilder {
  mgpu::GPUModuleOp module;
  Target target;

  bool exists(StringRef name) { return module.lookupSymbol(name) != nullptr; }

  void build(StringRef name, ArrayRef<Type> args, int scratch,
             int64_t extraScratch,
             llvm::function_ref<void(Emitter &, ValueRange, ValueRange)> body,
             bool f64Scratch = false, int64_t i32Scratch = 0);

  Type buf(Type element, int64_t count) {
    return bufferType(target, element, count);
  }
  Type f32Buf(int64_t count) {
    return buf(Float32Type::get(module.getContext()), count);
  }
  Type params() {
    return MemRefType::get({kParamsWords},
                           IntegerType::get(module.getContext(), 32));
  }
  /// A weight of `elements` elements in `format`.
  Type weightBuf(WeightFormat format, int64_t elements) {
    return buf(weightElementType(module.getContext(), format),
               weightElementCount(format, elements));
  }
  /// An RMSNorm's (x, y[, w]) over [max_batch, width], w of `group`.
  SmallVector<Type> normArgs(int64_t width,
                             std::optional<WeightFormat> weight,
                             int64_t group) {
    SmallVector<Type> args = {f32Buf(kMaxBatch * width),
                              f32Buf(kMaxBatch * width)};
    if (weight)
      args.push_back(weightBuf(*weight, group));
    return args;
  }
  /// The int8 activation quants of [max_batch, cols], four per word, and
  /// their f32 side values.
  Type actQuants(int64_t cols) {
    return buf(IntegerType::get(module.getContext(), 32), kMaxBatch * cols / 4);
  }
  Type actAux(ActQuant q, int64_t cols) {
    return f32Buf(kMaxBatch * cols / actBlockElems(q) * actAuxPerBlock(q));
  }
  /// llama.cpp's GELU table: f16 results indexed by f16 inputs.
  Type geluTable() {
    return buf(IntegerType::get(module.getContext(), 16), kGeluTableEntries);
  }
};

/// The runtime scalar `p` of the params buffer as an index.
Value param(Emitter &e, Value params, Param p);
/// Field `field` (kRowSlot...) of step row `row` in the params' row table.
Value rowParam(Emitter &e, Value params, Value row, Param field);
/// The position of step row `row` in its sequence.
Value rowPosition(Emitter &e, Value params, Value row);
/// The first element of step row `row`'s KV slot in a cache of `width`
/// elements per row and `ringRows` rows per slot (0: n_ctx rows).
Value slotBase(Emitter &e, Value params, Value row, int64_t width,
               int64_t ringRows);

/// llama.cpp's activation quantizer for one block whose element i is x(i)
/// (Quantize.cpp).
void quantizeBlock(Emitter &e, ActQuant q, llvm::function_ref<Value(Value)> x,
                   Value qs, Value aux, Value base, Value auxBase);

/// RMSNorm of the `group` values at x[base...] (Norms.cpp).
std::function<Value(Value)> rmsNormed(Emitter &e, Value x, Value base,
                                      int64_t group, Value w,
                                      std::optional<WeightFormat> weight,
                                      float eps, Value scratch);

} // namespace gemmac::gpukernels::detail
