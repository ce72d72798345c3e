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
