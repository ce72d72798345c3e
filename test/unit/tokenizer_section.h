// A tokenizer section (abi/artifact_format.h) written from a hand-made
// vocabulary, as compile-model writes it: for the tokenizer's unit tests and
// its fuzz harness.
#pragma once

#include "abi/artifact_format.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace gemmac::test {

struct Vocab {
  std::vector<std::pair<std::string, int32_t>> tokens; // text, type
  std::vector<std::string> merges;
};

template <typename T> inline void put(std::string &s, T v) {
  s.append(reinterpret_cast<const char *>(&v), sizeof(T));
}
inline void putBytes(std::string &s, const std::string &b) {
  put<uint32_t>(s, static_cast<uint32_t>(b.size()));
  s += b;
}

/// The sampling defaults of a section: which are set, and their values.
struct Sampling {
  uint32_t set = 0; // artifact::SamplingField bits
  float temperature = 0;
  int32_t topK = 0;
  float topP = 0, minP = 0, repeatPenalty = 0;
  int32_t penaltyLastN = 0;
};

/// Serializes like compile-model does (abi/artifact_format.h).
inline std::string section(const Vocab &v, int32_t bos, std::vector<int32_t> eog,
                           const Sampling &sampling = {}) {
  std::string s(gemmac::artifact::kTokenizerMagic, 4);
  put<uint32_t>(s, gemmac::artifact::kTokenizerVersion);
  put<uint32_t>(s, static_cast<uint32_t>(v.tokens.size()));
  for (auto &[text, type] : v.tokens) {
    putBytes(s, text);
    put<int32_t>(s, type);
    put<float>(s, 0.0f);
  }
  put<uint32_t>(s, static_cast<uint32_t>(v.merges.size()));
  for (auto &m : v.merges)
    putBytes(s, m);
  for (int32_t id : {bos, 1, -1, 0, 3})
    put<int32_t>(s, id);
  put<uint32_t>(s, 1);
  put<uint32_t>(s, static_cast<uint32_t>(eog.size()));
  for (int32_t id : eog)
    put<int32_t>(s, id);
  put<uint32_t>(s, 0);
  putBytes(s, "");
  put<uint32_t>(s, sampling.set);
  put<float>(s, sampling.temperature);
  put<int32_t>(s, sampling.topK);
  put<float>(s, sampling.topP);
  put<float>(s, sampling.minP);
  put<float>(s, sampling.repeatPenalty);
  put<int32_t>(s, sampling.penaltyLastN);
  return s;
}

} // namespace gemmac::test
