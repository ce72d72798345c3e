//===- CompileSession.cpp - import, run the phases, emit ------------------===//

#include "compiler/driver/CompileSession.h"
#include "compiler/artifact/StagedOutputs.h"
#include "dialects/gemma/GemmaDialect.h"
#include "formats/srd/SealedContainer.h"
#include "passes/FoldSRD.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/WithColor.h"

using namespace gemmac;

CompileSession::CompileSession(std::unique_ptr<Target> target,
                               PipelineOptions options)
    : target_(std::move(target)), options_(std::move(options)) {
  mlir::DialectRegistry registry;
  registry.insert<gemma::GemmaDialect, mlir::func::FuncDialect,
                  mlir::arith::ArithDialect, mlir::memref::MemRefDialect,
                  mlir::linalg::LinalgDialect, mlir::scf::SCFDialect,
                  mlir::math::MathDialect, mlir::cf::ControlFlowDialect,
                  mlir::LLVM::LLVMDialect>();
  registerTargetDialects(registry);
  context_.appendDialectRegistry(registry);
  context_.loadAllAvailableDialects();
}

llvm::Error CompileSession::import(llvm::StringRef path,
                                   const ResidualOptions &residuals,
                                   llvm::StringRef kvCacheType) {
  inputPath_ = path.str();
  auto file = gguf::GGUFFile::open(path);
  if (!file)
    return file.takeError();
  file_ = std::move(*file);
  auto module = gguf::importGemma4(context_, *file_);
  if (!module)
    return module.takeError();
  module_ = std::move(*module);
  if (mlir::failed(mlir::verify(*module_)))
    return llvm::createStringError(path +
                                   ": the imported module does not verify");
  if (!residuals.path.empty())
    if (llvm::Error e = foldResiduals(residuals))
      return e;
  mlir::Type kvType = kvCacheType == "f32"
                          ? mlir::Type(mlir::Float32Type::get(&context_))
                          : mlir::Type(mlir::Float16Type::get(&context_));
  gemma::gemmaDialect(&context_)->getKvCacheTypeAttrHelper().setAttr(
      *module_, mlir::TypeAttr::get(kvType));
  recordTarget(*module_, *target_);
  auto tokenizer = gguf::readTokenizer(*file_);
  if (!tokenizer)
    return tokenizer.takeError();
  tokenizer_ = std::move(*tokenizer);
  return llvm::Error::success();
}

/// --srd: opens and verifies the residuals (any failure stops the compile),
/// prints the reader's warnings and attaches the corrections to the weights.
llvm::Error CompileSession::foldResiduals(const ResidualOptions &options) {
  srd::ResidualOpenOptions o;
  o.keyEnv = options.keyEnv;
  o.allowPartial = options.allowPartial;
  if (!options.publicKey.empty()) {
    auto key = srd::digestFromHex(options.publicKey);
    if (!key)
      return llvm::createStringError("--srd-public-key must be 64 hex digits");
    o.publicKey = *key;
  }
  auto opened = srd::openResiduals(options.path, o);
  if (!opened)
    return opened.takeError();
  for (const std::string &w : opened->warnings)
    llvm::WithColor::warning(llvm::errs(), "compile-model") << w << "\n";
  if (opened->format == srd::ResidualFormat::Sealed)
    if (llvm::Error e =
            static_cast<const srd::SealedContainer &>(*opened->source)
                .checkBase(inputPath_))
      return e;
  static const char *kKinds[] = {"srd4", "axm", "sealed"};
  residualProvenance_ = kKinds[static_cast<int>(opened->format)];
  if (!opened->fingerprint.empty())
    residualProvenance_ += " " + opened->fingerprint;
  residuals_ = std::move(opened->source);
  FoldSRDOptions fold;
  fold.format = options.format;
  fold.alpha = options.alpha;
  mlir::PassManager pm(&context_);
  pm.addPass(createFoldSRD(residuals_, fold));
  if (mlir::failed(pm.run(*module_)))
    return llvm::createStringError(
        "--srd " + options.path + ": the corrections do not fit " + inputPath_);
  return llvm::Error::success();
}

llvm::Error CompileSession::runPhase(Phase phase) {
  mlir::PassManager pm(&context_);
  addPhasePasses(pm, phase, options_, *target_);
  if (mlir::failed(pm.run(*module_)))
    return llvm::createStringError("the " + phaseName(phase) +
                                   " phase failed on " + inputPath_);
  if (phase == Phase::Quant) {
    auto collected = collectBlobLayout(*module_);
    if (!collected)
      return collected.takeError();
    layout_ = std::move(*collected);
  }
  return llvm::Error::success();
}

llvm::Expected<Emitted> CompileSession::emit(const EmitOptions &options,
                                             bool progress) {
  // Device code alone (--emit) and reports are written as they are; a
  // program and its weights are staged and appear together.
  if (!options.deviceCode.empty() || options.printLaunchPlan)
    return target_->emit(*module_, options);
  auto staged = StagedOutputs::create(options.outputPath);
  if (!staged)
    return staged.takeError();
  EmitOptions stagedOptions = options;
  stagedOptions.outputPath = staged->programPath();
  auto emitted = target_->emit(*module_, stagedOptions);
  if (!emitted)
    return staged->rename(emitted.takeError());
  WeightsSource source{file_->base(), file_->fileSize(), inputPath_,
                       residuals_.get(), residualProvenance_};
  auto weights = writeWeightsFile(staged->weightsPath(), layout_, source,
                                  tokenizer_, target_->describe(), progress);
  if (!weights)
    return staged->rename(weights.takeError());
  if (llvm::Error e = stampProgram(staged->programPath(), *weights))
    return staged->rename(std::move(e));
  if (llvm::Error e = staged->commit(options.keepObject))
    return std::move(e);
  return Emitted{options.outputPath, emitted->program};
}
