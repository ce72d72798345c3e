//===- CompileSession.h - import, run the phases, emit ----------*- C++ -*-===//
//
// One compile of one checkpoint for one target: the session imports the
// checkpoint (recording the target and the KV cache type on the module),
// runs the phases one at a time, and emits a program (OUT, OUT.weights) or
// a model library (DIR/libNAME.a, libNAME.so, NAME.h, NAME.weights), or
// what a GPU target writes alone.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "compiler/artifact/WeightsFile.h"
#include "compiler/pipeline/Pipeline.h"
#include "compiler/targets/Target.h"
#include "frontends/gguf/GGUFImport.h"
#include "frontends/gguf/GGUFTokenizer.h"
#include "frontends/safetensors/SafetensorsImport.h"
#include "formats/srd/OpenResiduals.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/OwningOpRef.h"

#include <memory>
#include <string>

namespace gemmac {

/// --srd and its companions.
struct ResidualOptions {
  std::string path;   // --srd; empty: none
  std::string format; // --srd-format
  std::string alpha;  // --srd-alpha
  std::string keyEnv; // --srd-key-env
  std::string publicKey;
  bool allowPartial = false;
};

class CompileSession {
public:
  CompileSession(std::unique_ptr<Target> target, PipelineOptions options);

  const Target &target() const { return *target_; }
  mlir::ModuleOp module() { return *module_; }

  /// Opens and imports the checkpoint, folds the residuals (before the model
  /// phase, so that kernel selection and the blob layout see the corrected
  /// weights' format) and records the target, the KV cache type and
  /// --draft-max. `draftPath`: an MTP drafter compiled into the same program (a
  /// gemma4-assistant GGUF or Hugging Face checkpoint), "" for none;
  /// `draftHead`: its logits head (compile-model --draft-head).
  llvm::Error import(llvm::StringRef path, const ResidualOptions &residuals,
                     llvm::StringRef kvCacheType, int64_t draftMax,
                     llvm::StringRef draftPath = "",
                     DraftHead draftHead = DraftHead::Checkpoint);

  /// The files the checkpoint was read from (outputs must be none of them).
  std::vector<std::string> inputFiles() const;

  /// Runs one phase's passes (after the quant phase, collects the weight
  /// blob layout OUT.weights is written with).
  llvm::Error runPhase(Phase phase);

  /// After the target phase: the weight file, then the code that is
  /// compiled to load it (or the target's device code alone).
  llvm::Expected<Emitted> emit(const EmitOptions &options, bool progress);

private:
  llvm::Error foldResiduals(const ResidualOptions &options);

  std::unique_ptr<Target> target_;
  PipelineOptions options_;
  mlir::MLIRContext context_;
  std::string inputPath_;
  std::unique_ptr<gguf::GGUFFile> file_;   // a GGUF input, or
  std::unique_ptr<st::Checkpoint> hf_;     // a Hugging Face checkpoint
  std::unique_ptr<gguf::GGUFFile> draftFile_; // --draft: a GGUF, or
  std::unique_ptr<st::Checkpoint> draftHF_;   // a Hugging Face checkpoint
  mlir::OwningOpRef<mlir::ModuleOp> module_;
  TokenizerData tokenizer_;
  WeightBlobLayout layout_;
  std::shared_ptr<const srd::ResidualSource> residuals_;
  std::string residualProvenance_; // recorded in OUT.weights
};

/// Whether `path` names a Hugging Face checkpoint (a directory, its
/// config.json, or a .safetensors file) rather than a GGUF.
bool isHuggingFaceCheckpoint(llvm::StringRef path);

/// The files a compile with `options` writes (program or library): the
/// paths compile-model must not write over its inputs with.
std::vector<std::string> outputFiles(const EmitOptions &options);

} // namespace gemmac
