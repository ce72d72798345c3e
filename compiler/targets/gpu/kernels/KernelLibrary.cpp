//===- KernelLibrary.cpp - Gemma 4's device kernels in the gpu dialect ----===//
//
// Each kernel is written once with the Emitter's helpers and specialized by
// its constants; the kernels live one family per file (Matvec, Quantize,
// Norms, Attention, Elementwise). Reductions go through workgroup memory
// with barriers (a tree over the 64 threads), which every Vulkan device and
// every CUDA GPU runs the same way, whatever its subgroup size.
//
//===----------------------------------------------------------------------===//

#include "compiler/targets/gpu/kernels/KernelLibrary.h"

namespace gemmac::gpukernels {

KernelLibrary::KernelLibrary(mlir::gpu::GPUModuleOp module, Target target)
    : module(module), target(target) {}

} // namespace gemmac::gpukernels
