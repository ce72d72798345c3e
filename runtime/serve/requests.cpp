#include "runtime/serve/requests.h"

#include <cmath>
#include <random>

namespace gemmac::serve {

using nlohmann::json;

json errorJson(int status, const std::string &type, const std::string &message) {
  return json{{"error", json{{"code", status}, {"message", message}, {"type", type}}}};
}

namespace {

RequestError invalid(const std::string &message) {
  return {400, "invalid_request_error", message};
}

/// Typed reads of optional request fields; the first wrong one is kept.
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
    if (!v->is_number() || !std::isfinite(v->get<double>()) || v->get<double>() < lo ||
        v->get<double>() > hi) {
      fail(std::string("'") + key + "' must be a number between " + fmt(lo) + " and " + fmt(hi));
      return dflt;
    }
    return v->get<double>();
  }
  long integer(const char *key, long dflt, long lo, long hi) {
    const json *v = get(key);
    if (!v)
      return dflt;
    if (!v->is_number_integer() || v->get<long long>() < lo || v->get<long long>() > hi) {
      fail(std::string("'") + key + "' must be an integer between " + std::to_string(lo) +
           " and " + std::to_string(hi));
      return dflt;
    }
    return static_cast<long>(v->get<long long>());
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

uint64_t randomSeed() {
  static std::mutex mu;
  static std::mt19937_64 rng{std::random_device{}()};
  std::lock_guard<std::mutex> lock(mu);
  return rng() >> 1;
}

RequestError readSampling(const ServeContext &ctx, Fields &f, Job &job, RequestInfo &info) {
  const gemmac_sampler_params &d = ctx.options->sampler;
  gemmac_sampler_params &s = job.sampler;
  s = d;
  s.temperature = static_cast<float>(f.number("temperature", d.temperature, 0, 100));
  s.top_p = static_cast<float>(f.number("top_p", d.top_p, 0, 1));
  s.top_k = static_cast<int32_t>(f.integer("top_k", d.top_k, 0, 1 << 30));
  s.min_p = static_cast<float>(f.number("min_p", d.min_p, 0, 1));
  s.presence_penalty = static_cast<float>(f.number("presence_penalty", d.presence_penalty, -2, 2));
  s.frequency_penalty = static_cast<float>(f.number("frequency_penalty", d.frequency_penalty, -2, 2));
  s.repeat_penalty = static_cast<float>(f.number("repeat_penalty", d.repeat_penalty, 0.01, 100));
  s.penalty_last_n = static_cast<int32_t>(f.integer("repeat_last_n", d.penalty_last_n, -1, 1 << 30));
  const json *seed = f.get("seed");
  s.seed = seed && seed->is_number_integer() && seed->get<long long>() >= 0
               ? static_cast<uint64_t>(seed->get<long long>())
               : randomSeed();
  if (seed && !seed->is_number_integer())
    f.fail("'seed' must be an integer");
  long maxTokens = f.integer("max_tokens", -1, -1, 1 << 30);
  maxTokens = f.integer("max_completion_tokens", maxTokens, -1, 1 << 30);
  job.maxTokens = f.integer("n_predict", maxTokens, -1, 1 << 30);
  if (f.integer("n", 1, 1, 1) != 1)
    f.fail("'n' must be 1");
  if (const json *stop = f.get("stop")) {
    if (stop->is_string())
      job.stop.push_back(stop->get<std::string>());
    else if (stop->is_array() && stop->size() <= 16) {
      for (const json &s : *stop) {
        if (!s.is_string() || s.get<std::string>().size() > 1024)
          return invalid("'stop' must be a string or an array of at most 16 strings");
        job.stop.push_back(s.get<std::string>());
      }
    } else
      return invalid("'stop' must be a string or an array of at most 16 strings");
  }
  if (info.endpoint == Endpoint::Chat) {
    info.logprobs = f.boolean("logprobs", false);
    long top = f.integer("top_logprobs", 0, 0, 20);
    job.topLogprobs = info.logprobs ? static_cast<int>(top) : -1;
  } else if (const json *lp = f.get("logprobs")) {
    if (!lp->is_number_integer() || lp->get<long long>() < 0 || lp->get<long long>() > 20)
      return invalid("'logprobs' must be an integer between 0 and 20");
    info.logprobs = true;
    job.topLogprobs = static_cast<int>(lp->get<long long>());
  }
  info.stream = f.boolean("stream", false);
  if (const json *so = f.get("stream_options")) {
    if (!so->is_object())
      return invalid("'stream_options' must be an object");
    Fields sf{*so, {}};
    info.includeUsage = sf.boolean("include_usage", false);
    if (sf.error)
      return sf.error;
  }
  return f.error;
}

} // namespace

std::vector<gemmac_token> tokenizeText(const ServeContext &ctx, const std::string &text,
                                       bool addBos) {
  if (addBos && !ctx.bosText.empty() && text.rfind(ctx.bosText, 0) == 0)
    addBos = false; // exactly one <bos>
  std::vector<gemmac_token> ids(text.size() + 8);
  int32_t n = gemmac_tokenize(ctx.model, text.data(), text.size(), addBos, 1, ids.data(),
                              static_cast<int32_t>(ids.size()));
  if (n < 0) {
    ids.resize(static_cast<size_t>(-n));
    n = gemmac_tokenize(ctx.model, text.data(), text.size(), addBos, 1, ids.data(), -n);
  }
  ids.resize(n < 0 ? 0 : static_cast<size_t>(n));
  return ids;
}

RequestError renderChat(const ServeContext &ctx, const json &body, std::string &prompt) {
  auto messages = body.find("messages");
  if (messages == body.end() || !messages->is_array() || messages->empty())
    return invalid("'messages' must be a non-empty array");
  json options = json::object();
  options["add_generation_prompt"] = true;
  bool thinking = false;
  if (auto effort = body.find("reasoning_effort"); effort != body.end() && !effort->is_null()) {
    if (!effort->is_string())
      return invalid("'reasoning_effort' must be a string");
    thinking = effort->get<std::string>() != "none";
  }
  options["enable_thinking"] = thinking;
  auto tools = body.find("tools");
  auto choice = body.find("tool_choice");
  bool toolsOff = choice != body.end() && choice->is_string() && *choice == "none";
  if (tools != body.end() && !tools->is_null()) {
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
  char *text = gemmac_chat_apply_template(ctx.model, messages->dump().c_str(),
                                          options.dump().c_str());
  if (!text)
    return invalid(gemmac_last_error());
  prompt = text;
  gemmac_free(text);
  return {};
}

RequestError buildJob(const ServeContext &ctx, Endpoint endpoint, const std::string &body,
                      Job &job, RequestInfo &info) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return invalid("the request body is not a JSON object");
  info.endpoint = endpoint;
  Fields f{j, {}};
  if (RequestError e = readSampling(ctx, f, job, info))
    return e;
  std::string prompt;
  if (endpoint == Endpoint::Chat) {
    if (RequestError e = renderChat(ctx, j, prompt))
      return e;
    job.prompt = tokenizeText(ctx, prompt, true);
    job.stopTokens = ctx.chatStopTokens;
    job.specialText = true;
  } else {
    auto p = j.find("prompt");
    if (p == j.end() || !p->is_string())
      return invalid("'prompt' must be a string");
    job.prompt = tokenizeText(ctx, p->get<std::string>(), true);
  }
  if (job.prompt.empty())
    return invalid("the prompt is empty");
  if (static_cast<long>(job.prompt.size()) >= ctx.nCtx)
    return {400, "exceed_context_size_error",
            "the request exceeds the available context size (" +
                std::to_string(job.prompt.size()) + " prompt tokens, context " +
                std::to_string(ctx.nCtx) + "), try increasing it"};
  auto model = j.find("model");
  info.model = model != j.end() && model->is_string() ? model->get<std::string>()
                                                      : ctx.options->model_name;
  return {};
}

json logprobJson(const gemmac_model *m, const TokenEvent &ev) {
  auto entry = [&](gemmac_token t, float lp) {
    std::string piece = tokenPiece(m, t, true);
    json bytes = json::array();
    for (unsigned char c : piece)
      bytes.push_back(c);
    return json{{"id", t}, {"token", piece}, {"logprob", lp}, {"bytes", bytes}};
  };
  json e = entry(ev.id, ev.logprob);
  json top = json::array();
  for (auto &[t, lp] : ev.top)
    top.push_back(entry(t, lp));
  e["top_logprobs"] = top;
  return e;
}

json usageJson(const Job &job) {
  const long prompt = static_cast<long>(job.prompt.size());
  const double promptMs = (job.firstToken > 0 ? job.firstToken : job.finished) - job.started;
  const double genMs = job.firstToken > 0 ? job.finished - job.firstToken : 0;
  return json{{"prompt_tokens", prompt},
              {"completion_tokens", job.generated},
              {"total_tokens", prompt + job.generated},
              {"prompt_tokens_details", json{{"cached_tokens", job.reused}}},
              {"timings", json{{"queued_ms", (job.started - job.queued) * 1e3},
                               {"prompt_n", prompt - job.reused},
                               {"prompt_ms", promptMs * 1e3},
                               {"predicted_n", job.generated},
                               {"predicted_ms", genMs * 1e3}}}};
}

} // namespace gemmac::serve
