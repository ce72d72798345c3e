// OpenAI requests to scheduler jobs, and jobs' results to OpenAI responses,
// in llama-server's wire format.
#pragma once

#include "runtime/serve/request_parse.h"
#include "runtime/serve/scheduler.h"
#include "runtime/serve/serve_api.h"

#include <nlohmann/json.hpp>

#include <string>

namespace gemmac::serve {

struct ServeContext {
  gemmac_model *model = nullptr;
  const gemmac_serve_options *options = nullptr;
  int nCtx = 0;
  std::string bosText;
  std::vector<gemmac_token> chatStopTokens; // <turn|>, <eos>, <|tool_response>
};

/// What a request asked for beyond the job: how to answer.
struct RequestInfo {
  Endpoint endpoint = Endpoint::Chat;
  bool stream = false, includeUsage = false, logprobs = false;
  std::string id, model;
  long created = 0;
};

/// Parses a /v1/chat/completions or /v1/completions body into a job.
RequestError buildJob(const ServeContext &ctx, Endpoint endpoint, const std::string &body,
                      Job &job, RequestInfo &info);

/// The rendered chat prompt of a request body (also /apply-template).
RequestError renderChat(const ServeContext &ctx, const nlohmann::json &body, std::string &prompt);
/// The rendered chat prompt of the template's inputs.
RequestError renderChat(const ServeContext &ctx, const std::string &messagesJson,
                        const std::string &optionsJson, std::string &prompt);

/// Tokens with special tokens parsed; <bos> added unless the text has one.
std::vector<gemmac_token> tokenizeText(const ServeContext &ctx, const std::string &text,
                                       bool addBos);

/// OpenAI's logprobs entry of one token.
nlohmann::json logprobJson(const gemmac_model *m, const TokenEvent &ev);

/// The usage object (with llama-server's timings).
nlohmann::json usageJson(const Job &job);

} // namespace gemmac::serve
