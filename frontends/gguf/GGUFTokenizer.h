//===- GGUFTokenizer.h - the gemma4 tokenizer of a GGUF ---------*- C++ -*-===//
#pragma once

#include "frontends/common/TokenizerData.h"
#include "frontends/gguf/GGUFFile.h"

namespace gemmac::gguf {

/// Reads tokenizer.ggml.* (model "gemma4"): tokens, types, merges, special
/// ids and the chat template, with every id checked against the vocabulary.
llvm::Expected<TokenizerData> readTokenizer(const GGUFFile &file);

/// tokenizer.ggml.suppress_tokens (empty when absent): ids the sampler never
/// picks, each checked against a vocabulary of `vocabSize` tokens.
llvm::Expected<std::vector<int32_t>> readSuppressTokens(const GGUFFile &file,
                                                        uint64_t vocabSize);

/// general.sampling.* (temp, top_k, top_p, min_p, penalty_repeat,
/// penalty_last_n) into `s`, each checked against the range the runtime
/// accepts; absent keys stay unset.
llvm::Error readSamplingDefaults(const GGUFFile &file, SamplingDefaults &s);

} // namespace gemmac::gguf
