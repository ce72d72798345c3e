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

} // namespace gemmac::gguf
