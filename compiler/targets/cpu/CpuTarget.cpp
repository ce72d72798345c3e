//===- CpuTarget.cpp - LLVM dialect -> native object -> executable --------===//

#include "compiler/targets/cpu/CpuTarget.h"

#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Export.h"
#include "llvm/IR/LegacyPassManager.h"
#include "llvm/IR/Module.h"
#include "llvm/IR/Verifier.h"
#include "llvm/MC/TargetRegistry.h"
#include "llvm/Passes/PassBuilder.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Program.h"
#include "llvm/Support/TargetSelect.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/Target/TargetMachine.h"
#include "llvm/TargetParser/Host.h"
#include "llvm/TargetParser/Triple.h"

#ifndef GEMMAC_DEFAULT_CXX
#define GEMMAC_DEFAULT_CXX "c++"
#endif

using namespace gemmac;
using llvm::Error;

llvm::Expected<CpuTarget> gemmac::parseCpuTarget(llvm::StringRef spec) {
  CpuTarget t;
  if (spec != "cpu" && !spec.starts_with("cpu:"))
    return llvm::createStringError("unknown target '" + spec +
                                   "' (expected cpu or cpu:<cpu-or-features>)");
  llvm::StringRef rest = spec.drop_front(3).drop_while([](char c) {
    return c == ':';
  });
  if (rest.empty() || rest == "host" || rest == "native") {
    t.cpu = llvm::sys::getHostCPUName().str();
    llvm::StringMap<bool> host = llvm::sys::getHostCPUFeatures();
    for (auto &f : host)
      t.features += (t.features.empty() ? "" : ",") +
                    std::string(f.second ? "+" : "-") + f.first().str();
  } else if (rest.starts_with("+") || rest.starts_with("-")) {
    t.cpu = "x86-64";
    t.features = rest.str();
  } else {
    t.cpu = rest.str();
  }
  return t;
}

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

Error gemmac::emitObject(mlir::ModuleOp module, const CpuTarget &target,
                         llvm::StringRef objectPath) {
  initializeTargets();
  mlir::registerBuiltinDialectTranslation(*module.getContext());
  mlir::registerLLVMDialectTranslation(*module.getContext());
  llvm::LLVMContext llvmContext;
  std::unique_ptr<llvm::Module> llvmModule =
      mlir::translateModuleToLLVMIR(module, llvmContext, "gemmac_model");
  if (!llvmModule)
    return llvm::createStringError("translation to LLVM IR failed");

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

Error gemmac::linkProgram(llvm::StringRef objectPath,
                          llvm::StringRef runtimeArchive,
                          llvm::StringRef outputPath) {
  std::string cxx = GEMMAC_DEFAULT_CXX;
  if (const char *env = std::getenv("GEMMAC_CXX"))
    cxx = env;
  auto program = llvm::sys::findProgramByName(cxx);
  if (!program)
    return llvm::createStringError("cannot find the C++ driver '" + cxx +
                                   "' to link with (set GEMMAC_CXX)");
  if (!llvm::sys::fs::exists(runtimeArchive))
    return llvm::createStringError("runtime library " + runtimeArchive +
                                   " not found");
  // The program depends only on libc, libm, pthreads and libdl (GPU
  // drivers are opened at run time).
  llvm::SmallVector<llvm::StringRef> args = {
      *program, "-o", outputPath, objectPath, runtimeArchive,
      "-static-libstdc++", "-static-libgcc", "-pthread", "-lm", "-ldl"};
  std::string message;
  int rc = llvm::sys::ExecuteAndWait(*program, args, std::nullopt, {}, 0, 0,
                                     &message);
  if (rc != 0)
    return llvm::createStringError("linking " + outputPath + " failed (" +
                                   *program + " exited with " +
                                   std::to_string(rc) + ") " + message);
  return Error::success();
}
