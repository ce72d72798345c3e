// Gemma 4's tokenizer as llama.cpp runs it for GGUF "gemma4" vocabularies:
// special tokens split out first (longest first), spaces become U+2581, the
// text splits into newline runs and the rest, each piece is BPE-merged over
// UTF-8 characters by merge rank, and pieces outside the vocabulary fall back
// to <0xXX> byte tokens.
#pragma once

#include "runtime/include/gemmac.h"

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace gemmac::rt {

enum TokenType : int32_t {
  kUndefined = 0,
  kNormal = 1,
  kUnknown = 2,
  kControl = 3,
  kUserDefined = 4,
  kUnused = 5,
  kByte = 6,
};

class Tokenizer {
public:
  /// Parses the tokenizer section of a weight file; false with `error` set on
  /// malformed input.
  bool load(const uint8_t *data, size_t size, std::string &error);

  /// `parseSpecial`: control tokens written in the text are recognized.
  std::vector<int32_t> encode(std::string_view text, bool addBos,
                              bool parseSpecial) const;
  /// The bytes of one token; control tokens only when `special`.
  std::string piece(int32_t id, bool special = false) const;

  int32_t vocabSize() const { return static_cast<int32_t>(tokens_.size()); }
  int32_t bos() const { return bos_; }
  int32_t eos() const { return eos_; }
  bool isEndOfGeneration(int32_t id) const;
  const std::vector<int32_t> &suppressed() const { return suppress_; }
  const std::string &chatTemplate() const { return template_; }
  /// `base` with the sampling defaults the checkpoint states.
  gemmac_sampler_params samplingDefaults(gemmac_sampler_params base) const;
  int32_t find(std::string_view text) const;

private:
  void bpe(std::string_view word, std::vector<int32_t> &out) const;

  std::vector<std::string> tokens_;
  std::vector<int32_t> types_;
  std::unordered_map<std::string, int32_t> ids_;
  std::unordered_map<std::string, int32_t> mergeRank_; // "left\x01right"
  std::vector<int32_t> specials_; // longest text first
  int32_t byteTokens_[256];
  int32_t bos_ = -1, eos_ = -1, eot_ = -1, pad_ = -1, unk_ = -1;
  bool addBos_ = true;
  std::vector<int32_t> eog_, suppress_;
  std::string template_;
  uint32_t samplingSet_ = 0; // artifact::SamplingField bits
  gemmac_sampler_params sampling_{};
};

} // namespace gemmac::rt
