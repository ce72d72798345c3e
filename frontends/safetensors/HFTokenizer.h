//===- HFTokenizer.h - a HF checkpoint's tokenizer and templates -*- C++ -*-===//
//
// tokenizer.json (the BPE model: vocabulary, merges, added tokens), the chat
// template (chat_template.jinja, else tokenizer_config.json's) and
// generation_config.json (end-of-generation ids, suppressed tokens) become
// the TokenizerData a GGUF's tokenizer.ggml.* keys give, with token types as
// llama.cpp's converter assigns them: <0xXX> bytes, special added tokens
// control, Gemma 4's seven rendered markers user-defined, the rest normal.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "frontends/common/TokenizerData.h"
#include "frontends/safetensors/HFConfig.h"
#include "frontends/safetensors/Safetensors.h"

namespace gemmac::st {

llvm::Expected<TokenizerData> readHFTokenizer(const Checkpoint &checkpoint,
                                              const HFModelConfig &config);

} // namespace gemmac::st
