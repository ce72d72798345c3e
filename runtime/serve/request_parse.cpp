#include "runtime/serve/request_parse.h"

#include <climits>
#include <cmath>
#include <cstdio>

namespace gemmac::serve {

using nlohmann::json;

json errorJson(int status, const std::string &type, const std::string &message) {
  return json{{"error", json{{"code", status}, {"message", message}, {"type", type}}}};
}

namespace {

/// Deepest nesting of arrays and objects a body may have: dumping, copying
/// and comparing JSON values recurse once per level.
constexpr int kMaxDepth = 64;

RequestError invalid(const std::string &message) {
  return {400, "invalid_request_error", message};
}

/// The deepest nesting of `text` read as JSON (brackets inside strings do
/// not count), without recursion; stops counting past `limit`.
int nestingDepth(const std::string &text, int limit) {
  int depth = 0, deepest = 0;
  bool inString = false, escaped = false;
  for (char c : text) {
    if (inString) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        inString = false;
    } else if (c == '"') {
      inString = true;
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
      if (deepest > limit)
        return deepest;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

/// An integer of any JSON integer kind, if it fits a long long.
bool asInteger(const json &v, long long &out) {
  if (v.is_number_unsigned()) {
    const auto u = v.get<unsigned long long>();
    if (u > static_cast<unsigned long long>(LLONG_MAX))
      return false;
    out = static_cast<long long>(u);
    return true;
  }
  if (!v.is_number_integer())
    return false;
  out = v.get<long long>();
  return true;
}

/// Typed reads of optional fields of an object; the first wrong one is kept.
struct Fields {
  const json &body;
  RequestError error;

  const json *get(const char *key) {
    auto it = body.find(key);
    return it == body.end() || it->is_null() ? nullptr : &*it;
  }
  double number(const char *key, double dflt, double lo, double hi) {
    const json *v = get(key);
    if (!v)
      return dflt;
    const double x = v->is_number() ? v->get<double>() : NAN;
    if (!(x >= lo && x <= hi)) { // NaN fails too
      fail(std::string("'") + key + "' must be a number between " + fmt(lo) + " and " + fmt(hi));
      return dflt;
    }
    return x;
  }
  long integer(const char *key, long dflt, long lo, long hi) {
    const json *v = get(key);
    if (!v)
      return dflt;
    long long x = 0;
    if (!asInteger(*v, x) || x < lo || x > hi) {
      fail(std::string("'") + key + "' must be an integer between " + std::to_string(lo) +
           " and " + std::to_string(hi));
      return dflt;
    }
    return static_cast<long>(x);
  }
  bool boolean(const char *key, bool dflt) {
    const json *v = get(key);
    if (!v)
      return dflt;
    if (!v->is_boolean()) {
      fail(std::string("'") + key + "' must be true or false");
      return dflt;
    }
    return v->get<bool>();
  }
  void fail(const std::string &m) {
    if (!error)
      error = invalid(m);
  }
  static std::string fmt(double x) {
    char b[32];
    std::snprintf(b, sizeof b, "%g", x);
    return b;
  }
};

RequestError readStop(Fields &f, CompletionRequest &r) {
  const json *stop = f.get("stop");
  if (!stop)
    return {};
  const std::string what = "'stop' must be a string or an array of at most " +
                           std::to_string(kMaxStopStrings) + " strings of at most " +
                           std::to_string(kMaxStopLength) + " bytes";
  if (stop->is_string()) {
    if (stop->get_ref<const std::string &>().size() > kMaxStopLength)
      return invalid(what);
    r.stop.push_back(stop->get<std::string>());
    return {};
  }
  if (!stop->is_array() || stop->size() > kMaxStopStrings)
    return invalid(what);
  for (const json &s : *stop) {
    if (!s.is_string() || s.get_ref<const std::string &>().size() > kMaxStopLength)
      return invalid(what);
    r.stop.push_back(s.get<std::string>());
  }
  return {};
}

RequestError readSampling(Fields &f, CompletionRequest &r) {
  gemmac_sampler_params &s = r.sampler;
  const gemmac_sampler_params d = s;
  s.temperature = static_cast<float>(f.number("temperature", d.temperature, 0, 100));
  s.top_p = static_cast<float>(f.number("top_p", d.top_p, 0, 1));
  s.top_k = static_cast<int32_t>(f.integer("top_k", d.top_k, 0, 1 << 30));
  s.min_p = static_cast<float>(f.number("min_p", d.min_p, 0, 1));
  s.presence_penalty = static_cast<float>(f.number("presence_penalty", d.presence_penalty, -2, 2));
  s.frequency_penalty = static_cast<float>(f.number("frequency_penalty", d.frequency_penalty, -2, 2));
  s.repeat_penalty = static_cast<float>(f.number("repeat_penalty", d.repeat_penalty, 0.01, 100));
  s.penalty_last_n = static_cast<int32_t>(f.integer("repeat_last_n", d.penalty_last_n, -1, 1 << 30));
  if (f.get("seed")) { // -1: a random seed, as llama.cpp's
    const long seed = f.integer("seed", -1, -1, LONG_MAX);
    r.hasSeed = seed >= 0;
    s.seed = static_cast<uint64_t>(r.hasSeed ? seed : 0);
  }
  // OpenAI's names take no -1; llama.cpp's n_predict does (no limit).
  long maxTokens = f.integer("max_tokens", -1, 0, kMaxTokensLimit);
  maxTokens = f.integer("max_completion_tokens", maxTokens, 0, kMaxTokensLimit);
  r.maxTokens = f.integer("n_predict", maxTokens, -1, kMaxTokensLimit);
  f.integer("n", 1, 1, 1);
  if (f.error)
    return f.error;
  if (RequestError e = readStop(f, r))
    return e;
  if (r.endpoint == Endpoint::Chat) {
    r.logprobs = f.boolean("logprobs", false);
    const long top = f.integer("top_logprobs", 0, 0, kMaxTopLogprobs);
    r.topLogprobs = r.logprobs ? static_cast<int>(top) : -1;
  } else if (f.get("logprobs")) {
    r.logprobs = true;
    r.topLogprobs = static_cast<int>(f.integer("logprobs", 0, 0, kMaxTopLogprobs));
  }
  r.stream = f.boolean("stream", false);
  if (const json *so = f.get("stream_options")) {
    if (!so->is_object())
      return invalid("'stream_options' must be an object");
    Fields sf{*so, {}};
    r.includeUsage = sf.boolean("include_usage", false);
    if (sf.error)
      return sf.error;
  }
  if (const json *model = f.get("model")) {
    if (!model->is_string())
      return invalid("'model' must be a string");
    r.model = model->get<std::string>();
  }
  return f.error;
}

/// response_format: only plain text; a JSON-constrained answer is not
/// implemented, and an unconstrained one would be a silent wrong answer.
RequestError readResponseFormat(Fields &f) {
  const json *rf = f.get("response_format");
  if (!rf)
    return {};
  auto type = rf->is_object() ? rf->find("type") : rf->end();
  if (!rf->is_object() || type == rf->end() || !type->is_string())
    return invalid("'response_format' must be an object with a string 'type'");
  if (*type != "text")
    return invalid("'response_format' type '" + type->get<std::string>() +
                   "' is not supported (only 'text')");
  return {};
}

} // namespace

RequestError parseObject(const std::string &body, json &out) {
  if (nestingDepth(body, kMaxDepth) > kMaxDepth)
    return invalid("the request body nests deeper than " + std::to_string(kMaxDepth) + " levels");
  out = json::parse(body, nullptr, false);
  if (out.is_discarded() || !out.is_object())
    return invalid("the request body is not a JSON object");
  return {};
}

RequestError parseChatInputs(const json &body, std::string &messagesJson,
                             std::string &optionsJson) {
  auto messages = body.find("messages");
  if (messages == body.end() || !messages->is_array() || messages->empty())
    return invalid("'messages' must be a non-empty array");
  for (size_t i = 0; i < messages->size(); ++i) {
    const json &m = (*messages)[i];
    auto role = m.is_object() ? m.find("role") : m.end();
    if (!m.is_object() || role == m.end() || !role->is_string())
      return invalid("'messages[" + std::to_string(i) + "]' must be an object with a string 'role'");
  }
  json options = json::object();
  options["add_generation_prompt"] = true;
  bool thinking = false;
  if (auto effort = body.find("reasoning_effort"); effort != body.end() && !effort->is_null()) {
    if (!effort->is_string())
      return invalid("'reasoning_effort' must be a string");
    thinking = *effort != "none";
  }
  options["enable_thinking"] = thinking;
  auto choice = body.find("tool_choice");
  const bool toolsOff = choice != body.end() && choice->is_string() && *choice == "none";
  if (auto tools = body.find("tools"); tools != body.end() && !tools->is_null()) {
    if (!tools->is_array())
      return invalid("'tools' must be an array");
    if (!toolsOff && !tools->empty())
      options["tools"] = *tools;
  }
  if (auto kw = body.find("chat_template_kwargs"); kw != body.end() && !kw->is_null()) {
    if (!kw->is_object())
      return invalid("'chat_template_kwargs' must be an object");
    for (auto it = kw->begin(); it != kw->end(); ++it)
      options[it.key()] = it.value();
  }
  // Parsed strings are valid UTF-8, so the strict dump cannot fail.
  messagesJson = messages->dump();
  optionsJson = options.dump();
  return {};
}

/// "speculative.script": {"tokens": [ids], "accept": p}, for a server with
/// --draft-script only.
RequestError readScript(Fields &f, CompletionRequest &r, int32_t vocab, bool allowed) {
  const json *s = f.get("speculative.script");
  if (!s)
    return f.error;
  if (!allowed)
    return invalid("'speculative.script' needs a server started with --draft-script");
  if (!s->is_object())
    return invalid("'speculative.script' must be an object {\"tokens\": [...], \"accept\": p}");
  Fields sf{*s, {}};
  r.scriptAccept = sf.number("accept", 0, 0, 1);
  const json *tokens = sf.get("tokens");
  if (!tokens || !tokens->is_array() || tokens->empty() || tokens->size() > (1u << 20))
    return invalid("'speculative.script.tokens' must be a list of 1 to 1048576 token ids");
  for (const json &t : *tokens) {
    long long id = -1;
    if (!asInteger(t, id) || id < 0 || id >= vocab)
      return invalid("'speculative.script.tokens' holds " + t.dump() +
                     ", which is not a token id (0.." + std::to_string(vocab - 1) + ")");
    r.script.push_back(static_cast<gemmac_token>(id));
  }
  return sf.error ? invalid("'speculative.script.accept' must be a number between 0 and 1")
                  : f.error;
}

RequestError parseCompletionRequest(Endpoint endpoint, const std::string &body,
                                    const gemmac_sampler_params &defaults,
                                    CompletionRequest &out, int draftMax,
                                    int32_t vocab, bool allowScript) {
  json j;
  if (RequestError e = parseObject(body, j))
    return e;
  out.endpoint = endpoint;
  out.sampler = defaults;
  Fields f{j, {}};
  // llama-server's name; a request can draft less than the server, or not.
  out.draftMax = static_cast<int>(f.integer("speculative.n_max", draftMax, 0, draftMax));
  if (RequestError e = readScript(f, out, vocab, allowScript))
    return e;
  if (RequestError e = readSampling(f, out))
    return e;
  if (RequestError e = readResponseFormat(f))
    return e;
  if (endpoint == Endpoint::Chat)
    return parseChatInputs(j, out.messagesJson, out.optionsJson);
  auto p = j.find("prompt");
  if (p == j.end() || !p->is_string())
    return invalid("'prompt' must be a string");
  out.prompt = p->get<std::string>();
  return {};
}

RequestError parseTokenizeRequest(const std::string &body, TokenizeRequest &out) {
  json j;
  if (RequestError e = parseObject(body, j))
    return e;
  auto content = j.find("content");
  if (content == j.end() || !content->is_string())
    return invalid("'content' must be a string");
  out.content = content->get<std::string>();
  Fields f{j, {}};
  out.addSpecial = f.boolean("add_special", false);
  out.withPieces = f.boolean("with_pieces", false);
  return f.error;
}

RequestError parseDetokenizeRequest(const std::string &body, int32_t vocab,
                                    std::vector<gemmac_token> &tokens) {
  json j;
  if (RequestError e = parseObject(body, j))
    return e;
  auto list = j.find("tokens");
  if (list == j.end() || !list->is_array())
    return invalid("'tokens' must be an array of token ids");
  for (size_t i = 0; i < list->size(); ++i) {
    long long t = 0;
    if (!asInteger((*list)[i], t) || t < 0 || t >= vocab)
      return invalid("'tokens[" + std::to_string(i) + "]' is not a token id below " +
                     std::to_string(vocab));
    tokens.push_back(static_cast<gemmac_token>(t));
  }
  return {};
}

} // namespace gemmac::serve
