// The server's request bodies, read and checked: pure functions from the
// bytes a client sent to what it asked for, or a 400 naming the field. No
// model, no sockets (test/fuzz/serve_request_fuzz.cpp feeds them anything).
#pragma once

#include "runtime/include/gemmac.h"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace gemmac::serve {

/// A request the server refuses, with its HTTP status and OpenAI error type.
struct RequestError {
  int status = 0; // 0: no error
  std::string type, message;
  explicit operator bool() const { return status != 0; }
};

nlohmann::json errorJson(int status, const std::string &type, const std::string &message);

enum class Endpoint { Chat, Completion };

/// Largest accepted values of a few request fields (bounds on work and memory).
constexpr long kMaxTokensLimit = 1L << 30;
constexpr size_t kMaxStopStrings = 16, kMaxStopLength = 1024;
constexpr int kMaxTopLogprobs = 20;

/// What a /v1/chat/completions or /v1/completions body asks for.
struct CompletionRequest {
  Endpoint endpoint = Endpoint::Chat;
  gemmac_sampler_params sampler{}; // the server's defaults, overridden
  bool hasSeed = false;            // else the caller draws one
  long maxTokens = -1;             // -1: until an end token or the context is full
  std::vector<std::string> stop;
  bool stream = false, includeUsage = false, logprobs = false;
  int topLogprobs = -1; // -1: no logprobs
  int draftMax = 0;     // speculative.n_max (0 .. the server's --draft-max)
  // speculative.script (serve --draft-script): the drafts are `script`
  // (the continuation after the prompt), each token right with probability
  // scriptAccept until the first wrong one.
  std::vector<gemmac_token> script;
  double scriptAccept = 0;
  std::string model;    // "" if the body names none
  // Chat: the template's inputs, as JSON texts for gemmac_chat_apply_template.
  std::string messagesJson, optionsJson;
  // Completion: the prompt text.
  std::string prompt;
};

/// Reads a completion body (defaults from the server's sampler options).
/// `draftMax`: the server's --draft-max, the default and the most a request
/// may ask for.
/// `vocab` bounds speculative.script's tokens, which only a server with
/// --draft-script (`allowScript`) takes.
RequestError parseCompletionRequest(Endpoint endpoint, const std::string &body,
                                    const gemmac_sampler_params &defaults,
                                    CompletionRequest &out, int draftMax = 0,
                                    int32_t vocab = 0, bool allowScript = false);

/// The chat template's inputs of a body (also /apply-template's body).
RequestError parseChatInputs(const nlohmann::json &body, std::string &messagesJson,
                             std::string &optionsJson);

/// The body parsed as a JSON object, or a 400.
RequestError parseObject(const std::string &body, nlohmann::json &out);

struct TokenizeRequest {
  std::string content;
  bool addSpecial = false, withPieces = false;
};
RequestError parseTokenizeRequest(const std::string &body, TokenizeRequest &out);

/// Token ids below `vocab`.
RequestError parseDetokenizeRequest(const std::string &body, int32_t vocab,
                                    std::vector<gemmac_token> &tokens);

} // namespace gemmac::serve
