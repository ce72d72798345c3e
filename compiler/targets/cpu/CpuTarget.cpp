//===- CpuTarget.cpp - LLVM dialect -> native object -> executable --------===//

#include "compiler/targets/cpu/CpuTarget.h"
#include "passes/Passes.h"

#include "mlir/Conversion/AffineToStandard/AffineToStandard.h"
#include "mlir/Conversion/MathToLibm/MathToLibm.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/Passes.h"
#include "mlir/Transforms/Passes.h"

#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/IR/Verifier.h"
#include "llvm/MC/MCSubtargetInfo.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/Triple.h"

using namespace gemmac;
using llvm::Error;

static void initializeTargets() {
  static bool done = [] {
    llvm::InitializeAllTargetInfos();
    llvm::InitializeAllTargets();
    llvm::InitializeAllTargetMCs();
    llvm::InitializeAllAsmPrinters();
    return true;
  }();
  (void)done;
}

/// LLVM only warns about an unknown CPU or feature (and then may abort in
/// code generation): both are checked against the host triple's tables, and
/// the error lists what is valid.
static Error checkCpuAndFeatures(const CpuTarget &t, llvm::StringRef spec) {
  initializeTargets();
  llvm::Triple triple(t.triple.empty() ? llvm::sys::getDefaultTargetTriple()
                                       : t.triple);
  std::string err;
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(triple, err);
  if (!target)
    return llvm::createStringError("no LLVM target for " + triple.str() + ": " +
                                   err);
  std::unique_ptr<llvm::MCSubtargetInfo> info(
      target->createMCSubtargetInfo(triple, "", ""));
  auto known = [](auto table) {
    std::string names;
    for (const auto &entry : table)
      names += std::string(names.empty() ? "" : " ") + entry.Key;
    return names;
  };
  if (!info->isCPUStringValid(t.cpu))
    return llvm::createStringError(
        "--target " + spec + ": unknown CPU for " + triple.str() +
        " (valid: host " + known(info->getAllProcessorDescriptions()) + ")");
  llvm::SmallVector<llvm::StringRef> features;
  llvm::StringRef(t.features).split(features, ',', -1, false);
  for (llvm::StringRef f : features) {
    llvm::StringRef name = f.drop_front();
    bool valid = (f.starts_with("+") || f.starts_with("-")) &&
                 llvm::any_of(info->getAllProcessorFeatures(),
                              [&](const auto &kv) { return name == kv.Key; });
    if (!valid)
      return llvm::createStringError(
          "--target " + spec + ": unknown CPU feature '" + f +
          "' (write +NAME or -NAME, comma separated; valid names: " +
          known(info->getAllProcessorFeatures()) + ")");
  }
  return Error::success();
}

llvm::Expected<CpuTarget> gemmac::parseCpuTarget(llvm::StringRef spec) {
  CpuTarget t;
  if (spec != "cpu" && !spec.starts_with("cpu:"))
    return llvm::createStringError("unknown target '" + spec +
                                   "' (expected cpu or cpu:<cpu-or-features>)");
  llvm::StringRef rest = spec.drop_front(3).drop_while([](char c) {
    return c == ':';
  });
  if (rest == "aarch64" || rest.starts_with("aarch64,") ||
      rest.starts_with("aarch64:")) {
    // 64-bit Arm Linux, cross-compiled: armv8-a ("generic") or a named Arm
    // CPU, with features added or removed after a comma.
    t.triple = "aarch64-unknown-linux-gnu";
    auto [head, features] = rest.split(',');
    llvm::StringRef cpu = head;
    cpu.consume_front("aarch64");
    cpu = cpu.drop_while([](char c) { return c == ':'; });
    t.cpu = cpu.empty() ? "generic" : cpu.str();
    t.features = features.str();
  } else if (rest == "x86-64-multi") {
    t.cpu = "x86-64-v3";
    t.multi = true;
  } else if (rest.empty() || rest == "host" || rest == "native") {
    t.cpu = llvm::sys::getHostCPUName().str();
    llvm::StringMap<bool> host = llvm::sys::getHostCPUFeatures();
    for (auto &f : host)
      t.features += (t.features.empty() ? "" : ",") +
                    std::string(f.second ? "+" : "-") + f.first().str();
  } else if (rest.starts_with("+") || rest.starts_with("-")) {
    t.cpu = "x86-64";
    t.features = rest.str();
  } else {
    // A CPU, optionally with features added or removed after a comma.
    auto [cpu, features] = rest.split(',');
    t.cpu = cpu.str();
    t.features = features.str();
  }
  if (Error e = checkCpuAndFeatures(t, spec))
    return std::move(e);
  return t;
}

