//===- TensorNames.cpp - Gemma 4 tensor names, Hugging Face <-> GGUF ------===//

#include "frontends/common/TensorNames.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"

#include <cstring>

using llvm::StringRef;

namespace {
struct LinearName {
  llvm::StringLiteral hf;   // module under "layers.N."
  llvm::StringLiteral gguf; // tensor under "blk.N." (before ".weight")
};

/// The per-layer linear weights.
constexpr LinearName kLayerLinears[] = {
    {"self_attn.q_proj", "attn_q"},   {"self_attn.k_proj", "attn_k"},
    {"self_attn.v_proj", "attn_v"},   {"self_attn.o_proj", "attn_output"},
    {"mlp.gate_proj", "ffn_gate"},    {"mlp.up_proj", "ffn_up"},
    {"mlp.down_proj", "ffn_down"},    {"per_layer_input_gate", "inp_gate"},
    {"per_layer_projection", "proj"},
};

/// The model-level linear weights besides the tied embedding.
constexpr LinearName kModelLinears[] = {
    {"per_layer_model_projection", "per_layer_model_proj"},
};

constexpr StringRef kHFRoot = "model.language_model.";

/// A layer index: decimal digits only.
std::optional<unsigned> layerIndex(StringRef text) {
  unsigned layer;
  if (text.empty() || !llvm::all_of(text, llvm::isDigit) ||
      text.getAsInteger(10, layer))
    return std::nullopt;
  return layer;
}

/// "N.rest" (after "blk." or "layers."): the layer and the rest.
std::optional<std::pair<unsigned, StringRef>> splitLayer(StringRef n) {
  auto [index, rest] = n.split('.');
  std::optional<unsigned> layer = layerIndex(index);
  if (!layer)
    return std::nullopt;
  return std::make_pair(*layer, rest);
}
} // namespace

std::optional<std::string> gemmac::ggufNameForHF(StringRef hfName) {
  StringRef n = hfName;
  n.consume_back(".weight");
  if (n == "lm_head")
    return std::string("output.weight");
  // Gemma 4 checkpoints nest the text model under model.language_model;
  // text-only exports drop the middle level.
  for (StringRef prefix :
       {"model.language_model.", "language_model.model.", "model."})
    if (n.consume_front(prefix))
      break;
  for (const LinearName &m : kModelLinears)
    if (n == m.hf)
      return (m.gguf + ".weight").str();
  if (!n.consume_front("layers."))
    return std::nullopt;
  auto layer = splitLayer(n);
  if (!layer)
    return std::nullopt;
  for (const LinearName &m : kLayerLinears)
    if (layer->second == m.hf)
      return llvm::formatv("blk.{0}.{1}.weight", layer->first, m.gguf).str();
  return std::nullopt;
}

std::optional<std::string> gemmac::hfNameForGGUF(StringRef ggufName) {
  StringRef n = ggufName;
  if (!n.consume_back(".weight"))
    return std::nullopt;
  for (const LinearName &m : kModelLinears)
    if (n == m.gguf)
      return (kHFRoot + m.hf).str();
  if (!n.consume_front("blk."))
    return std::nullopt;
  auto layer = splitLayer(n);
  if (!layer)
    return std::nullopt;
  for (const LinearName &m : kLayerLinears)
    if (layer->second == m.gguf)
      return llvm::formatv("{0}layers.{1}.{2}", kHFRoot, layer->first, m.hf)
          .str();
  return std::nullopt;
}

namespace {
/// The tensors besides the linear weights: norms, scalars, embeddings.
constexpr LinearName kLayerOthers[] = {
    {"input_layernorm.weight", "attn_norm.weight"},
    {"self_attn.q_norm.weight", "attn_q_norm.weight"},
    {"self_attn.k_norm.weight", "attn_k_norm.weight"},
    {"post_attention_layernorm.weight", "post_attention_norm.weight"},
    {"pre_feedforward_layernorm.weight", "ffn_norm.weight"},
    {"post_feedforward_layernorm.weight", "post_ffw_norm.weight"},
    {"post_per_layer_input_norm.weight", "post_norm.weight"},
    {"layer_scalar", "layer_output_scale.weight"},
    // Mixture of experts (26B-A4B): the router, the fused 3-D experts (no
    // ".weight" in HF), the extra norms of the parallel branches.
    {"router.proj.weight", "ffn_gate_inp.weight"},
    {"router.scale", "ffn_gate_inp.scale"},
    {"router.per_expert_scale", "ffn_down_exps.scale"},
    {"experts.gate_up_proj", "ffn_gate_up_exps.weight"},
    {"experts.down_proj", "ffn_down_exps.weight"},
    {"pre_feedforward_layernorm_2.weight", "pre_ffw_norm_2.weight"},
    {"post_feedforward_layernorm_1.weight", "post_ffw_norm_1.weight"},
    {"post_feedforward_layernorm_2.weight", "post_ffw_norm_2.weight"},
};
constexpr LinearName kModelOthers[] = {
    {"embed_tokens.weight", "token_embd.weight"},
    {"norm.weight", "output_norm.weight"},
    {"embed_tokens_per_layer.weight", "per_layer_token_embd.weight"},
    {"per_layer_projection_norm.weight", "per_layer_proj_norm.weight"},
};
} // namespace

std::optional<std::string> gemmac::hfTensorForGGUF(StringRef ggufName) {
  if (ggufName == "output.weight")
    return std::string("lm_head.weight");
  if (ggufName == "nextn.pre_projection.weight" ||
      ggufName == "nextn.post_projection.weight")
    return ggufName.drop_front(strlen("nextn.")).str();
  // The E2B/E4B drafters' centroid head (llama.cpp's names for it).
  if (ggufName == "masked_embd_centroids.weight")
    return std::string("masked_embedding.centroids.weight");
  if (ggufName == "masked_embd_ordering")
    return std::string("masked_embedding.token_ordering");
  for (const LinearName &m : kModelOthers)
    if (ggufName == m.gguf)
      return m.hf.str();
  if (std::optional<std::string> hf = hfNameForGGUF(ggufName)) {
    StringRef rel(*hf);
    rel.consume_front(kHFRoot);
    return (rel + ".weight").str();
  }
  StringRef n = ggufName;
  if (!n.consume_front("blk."))
    return std::nullopt;
  auto layer = splitLayer(n);
  if (!layer)
    return std::nullopt;
  for (const LinearName &m : kLayerOthers)
    if (layer->second == m.gguf)
      return llvm::formatv("layers.{0}.{1}", layer->first, m.hf).str();
  return std::nullopt;
}

bool gemmac::hfTensorAtRoot(StringRef hfName) {
  return hfName == "lm_head.weight" || hfName == "pre_projection.weight" ||
         hfName == "post_projection.weight" ||
         hfName.starts_with("masked_embedding.");
}
