//===- GGUFTokenizer.cpp - the gemma4 tokenizer of a GGUF -----------------===//

#include "frontends/gguf/GGUFTokenizer.h"

#include <cmath>
#include <cstdio>
#include <set>

using namespace gemmac;
using namespace gemmac::gguf;
using llvm::Expected;
using llvm::StringRef;

Expected<TokenizerData> gemmac::gguf::readTokenizer(const GGUFFile &file) {
  TokenizerData t;
  auto model = file.getString("tokenizer.ggml.model");
  if (!model)
    return model.takeError();
  if (*model != "gemma4")
    return file.error("tokenizer model '" + *model +
                      "' is not supported (expected 'gemma4')");

  const MetadataValue *tokens = file.find("tokenizer.ggml.tokens");
  if (!tokens || tokens->type != ValueType::Array ||
      tokens->elemType != ValueType::String || tokens->count == 0)
    return file.error("'tokenizer.ggml.tokens' must be a non-empty array of "
                      "strings");
  const size_t n = tokens->count;
  std::set<StringRef> seen;
  for (StringRef s : tokens->strings) {
    if (!seen.insert(s).second)
      return file.error("'tokenizer.ggml.tokens' lists '" + s + "' twice",
                        tokens->fileOffset);
    t.tokens.push_back(s.str());
  }

  t.types.assign(n, 1);
  if (const MetadataValue *types = file.find("tokenizer.ggml.token_type")) {
    if (!types->arrayIsInteger() || types->count < n)
      return file.error("'tokenizer.ggml.token_type' must be an integer array "
                        "with one entry per token",
                        types->fileOffset);
    for (size_t i = 0; i < n; ++i)
      t.types[i] = static_cast<int32_t>(types->arrayInt(i));
  }
  t.scores.assign(n, 0.0f);
  if (const MetadataValue *scores = file.find("tokenizer.ggml.scores")) {
    if (scores->type != ValueType::Array || scores->count < n ||
        (scores->elemType != ValueType::Float32 && !scores->arrayIsInteger()))
      return file.error("'tokenizer.ggml.scores' must be a numeric array with "
                        "one entry per token",
                        scores->fileOffset);
    for (size_t i = 0; i < n; ++i) {
      t.scores[i] = static_cast<float>(scores->arrayFloat(i));
      if (!std::isfinite(t.scores[i]))
        return file.error("'tokenizer.ggml.scores'[" + llvm::Twine(i) +
                              "] is not a finite number",
                          scores->fileOffset);
    }
  }
  const MetadataValue *merges = file.find("tokenizer.ggml.merges");
  if (!merges || merges->type != ValueType::Array ||
      merges->elemType != ValueType::String)
    return file.error("'tokenizer.ggml.merges' must be an array of strings");
  for (StringRef m : merges->strings)
    t.merges.push_back(m.str());

  auto id = [&](StringRef key, int32_t &out) -> llvm::Error {
    if (!file.find(key))
      return llvm::Error::success();
    auto v = file.getUInt(key);
    if (!v)
      return v.takeError();
    if (*v >= n)
      return file.error("'" + key + "' = " + llvm::Twine(*v) +
                        " is outside the " + llvm::Twine(n) +
                        "-token vocabulary");
    out = static_cast<int32_t>(*v);
    return llvm::Error::success();
  };
  for (auto [key, slot] :
       {std::pair<StringRef, int32_t *>{"tokenizer.ggml.bos_token_id", &t.bos},
        {"tokenizer.ggml.eos_token_id", &t.eos},
        {"tokenizer.ggml.eot_token_id", &t.eot},
        {"tokenizer.ggml.padding_token_id", &t.pad},
        {"tokenizer.ggml.unknown_token_id", &t.unk}})
    if (llvm::Error e = id(key, *slot))
      return std::move(e);
  if (t.bos < 0)
    return file.error("missing 'tokenizer.ggml.bos_token_id'");
  if (const MetadataValue *v = file.find("tokenizer.ggml.add_bos_token"))
    t.addBos = v->uintValue != 0;
  // Gemma 4 always starts with <bos> (llama.cpp forces this for gemma4).
  t.addBos = true;

  // End of generation: the declared ids plus Gemma 4's turn/tool tokens.
  std::set<int32_t> eog;
  for (int32_t i : {t.eos, t.eot})
    if (i >= 0)
      eog.insert(i);
  for (size_t i = 0; i < n; ++i) {
    StringRef s = t.tokens[i];
    if (s == "<eos>" || s == "<turn|>" || s == "<|tool_response>" ||
        s == "<end_of_turn>")
      eog.insert(static_cast<int32_t>(i));
  }
  t.endOfGeneration.assign(eog.begin(), eog.end());

  auto suppress = readSuppressTokens(file, n);
  if (!suppress)
    return suppress.takeError();
  t.suppress = std::move(*suppress);
  if (const MetadataValue *tmpl = file.find("tokenizer.chat_template"))
    if (tmpl->type == ValueType::String)
      t.chatTemplate = tmpl->stringValue.str();
  if (llvm::Error e = readSamplingDefaults(file, t.sampling))
    return std::move(e);
  return t;
}

