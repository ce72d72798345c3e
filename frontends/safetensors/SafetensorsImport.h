//===- SafetensorsImport.h - Gemma 4 HF checkpoint -> gemma IR ---*- C++ -*-===//
#pragma once

#include "frontends/common/Gemma4Builder.h"
#include "frontends/common/TokenizerData.h"
#include "frontends/safetensors/Safetensors.h"

namespace gemmac::st {

struct Imported {
  mlir::OwningOpRef<mlir::ModuleOp> module;
  TokenizerData tokenizer;
};

/// Imports a Gemma 4 Hugging Face checkpoint: config.json, the tokenizer
/// files and the text model's tensors (under model.language_model. or
/// model.; vision and audio towers skipped), weights referenced by their
/// offset in the checkpoint's mapping, never copied.
llvm::Expected<Imported> importGemma4(mlir::MLIRContext &context,
                                      const Checkpoint &checkpoint);

} // namespace gemmac::st
