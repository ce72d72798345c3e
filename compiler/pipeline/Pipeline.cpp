//===- Pipeline.cpp - compile-model's phases ------------------------------===//

#include "compiler/pipeline/Pipeline.h"
#include "passes/Passes.h"

#include "mlir/Conversion/AffineToStandard/AffineToStandard.h"
#include "mlir/Conversion/MathToLibm/MathToLibm.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Pass/PassRegistry.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

namespace gemmac {

static const std::pair<Phase, llvm::StringLiteral> kNames[] = {
    {Phase::Import, "import"}, {Phase::Model, "model"},
    {Phase::Quant, "quant"},   {Phase::Kernel, "kernel"},
    {Phase::Target, "target"}, {Phase::Artifact, "artifact"},
};

llvm::ArrayRef<llvm::StringLiteral> optionalPasses() {
  static const llvm::StringLiteral names[] = {
      "canonicalize", "fuse-geglu", "specialize-layers", "plan-kv-cache",
      "select-kernels"};
  return names;
}

std::optional<Phase> parsePhase(llvm::StringRef name) {
  for (auto &[p, n] : kNames)
    if (n == name)
      return p;
  return std::nullopt;
}

llvm::StringRef phaseName(Phase phase) {
  for (auto &[p, n] : kNames)
    if (p == phase)
      return n;
  return "?";
}

void addPhasePasses(OpPassManager &pm, Phase phase,
                    const PipelineOptions &options) {
  auto enabled = [&](llvm::StringRef name) {
    return !options.disabledPasses.count(name.str());
  };
  switch (phase) {
  case Phase::Import:
  case Phase::Artifact:
    return;
  case Phase::Model:
    if (enabled("canonicalize"))
      pm.addPass(createCanonicalizerPass());
    if (enabled("fuse-geglu"))
      pm.addNestedPass<func::FuncOp>(createFuseGeGLU());
    if (enabled("specialize-layers"))
      pm.addPass(createSpecializeLayers());
    if (enabled("plan-kv-cache"))
      pm.addPass(createPlanKVCache());
    return;
  case Phase::Quant:
    // The CPU kernel catalogue and its x8 layouts; GPU kernels read the
    // checkpoint's rows as they are.
    if (enabled("select-kernels") && options.gpuTarget.empty())
      pm.addPass(createSelectKernels(SelectKernelsOptions{options.targetFeatures}));
    pm.addPass(createLayoutWeights(
        LayoutWeightsOptions{options.gpuTarget.empty() ? 64 : 256}));
    return;
  case Phase::Kernel:
    if (!options.gpuTarget.empty()) {
      // The GPU fusions, as gemma ops that get one kernel each; the norm
      // fusions first, so that the quantizer sees what is left to quantize.
      if (enabled("fuse-rms-norm-rope"))
        pm.addNestedPass<func::FuncOp>(createFuseRMSNormRope());
      if (enabled("fuse-rms-norm-add"))
        pm.addNestedPass<func::FuncOp>(createFuseRMSNormAdd());
      if (enabled("fuse-rms-norm-quantize"))
        pm.addNestedPass<func::FuncOp>(createFuseRMSNormQuantize());
      pm.addNestedPass<func::FuncOp>(createQuantizeActivations());
      pm.addPass(createLowerToGPU(LowerToGPUOptions{options.gpuTarget}));
      return;
    }
    pm.addPass(createLowerToCPU());
    pm.addPass(createCanonicalizerPass());
    pm.addPass(createCSEPass());
    return;
  case Phase::Target:
    if (!options.gpuTarget.empty())
      return; // device code comes from compiler/targets/gpu
    pm.addNestedPass<func::FuncOp>(createConvertLinalgToLoopsPass());
    pm.addPass(createLowerAffinePass());
    pm.addPass(createSCFToControlFlowPass());
    pm.addPass(createConvertMathToLibmPass());
    pm.addPass(createConvertToLLVM());
    pm.addPass(createReconcileUnrealizedCastsPass());
    return;
  }
}

void registerPhasePipelines() {
  // The registry keeps StringRefs: names and descriptions must be literals.
  static const struct {
    Phase phase;
    const char *name, *description;
  } kPipelines[] = {
      {Phase::Model, "gemmac-model-phase", "compile-model's model phase"},
      {Phase::Quant, "gemmac-quant-phase", "compile-model's quant phase"},
      {Phase::Kernel, "gemmac-kernel-phase", "compile-model's kernel phase"},
      {Phase::Target, "gemmac-target-phase", "compile-model's target phase"},
  };
  for (const auto &p : kPipelines) {
    Phase phase = p.phase;
    PassPipelineRegistration<>(p.name, p.description,
                               [phase](OpPassManager &pm) {
                                 addPhasePasses(pm, phase, PipelineOptions());
                               });
  }
}

} // namespace gemmac
