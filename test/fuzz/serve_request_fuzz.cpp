// libFuzzer harness for the server's request bodies
// (runtime/serve/request_parse.cpp): the first byte picks the endpoint, the
// rest is the body. Every body must give either a request within the
// documented bounds or a 400 with a message; never a crash, an exception,
// a hang.
#include "runtime/serve/request_parse.h"

#include <cstdint>
#include <cstdlib>
#include <string>

using namespace gemmac::serve;
using nlohmann::json;

namespace {

void require(bool ok) {
  if (!ok)
    std::abort();
}

void checkError(const RequestError &e) {
  require(e.status == 400 && e.type == "invalid_request_error" && !e.message.empty());
  // The error body is sent with the replacing dump, as sendError does.
  require(!errorJson(e.status, e.type, e.message).dump(-1, ' ', false,
                                                      json::error_handler_t::replace).empty());
}

void checkCompletion(Endpoint endpoint, const std::string &body) {
  gemmac_sampler_params defaults{};
  defaults.temperature = 0.8f;
  defaults.top_k = 40;
  defaults.top_p = 0.95f;
  defaults.min_p = 0.05f;
  defaults.repeat_penalty = 1;
  defaults.penalty_last_n = 64;
  CompletionRequest r;
  const int serverDraftMax = 6; // serve --draft-max 6 --draft-script
  const int32_t vocab = 1024;
  if (RequestError e = parseCompletionRequest(endpoint, body, defaults, r, serverDraftMax,
                                              vocab, /*allowScript=*/true))
    return checkError(e);
  require(r.endpoint == endpoint);
  require(r.draftMax >= 0 && r.draftMax <= serverDraftMax);
  require(r.scriptAccept >= 0 && r.scriptAccept <= 1);
  for (gemmac_token t : r.script)
    require(t >= 0 && t < vocab);
  require(r.maxTokens >= -1 && r.maxTokens <= kMaxTokensLimit);
  require(r.topLogprobs >= -1 && r.topLogprobs <= kMaxTopLogprobs);
  require(r.stop.size() <= kMaxStopStrings);
  for (const std::string &s : r.stop)
    require(s.size() <= kMaxStopLength);
  require(r.sampler.temperature >= 0 && r.sampler.temperature <= 100);
  require(r.sampler.top_p >= 0 && r.sampler.top_p <= 1);
  if (endpoint == Endpoint::Chat) {
    // What gemmac_chat_apply_template receives: a message array and an object.
    json m = json::parse(r.messagesJson, nullptr, false);
    json o = json::parse(r.optionsJson, nullptr, false);
    require(m.is_array() && !m.empty() && o.is_object());
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size == 0)
    return 0;
  const std::string body(reinterpret_cast<const char *>(data) + 1, size - 1);
  switch (data[0] % 5) {
  case 0:
    checkCompletion(Endpoint::Chat, body);
    break;
  case 1:
    checkCompletion(Endpoint::Completion, body);
    break;
  case 2: {
    TokenizeRequest r;
    if (RequestError e = parseTokenizeRequest(body, r))
      checkError(e);
    break;
  }
  case 3: {
    std::vector<gemmac_token> ids;
    if (RequestError e = parseDetokenizeRequest(body, 262144, ids))
      checkError(e);
    for (gemmac_token t : ids)
      require(t >= 0 && t < 262144);
    break;
  }
  default: { // /apply-template
    json j;
    std::string messages, options;
    if (RequestError e = parseObject(body, j))
      checkError(e);
    else if (RequestError e = parseChatInputs(j, messages, options))
      checkError(e);
    break;
  }
  }
  return 0;
}
