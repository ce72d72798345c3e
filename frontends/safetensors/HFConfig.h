//===- HFConfig.h - Gemma 4's config.json -> Gemma4Config ---------*- C++ -*-===//
//
// Reads the text model of a Hugging Face Gemma 4 config: nested under
// `text_config` (gemma4, gemma4_unified) or flat (gemma4_text,
// gemma4_unified_text), or an MTP drafter's (gemma4_assistant,
// gemma4_unified_assistant: a text config of query-only, KV-shared layers
// and backbone_hidden_size). A missing key takes the default of its class in
// transformers, and the two classes differ (PLE 256 vs none, window 512 vs
// 1024, context 131072 vs 262144). Errors name the key.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "frontends/common/Gemma4Config.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <string>
#include <vector>

namespace gemmac::st {

/// config.json's quantization_config, for GPTQ checkpoints (which modules
/// are quantized is read from the tensors, not from here).
struct GPTQConfig {
  int64_t bits = 4;
  int64_t groupSize = 0; // 0: not given
  int64_t zeroOffset = 1; // 0 for checkpoint_format "gptq_v2"
};

struct HFModelConfig {
  Gemma4Config config;
  std::string modelType;     // config.json's model_type
  std::string textModelType; // gemma4_text or gemma4_unified_text
  bool tieWordEmbeddings = true;
  int64_t bosTokenId = 2, padTokenId = 0;
  std::vector<int64_t> eosTokenIds; // config.json's eos_token_id
  GPTQConfig gptq;
  // An MTP drafter (Gemma4AssistantForCausalLM,
  // Gemma4UnifiedAssistantForCausalLM): config.backboneHidden is its
  // target's width, and use_ordered_embeddings says it ships the centroid
  // head (masked_embedding.*).
  bool assistant = false;
  bool orderedEmbeddings = false;
  int64_t numCentroids = 2048, centroidTopK = 32;
};

/// `fileName` names config.json in errors; `text` is its contents.
llvm::Expected<HFModelConfig> readHFConfig(llvm::StringRef fileName,
                                           llvm::StringRef text);

} // namespace gemmac::st
