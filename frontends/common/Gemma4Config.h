//===- Gemma4Config.h - a Gemma 4 text model, layer by layer ------*- C++ -*-===//
//
// What every frontend extracts from its checkpoint before building IR: the
// model-wide hyperparameters and each layer's specialization (head dim, kv
// heads, window, rope, KV source). Names follow the HF config where they
// exist. See docs/gemma4-architecture.md in the shared docs.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <string>
#include <vector>

namespace gemmac {

struct Gemma4LayerConfig {
  bool sliding = false;     // local layer with a window; else global causal
  int64_t headDim = 0;      // 256 local / 512 global on real models
  int64_t numHeads = 0;
  int64_t numKVHeads = 0;
  int64_t ffnDim = 0;       // intermediate size (doubled on E2B shared layers)
  int64_t window = 0;       // 0 on global layers
  double ropeTheta = 0;     // 1e4 local / 1e6 global
  int64_t ropeFreqDim = 0;  // dims the rotation frequencies are spread over
  int64_t rotatedPairs = 0; // pairs that rotate (proportional RoPE: 64 of 256)
  int64_t kvSource = -1;    // -1: owns its KV; else the layer whose KV it reads
  bool kEqualsV = false;    // no v projection: V is the K projection (pre-norm)
  bool hasOutputScale = false;
  // Mixture of experts (26B-A4B), beside the dense MLP; 0 on dense layers.
  int64_t numExperts = 0;
  int64_t numExpertsUsed = 0; // top-k
  int64_t expertFFNDim = 0;   // each expert's intermediate size
};

/// The logits head of an MTP drafter that ships a centroid head
/// (compile-model --draft-head): as its checkpoint says, the dense head over
/// the whole table (llama.cpp's), or the centroid head (transformers').
enum class DraftHead { Checkpoint, Dense, Centroid };

struct Gemma4Config {
  int64_t numLayers = 0;
  int64_t hidden = 0;
  int64_t vocabSize = 0;
  int64_t contextLength = 0;
  int64_t perLayerInputDim = 0; // PLE width (E2B/E4B); 0 if absent
  int64_t slidingWindow = 0;
  float rmsEps = 1e-6f;
  float finalSoftcap = 0;       // 0: none
  int64_t backboneHidden = 0;   // an MTP drafter: its target's width
  // An MTP drafter's centroid head (E2B/E4B, use_ordered_embeddings): logits
  // only for the tokens of the centroidTopK best of centroidClusters
  // clusters; 0: the dense head over the whole table.
  int64_t centroidClusters = 0, centroidTopK = 0;
  std::vector<int32_t> suppressTokens;
  std::vector<Gemma4LayerConfig> layers;
};

/// Checks layer `l`'s shapes and, for a layer from `firstShared` on, finds
/// the layer whose KV cache it reads (HF's rule: the last non-shared layer
/// of its own type). Returns what is wrong ("layer N: ..."), or "".
std::string checkGemma4Layer(Gemma4Config &cfg, int64_t l, int64_t firstShared);

/// Pairs an MTP drafter with its target: each drafter layer reads the cache
/// of the target's last layer of its type (sliding or full), resolved
/// through KV sharing, whose kv heads, head dim and window it must have;
/// the drafter's backbone width and vocabulary must be the target's. Sets
/// the drafter layers' kvSource. Returns what is wrong, or "".
std::string pairGemma4Drafter(Gemma4Config &draft, const Gemma4Config &target);

/// Whether a drafter's tokens are its target's (read from `targetPath`),
/// token for token: "" if so, else the first difference.
std::string compareDrafterVocabulary(llvm::ArrayRef<std::string> draft,
                                     llvm::ArrayRef<std::string> target,
                                     llvm::StringRef targetPath);

} // namespace gemmac
