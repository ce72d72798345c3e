//===- GpuTarget.h - device code for CUDA (PTX) and Vulkan (SPIR-V) -*- C++ -*-===//
//
// The target phase of GPU targets: the kernels gemma-lower-to-gpu built in
// `gpu.module @gemmac_kernels` become PTX (through NVVM and LLVM's NVPTX
// back end, in process) or a SPIR-V binary (through MLIR's SPIR-V dialect).
//
//===----------------------------------------------------------------------===//
#pragma once

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace gemmac {

struct GpuTarget {
  enum class Kind { CUDA, Vulkan } kind = Kind::CUDA;
  std::string chip; // CUDA: sm_80, sm_89, sm_90, sm_100 or sm_120
  std::string describe() const {
    return kind == Kind::CUDA ? "cuda:" + chip : std::string("vulkan");
  }
};

/// True for "cuda", "cuda:<sm>" and "vulkan" (everything else is a CPU spec).
bool isGpuTargetSpec(llvm::StringRef spec);

/// Parses "cuda" (sm_80), "cuda:sm_XX" or "vulkan".
llvm::Expected<GpuTarget> parseGpuTarget(llvm::StringRef spec);

/// Dialects and interfaces the device pipelines need, for the context.
void registerGpuTargetDialects(mlir::DialectRegistry &registry);

/// PTX for the module's gpu.module (left unchanged), for `target.chip`.
llvm::Expected<std::string> emitPTX(mlir::ModuleOp module,
                                    const GpuTarget &target);

/// A SPIR-V binary (Vulkan 1.3 environment, SPIR-V 1.6) for the module's gpu.module.
llvm::Expected<std::vector<uint32_t>> emitSPIRV(mlir::ModuleOp module);

} // namespace gemmac
