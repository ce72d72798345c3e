//===- CompileSession.cpp - import, run the phases, emit ------------------===//

#include "compiler/driver/CompileSession.h"
#include "compiler/artifact/ModelHeader.h"
#include "compiler/artifact/StagedOutputs.h"
#include "compiler/artifact/Toolchain.h"
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
#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
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
                                   llvm::StringRef kvCacheType,
                                   int64_t draftMax, llvm::StringRef draftPath,
                                   DraftHead draftHead) {
  inputPath_ = path.str();
  Gemma4Config targetConfig;
  if (isHuggingFaceCheckpoint(path)) {
    auto checkpoint = st::Checkpoint::open(path);
    if (!checkpoint)
      return checkpoint.takeError();
    hf_ = std::move(*checkpoint);
    auto imported = st::importGemma4(context_, *hf_);
    if (!imported)
      return imported.takeError();
    module_ = std::move(imported->module);
    tokenizer_ = std::move(imported->tokenizer);
    targetConfig = std::move(imported->config);
  } else {
    auto file = gguf::GGUFFile::open(path);
    if (!file)
      return file.takeError();
    file_ = std::move(*file);
    auto config = gguf::readGemma4Config(*file_);
    if (!config)
      return config.takeError();
    targetConfig = std::move(*config);
    auto module = gguf::importGemma4(context_, *file_);
    if (!module)
      return module.takeError();
    module_ = std::move(*module);
    auto tokenizer = gguf::readTokenizer(*file_);
    if (!tokenizer)
      return tokenizer.takeError();
    tokenizer_ = std::move(*tokenizer);
  }
  if (!draftPath.empty()) {
    // Either kind of drafter pairs with either kind of target.
    if (isHuggingFaceCheckpoint(draftPath)) {
      auto draft = st::Checkpoint::open(draftPath);
      if (!draft)
        return draft.takeError();
      draftHF_ = std::move(*draft);
      if (llvm::Error e =
              st::importDrafter(*module_, targetConfig, tokenizer_.tokens, path,
                                *draftHF_, draftHead))
        return e;
    } else {
      auto draft = gguf::GGUFFile::open(draftPath);
      if (!draft)
        return draft.takeError();
      draftFile_ = std::move(*draft);
      if (llvm::Error e =
              gguf::importDrafter(*module_, targetConfig, tokenizer_.tokens,
                                  path, *draftFile_, draftHead))
        return e;
    }
  }
  if (mlir::failed(mlir::verify(*module_)))
    return llvm::createStringError(path +
                                   ": the imported module does not verify");
  if (!residuals.path.empty())
    if (llvm::Error e = foldResiduals(residuals))
      return e;
  mlir::Type kvType =
      kvCacheType == "f32"  ? mlir::Type(mlir::Float32Type::get(&context_))
      : kvCacheType == "f8" ? mlir::Type(mlir::Float8E4M3FNType::get(&context_))
                            : mlir::Type(mlir::Float16Type::get(&context_));
  gemma::gemmaDialect(&context_)->getKvCacheTypeAttrHelper().setAttr(
      *module_, mlir::TypeAttr::get(kvType));
  if (draftMax > 0)
    gemma::gemmaDialect(&context_)->getDraftMaxAttrHelper().setAttr(
        *module_, mlir::IntegerAttr::get(
                      mlir::IntegerType::get(&context_, 64), draftMax));
  recordTarget(*module_, *target_);
  return llvm::Error::success();
}

bool gemmac::isHuggingFaceCheckpoint(llvm::StringRef path) {
  return llvm::sys::fs::is_directory(path) || path.ends_with(".safetensors") ||
         llvm::sys::path::filename(path) == "config.json";
}

