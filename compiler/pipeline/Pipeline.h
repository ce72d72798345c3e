//===- Pipeline.h - compile-model's phases ------------------------*- C++ -*-===//
//
// import -> model -> quant -> kernel -> target -> artifact. Each phase is a
// pass pipeline that can be run alone and stopped after (--compile-to); the
// target (compiler/targets/Target.h) supplies the quant, kernel and target
// phases' passes.
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

class Target;

struct PipelineOptions {
  /// Passes switched off by name (--disable-pass).
  std::set<std::string> disabledPasses;
  /// What GPTQ weights multiply: "q8_0" (llama.cpp's numerics) or "f32"
  /// (W4A16, --gptq-activations f32).
  std::string gptqActivations = "q8_0";
  /// What NVFP4 weights multiply: "q8_0" (llama.cpp's numerics), "f32"
  /// (W4A16) or "fp4" (W4A4, --nvfp4-activations).
  std::string nvfp4Activations = "q8_0";
  bool enabled(llvm::StringRef pass) const {
    return !disabledPasses.count(pass.str());
  }
};

/// Names --disable-pass accepts: the optimizations, each of which the parity
/// suite runs without.
llvm::ArrayRef<llvm::StringLiteral> optionalPasses();

/// Adds the passes of `phase` (Model..Target) to `pm`: the model phase is the
/// same for every target, the later ones are the target's.
void addPhasePasses(mlir::OpPassManager &pm, Phase phase,
                    const PipelineOptions &options, const Target &target);

/// Registers the phase pipelines with gemmac-opt (-gemmac-<phase>-phase).
/// Each runs the phase for the target the module records (gemma.target).
void registerPhasePipelines();

} // namespace gemmac
