//===- Gemma4Config.cpp - the checks every frontend's config passes -------===//

#include "frontends/common/Gemma4Config.h"

#include "llvm/Support/FormatVariadic.h"

std::string gemmac::checkGemma4Layer(Gemma4Config &cfg, int64_t l,
                                     int64_t firstShared) {
  Gemma4LayerConfig &lc = cfg.layers[l];
  std::string where = llvm::formatv("layer {0}: ", l).str();
  if (lc.numHeads <= 0 || lc.numKVHeads <= 0 ||
      lc.numHeads % lc.numKVHeads != 0)
    return where + llvm::formatv("head_count {0} is not a positive multiple "
                                 "of head_count_kv {1}",
                                 lc.numHeads, lc.numKVHeads)
                       .str();
  if (lc.headDim <= 0 || lc.headDim % 2 != 0 || lc.headDim > 4096)
    return where + llvm::formatv("head dim {0} must be even and in 2..4096",
                                 lc.headDim)
                       .str();
  if (lc.ffnDim <= 0)
    return where + "feed_forward_length must be positive";
  if (lc.ropeFreqDim <= 0 || lc.ropeFreqDim % 2 != 0 ||
      lc.ropeFreqDim > lc.headDim)
    return where + llvm::formatv("rope dimension count {0} must be even and "
                                 "at most the head dim {1}",
                                 lc.ropeFreqDim, lc.headDim)
                       .str();
  if (lc.numExperts &&
      (lc.numExperts > 4096 || lc.numExpertsUsed <= 0 ||
       lc.numExpertsUsed > lc.numExperts || lc.expertFFNDim <= 0))
    return where + llvm::formatv("mixture of experts needs 1 <= experts used "
                                 "({0}) <= experts ({1}) <= 4096 and a "
                                 "positive expert feed-forward length ({2})",
                                 lc.numExpertsUsed, lc.numExperts,
                                 lc.expertFFNDim)
                       .str();
  if (l >= firstShared) {
    lc.kvSource = -1;
    for (int64_t s = firstShared - 1; s >= 0; --s)
      if (cfg.layers[s].sliding == lc.sliding) {
        lc.kvSource = s;
        break;
      }
    if (lc.kvSource < 0)
      return where + "shares KV but no earlier layer of its type owns a cache";
    const Gemma4LayerConfig &src = cfg.layers[lc.kvSource];
    if (src.numKVHeads != lc.numKVHeads || src.headDim != lc.headDim)
      return where + llvm::formatv("shares the KV of layer {0}, whose kv "
                                   "heads or head dim differ",
                                   lc.kvSource)
                         .str();
    lc.kEqualsV = src.kEqualsV;
  }
  return "";
}

std::string gemmac::pairGemma4Drafter(Gemma4Config &draft,
                                      const Gemma4Config &target) {
  if (draft.backboneHidden != target.hidden)
    return llvm::formatv("the drafter is for a target of width {0}, the "
                         "target's is {1}",
                         draft.backboneHidden, target.hidden)
        .str();
  if (draft.vocabSize != target.vocabSize)
    return llvm::formatv("the drafter's vocabulary has {0} tokens, the "
                         "target's {1}",
                         draft.vocabSize, target.vocabSize)
        .str();
  for (size_t l = 0; l < draft.layers.size(); ++l) {
    Gemma4LayerConfig &d = draft.layers[l];
    int64_t owner = -1;
    for (int64_t t = target.numLayers - 1; t >= 0 && owner < 0; --t)
      if (target.layers[t].sliding == d.sliding)
        owner = target.layers[t].kvSource < 0 ? t : target.layers[t].kvSource;
    const char *kind = d.sliding ? "sliding" : "full";
    if (owner < 0)
      return llvm::formatv("drafter layer {0} reads the target's last {1} "
                           "layer, and the target has none",
                           l, kind)
          .str();
    const Gemma4LayerConfig &t = target.layers[owner];
    if (t.numKVHeads != d.numKVHeads || t.headDim != d.headDim ||
        t.window != d.window)
      return llvm::formatv(
                 "drafter layer {0} ({1}: {2} kv heads of {3}, window {4}) "
                 "reads the cache of target layer {5}, which has {6} kv "
                 "heads of {7}, window {8}",
                 l, kind, d.numKVHeads, d.headDim, d.window, owner,
                 t.numKVHeads, t.headDim, t.window)
          .str();
    d.kvSource = owner;
    d.kEqualsV = t.kEqualsV;
  }
  return "";
}

std::string gemmac::compareDrafterVocabulary(llvm::ArrayRef<std::string> draft,
                                             llvm::ArrayRef<std::string> target,
                                             llvm::StringRef targetPath) {
  if (draft.size() != target.size())
    return llvm::formatv("{0} tokens here, {1} in the target {2}: not the "
                         "same vocabulary",
                         draft.size(), target.size(), targetPath)
        .str();
  for (size_t i = 0; i < draft.size(); ++i)
    if (draft[i] != target[i])
      return llvm::formatv("token {0} is '{1}' here and '{2}' in the target "
                           "{3}: not the same vocabulary",
                           i, draft[i], target[i], targetPath)
          .str();
  return "";
}
