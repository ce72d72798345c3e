//===- GGUFImport.cpp - Gemma 4 GGUF -> gemma IR --------------------------===//

#include "frontends/gguf/GGUFImport.h"
#include "abi/ggml_types.h"
#include "frontends/gguf/GGUFTokenizer.h"

#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>

using namespace gemmac;
using namespace gemmac::gguf;
using llvm::Error;
using llvm::Expected;
using llvm::StringRef;

namespace {

/// Tensor handles of a GGUF file, shape- and type-checked on lookup.
class GGUFWeights : public WeightSource {
public:
  explicit GGUFWeights(const GGUFFile &file) : file(file) {}

  bool has(StringRef name) const override { return file.findTensor(name); }

  Expected<WeightRef> get(StringRef name,
                          llvm::ArrayRef<int64_t> shape) const override {
    const TensorInfo *t = file.findTensor(name);
    if (!t)
      return file.error("missing tensor '" + name + "'");
    // GGUF lists dims innermost first; gemma weights are [rows, cols].
    std::vector<int64_t> got;
    for (int d = t->nDims - 1; d >= 0; --d)
      got.push_back(t->ne[d]);
    while (got.size() > 1 && got.front() == 1 && got.size() > shape.size())
      got.erase(got.begin());
    if (llvm::ArrayRef<int64_t>(got) != shape) {
      auto fmt = [](llvm::ArrayRef<int64_t> s) {
        std::string r = "[";
        for (size_t i = 0; i < s.size(); ++i)
          r += (i ? ", " : "") + std::to_string(s[i]);
        return r + "]";
      };
      return file.error("tensor '" + name + "' has shape " + fmt(got) +
                            " (rows, cols), expected " + fmt(shape),
                        t->infoOffset);
    }
    const GGMLTypeInfo *ti = findGGMLType(t->type);
    // Vectors (norms, scales) are read as floats; only matrices have blocks.
    if (shape.size() == 1 && ti->supported && t->type != 0 && t->type != 1 &&
        t->type != 30)
      return file.error("tensor '" + name + "' has type " + ti->name +
                            ": a vector weight (a norm or scale) must be "
                            "F32, F16 or BF16",
                        t->infoOffset);
    if (!ti->supported) {
      std::string supported;
      for (const abi::FormatInfo &f : abi::kFormats)
        if (!abi::isOwnFormat(f.format)) // gemmac's own: never in a GGUF
          supported += (supported.empty() ? "" : " ") + std::string(f.ggmlName);
      return file.error("tensor '" + name + "' has type " + ti->name +
                            ", which gemmac does not support (supported: " +
                            supported + ")",
                        t->infoOffset);
    }
    WeightRef ref;
    ref.format = static_cast<gemma::WeightFormat>(t->type);
    ref.shape.assign(shape.begin(), shape.end());
    ref.offset = static_cast<int64_t>(t->fileOffset(file.dataOffset()));
    // A scalar is folded in at import (F16 and BF16 ones must be: the
    // lowerings load only F32 factors).
    if (t->numElements() == 1 && (t->type == 0 || t->type == 1 || t->type == 30)) {
      float v;
      if (t->type == 0) {
        std::memcpy(&v, t->data, 4);
      } else {
        uint16_t h;
        std::memcpy(&h, t->data, 2);
        v = t->type == 30 ? std::bit_cast<float>(uint32_t(h) << 16)
                          : static_cast<float>(std::bit_cast<_Float16>(h));
      }
      if (!std::isfinite(v))
        return file.error("tensor '" + name + "' holds a non-finite value",
                          t->fileOffset(file.dataOffset()));
      ref.scalar = v;
    }
    // NVFP4: the converter's '.input_scale' (the calibrated amax(x) / 2688),
    // which --nvfp4-activations fp4 reads. An expert weight's (one per
    // expert) is not read: the experts keep llama.cpp's numerics.
    if (t->type == static_cast<uint32_t>(abi::Format::NVFP4) &&
        name.ends_with(".weight") && shape.size() == 2) {
      const std::string in = (name.drop_back(7) + ".input_scale").str();
      if (file.findTensor(in)) {
        auto s = get(in, {1});
        if (!s)
          return s.takeError();
        if (!s->scalar || !(*s->scalar > 0))
          return file.error("tensor '" + in +
                                "' must hold one positive F32, F16 or BF16 "
                                "value",
                            file.findTensor(in)->infoOffset);
        ref.inputScale = s->scalar;
      }
    }
    return ref;
  }

private:
  const GGUFFile &file;
};

/// A float as %g writes it: 1e+30, 0.1.
std::string shortNumber(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

/// Number of leading 1.0 frequency factors in rope_freqs, checking that the
/// rest switch rotation off (ggml divides the angle by them: >= 1e20 is off).
Expected<int64_t> rotatedPairsFromFreqs(const GGUFFile &file, int64_t pairs) {
  const TensorInfo *t = file.findTensor("rope_freqs.weight");
  if (!t)
    return pairs;
  if (t->type != 0 || t->numElements() != pairs)
    return file.error("tensor 'rope_freqs.weight' must be F32 with " +
                          llvm::Twine(pairs) + " elements (one per pair)",
                      t->infoOffset);
  std::vector<float> f(pairs);
  std::memcpy(f.data(), t->data, pairs * 4);
  int64_t n = 0;
  while (n < pairs && f[n] == 1.0f)
    ++n;
  for (int64_t i = n; i < pairs; ++i)
    if (!(f[i] >= 1e20f))
      return file.error(
          llvm::formatv("tensor 'rope_freqs.weight': factor {0} = {1} is "
                        "neither 1 (rotate) nor >= 1e20 (pass through); "
                        "general frequency factors are not supported",
                        i, f[i])
              .str(),
          t->fileOffset(file.dataOffset()));
  return n;
}

/// The vocabulary size (from the tokenizer; the embedding must agree) and
/// the tokens the sampler never picks.
Error readVocabulary(const GGUFFile &file, Gemma4Config &cfg) {
  const MetadataValue *tokens = file.find("tokenizer.ggml.tokens");
  if (!tokens || tokens->type != ValueType::Array ||
      tokens->elemType != ValueType::String)
    return file.error("missing or malformed 'tokenizer.ggml.tokens' "
                      "(an array of strings)");
  cfg.vocabSize = static_cast<int64_t>(tokens->count);
  if (cfg.vocabSize <= 0)
    return file.error("'tokenizer.ggml.tokens' is empty");
  auto suppress = readSuppressTokens(file, cfg.vocabSize);
  if (!suppress)
    return suppress.takeError();
  cfg.suppressTokens = std::move(*suppress);
  return Error::success();
}

/// Which of the `layers` layers use sliding-window attention.
Expected<std::vector<bool>> readSlidingPattern(const GGUFFile &file,
                                               const std::string &P,
                                               int64_t layers) {
  const std::string key = P + "attention.sliding_window_pattern";
  const MetadataValue *pattern = file.find(key);
  if (!pattern)
    return file.error("missing metadata key '" + key + "'");
  if (pattern->type != ValueType::Array ||
      (pattern->elemType != ValueType::Bool && !pattern->arrayIsInteger()) ||
      pattern->count != static_cast<uint64_t>(layers))
    return file.error("'" + key + "' must be an array of " +
                          llvm::Twine(layers) + " bools (one per layer)",
                      pattern->fileOffset);
  std::vector<bool> sliding(layers);
  for (int64_t l = 0; l < layers; ++l)
    sliding[l] = pattern->elemType == ValueType::Bool
                     ? pattern->arrayData[l] != 0
                     : pattern->arrayInt(l) != 0;
  return sliding;
}

} // namespace

Expected<Gemma4Config> gemmac::gguf::readGemma4Config(const GGUFFile &file,
                                                      bool assistant) {
  auto arch = file.getString("general.architecture");
  if (!arch)
    return arch.takeError();
  const std::string wanted = assistant ? "gemma4-assistant" : "gemma4";
  if (*arch != wanted) {
    if (*arch == "gemma4-assistant")
      return file.error("this is a Gemma 4 MTP drafter ('gemma4-assistant'): "
                        "compile it with its target model, compile-model "
                        "TARGET --draft " + file.path());
    return file.error("architecture '" + *arch + "' is not supported: " +
                      (assistant ? "a drafter (--draft) must be a "
                                   "'gemma4-assistant' model"
                                 : "gemmac compiles 'gemma4' models"));
  }
  // Every key is under the architecture's name.
  const std::string P = wanted + ".";

  Gemma4Config cfg;
  auto u = [&](StringRef key, int64_t &out) -> Error {
    auto v = file.getUInt((P + key).str());
    if (!v)
      return v.takeError();
    // Every count and length fits an int32 (the runtime's index type).
    if (*v > uint64_t(INT32_MAX))
      return file.error(P + key + " = " + llvm::Twine(*v) +
                        " is out of range (at most " + llvm::Twine(INT32_MAX) +
                        ")");
    out = static_cast<int64_t>(*v);
    return Error::success();
  };
  auto optU = [&](StringRef key, int64_t &out, int64_t dflt) -> Error {
    if (!file.find((P + key).str())) {
      out = dflt;
      return Error::success();
    }
    return u(key, out);
  };
  auto optF = [&](StringRef key, double dflt) -> Expected<double> {
    std::string k = (P + key).str();
    if (!file.find(k))
      return dflt;
    return file.getFloat(k);
  };

  int64_t ctxLen, hdGlobal, hdLocal, vGlobal, vLocal, nShared, nRotGlobal,
      nRotLocal, nExperts;
  if (Error e = u("block_count", cfg.numLayers))
    return std::move(e);
  if (cfg.numLayers <= 0 || cfg.numLayers > 1024)
    return file.error(P + "block_count " + llvm::Twine(cfg.numLayers) +
                      " is out of range (1..1024)");
  if (Error e = u("embedding_length", cfg.hidden))
    return std::move(e);
  if (Error e = optU("context_length", ctxLen, 131072))
    return std::move(e);
  cfg.contextLength = ctxLen;
  if (Error e = u("attention.key_length", hdGlobal))
    return std::move(e);
  if (Error e = optU("attention.value_length", vGlobal, hdGlobal))
    return std::move(e);
  if (Error e = optU("attention.key_length_swa", hdLocal, hdGlobal))
    return std::move(e);
  if (Error e = optU("attention.value_length_swa", vLocal, hdLocal))
    return std::move(e);
  if (vGlobal != hdGlobal || vLocal != hdLocal)
    return file.error("gemma4 needs key_length == value_length (global " +
                      llvm::Twine(hdGlobal) + "/" + llvm::Twine(vGlobal) +
                      ", sliding " + llvm::Twine(hdLocal) + "/" +
                      llvm::Twine(vLocal) + ")");
  if (Error e = u("attention.sliding_window", cfg.slidingWindow))
    return std::move(e);
  if (Error e = optU("attention.shared_kv_layers", nShared, 0))
    return std::move(e);
  if (Error e =
          optU("embedding_length_per_layer_input", cfg.perLayerInputDim, 0))
    return std::move(e);
  if (Error e = optU("rope.dimension_count", nRotGlobal, hdGlobal))
    return std::move(e);
  if (Error e = optU("rope.dimension_count_swa", nRotLocal, nRotGlobal))
    return std::move(e);
  if (Error e = optU("expert_count", nExperts, 0))
    return std::move(e);

  auto eps = optF("attention.layer_norm_rms_epsilon", 1e-6);
  auto thetaGlobal = optF("rope.freq_base", 1e6);
  auto thetaLocal = optF("rope.freq_base_swa", 1e4);
  auto softcap = optF("final_logit_softcapping", 0);
  for (auto *v : {&eps, &thetaGlobal, &thetaLocal, &softcap})
    if (!*v)
      return v->takeError();
  // Values no Gemma 4 has, which would only surface as NaNs, overflow or
  // absurd allocations at run time, are refused here with their key.
  struct FloatRange {
    const char *key;
    double value, lo, hi;
    bool loOpen;
  };
  for (const FloatRange &r :
       {FloatRange{"attention.layer_norm_rms_epsilon", *eps, 0, 0.1, true},
        FloatRange{"rope.freq_base", *thetaGlobal, 1, 1e12, false},
        FloatRange{"rope.freq_base_swa", *thetaLocal, 1, 1e12, false},
        FloatRange{"final_logit_softcapping", *softcap, 0, 1e6, false}})
    if (r.value > r.hi || r.value < r.lo || (r.loOpen && r.value == r.lo))
      return file.error(llvm::formatv("{5}{0} = {1} is out of range "
                                      "({2}{3}, {4}])",
                                      r.key, shortNumber(r.value),
                                      r.loOpen ? "(" : "[", shortNumber(r.lo),
                                      shortNumber(r.hi), P)
                            .str());
  if (ctxLen <= 0 || ctxLen > (1 << 24))
    return file.error(P + "context_length " + llvm::Twine(ctxLen) +
                      " is out of range (1..16777216)");
  cfg.rmsEps = static_cast<float>(*eps);
  cfg.finalSoftcap = static_cast<float>(*softcap);

  const int64_t L = cfg.numLayers;
  auto heads = file.getIntOrArray(P + "attention.head_count", L);
  if (!heads)
    return heads.takeError();
  std::vector<int64_t> kvHeads = *heads;
  if (file.find(P + "attention.head_count_kv")) {
    auto kv = file.getIntOrArray(P + "attention.head_count_kv", L);
    if (!kv)
      return kv.takeError();
    kvHeads = *kv;
  }
  auto ffn = file.getIntOrArray(P + "feed_forward_length", L);
  if (!ffn)
    return ffn.takeError();

  // Mixture of experts: a layer with a router (ffn_gate_inp, llama.cpp's
  // test) has expert_count experts, expert_used_count of them per token.
  std::vector<int64_t> expertsUsed(L, 0), expertFFN(L, 0);
  if (nExperts > 0) {
    for (auto [key, out] : {std::pair{P + "expert_used_count", &expertsUsed},
                            std::pair{P + "expert_feed_forward_length",
                                      &expertFFN}}) {
      if (!file.find(key))
        return file.error(llvm::Twine(P) + "expert_count is " +
                          llvm::Twine(nExperts) + " but " + key +
                          " is missing");
      auto v = file.getIntOrArray(key, L);
      if (!v)
        return v.takeError();
      *out = *v;
    }
  }

  auto sliding = readSlidingPattern(file, P, L);
  if (!sliding)
    return sliding.takeError();

  if (Error e = readVocabulary(file, cfg))
    return std::move(e);

  if (cfg.hidden <= 0 || cfg.hidden > (1 << 16))
    return file.error(P + "embedding_length " + llvm::Twine(cfg.hidden) +
                      " is out of range");
  if (cfg.slidingWindow <= 0 || cfg.slidingWindow > ctxLen)
    return file.error(P + "attention.sliding_window " +
                      llvm::Twine(cfg.slidingWindow) +
                      " is out of range (1..context_length " +
                      llvm::Twine(ctxLen) + ")");
  if (assistant) {
    // A drafter: its layers read the target's caches (paired later), it
    // feeds on the target's hidden state, and has none of the extras.
    if (Error e = u("embedding_length_out", cfg.backboneHidden))
      return std::move(e);
    if (cfg.backboneHidden <= 0 || cfg.backboneHidden > (1 << 16))
      return file.error(P + "embedding_length_out " +
                        llvm::Twine(cfg.backboneHidden) + " is out of range");
    if (cfg.perLayerInputDim != 0 || nExperts != 0)
      return file.error("a gemma4-assistant drafter has no per-layer inputs "
                        "and no experts");
    nShared = 0; // resolved against the target, not among its own layers
  } else if (nShared < 0 || nShared >= L) {
    return file.error(P + "attention.shared_kv_layers " +
                      llvm::Twine(nShared) + " must be below the " +
                      llvm::Twine(L) + " layers");
  }

  auto globalPairs = rotatedPairsFromFreqs(file, nRotGlobal / 2);
  if (!globalPairs)
    return globalPairs.takeError();

  const int64_t firstShared = L - nShared;
  cfg.layers.resize(L);
  for (int64_t l = 0; l < L; ++l) {
    Gemma4LayerConfig &lc = cfg.layers[l];
    lc.sliding = (*sliding)[l];
    lc.headDim = lc.sliding ? hdLocal : hdGlobal;
    lc.numHeads = (*heads)[l];
    lc.numKVHeads = kvHeads[l];
    lc.ffnDim = (*ffn)[l];
    lc.window = lc.sliding ? cfg.slidingWindow : 0;
    lc.ropeTheta = lc.sliding ? *thetaLocal : *thetaGlobal;
    lc.ropeFreqDim = lc.sliding ? nRotLocal : nRotGlobal;
    lc.rotatedPairs = lc.sliding ? nRotLocal / 2 : *globalPairs;
    std::string p = llvm::formatv("blk.{0}.", l).str();
    lc.kEqualsV = !file.findTensor(p + "attn_v.weight");
    lc.hasOutputScale = file.findTensor(p + "layer_output_scale.weight");
    if (file.findTensor(p + "ffn_gate_inp.weight")) {
      if (nExperts <= 0)
        return file.error("tensor '" + p +
                          "ffn_gate_inp.weight' (an expert router) needs " +
                          P + "expert_count",
                          file.findTensor(p + "ffn_gate_inp.weight")->infoOffset);
      lc.numExperts = nExperts;
      lc.numExpertsUsed = expertsUsed[l];
      lc.expertFFNDim = expertFFN[l];
    }
    if (std::string e = checkGemma4Layer(cfg, l, firstShared); !e.empty())
      return file.error(e);
  }
  return cfg;
}

Error gemmac::gguf::importDrafter(mlir::ModuleOp module,
                                  const Gemma4Config &target,
                                  llvm::ArrayRef<std::string> targetTokens,
                                  StringRef targetPath, const GGUFFile &draft,
                                  DraftHead head) {
  auto draftCfg = readGemma4Config(draft, /*assistant=*/true);
  if (!draftCfg)
    return draftCfg.takeError();
  // llama.cpp's converter drops masked_embedding.* and its loader never
  // reads them: a GGUF drafter always has the dense head.
  if (head == DraftHead::Centroid)
    return draft.error("--draft-head centroid: a gemma4-assistant GGUF has "
                       "no centroid head (llama.cpp's converter drops "
                       "masked_embedding.*); compile the Hugging Face "
                       "checkpoint instead");
  if (std::string e = pairGemma4Drafter(*draftCfg, target); !e.empty())
    return draft.error(e + " (target " + targetPath + ")");
  // The drafter's tokens are the target's ids: the same vocabulary.
  auto draftTokens = readTokenizer(draft);
  if (!draftTokens)
    return draftTokens.takeError();
  if (std::string e = compareDrafterVocabulary(draftTokens->tokens,
                                               targetTokens, targetPath);
      !e.empty())
    return draft.error(e);
  GGUFWeights weights(draft);
  return addGemma4Drafter(module, target, *draftCfg, weights, draft.path());
}

Expected<mlir::OwningOpRef<mlir::ModuleOp>>
gemmac::gguf::importGemma4(mlir::MLIRContext &context, const GGUFFile &file) {
  auto cfg = readGemma4Config(file);
  if (!cfg)
    return cfg.takeError();
  GGUFWeights weights(file);
  return buildGemma4Module(context, *cfg, weights, file.path());
}