std::string CpuTarget::describe() const {
  if (multi)
    return "cpu:x86-64-multi";
  return triple.empty()
             ? "cpu:" + cpu
             : "cpu:" + llvm::Triple(triple).getArchName().str() + ":" + cpu;
}

uint64_t CpuTarget::cpuFeatureBits() const {
  initializeTargets();
  llvm::Triple t(triple.empty() ? llvm::sys::getDefaultTargetTriple() : triple);
  std::string err;
  const llvm::Target *target = llvm::TargetRegistry::lookupTarget(t, err);
  if (!target)
    return 0;
  if (t.isAArch64()) {
    // The runtime is built for armv8-a (cmake/RuntimeFlags.cmake): NEON.
    std::unique_ptr<llvm::MCSubtargetInfo> info(
        target->createMCSubtargetInfo(t, cpu, features));
    uint64_t bits = 0;
#define GEMMAC_CPU_FEATURE(bit, feature)
#define GEMMAC_ARM_FEATURE(bit, feature, hwcap, hwcapBit)                      \
  if (info->checkFeatures(std::string("+") + feature))                         \
    bits |= uint64_t{1} << (bit);
#include "abi/cpu_features.h"
    return bits;
  }
  if (!t.isX86())
    return 0;
  // The target's features, and the runtime's: programs link a runtime built
  // for x86-64-v3 (CMakeLists.txt), whatever --target says.
  uint64_t bits = 0;
  for (auto [name, features] : {std::pair<std::string, std::string>{cpu, this->features},
                                {"x86-64-v3", ""}}) {
    std::unique_ptr<llvm::MCSubtargetInfo> info(
        target->createMCSubtargetInfo(t, name, features));
#define GEMMAC_CPU_FEATURE(bit, feature)                                       \
  if (info->checkFeatures(std::string("+") + feature))                         \
    bits |= uint64_t{1} << (bit);
#include "abi/cpu_features.h"
  }
  return bits;
}

Error CpuTarget::checkOptions(const EmitOptions &options) const {
  if (!options.deviceCode.empty() || options.printLaunchPlan)
    return llvm::createStringError(
        std::string(options.printLaunchPlan ? "--print-launch-plan"
                                            : "--emit " + options.deviceCode) +
        " needs --target cuda[:sm_XX] or --target vulkan");
  return Error::success();
}

void CpuTarget::addPhasePasses(mlir::OpPassManager &pm, Phase phase,
                               const PipelineOptions &options) const {
  switch (phase) {
  case Phase::Quant:
    // The CPU kernel catalogue and its x8 layouts.
    if (options.enabled("select-kernels"))
      pm.addPass(createSelectKernels(SelectKernelsOptions{features}));
    pm.addPass(createLayoutWeights(LayoutWeightsOptions{64}));
    return;
  case Phase::Kernel:
    // The norm fusions that have CPU kernels (one dispatch and one pass over
    // the row instead of two or three). The CPU's matvec kernels quantize
    // their own input, so the activation-quantizing fusions are GPU-only.
    if (options.enabled("fuse-rms-norm-rope"))
      pm.addNestedPass<mlir::func::FuncOp>(createFuseRMSNormRope());
    if (options.enabled("fuse-rms-norm-add"))
      pm.addNestedPass<mlir::func::FuncOp>(createFuseRMSNormAdd());
    pm.addPass(createLowerToCPU());
    pm.addPass(mlir::createCanonicalizerPass());
    pm.addPass(mlir::createCSEPass());
    return;
  case Phase::Target:
    pm.addNestedPass<mlir::func::FuncOp>(
        mlir::createConvertLinalgToLoopsPass());
    pm.addPass(mlir::createLowerAffinePass());
    pm.addPass(mlir::createSCFToControlFlowPass());
    pm.addPass(mlir::createConvertMathToLibmPass());
    pm.addPass(createConvertToLLVM());
    pm.addPass(mlir::createReconcileUnrealizedCastsPass());
    return;
  default:
    return;
  }
}

