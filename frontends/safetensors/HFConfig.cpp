//===- HFConfig.cpp - Gemma 4's config.json -> Gemma4Config ---------------===//
//
// The defaults are transformers' Gemma4TextConfig and Gemma4UnifiedTextConfig
// (configuration_gemma4.py, configuration_gemma4_unified.py).

#include "frontends/safetensors/HFConfig.h"
#include "frontends/safetensors/Safetensors.h"
#include "support/BinaryReader.h"

#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"

#include <cmath>

using namespace gemmac;
using namespace gemmac::st;
using llvm::Error;
using llvm::Expected;
using llvm::StringRef;

namespace {

/// One of the two text config classes' defaults.
struct TextDefaults {
  const char *modelType;
  int64_t perLayerInput;    // hidden_size_per_layer_input
  int64_t slidingWindow;
  int64_t maxPositions;
  bool hasPLE, hasMoE;
};
constexpr TextDefaults kGemma4Text = {"gemma4_text", 256, 512, 131072, true,
                                      true};
constexpr TextDefaults kUnifiedText = {"gemma4_unified_text", 0, 1024, 262144,
                                       false, false};

/// Reads typed keys of one JSON object, naming them "PREFIXkey" in errors.
class Keys {
public:
  Keys(StringRef file, const llvm::json::Object &o, std::string prefix)
      : file(file), o(o), prefix(std::move(prefix)) {}

  Error error(const llvm::Twine &message) const {
    return support::fileError(file, std::nullopt, message);
  }
  std::string name(StringRef key) const { return prefix + key.str(); }
  bool has(StringRef key) const {
    const llvm::json::Value *v = o.get(key);
    return v && v->kind() != llvm::json::Value::Null;
  }
  const llvm::json::Value *get(StringRef key) const {
    const llvm::json::Value *v = o.get(key);
    return v && v->kind() != llvm::json::Value::Null ? v : nullptr;
  }

  /// An integer in [lo, hi]; `dflt` when absent or null.
  Error integer(StringRef key, int64_t &out, int64_t dflt, int64_t lo,
                int64_t hi) const {
    const llvm::json::Value *v = get(key);
    if (!v) {
      out = dflt;
      return Error::success();
    }
    std::optional<int64_t> n = v->getAsInteger();
    if (!n)
      return error("'" + name(key) + "' must be an integer");
    if (*n < lo || *n > hi)
      return error(llvm::formatv("'{0}' = {1} is out of range ({2}..{3})",
                                 name(key), *n, lo, hi)
                       .str());
    out = *n;
    return Error::success();
  }
  Error number(StringRef key, double &out, double dflt, double lo,
               double hi) const {
    const llvm::json::Value *v = get(key);
    if (!v) {
      out = dflt;
      return Error::success();
    }
    std::optional<double> n = v->getAsNumber();
    if (!n || !std::isfinite(*n))
      return error("'" + name(key) + "' must be a finite number");
    if (*n < lo || *n > hi)
      return error(llvm::formatv("'{0}' = {1} is out of range ({2}..{3})",
                                 name(key), *n, lo, hi)
                       .str());
    out = *n;
    return Error::success();
  }
  Error boolean(StringRef key, bool &out, bool dflt) const {
    const llvm::json::Value *v = get(key);
    if (!v) {
      out = dflt;
      return Error::success();
    }
    std::optional<bool> b = v->getAsBoolean();
    if (!b)
      return error("'" + name(key) + "' must be true or false");
    out = *b;
    return Error::success();
  }
  Error string(StringRef key, std::string &out, StringRef dflt) const {
    const llvm::json::Value *v = get(key);
    if (!v) {
      out = dflt.str();
      return Error::success();
    }
    std::optional<StringRef> s = v->getAsString();
    if (!s)
      return error("'" + name(key) + "' must be a string");
    out = s->str();
    return Error::success();
  }
  /// An integer or a list of integers, each in [0, hi).
  Error ids(StringRef key, std::vector<int64_t> &out, int64_t hi) const {
    const llvm::json::Value *v = get(key);
    if (!v)
      return Error::success();
    auto one = [&](const llvm::json::Value &x) -> Error {
      std::optional<int64_t> n = x.getAsInteger();
      if (!n || *n < 0 || *n >= hi)
        return error(llvm::formatv("'{0}' holds {1}, which is not a token id "
                                   "(0..{2})",
                                   name(key), llvm::json::Value(x), hi - 1)
                         .str());
      out.push_back(*n);
      return Error::success();
    };
    if (const llvm::json::Array *a = v->getAsArray()) {
      for (const llvm::json::Value &x : *a)
        if (Error e = one(x))
          return e;
      return Error::success();
    }
    return one(*v);
  }

