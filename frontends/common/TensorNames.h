//===- TensorNames.h - Gemma 4 tensor names, Hugging Face <-> GGUF --------===//
//
// One table of Gemma 4's linear weights under both spellings: the SRD fold
// maps a residual's HF module name to the GGUF weight it corrects, the model
// generator names its residuals the other way, and the safetensors frontend
// imports HF checkpoints through it.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "llvm/ADT/StringRef.h"

#include <optional>
#include <string>

namespace gemmac {

/// The GGUF tensor name of a Gemma 4 linear weight given by its HF module
/// name ("model.language_model.layers.3.mlp.down_proj", with or without
/// ".weight", also under "language_model.model." or "model."); nullopt for a
/// name that is not one of Gemma 4's linear weights.
std::optional<std::string> ggufNameForHF(llvm::StringRef hfName);

/// The HF module name (under "model.language_model.", as Gemma 4's
/// multimodal checkpoints nest the text model) of a GGUF linear weight;
/// nullopt for any other tensor.
std::optional<std::string> hfNameForGGUF(llvm::StringRef ggufName);

/// Any tensor the Gemma 4 builder reads, by its GGUF name, as a Hugging Face
/// checkpoint names it under the text model ("blk.3.attn_norm.weight" ->
/// "layers.3.input_layernorm.weight"); "output.weight" gives
/// "lm_head.weight", and an MTP drafter's "nextn.pre_projection.weight"
/// gives "pre_projection.weight": these live at the checkpoint's root (see
/// hfTensorAtRoot). nullopt for a
/// tensor HF checkpoints do not have (rope_freqs: synthesized from config).
std::optional<std::string> hfTensorForGGUF(llvm::StringRef ggufName);

/// Whether hfTensorForGGUF's `hfName` lies at the checkpoint's root rather
/// than under the text model.
bool hfTensorAtRoot(llvm::StringRef hfName);

} // namespace gemmac