/// general.sampling.*, as llama.cpp's converter writes them from
/// generation_config.json and llama.cpp reads them as defaults.
llvm::Error gemmac::gguf::readSamplingDefaults(const GGUFFile &file,
                                               SamplingDefaults &s) {
  auto shortNumber = [](double x) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", x);
    return std::string(buf);
  };
  auto number = [&](StringRef key, double lo, double hi,
                    std::optional<float> &out) -> llvm::Error {
    const MetadataValue *v = file.find(key);
    if (!v)
      return llvm::Error::success();
    double x = v->isFloat() ? v->floatValue
               : v->isInteger()
                   ? (v->type == ValueType::Int8 || v->type == ValueType::Int16 ||
                              v->type == ValueType::Int32 ||
                              v->type == ValueType::Int64
                          ? static_cast<double>(v->intValue)
                          : static_cast<double>(v->uintValue))
                   : std::nan("");
    if (!(x >= lo && x <= hi))
      return file.error("'" + key + "' must be a number in [" +
                            shortNumber(lo) + ", " + shortNumber(hi) + "]",
                        v->fileOffset);
    out = static_cast<float>(x);
    return llvm::Error::success();
  };
  auto integer = [&](StringRef key, int64_t lo, int64_t hi,
                     std::optional<int32_t> &out) -> llvm::Error {
    std::optional<float> x;
    if (llvm::Error e = number(key, static_cast<double>(lo),
                               static_cast<double>(hi), x))
      return e;
    if (!x)
      return llvm::Error::success();
    const MetadataValue *v = file.find(key);
    if (!v->isInteger())
      return file.error("'" + key + "' must be an integer", v->fileOffset);
    out = static_cast<int32_t>(*x);
    return llvm::Error::success();
  };
  if (llvm::Error e = number("general.sampling.temp", 0, 100, s.temperature))
    return e;
  if (llvm::Error e = integer("general.sampling.top_k", 0, 1 << 30, s.topK))
    return e;
  if (llvm::Error e = number("general.sampling.top_p", 0, 1, s.topP))
    return e;
  if (llvm::Error e = number("general.sampling.min_p", 0, 1, s.minP))
    return e;
  if (llvm::Error e = number("general.sampling.penalty_repeat", 0.01, 100,
                             s.repeatPenalty))
    return e;
  if (llvm::Error e = integer("general.sampling.penalty_last_n", -1, 1 << 30,
                              s.penaltyLastN))
    return e;
  return llvm::Error::success();
}

Expected<std::vector<int32_t>>
gemmac::gguf::readSuppressTokens(const GGUFFile &file, uint64_t vocabSize) {
  std::vector<int32_t> ids;
  const MetadataValue *s = file.find("tokenizer.ggml.suppress_tokens");
  if (!s)
    return ids;
  if (!s->arrayIsInteger())
    return file.error("'tokenizer.ggml.suppress_tokens' must be an integer "
                      "array",
                      s->fileOffset);
  for (uint64_t i = 0; i < s->count; ++i) {
    int64_t v = s->arrayInt(i);
    if (v < 0 || static_cast<uint64_t>(v) >= vocabSize)
      return file.error("'tokenizer.ggml.suppress_tokens' holds token " +
                            llvm::Twine(v) + ", outside the vocabulary",
                        s->fileOffset);
    ids.push_back(static_cast<int32_t>(v));
  }
  return ids;
}
