//===- GGUFImport.h - Gemma 4 GGUF -> gemma IR --------------------*- C++ -*-===//
#pragma once

#include "frontends/common/Gemma4Builder.h"
#include "frontends/gguf/GGUFFile.h"

namespace gemmac::gguf {

/// Reads every gemma4.* key (per-layer arrays included) and the tensor shapes
/// they imply; errors name the file and the key or tensor.
llvm::Expected<Gemma4Config> readGemma4Config(const GGUFFile &file);

/// Imports a Gemma 4 GGUF: a gemma module with one specialized layer per
/// block, weights referenced by handle (file offsets), never copied.
llvm::Expected<mlir::OwningOpRef<mlir::ModuleOp>>
importGemma4(mlir::MLIRContext &context, const GGUFFile &file);

} // namespace gemmac::gguf