Error CpuTarget::emitModelObject(mlir::ModuleOp module,
                                 const ProgramTableSpec &table,
                                 llvm::StringRef objectPath) const {
  return emitObject(module, *this, table, objectPath);
}

Error gemmac::emitObject(mlir::ModuleOp module, const CpuTarget &target,
                         const ProgramTableSpec &table,
                         llvm::StringRef objectPath) {
  initializeTargets();
  mlir::registerBuiltinDialectTranslation(*module.getContext());
  mlir::registerLLVMDialectTranslation(*module.getContext());
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      mlir::translateModuleToLLVMIR(module, llvmContext, "gemmac_model");
  if (!llvmModule)
    return llvm::createStringError("translation to LLVM IR failed");
  if (Error e = addProgramTable(*llvmModule, table))
    return e;

  llvm::Triple triple(target.triple.empty()
                          ? llvm::sys::getDefaultTargetTriple()
                          : target.triple);
  std::string err;
  const llvm::Target *t = llvm::TargetRegistry::lookupTarget(triple, err);
  if (!t)
    return llvm::createStringError("no LLVM target for " + triple.str() +
                                   ": " + err);
  llvm::TargetOptions options;
  std::unique_ptr<llvm::TargetMachine> machine(t->createTargetMachine(
      triple, target.cpu, target.features, options, llvm::Reloc::PIC_,
      std::nullopt, llvm::CodeGenOptLevel::Aggressive));
  if (!machine)
    return llvm::createStringError("cannot create a target machine for cpu '" +
                                   target.cpu + "'");
  llvmModule->setDataLayout(machine->createDataLayout());
  llvmModule->setTargetTriple(triple);
  // Every function gets the target's CPU and features, so the optimizer may
  // use the vector ISA it was asked for.
  for (llvm::Function &f : *llvmModule) {
    if (f.isDeclaration())
      continue;
    f.addFnAttr("target-cpu", target.cpu);
    if (!target.features.empty())
      f.addFnAttr("target-features", target.features);
  }
  if (llvm::verifyModule(*llvmModule, &llvm::errs()))
    return llvm::createStringError("generated LLVM IR does not verify");

  llvm::LoopAnalysisManager lam;
  llvm::FunctionAnalysisManager fam;
  llvm::CGSCCAnalysisManager cgam;
  llvm::ModuleAnalysisManager mam;
  llvm::PassBuilder pb(machine.get());
  pb.registerModuleAnalyses(mam);
  pb.registerCGSCCAnalyses(cgam);
  pb.registerFunctionAnalyses(fam);
  pb.registerLoopAnalyses(lam);
  pb.crossRegisterProxies(lam, fam, cgam, mam);
  llvm::ModulePassManager mpm =
      pb.buildPerModuleDefaultPipeline(llvm::OptimizationLevel::O3);
  mpm.run(*llvmModule, mam);

  std::error_code ec;
  llvm::raw_fd_ostream os(objectPath, ec, llvm::sys::fs::OF_None);
  if (ec)
    return llvm::createStringError(ec, objectPath + ": " + ec.message());
  llvm::legacy::PassManager codegen;
  if (machine->addPassesToEmitFile(codegen, os, nullptr,
                                   llvm::CodeGenFileType::ObjectFile))
    return llvm::createStringError("the target cannot emit object files");
  codegen.run(*llvmModule);
  os.flush();
  return Error::success();
}