  StringRef file;
  const llvm::json::Object &o;
  std::string prefix;
};

/// One rope_parameters entry: {rope_type, rope_theta, partial_rotary_factor}.
struct Rope {
  std::string type;
  double theta = 0, partial = 1;
};

Expected<Rope> readRope(const Keys &text, StringRef layerType, Rope dflt) {
  const llvm::json::Value *params = text.get("rope_parameters");
  if (!params)
    return dflt;
  const llvm::json::Object *o = params->getAsObject();
  if (!o)
    return text.error("'" + text.name("rope_parameters") +
                      "' must be an object keyed by layer type");
  const llvm::json::Object *entry = o->getObject(layerType);
  if (!entry)
    return text.error("'" + text.name("rope_parameters") + "' has no '" +
                      layerType + "' entry");
  Keys k(text.file, *entry, text.name("rope_parameters." + layerType.str() + "."));
  Rope r;
  if (Error e = k.string("rope_type", r.type, "default"))
    return std::move(e);
  if (r.type != "default" && r.type != "proportional")
    return k.error("'" + k.name("rope_type") + "' = '" + r.type +
                   "' is not supported (Gemma 4 uses 'default' and "
                   "'proportional')");
  if (Error e = k.number("rope_theta", r.theta, dflt.theta, 1, 1e12))
    return std::move(e);
  if (Error e = k.number("partial_rotary_factor", r.partial,
                         r.type == "proportional" ? dflt.partial : 1.0, 0, 1))
    return std::move(e);
  return r;
}

/// The dims a layer's rotation frequencies are spread over and the pairs
/// that rotate, as llama.cpp's converter writes them: "proportional" spreads
/// over the whole head and rotates the first factor*hd/2 pairs; "default"
/// rotates factor*hd dims with frequencies over those.
void applyRope(const Rope &r, Gemma4LayerConfig &lc) {
  lc.ropeTheta = r.theta;
  if (r.type == "proportional") {
    lc.ropeFreqDim = lc.headDim;
    lc.rotatedPairs = static_cast<int64_t>(lc.headDim * r.partial / 2);
  } else {
    lc.ropeFreqDim = static_cast<int64_t>(lc.headDim * r.partial);
    lc.rotatedPairs = lc.ropeFreqDim / 2;
  }
}

} // namespace

