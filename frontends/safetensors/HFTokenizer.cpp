//===- HFTokenizer.cpp - a HF checkpoint's tokenizer and templates --------===//

#include "frontends/safetensors/HFTokenizer.h"
#include "support/BinaryReader.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"

#include <cstdio>
#include <set>

using namespace gemmac;
using namespace gemmac::st;
using llvm::Error;
using llvm::Expected;
using llvm::StringRef;

namespace {

/// More tokens than any tokenizer has: a hostile file.
constexpr int64_t kMaxTokens = 1 << 22;

enum TokenType : int32_t {
  kNormal = 1, kControl = 3, kUserDefined = 4, kByte = 6
};

/// Tokens llama.cpp's Gemma 4 converter marks user-defined so that they are
/// rendered as text (the chat output parser reads them).
bool isRenderedMarker(StringRef t) {
  return t == "<|channel>" || t == "<channel|>" || t == "<|tool_call>" ||
         t == "<tool_call|>" || t == "<|tool_response>" ||
         t == "<tool_response|>" || t == "<|\"|>";
}

bool isByteToken(StringRef t) {
  return t.size() == 6 && t.starts_with("<0x") && t.ends_with(">") &&
         llvm::isHexDigit(t[3]) && llvm::isHexDigit(t[4]);
}

Expected<llvm::json::Value> parseObject(const std::string &path,
                                        StringRef text) {
  auto json = st::parseJSON(path, text);
  if (!json)
    return json.takeError();
  if (!json->getAsObject())
    return support::fileError(path, std::nullopt, "is not a JSON object");
  return std::move(*json);
}

/// tokenizer_config.json's chat_template: a string, or a list of
/// {name, template} (the one named "default").
std::optional<std::string> templateOf(const llvm::json::Object &config) {
  const llvm::json::Value *t = config.get("chat_template");
  if (!t)
    return std::nullopt;
  if (std::optional<StringRef> s = t->getAsString())
    return s->str();
  if (const llvm::json::Array *list = t->getAsArray())
    for (const llvm::json::Value &entry : *list)
      if (const llvm::json::Object *o = entry.getAsObject())
        if (o->getString("name") == StringRef("default"))
          if (std::optional<StringRef> s = o->getString("template"))
            return s->str();
  return std::nullopt;
}

} // namespace

