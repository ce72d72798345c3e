//===- Pipeline.h - compile-model's phases ------------------------*- C++ -*-===//
//
// import -> model -> quant -> kernel -> target -> artifact. Each phase is a
// pass pipeline that can be run alone and stopped after (--compile-to).
//
//===----------------------------------------------------------------------===//
#pragma once

#include "mlir/Pass/PassManager.h"
#include "llvm/ADT/StringRef.h"

#include <optional>
#include <set>
#include <string>

namespace gemmac {

enum class Phase { Import, Model, Quant, Kernel, Target, Artifact };

std::optional<Phase> parsePhase(llvm::StringRef name);
llvm::StringRef phaseName(Phase phase);

struct PipelineOptions {
  /// Passes switched off by name (--disable-pass).
  std::set<std::string> disabledPasses;
  /// The target's CPU features ("+avx2,+fma,...") for kernel selection.
  std::string targetFeatures;
  /// GPU targets: "nvvm" (CUDA) or "spirv" (Vulkan); empty for the CPU.
  std::string gpuTarget;
};

/// Names --disable-pass accepts: the optimizations, each of which the parity
/// suite runs without.
llvm::ArrayRef<llvm::StringLiteral> optionalPasses();

/// Adds the passes of `phase` (Model..Target) to `pm`.
void addPhasePasses(mlir::OpPassManager &pm, Phase phase,
                    const PipelineOptions &options);

/// Registers the phase pipelines with gemmac-opt (-gemmac-<phase>-phase).
void registerPhasePipelines();

} // namespace gemmac