Expected<HFModelConfig> gemmac::st::readHFConfig(StringRef file,
                                                 StringRef jsonText) {
  auto json = parseJSON(file, jsonText);
  if (!json)
    return json.takeError();
  const llvm::json::Object *root = json->getAsObject();
  if (!root)
    return support::fileError(file, std::nullopt, "is not a JSON object");
  Keys top(file, *root, "");
  std::string modelType;
  if (Error e = top.string("model_type", modelType, ""))
    return std::move(e);

  // The text model: nested in a multimodal config, or the whole config.
  const llvm::json::Object *textObject = root;
  std::string prefix;
  const std::string topModelType = modelType;
  const TextDefaults *defaults = nullptr;
  const bool assistant = modelType == "gemma4_assistant" ||
                         modelType == "gemma4_unified_assistant";
  if (modelType == "gemma4" || modelType == "gemma4_unified" || assistant) {
    textObject = root->getObject("text_config");
    if (!textObject)
      return top.error("model_type '" + modelType +
                       "' needs a 'text_config' object");
    prefix = "text_config.";
    std::string textType;
    Keys nested(file, *textObject, prefix);
    const std::string expected =
        modelType == "gemma4_assistant" ? "gemma4_text"
        : modelType == "gemma4_unified_assistant" ? "gemma4_unified_text"
                                                  : modelType + "_text";
    if (Error e = nested.string("model_type", textType, expected))
      return std::move(e);
    // An assistant's text model is a plain Gemma4TextConfig of either kind.
    if (textType != expected &&
        !(assistant && (textType == "gemma4_text" ||
                        textType == "gemma4_unified_text")))
      return nested.error("'text_config.model_type' = '" + textType +
                          "' does not belong to model_type '" + modelType +
                          "' (expected '" + expected + "')");
    modelType = textType;
  }
  if (modelType == "gemma4_text")
    defaults = &kGemma4Text;
  else if (modelType == "gemma4_unified_text")
    defaults = &kUnifiedText;
  else
    return top.error(
        "model_type '" + modelType +
        "' is not a Gemma 4 text model (gemmac compiles gemma4, gemma4_text, "
        "gemma4_unified and gemma4_unified_text, and the drafters "
        "gemma4_assistant and gemma4_unified_assistant)");
  Keys k(file, *textObject, prefix);

  HFModelConfig out;
  out.modelType = topModelType;
  out.textModelType = modelType;
  out.assistant = assistant;
  Gemma4Config &cfg = out.config;
  int64_t hidden, ffn, layers, heads, kvHeads, headDim, globalHeadDim,
      globalKV = -1, shared, ple, pleVocab, window, positions;
  double eps, softcap;
  bool kEqV, doubleWide, moe = false;
  std::string activation, bidirectional;
  constexpr int64_t kInt32 = INT32_MAX;
  struct IntKey {
    const char *key;
    int64_t *out, dflt, lo, hi;
  };
  for (const IntKey &i : {
           IntKey{"vocab_size", &cfg.vocabSize, 262144, 1, kInt32},
           {"hidden_size", &hidden, 2304, 1, 1 << 16},
           {"intermediate_size", &ffn, 9216, 1, kInt32},
           {"num_hidden_layers", &layers, 30, 1, 1024},
           {"num_attention_heads", &heads, 8, 1, 1024},
           {"num_key_value_heads", &kvHeads, 4, 1, 1024},
           {"head_dim", &headDim, 256, 2, 4096},
           {"global_head_dim", &globalHeadDim, 512, 2, 4096},
           {"num_kv_shared_layers", &shared, 0, 0, 1024},
           {"sliding_window", &window, defaults->slidingWindow, 1, 1 << 24},
           {"max_position_embeddings", &positions, defaults->maxPositions, 1,
            1 << 24},
       })
    if (Error e = k.integer(i.key, *i.out, i.dflt, i.lo, i.hi))
      return std::move(e);
  if (k.has("num_global_key_value_heads"))
    if (Error e = k.integer("num_global_key_value_heads", globalKV, -1, 1, 1024))
      return std::move(e);
  if (defaults->hasPLE) {
    if (Error e = k.integer("hidden_size_per_layer_input", ple,
                            defaults->perLayerInput, 0, 1 << 16))
      return std::move(e);
    if (Error e = k.integer("vocab_size_per_layer_input", pleVocab,
                            cfg.vocabSize, 0, kInt32))
      return std::move(e);
  } else {
    ple = 0;
    pleVocab = cfg.vocabSize;
  }
  if (Error e = k.number("rms_norm_eps", eps, 1e-6, 1e-12, 0.1))
    return std::move(e);
  if (Error e = k.number("final_logit_softcapping", softcap, 0, 0, 1e6))
    return std::move(e);
  if (Error e = k.boolean("attention_k_eq_v", kEqV, false))
    return std::move(e);
  if (Error e = k.boolean("use_double_wide_mlp", doubleWide, false))
    return std::move(e);
  if (defaults->hasMoE)
    if (Error e = k.boolean("enable_moe_block", moe, false))
      return std::move(e);
  // The multimodal wrapper's own flag decides for the whole model.
  if (Error e = k.boolean("tie_word_embeddings", out.tieWordEmbeddings, true))
    return std::move(e);
  if (root != textObject && top.has("tie_word_embeddings"))
    if (Error e = top.boolean("tie_word_embeddings", out.tieWordEmbeddings,
                              true))
      return std::move(e);
  if (Error e = k.string("hidden_activation", activation, "gelu_pytorch_tanh"))
    return std::move(e);
  if (Error e = k.string("use_bidirectional_attention", bidirectional, ""))
    return std::move(e);
  bool bias = false;
  if (Error e = k.boolean("attention_bias", bias, false))
    return std::move(e);

  // Mixture of experts: every layer routes (transformers' Gemma 4 puts
  // the block in every decoder layer when enable_moe_block is set).
  int64_t experts = 0, topK = 0, expertFFN = 0;
  if (moe) {
    if (Error e = k.integer("num_experts", experts, 128, 1, 4096))
      return std::move(e);
    if (Error e = k.integer("top_k_experts", topK, 8, 1, experts))
      return std::move(e);
    const char *ffnKey = k.has("moe_intermediate_size")
                             ? "moe_intermediate_size"
                             : "expert_intermediate_size";
    if (Error e = k.integer(ffnKey, expertFFN, 704, 1, kInt32))
      return std::move(e);
  }
  if (activation != "gelu_pytorch_tanh")
    return k.error("'" + k.name("hidden_activation") + "' = '" + activation +
                   "' is not supported (Gemma 4 uses gelu_pytorch_tanh)");
  if (bidirectional == "all")
    return k.error("'" + k.name("use_bidirectional_attention") +
                   "' = 'all' makes the text model non-causal, which gemmac "
                   "does not compile");
  if (bias)
    return k.error("'" + k.name("attention_bias") +
                   "' is true: Gemma 4 has no attention biases");
  if (ple > 0 && pleVocab != cfg.vocabSize && !assistant)
    return k.error(llvm::formatv("'{0}' = {1} differs from '{2}' = {3}: the "
                                 "per-layer embedding table must have one "
                                 "row per token",
                                 k.name("vocab_size_per_layer_input"),
                                 pleVocab, k.name("vocab_size"),
                                 cfg.vocabSize)
                       .str());
  if (assistant) {
    // transformers' Gemma4AssistantConfig.validate_architecture: every
    // layer reads the target's cache, nothing beyond the plain layers.
    if (Error e = top.integer("backbone_hidden_size", cfg.backboneHidden, 0,
                              1, 1 << 16))
      return std::move(e);
    if (!cfg.backboneHidden)
      return top.error("'backbone_hidden_size' is missing: an assistant "
                       "names its target's hidden size");
    if (Error e = top.boolean("use_ordered_embeddings", out.orderedEmbeddings,
                              false))
      return std::move(e);
    if (Error e = top.integer("num_centroids", out.numCentroids, 2048, 1,
                              cfg.vocabSize))
      return std::move(e);
    if (Error e = top.integer("centroid_intermediate_top_k", out.centroidTopK,
                              32, 1, out.numCentroids))
      return std::move(e);
    // transformers views token_ordering as [num_centroids, vocab / that].
    if (out.orderedEmbeddings && cfg.vocabSize % out.numCentroids)
      return top.error(llvm::formatv("'num_centroids' = {0} does not divide "
                                     "the {1} tokens",
                                     out.numCentroids, cfg.vocabSize)
                           .str());
    if (k.has("num_kv_shared_layers") && shared != layers)
      return k.error(llvm::formatv("'{0}' = {1}: an assistant's {2} layers "
                                   "all read the target's cache",
                                   k.name("num_kv_shared_layers"), shared,
                                   layers)
                         .str());
    if (ple != 0 || moe || doubleWide)
      return k.error("an assistant has no per-layer inputs "
                     "('" + k.name("hidden_size_per_layer_input") +
                     "' must be 0), no experts and no double-wide MLP");
    shared = 0; // resolved against the target when paired
  } else if (shared >= layers) {
    return k.error(llvm::formatv("'{0}' = {1} must be below the {2} layers",
                                 k.name("num_kv_shared_layers"), shared,
                                 layers)
                       .str());
  }
  if (window > positions)
    return k.error(llvm::formatv("'{0}' = {1} is larger than '{2}' = {3}",
                                 k.name("sliding_window"), window,
                                 k.name("max_position_embeddings"), positions)
                       .str());

  // layer_types: explicit, or transformers' default (every 6th layer full);
  // either way the last layer is full attention.
  std::vector<bool> sliding(layers);
  if (const llvm::json::Value *types = k.get("layer_types")) {
    const llvm::json::Array *a = types->getAsArray();
    if (!a || static_cast<int64_t>(a->size()) != layers)
      return k.error(llvm::formatv("'{0}' must be a list of {1} layer types "
                                   "(one per layer)",
                                   k.name("layer_types"), layers)
                         .str());
    for (int64_t l = 0; l < layers; ++l) {
      std::optional<StringRef> t = (*a)[l].getAsString();
      if (!t || (*t != "sliding_attention" && *t != "full_attention"))
        return k.error(llvm::formatv("'{0}'[{1}] must be 'sliding_attention' "
                                     "or 'full_attention'",
                                     k.name("layer_types"), l)
                           .str());
      sliding[l] = *t == "sliding_attention";
    }
  } else {
    for (int64_t l = 0; l < layers; ++l)
      sliding[l] = (l + 1) % 6 != 0;
  }
  sliding[layers - 1] = false;

  auto local = readRope(k, "sliding_attention", {"default", 1e4, 1});
  if (!local)
    return local.takeError();
  auto global = readRope(k, "full_attention", {"proportional", 1e6, 0.25});
  if (!global)
    return global.takeError();

  cfg.numLayers = layers;
  cfg.hidden = hidden;
  cfg.contextLength = positions;
  cfg.perLayerInputDim = ple;
  cfg.slidingWindow = window;
  cfg.rmsEps = static_cast<float>(eps);
  cfg.finalSoftcap = static_cast<float>(softcap);
  const int64_t firstShared = layers - shared;
  cfg.layers.resize(layers);
  for (int64_t l = 0; l < layers; ++l) {
    Gemma4LayerConfig &lc = cfg.layers[l];
    lc.sliding = sliding[l];
    lc.headDim = lc.sliding ? headDim : globalHeadDim;
    lc.numHeads = heads;
    // transformers overrides a full layer's kv heads only where K = V.
    lc.numKVHeads = !lc.sliding && kEqV && globalKV > 0 ? globalKV : kvHeads;
    lc.ffnDim = doubleWide && firstShared > 0 && l >= firstShared ? 2 * ffn
                                                                   : ffn;
    lc.window = lc.sliding ? window : 0;
    applyRope(lc.sliding ? *local : *global, lc);
    lc.kEqualsV = !lc.sliding && kEqV;
    lc.numExperts = experts;
    lc.numExpertsUsed = topK;
    lc.expertFFNDim = expertFFN;
    if (std::string e = checkGemma4Layer(cfg, l, firstShared); !e.empty())
      return k.error(e);
  }

  if (Error e = top.integer("bos_token_id", out.bosTokenId, 2, 0, kInt32))
    return std::move(e);
  if (Error e = top.integer("pad_token_id", out.padTokenId, 0, 0, kInt32))
    return std::move(e);
  if (root != textObject) {
    if (Error e = k.integer("bos_token_id", out.bosTokenId, out.bosTokenId, 0,
                            kInt32))
      return std::move(e);
    if (Error e = k.integer("pad_token_id", out.padTokenId, out.padTokenId, 0,
                            kInt32))
      return std::move(e);
    if (Error e = k.ids("eos_token_id", out.eosTokenIds, cfg.vocabSize))
      return std::move(e);
  }
  if (Error e = top.ids("eos_token_id", out.eosTokenIds, cfg.vocabSize))
    return std::move(e);
  if (out.eosTokenIds.empty())
    out.eosTokenIds.push_back(1);

  // quantization_config (GPTQ): bits, group size, v1 or v2 zero points.
  if (const llvm::json::Value *q = top.get("quantization_config")) {
    const llvm::json::Object *o = q->getAsObject();
    if (!o)
      return top.error("'quantization_config' must be an object");
    Keys qk(file, *o, "quantization_config.");
    std::string method, format;
    if (Error e = qk.string("quant_method", method, ""))
      return std::move(e);
    // Block-scaled FP8 (HF "fine-grained" FP8 states its block; ModelOpt's
    // FP8_PB_WO is always 128x128): gemmac reads 128x128 blocks.
    if (const llvm::json::Value *b = qk.get("weight_block_size")) {
      const llvm::json::Array *a = b->getAsArray();
      if (!a || a->size() != 2 || (*a)[0].getAsInteger() != 128 ||
          (*a)[1].getAsInteger() != 128)
        return qk.error("'quantization_config.weight_block_size' must be "
                        "[128, 128] (the FP8 blocks gemmac reads)");
    }
    if (method == "gptq" || method == "auto-round" || method == "intel/auto-round") {
      if (Error e = qk.integer("bits", out.gptq.bits, 4, 1, 16))
        return std::move(e);
      if (out.gptq.bits != 4)
        return qk.error("'quantization_config.bits' = " +
                        llvm::Twine(out.gptq.bits) +
                        ": gemmac reads 4-bit GPTQ checkpoints");
      if (Error e = qk.integer("group_size", out.gptq.groupSize, 0, -1,
                               1 << 20))
        return std::move(e);
      if (out.gptq.groupSize < 0)
        out.gptq.groupSize = 0; // -1: one group per column (from the tensors)
      if (Error e = qk.string("checkpoint_format", format, "gptq"))
        return std::move(e);
      if (format != "gptq" && format != "gptq_v2")
        return qk.error("'quantization_config.checkpoint_format' = '" + format +
                        "' is not 'gptq' or 'gptq_v2'");
      out.gptq.zeroOffset = format == "gptq_v2" ? 0 : 1;
    }
  }
  return out;
}
