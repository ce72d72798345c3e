//===- GGUFImport.h - Gemma 4 GGUF -> gemma IR --------------------*- C++ -*-===//
#pragma once

#include "frontends/common/Gemma4Builder.h"
#include "frontends/gguf/GGUFFile.h"

namespace gemmac::gguf {

/// Reads every gemma4.* key (per-layer arrays included) and the tensor shapes
/// they imply; errors name the file and the key or tensor. `assistant`: the
/// file must be an MTP drafter (gemma4-assistant.* keys), whose layers'
/// kvSource is left for pairing with its target.
llvm::Expected<Gemma4Config> readGemma4Config(const GGUFFile &file,
                                              bool assistant = false);

/// Imports a Gemma 4 GGUF: a gemma module with one specialized layer per
/// block, weights referenced by handle (file offsets), never copied.
llvm::Expected<mlir::OwningOpRef<mlir::ModuleOp>>
importGemma4(mlir::MLIRContext &context, const GGUFFile &file);

/// Adds the MTP drafter in `draft` (a gemma4-assistant GGUF) to the module
/// of the target `target` (a GGUF or Hugging Face model, its vocabulary
/// `targetTokens`, read from `targetPath`), after checking the pair: the
/// widths, the vocabulary (token for token) and the caches its layers read.
llvm::Error importDrafter(mlir::ModuleOp module, const Gemma4Config &target,
                          llvm::ArrayRef<std::string> targetTokens,
                          llvm::StringRef targetPath, const GGUFFile &draft,
                          DraftHead head = DraftHead::Checkpoint);

} // namespace gemmac::gguf
