//===- SafetensorsImport.h - Gemma 4 HF checkpoint -> gemma IR ---*- C++ -*-===//
#pragma once

#include "frontends/common/Gemma4Builder.h"
#include "frontends/common/TokenizerData.h"
#include "frontends/safetensors/Safetensors.h"

namespace gemmac::st {

struct Imported {
  mlir::OwningOpRef<mlir::ModuleOp> module;
  TokenizerData tokenizer;
  Gemma4Config config;
};

/// Imports a Gemma 4 Hugging Face checkpoint: config.json, the tokenizer
/// files and the text model's tensors (under model.language_model. or
/// model.; vision and audio towers skipped), weights referenced by their
/// offset in the checkpoint's mapping, never copied.
llvm::Expected<Imported> importGemma4(mlir::MLIRContext &context,
                                      const Checkpoint &checkpoint);

/// Adds the MTP drafter in `draft` (a Gemma4AssistantForCausalLM or
/// Gemma4UnifiedAssistantForCausalLM checkpoint) to the module of the
/// target `target` (its vocabulary `targetTokens`, read from `targetPath`):
/// the pairing is checked, and the drafter's tokenizer.json, when it ships
/// one, must hold the target's tokens. A drafter with a centroid head
/// (use_ordered_embeddings, masked_embedding.*) keeps it unless `head` is
/// DraftHead::Dense (llama.cpp's converter drops it).
llvm::Error importDrafter(mlir::ModuleOp module, const Gemma4Config &target,
                          llvm::ArrayRef<std::string> targetTokens,
                          llvm::StringRef targetPath, const Checkpoint &draft,
                          DraftHead head = DraftHead::Checkpoint);

} // namespace gemmac::st
