//===- Target.cpp - --target specs and the target a module records --------===//

#include "compiler/targets/Target.h"
#include "compiler/targets/cpu/CpuTarget.h"
#include "compiler/targets/gpu/GpuTarget.h"
#include "dialects/gemma/GemmaDialect.h"

#include "mlir/IR/Builders.h"

using namespace mlir;

namespace gemmac {

Target::~Target() = default;

llvm::Expected<Emitted> Target::emitDeviceCode(mlir::ModuleOp,
                                               const EmitOptions &) const {
  return llvm::createStringError(describe() + " has no device code to emit");
}

llvm::Expected<std::unique_ptr<Target>> parseTarget(llvm::StringRef spec) {
  if (isGpuTargetSpec(spec)) {
    auto gpu = parseGpuTarget(spec);
    if (!gpu)
      return gpu.takeError();
    return std::make_unique<GpuTarget>(std::move(*gpu));
  }
  auto cpu = parseCpuTarget(spec);
  if (!cpu)
    return cpu.takeError();
  return std::make_unique<CpuTarget>(std::move(*cpu));
}

void recordTarget(ModuleOp module, const Target &target) {
  Builder b(module.getContext());
  gemma::GemmaDialect *dialect = gemma::gemmaDialect(module.getContext());
  dialect->getTargetAttrHelper().setAttr(module,
                                         b.getStringAttr(target.describe()));
  std::string features = target.targetFeatures();
  if (!features.empty())
    dialect->getTargetFeaturesAttrHelper().setAttr(module,
                                                   b.getStringAttr(features));
  if (target.kernelsAtStartup())
    dialect->getKernelsAtStartupAttrHelper().setAttr(module, b.getUnitAttr());
  if (uint64_t bits = target.cpuFeatureBits())
    dialect->getCpuFeaturesAttrHelper().setAttr(
        module, b.getI64IntegerAttr(static_cast<int64_t>(bits)));
}

llvm::Expected<std::unique_ptr<Target>> recordedTarget(ModuleOp module) {
  gemma::GemmaDialect *dialect = gemma::gemmaDialect(module.getContext());
  StringAttr spec = dialect->getTargetAttrHelper().getAttr(module);
  if (!spec)
    return std::make_unique<CpuTarget>();
  if (isGpuTargetSpec(spec.getValue()))
    return parseTarget(spec.getValue());
  // The CPU a module records is a name, its features the ones kernel
  // selection used: nothing is taken from the host running gemmac-opt.
  llvm::StringRef cpuName = spec.getValue();
  if (!cpuName.consume_front("cpu:"))
    return llvm::createStringError("gemma.target: unknown target '" +
                                   spec.getValue() +
                                   "' (cpu:<cpu>, cuda:<sm> or vulkan)");
  auto cpu = std::make_unique<CpuTarget>();
  cpu->cpu = cpuName.str();
  if (StringAttr features =
          dialect->getTargetFeaturesAttrHelper().getAttr(module))
    cpu->features = features.getValue().str();
  return cpu;
}

void registerTargetDialects(DialectRegistry &registry) {
  registerGpuTargetDialects(registry);
}

} // namespace gemmac
