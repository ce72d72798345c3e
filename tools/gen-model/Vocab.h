// A Gemma 4 style vocabulary for generated models: the special tokens at
// their real ids where the vocabulary is large enough, <0xXX> byte tokens,
// and BPE merges trained on a small built-in English text.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gemmac::gen {

struct Vocab {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<int32_t> types; // llama.cpp token types (1 normal, 3 control...)
  std::vector<std::string> merges;
  int32_t bos = 2, eos = 1, pad = 0, unk = 3, eot = -1;
};

/// Builds a vocabulary of exactly `size` tokens (at least 512).
Vocab buildVocab(int64_t size);

/// The Gemma 4 chat template (text turns only).
const char *chatTemplate();

} // namespace gemmac::gen