Expected<TokenizerData>
gemmac::st::readHFTokenizer(const Checkpoint &c, const HFModelConfig &cfg) {
  const std::string path = c.pathOf("tokenizer.json");
  auto text = c.readText("tokenizer.json", 256ull << 20);
  if (!text)
    return text.takeError();
  if (!*text)
    return support::fileError(path, std::nullopt,
                              "cannot open: the checkpoint has no "
                              "tokenizer.json (gemmac reads the tokenizer "
                              "from it)");
  auto json = parseObject(path, **text);
  if (!json)
    return json.takeError();
  auto error = [&](const llvm::Twine &message) {
    return support::fileError(path, std::nullopt, message);
  };
  const llvm::json::Object &root = *json->getAsObject();
  const llvm::json::Object *model = root.getObject("model");
  if (!model)
    return error("has no 'model' object");
  if (model->getString("type") != StringRef("BPE"))
    return error("model.type must be 'BPE' (Gemma 4's tokenizer), got '" +
                 model->getString("type").value_or("(none)") + "'");
  const llvm::json::Object *vocab = model->getObject("vocab");
  if (!vocab)
    return error("has no 'model.vocab' object");

  // id -> token from the vocabulary and the added tokens, which must agree
  // where both name an id and leave no id without a token.
  std::vector<std::optional<std::string>> byId;
  std::vector<int32_t> addedType;
  auto place = [&](StringRef token, const llvm::json::Value &idValue,
                   StringRef where) -> Error {
    std::optional<int64_t> id = idValue.getAsInteger();
    if (!id || *id < 0 || *id >= kMaxTokens)
      return error(where + " gives '" + token + "' the id " +
                   llvm::formatv("{0}", idValue).str() +
                   ", not an integer in 0.." + llvm::Twine(kMaxTokens - 1));
    if (static_cast<size_t>(*id) >= byId.size()) {
      byId.resize(*id + 1);
      addedType.resize(*id + 1, 0);
    }
    std::optional<std::string> &slot = byId[*id];
    if (slot && *slot != token)
      return error(where + " gives id " + llvm::Twine(*id) + " to '" + token +
                   "', which already belongs to '" + *slot + "'");
    slot = token.str();
    return Error::success();
  };
  for (const auto &kv : *vocab)
    if (Error e = place(kv.first, kv.second, "model.vocab"))
      return std::move(e);
  if (const llvm::json::Value *added = root.get("added_tokens");
      added && added->kind() != llvm::json::Value::Null) {
    const llvm::json::Array *list = added->getAsArray();
    if (!list)
      return error("'added_tokens' must be a list");
    for (const llvm::json::Value &entry : *list) {
      const llvm::json::Object *o = entry.getAsObject();
      std::optional<StringRef> content = o ? o->getString("content") : std::nullopt;
      const llvm::json::Value *id = o ? o->get("id") : nullptr;
      if (!content || !id)
        return error("an 'added_tokens' entry lacks 'id' or 'content'");
      if (Error e = place(*content, *id, "added_tokens"))
        return std::move(e);
      addedType[*id->getAsInteger()] =
          o->getBoolean("special").value_or(false) ? kControl : kUserDefined;
    }
  }
  const int64_t n = static_cast<int64_t>(byId.size());
  if (n == 0)
    return error("the vocabulary is empty");
  if (n != cfg.config.vocabSize)
    return error(llvm::formatv("holds {0} tokens, but config.json's vocab_size "
                               "is {1}",
                               n, cfg.config.vocabSize)
                     .str());
  TokenizerData t;
  llvm::StringSet<> seen;
  for (int64_t i = 0; i < n; ++i) {
    if (!byId[i])
      return error("no token has the id " + llvm::Twine(i) +
                   " (ids must run from 0 without gaps)");
    StringRef tok = *byId[i];
    if (!seen.insert(tok).second)
      return error("the token '" + tok + "' has two ids");
    t.tokens.push_back(tok.str());
    int32_t type = kNormal;
    if (isByteToken(tok))
      type = kByte;
    else if (isRenderedMarker(tok))
      type = kUserDefined;
    else if (addedType[i])
      type = addedType[i];
    t.types.push_back(type);
  }
  // BPE has no scores; llama.cpp's converter writes -1000 for every token.
  t.scores.assign(n, -1000.0f);

  if (const llvm::json::Value *merges = model->get("merges")) {
    const llvm::json::Array *list = merges->getAsArray();
    if (!list)
      return error("'model.merges' must be a list");
    for (const llvm::json::Value &m : *list) {
      if (std::optional<StringRef> s = m.getAsString()) {
        if (s->count(' ') != 1)
          return error("merge '" + *s + "' is not two tokens separated by one "
                       "space");
        t.merges.push_back(s->str());
        continue;
      }
      const llvm::json::Array *pair = m.getAsArray();
      std::optional<StringRef> a, b;
      if (pair && pair->size() == 2) {
        a = (*pair)[0].getAsString();
        b = (*pair)[1].getAsString();
      }
      if (!a || !b || a->contains(' ') || b->contains(' '))
        return error("'model.merges' holds an entry that is neither \"a b\" "
                     "nor a pair of tokens without spaces");
      t.merges.push_back((*a + " " + *b).str());
    }
  }
  if (std::optional<StringRef> unk = model->getString("unk_token"))
    for (int64_t i = 0; i < n; ++i)
      if (t.tokens[i] == *unk)
        t.unk = static_cast<int32_t>(i);

  // Special ids: generation_config.json over config.json.
  int64_t bos = cfg.bosTokenId, pad = cfg.padTokenId;
  std::vector<int64_t> eos = cfg.eosTokenIds;
  const std::string genPath = c.pathOf("generation_config.json");
  auto gen = c.readText("generation_config.json");
  if (!gen)
    return gen.takeError();
  if (*gen) {
    auto genJson = parseObject(genPath, **gen);
    if (!genJson)
      return genJson.takeError();
    const llvm::json::Object &g = *genJson->getAsObject();
    auto id = [&](StringRef key, int64_t &out) -> Error {
      const llvm::json::Value *v = g.get(key);
      if (!v || v->kind() == llvm::json::Value::Null)
        return Error::success();
      std::optional<int64_t> x = v->getAsInteger();
      if (!x || *x < 0 || *x >= n)
        return support::fileError(genPath, std::nullopt,
                                   "'" + key + "' is not a token id (0.." +
                                       llvm::Twine(n - 1) + ")");
      out = *x;
      return Error::success();
    };
    auto ids = [&](StringRef key, std::vector<int64_t> &out) -> Error {
      const llvm::json::Value *v = g.get(key);
      if (!v || v->kind() == llvm::json::Value::Null)
        return Error::success();
      out.clear();
      const llvm::json::Array *list = v->getAsArray();
      llvm::json::Array single;
      if (!list) {
        single.push_back(*v);
        list = &single;
      }
      for (const llvm::json::Value &x : *list) {
        std::optional<int64_t> i = x.getAsInteger();
        if (!i || *i < 0 || *i >= n)
          return support::fileError(genPath, std::nullopt,
                                    "'" + key + "' holds " +
                                        llvm::formatv("{0}", x).str() +
                                        ", not a token id (0.." +
                                        llvm::Twine(n - 1) + ")");
        out.push_back(*i);
      }
      return Error::success();
    };
    std::vector<int64_t> suppress;
    if (Error e = id("bos_token_id", bos))
      return std::move(e);
    if (Error e = id("pad_token_id", pad))
      return std::move(e);
    if (Error e = ids("eos_token_id", eos))
      return std::move(e);
    if (Error e = ids("suppress_tokens", suppress))
      return std::move(e);
    for (int64_t s : suppress)
      t.suppress.push_back(static_cast<int32_t>(s));
    // Sampling defaults, the keys llama.cpp's converter copies into
    // general.sampling.* (do_sample is not one: llama.cpp ignores it).
    auto shortNumber = [](double x) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%g", x);
      return std::string(buf);
    };
    auto number = [&](StringRef key, double lo, double hi,
                      std::optional<float> &out) -> Error {
      const llvm::json::Value *v = g.get(key);
      if (!v || v->kind() == llvm::json::Value::Null)
        return Error::success();
      std::optional<double> x = v->getAsNumber();
      if (!x || !(*x >= lo && *x <= hi))
        return support::fileError(genPath, std::nullopt,
                                  "'" + key + "' = " +
                                      llvm::formatv("{0}", *v).str() +
                                      " is not a number in [" +
                                      shortNumber(lo) + ", " +
                                      shortNumber(hi) + "]");
      out = static_cast<float>(*x);
      return Error::success();
    };
    auto integer = [&](StringRef key, int64_t lo, int64_t hi,
                       std::optional<int32_t> &out) -> Error {
      const llvm::json::Value *v = g.get(key);
      if (!v || v->kind() == llvm::json::Value::Null)
        return Error::success();
      std::optional<int64_t> x = v->getAsInteger();
      if (!x || *x < lo || *x > hi)
        return support::fileError(genPath, std::nullopt,
                                  "'" + key + "' = " +
                                      llvm::formatv("{0}", *v).str() +
                                      " is not an integer in [" +
                                      llvm::Twine(lo) + ", " + llvm::Twine(hi) +
                                      "]");
      out = static_cast<int32_t>(*x);
      return Error::success();
    };
    SamplingDefaults &s = t.sampling;
    if (Error e = number("temperature", 0, 100, s.temperature))
      return std::move(e);
    if (Error e = integer("top_k", 0, 1 << 30, s.topK))
      return std::move(e);
    if (Error e = number("top_p", 0, 1, s.topP))
      return std::move(e);
    if (Error e = number("min_p", 0, 1, s.minP))
      return std::move(e);
    if (Error e = number(g.get("penalty_repeat") ? "penalty_repeat"
                                                 : "repetition_penalty",
                         0.01, 100, s.repeatPenalty))
      return std::move(e);
    if (Error e = integer("penalty_last_n", -1, 1 << 30, s.penaltyLastN))
      return std::move(e);
  }
  for (auto [value, name] : {std::pair<int64_t, StringRef>{bos, "bos_token_id"},
                             {pad, "pad_token_id"}})
    if (value >= n)
      return support::fileError(c.pathOf("config.json"), std::nullopt,
                                "'" + name + "' = " + llvm::Twine(value) +
                                    " is outside the " + llvm::Twine(n) +
                                    "-token vocabulary");
  for (int64_t e : eos)
    if (e >= n)
      return support::fileError(c.pathOf("config.json"), std::nullopt,
                                "'eos_token_id' holds " + llvm::Twine(e) +
                                    ", outside the " + llvm::Twine(n) +
                                    "-token vocabulary");
  t.bos = static_cast<int32_t>(bos);
  t.pad = static_cast<int32_t>(pad);
  t.eos = eos.empty() ? -1 : static_cast<int32_t>(eos.front());
  t.addBos = true; // Gemma 4 always starts with <bos>
  std::set<int32_t> eog;
  for (int64_t e : eos)
    eog.insert(static_cast<int32_t>(e));
  for (int64_t i = 0; i < n; ++i) {
    StringRef s = t.tokens[i];
    if (s == "<turn|>")
      t.eot = static_cast<int32_t>(i);
    if (s == "<eos>" || s == "<turn|>" || s == "<|tool_response>" ||
        s == "<end_of_turn>")
      eog.insert(static_cast<int32_t>(i));
  }
  t.endOfGeneration.assign(eog.begin(), eog.end());

  // The chat template: chat_template.jinja, else tokenizer_config.json's.
  auto jinja = c.readText("chat_template.jinja");
  if (!jinja)
    return jinja.takeError();
  if (*jinja) {
    t.chatTemplate = std::move(**jinja);
  } else {
    auto config = c.readText("tokenizer_config.json", 256ull << 20);
    if (!config)
      return config.takeError();
    if (*config) {
      auto configJson = parseObject(c.pathOf("tokenizer_config.json"), **config);
      if (!configJson)
        return configJson.takeError();
      if (std::optional<std::string> tmpl =
              templateOf(*configJson->getAsObject()))
        t.chatTemplate = std::move(*tmpl);
    }
  }
  return t;
}
