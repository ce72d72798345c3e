//===- GpuTarget.h - device code for CUDA (PTX) and Vulkan (SPIR-V) -------===//
//
// GPU targets: gemma-lower-to-gpu builds the kernels in
// `gpu.module @gemmac_kernels` and their launches, gemma-plan-gpu-arena
// places the activations (kernel phase); the target phase lowers a copy
// of them to NVVM or to the SPIR-V dialect in `module @gemmac_device`
// (gemmac-lower-device-code); emission serializes that module (PTX through
// LLVM's NVPTX back end, in process, or a SPIR-V binary) and, for a program,
// serializes the launches into the program image (GpuProgram.h).
//
//===----------------------------------------------------------------------===//
#pragma once

#include "compiler/targets/Target.h"
#include "compiler/targets/cpu/CpuTarget.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Pass/Pass.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace gemmac {

/// Where the target phase puts the lowered device code.
inline constexpr llvm::StringLiteral kDeviceModule = "gemmac_device";

class GpuTarget : public Target {
public:
  enum class Kind { CUDA, Vulkan } kind = Kind::CUDA;
  std::string spec; // as given to --target, for messages
  std::string chip; // CUDA: sm_80, sm_89, sm_90, sm_100 or sm_120
  CpuTarget host;   // compiles the host object of a program

  std::string describe() const override {
    return kind == Kind::CUDA ? "cuda:" + chip : std::string("vulkan");
  }
  llvm::Error checkOptions(const EmitOptions &options) const override;
  void addPhasePasses(mlir::OpPassManager &pm, Phase phase,
                      const PipelineOptions &options) const override;
  llvm::Error emitModelObject(mlir::ModuleOp module,
                              const ProgramTableSpec &table,
                              llvm::StringRef objectPath) const override;
  llvm::Expected<Emitted> emitDeviceCode(mlir::ModuleOp module,
                                         const EmitOptions &options) const override;
};

/// True for "cuda", "cuda:<sm>" and "vulkan" (everything else is a CPU spec).
bool isGpuTargetSpec(llvm::StringRef spec);

/// Parses "cuda" (sm_80), "cuda:sm_XX" or "vulkan".
llvm::Expected<GpuTarget> parseGpuTarget(llvm::StringRef spec);

/// Dialects and interfaces the device pipelines need, for the context.
void registerGpuTargetDialects(mlir::DialectRegistry &registry);

/// The GPU target phase: lowers a copy of gpu.module @gemmac_kernels to NVVM
/// (`chip` sm_XX) or, with an empty chip, to a SPIR-V module for Vulkan, in
/// `module @gemmac_device` beside it. The kernel module stays as it is: the
/// launches name its kernels, whose signatures they are verified against.
std::unique_ptr<mlir::Pass> createLowerDeviceCode(llvm::StringRef chip);

/// PTX for the module's lowered device code (gemmac-lower-device-code).
llvm::Expected<std::string> emitPTX(mlir::ModuleOp module);

/// A SPIR-V binary (Vulkan 1.3 environment, SPIR-V 1.6) for the module's
/// lowered device code.
llvm::Expected<std::vector<uint32_t>> emitSPIRV(mlir::ModuleOp module);

/// The PTX ISA features a CUDA architecture needs, or null when unknown.
const char *ptxFeatures(llvm::StringRef chip);

} // namespace gemmac
