#include "runtime/serve/requests.h"

#include <cmath>
#include <mutex>
#include <random>

namespace gemmac::serve {

using nlohmann::json;

namespace {

uint64_t randomSeed() {
  static std::mutex mu;
  static std::mt19937_64 rng{std::random_device{}()};
  std::lock_guard<std::mutex> lock(mu);
  return rng() >> 1;
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

RequestError renderChat(const ServeContext &ctx, const std::string &messagesJson,
                        const std::string &optionsJson, std::string &prompt) {
  char *text = gemmac_chat_apply_template(ctx.model, messagesJson.c_str(), optionsJson.c_str());
  if (!text)
    return {400, "invalid_request_error", gemmac_last_error()};
  prompt = text;
  gemmac_free(text);
  return {};
}

RequestError renderChat(const ServeContext &ctx, const json &body, std::string &prompt) {
  std::string messagesJson, optionsJson;
  if (RequestError e = parseChatInputs(body, messagesJson, optionsJson))
    return e;
  return renderChat(ctx, messagesJson, optionsJson, prompt);
}

RequestError buildJob(const ServeContext &ctx, Endpoint endpoint, const std::string &body,
                      Job &job, RequestInfo &info) {
  CompletionRequest r;
  if (RequestError e = parseCompletionRequest(
          endpoint, body, ctx.options->sampler, r, ctx.options->draft_max,
          gemmac_model_vocab_size(ctx.model), ctx.options->draft_script != 0))
    return e;
  info.endpoint = endpoint;
  info.stream = r.stream;
  info.includeUsage = r.includeUsage;
  info.logprobs = r.logprobs;
  info.model = r.model.empty() ? ctx.options->model_name : r.model;
  job.sampler = r.sampler;
  if (!r.hasSeed)
    job.sampler.seed = randomSeed();
  job.maxTokens = r.maxTokens;
  job.stop = std::move(r.stop);
  job.topLogprobs = r.topLogprobs;
  job.draftMax = r.draftMax;
  job.script = std::move(r.script);
  job.scriptDraft.accept = r.scriptAccept;
  if (endpoint == Endpoint::Chat) {
    std::string prompt;
    if (RequestError e = renderChat(ctx, r.messagesJson, r.optionsJson, prompt))
      return e;
    job.prompt = tokenizeText(ctx, prompt, true);
    job.stopTokens = ctx.chatStopTokens;
    job.specialText = true;
  } else {
    job.prompt = tokenizeText(ctx, r.prompt, true);
  }
  if (job.prompt.empty())
    return {400, "invalid_request_error", "the prompt is empty"};
  if (static_cast<long>(job.prompt.size()) >= ctx.nCtx)
    return {400, "exceed_context_size_error",
            "the request exceeds the available context size (" +
                std::to_string(job.prompt.size()) + " prompt tokens, context " +
                std::to_string(ctx.nCtx) + "), try increasing it"};
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
  json u{{"prompt_tokens", prompt},
              {"completion_tokens", job.generated},
              {"total_tokens", prompt + job.generated},
              {"prompt_tokens_details", json{{"cached_tokens", job.reused}}},
              {"timings", json{{"queued_ms", (job.started - job.queued) * 1e3},
                               {"prompt_n", prompt - job.reused},
                               {"prompt_ms", promptMs * 1e3},
                               {"predicted_n", job.generated},
                               {"predicted_ms", genMs * 1e3}}}};
  if (job.drafted > 0) { // as llama-server
    u["timings"]["draft_n"] = job.drafted;
    u["timings"]["draft_n_accepted"] = job.accepted;
  }
  return u;
}

} // namespace gemmac::serve