std::vector<std::string> CompileSession::inputFiles() const {
  std::vector<std::string> files =
      hf_ ? hf_->inputFiles() : std::vector<std::string>{inputPath_};
  if (draftFile_)
    files.push_back(draftFile_->path().str());
  if (draftHF_)
    for (std::string &f : draftHF_->inputFiles())
      files.push_back(std::move(f));
  return files;
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

namespace {
/// The files of a program or a library, in the order they are committed:
/// the weight file first, the file that loads it last.
struct ArtifactFiles {
  enum Index { Weights, Object, Header, Archive, Shared, Program };
  std::vector<std::string> paths;
  std::string name; // a library's NAME

  ArtifactFiles(const EmitOptions &options) {
    llvm::StringRef out = options.outputPath;
    if (!options.library) {
      paths = {out.str() + ".weights", out.str() + ".o", "", "", "", out.str()};
      return;
    }
    llvm::SmallString<256> dir(llvm::sys::path::parent_path(out));
    name = llvm::sys::path::filename(out).str();
    auto in = [&](llvm::StringRef file) {
      llvm::SmallString<256> p(dir);
      llvm::sys::path::append(p, file);
      return p.str().str();
    };
    paths = {in(name + ".weights"), in(name + ".o"), in(name + ".h"),
             in("lib" + name + ".a"), in("lib" + name + ".so"), ""};
  }
};
} // namespace

std::vector<std::string> gemmac::outputFiles(const EmitOptions &options) {
  std::vector<std::string> files;
  for (const std::string &path : ArtifactFiles(options).paths)
    if (!path.empty())
      files.push_back(path);
  return files;
}

llvm::Expected<Emitted> CompileSession::emit(const EmitOptions &options,
                                             bool progress) {
  // Device code alone (--emit ptx|spirv) and reports are written as they are.
  if (!options.deviceCode.empty() || options.printLaunchPlan)
    return target_->emitDeviceCode(*module_, options);
  ArtifactFiles files(options);
  if (options.library && !isValidModelName(files.name))
    return llvm::createStringError(
        "--emit lib -o DIR/NAME: NAME '" + files.name +
        "' must be a C identifier (letters, digits, _; at most 64), the prefix "
        "of the library's symbol NAME_program");
  if (options.library) {
    llvm::StringRef dir = llvm::sys::path::parent_path(options.outputPath);
    if (!dir.empty())
      if (std::error_code ec = llvm::sys::fs::create_directories(dir))
        return llvm::createStringError(ec, dir + ": cannot create the library's "
                                               "directory: " + ec.message());
  }
  std::vector<std::string> outputs;
  std::vector<size_t> staged(files.paths.size(), SIZE_MAX);
  for (size_t i = 0; i < files.paths.size(); ++i)
    if (!files.paths[i].empty()) {
      staged[i] = outputs.size();
      outputs.push_back(files.paths[i]);
    }
  auto stage = StagedOutputs::create(outputs);
  if (!stage)
    return stage.takeError();
  auto path = [&](ArtifactFiles::Index i) { return stage->staged(staged[i]); };
  auto fail = [&](llvm::Error e) -> llvm::Expected<Emitted> {
    return stage->rename(std::move(e));
  };

  // The weights first: the code records their identity.
  WeightsSource source{hf_ ? hf_->base() : file_->base(),
                       hf_ ? hf_->size() : file_->fileSize(), inputPath_,
                       residuals_.get(), residualProvenance_};
  if (draftFile_) {
    source.draftData = draftFile_->base();
    source.draftSize = draftFile_->fileSize();
    source.draftName = draftFile_->path();
  } else if (draftHF_) {
    source.draftData = draftHF_->base();
    source.draftSize = draftHF_->size();
    source.draftName = draftHF_->directory();
  }
  auto weights = writeWeightsFile(path(ArtifactFiles::Weights), layout_, source,
                                  tokenizer_, target_->describe(), progress);
  if (!weights)
    return fail(weights.takeError());
  ProgramTableSpec table;
  table.name = files.name;
  table.weightsChecksum = weights->checksum;
  table.weightsFileBytes = weights->fileBytes;
  std::vector<std::string> objects = {path(ArtifactFiles::Object)};
  std::vector<std::string> members = {files.name + ".o"};
  std::string weightsObject;
  if (options.embedWeights) {
    table.embeddedWeightsSymbol =
        "gemmac_weights_" + (files.name.empty() ? std::string("program") : files.name);
    weightsObject = path(ArtifactFiles::Object) + ".weights.o";
    if (llvm::Error e = assembleWeights(path(ArtifactFiles::Weights),
                                        table.embeddedWeightsSymbol,
                                        weightsObject, target_->crossTriple()))
      return fail(std::move(e));
    objects.push_back(weightsObject);
    members.push_back(files.name + ".weights.o");
  } else if (options.library) {
    llvm::SmallString<256> absolute(files.paths[ArtifactFiles::Weights]);
    llvm::sys::fs::make_absolute(absolute);
    table.weightsName = files.name + ".weights";
    table.weightsPath = absolute.str().str();
  }
  // Removes the assembled weights whatever happens next.
  struct Remove {
    std::string path;
    ~Remove() {
      if (!path.empty())
        llvm::sys::fs::remove(path);
    }
  } removeWeightsObject{weightsObject};

  if (llvm::Error e = target_->emitModelObject(*module_, table,
                                               path(ArtifactFiles::Object)))
    return fail(std::move(e));
  RuntimeDir runtime{options.runtimeDir, target_->crossTriple()};
  if (!options.library) {
    if (llvm::Error e = linkProgram(objects, runtime, path(ArtifactFiles::Program)))
      return fail(std::move(e));
  } else {
    if (llvm::Error e = writeStaticLibrary(objects, members, path(ArtifactFiles::Archive)))
      return fail(std::move(e));
    if (llvm::Error e = linkSharedLibrary(objects, files.name, runtime,
                                          path(ArtifactFiles::Shared)))
      return fail(std::move(e));
    ModelHeaderFacts facts{files.name, llvm::sys::path::filename(inputPath_).str(),
                           target_->describe(), files.name + ".weights",
                           options.embedWeights};
    if (llvm::Error e = writeModelHeader(path(ArtifactFiles::Header), facts))
      return fail(std::move(e));
  }
  // Embedded weights live in the code: no file beside it.
  if (options.embedWeights)
    stage->drop(staged[ArtifactFiles::Weights]);
  if (!options.keepObject)
    stage->drop(staged[ArtifactFiles::Object]);
  auto committed = stage->commit();
  if (!committed)
    return committed.takeError();
  return Emitted{std::move(*committed)};
}
