// Hugging Face checkpoint files for generated models: safetensors shards
// with their index, and the tokenizer files of a generated vocabulary. The
// layouts follow the safetensors format and transformers' file names; the
// frontend that reads them is tested against llama.cpp running the GGUF the
// generator writes from the same values.
#pragma once

#include "Vocab.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace gemmac::gen {

struct HFTensor {
  std::string name;
  const char *dtype;          // "BF16", "F16", "F32", "I32", "U8", ...
  std::vector<int64_t> shape; // PyTorch order
  uint64_t bytes;
  std::function<void(uint8_t *)> fill;
};

/// DIR/model.safetensors (shards == 1) or DIR/model-0000k-of-0000n
/// .safetensors and DIR/model.safetensors.index.json. Returns an error
/// message, empty on success.
std::string writeSafetensors(const std::string &dir,
                             const std::vector<HFTensor> &tensors, int shards);

/// DIR/tokenizer.json and DIR/tokenizer_config.json (with the chat
/// template). The specials (types 2, 3 and 4 in `vocab`) are added tokens
/// marked special.
std::string writeTokenizerFiles(const std::string &dir, const Vocab &vocab,
                                const std::string &chatTemplate);

/// The token types llama.cpp's Gemma 4 converter assigns to `vocab` written
/// as above: <0xXX> byte, the seven rendered markers user-defined, the
/// other special added tokens control, the rest normal.
std::vector<int32_t> convertedTokenTypes(const Vocab &vocab);

} // namespace gemmac::gen
