//===- Pipeline.cpp - compile-model's phases ------------------------------===//

#include "compiler/pipeline/Pipeline.h"
#include "compiler/targets/Target.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/Pass.h"
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
      "reencode-gptq",      "canonicalize",      "fuse-geglu",
      "specialize-layers",
      "plan-kv-cache",      "select-kernels",    "fuse-rms-norm-rope",
      "fuse-rms-norm-add",  "fuse-rms-norm-quantize"};
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

/// The model phase: the same for every target.
static void addModelPhase(OpPassManager &pm, const PipelineOptions &options) {
  if (options.enabled("reencode-gptq"))
    pm.addPass(createReencodeGPTQ({options.gptqActivations}));
  pm.addPass(createNVFP4Activations({options.nvfp4Activations}));
  if (options.enabled("canonicalize"))
    pm.addPass(createCanonicalizerPass());
  if (options.enabled("fuse-geglu"))
    pm.addNestedPass<func::FuncOp>(createFuseGeGLU());
  if (options.enabled("specialize-layers"))
    pm.addPass(createSpecializeLayers());
  if (options.enabled("plan-kv-cache"))
    pm.addPass(createPlanKVCache());
}

void addPhasePasses(OpPassManager &pm, Phase phase,
                    const PipelineOptions &options, const Target &target) {
  switch (phase) {
  case Phase::Import:
  case Phase::Artifact:
    return;
  case Phase::Model:
    addModelPhase(pm, options);
    return;
  case Phase::Quant:
  case Phase::Kernel:
  case Phase::Target:
    target.addPhasePasses(pm, phase, options);
    return;
  }
}

namespace {
/// gemmac-opt's -gemmac-<phase>-phase: the phase's passes for the target the
/// module records, run as a dynamic pipeline.
struct PhasePass : PassWrapper<PhasePass, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(PhasePass)
  explicit PhasePass(Phase phase) : phase(phase) {}
  StringRef getArgument() const override { return "gemmac-phase"; }

  // A dynamic pipeline loads no dialects: every pipeline this pass may run
  // declares its dialects up front.
  void getDependentDialects(DialectRegistry &registry) const override {
    registerTargetDialects(registry);
    for (llvm::StringRef spec : {"cpu:x86-64", "cuda", "vulkan"}) {
      auto target = parseTarget(spec);
      if (!target) {
        llvm::consumeError(target.takeError());
        continue;
      }
      OpPassManager pm(ModuleOp::getOperationName());
      addPhasePasses(pm, phase, PipelineOptions(), **target);
      pm.getDependentDialects(registry);
    }
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    auto target = recordedTarget(module);
    if (!target) {
      module.emitError(llvm::toString(target.takeError()));
      return signalPassFailure();
    }
    OpPassManager pm(ModuleOp::getOperationName());
    addPhasePasses(pm, phase, PipelineOptions(), **target);
    if (failed(runPipeline(pm, module)))
      signalPassFailure();
  }

  Phase phase;
};
} // namespace

void registerPhasePipelines() {
  // The registry keeps StringRefs: names and descriptions must be literals.
  static const struct {
    Phase phase;
    const char *name, *description;
  } kPipelines[] = {
      {Phase::Model, "gemmac-model-phase", "compile-model's model phase"},
      {Phase::Quant, "gemmac-quant-phase",
       "compile-model's quant phase for the module's gemma.target"},
      {Phase::Kernel, "gemmac-kernel-phase",
       "compile-model's kernel phase for the module's gemma.target"},
      {Phase::Target, "gemmac-target-phase",
       "compile-model's target phase for the module's gemma.target"},
  };
  for (const auto &p : kPipelines) {
    Phase phase = p.phase;
    PassPipelineRegistration<>(p.name, p.description,
                               [phase](OpPassManager &pm) {
                                 pm.addPass(std::make_unique<PhasePass>(phase));
                               });
  }
}

} // namespace gemmac
