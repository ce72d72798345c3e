//===- GpuLaunch.h - a kernel's launch as IR --------------------*- C++ -*-===//
//
// gemma-lower-to-gpu lists each kernel's arguments once, in the kernel's
// parameter order, next to the call that builds the kernel; this turns the
// list into the `gpu.launch_func` after the op, its arguments gemma GPU host
// ops (GemmaGpuOps.td) typed as the kernel's parameters, so that the launch
// verifies against the kernel's signature.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "compiler/targets/gpu/kernels/KernelLibrary.h"
#include "dialects/gemma/GemmaDialect.h"

#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "llvm/ADT/SmallVector.h"

#include <string>

namespace gemmac {

/// One kernel argument, before it has the kernel parameter's type.
struct GpuLaunchArg {
  enum class Kind { Slot, View, Constant, Rope };
  Kind kind = Kind::Slot;
  mlir::Value value;                                  // Slot
  gemma::GpuSlotPart part = gemma::GpuSlotPart::rows; // Slot
  gemma::GpuSpace space = gemma::GpuSpace::weights;   // View
  int64_t offset = 0, offsetPerCtx = 0;               // View
  int64_t bytes = 0, bytesPerCtx = 0;                 // View
  float constant = 0;                                 // Constant
  gemma::RopeAttr rope;                               // Rope

  static GpuLaunchArg slot(mlir::Value v,
                           gemma::GpuSlotPart part = gemma::GpuSlotPart::rows) {
    GpuLaunchArg a;
    a.value = v;
    a.part = part;
    return a;
  }
  static GpuLaunchArg view(gemma::GpuSpace space, int64_t offset,
                           int64_t bytes) {
    GpuLaunchArg a;
    a.kind = Kind::View;
    a.space = space;
    a.offset = offset;
    a.bytes = bytes;
    return a;
  }
  /// An f32 program constant.
  static GpuLaunchArg constantOf(float value) {
    GpuLaunchArg a;
    a.kind = Kind::Constant;
    a.constant = value;
    return a;
  }
  /// The (cos, sin) table of `rope`.
  static GpuLaunchArg ropeTable(gemma::RopeAttr rope) {
    GpuLaunchArg a;
    a.kind = Kind::Rope;
    a.rope = rope;
    return a;
  }
};

/// A kernel and its launch: the arguments in the kernel's parameter order,
/// grid (gridX, rows / perGroup, 1).
struct GpuLaunch {
  std::string kernel;
  llvm::SmallVector<GpuLaunchArg> args;
  int64_t gridX = 1;
  gemma::GpuRows rows = gemma::GpuRows::tokens;
  int64_t perGroup = 1;
  /// Grid x covering `width` columns, one thread each.
  void columns(int64_t width) {
    gridX =
        (width + gpukernels::kWorkgroupSize - 1) / gpukernels::kWorkgroupSize;
  }
};

/// Builds the launch of `l.kernel` (a gpu.func of `kernels`) after `op`;
/// fails, on `op`, when the arguments do not fit the kernel's parameters.
mlir::LogicalResult emitGpuLaunch(mlir::Operation *op,
                                  mlir::gpu::GPUModuleOp kernels,
                                  const GpuLaunch &l);

} // namespace gemmac
