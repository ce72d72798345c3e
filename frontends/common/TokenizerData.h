//===- TokenizerData.h - a checkpoint's tokenizer -----------------*- C++ -*-===//
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace gemmac {

/// The sampling defaults a checkpoint states (generation_config.json, or a
/// GGUF's general.sampling.*); the program's own defaults fill the rest.
struct SamplingDefaults {
  std::optional<float> temperature, topP, minP, repeatPenalty;
  std::optional<int32_t> topK, penaltyLastN;
};

/// What the compiled program needs to tokenize, detokenize and stop.
struct TokenizerData {
  std::vector<std::string> tokens;
  std::vector<int32_t> types;  // llama.cpp token types: 1 normal, 2 unknown,
                               // 3 control, 4 user-defined, 5 unused, 6 byte
  std::vector<float> scores;
  std::vector<std::string> merges; // "left right", rank = index
  int32_t bos = -1, eos = -1, eot = -1, pad = -1, unk = -1;
  bool addBos = true;
  std::vector<int32_t> endOfGeneration;
  std::vector<int32_t> suppress;
  std::string chatTemplate;
  SamplingDefaults sampling;
};

} // namespace gemmac
