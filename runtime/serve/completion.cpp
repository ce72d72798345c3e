// POST /v1/chat/completions and /v1/completions: a job for the scheduler,
// answered whole or streamed as server-sent events the way llama-server
// sends them (a first chunk with the role, deltas, a chunk with the finish
// reason, the usage chunk when asked, `data: [DONE]`).

#include "runtime/serve/server.h"

#include <chrono>

using nlohmann::json;

namespace gemmac::serve {
namespace {

/// Streams a chat answer: the parsed deltas of the tokens generated so far.
struct ChatStream {
  gemmac_chat_parser *parser = gemmac_chat_parser_new(nullptr);
  bool sawToolCall = false;
  // Logprobs of tokens whose text is still held back: sent with the next
  // chunk that carries text.
  nlohmann::json pendingLogprobs = nlohmann::json::array();
  ~ChatStream() { gemmac_chat_parser_free(parser); }
  json deltas(const std::string &text, bool finish) {
    char *out = finish ? gemmac_chat_parser_finish(parser)
                       : gemmac_chat_parser_feed(parser, text.data(), text.size());
    json d = out ? json::parse(out, nullptr, false) : json::array();
    gemmac_free(out);
    if (d.is_discarded())
      d = json::array();
    for (const json &x : d)
      sawToolCall |= x.contains("tool_calls");
    return d;
  }
};

std::string finishReason(const Job &job, bool toolCalls) {
  if (job.finishReason == "stop" && toolCalls)
    return "tool_calls";
  return job.finishReason;
}

json chunkBase(const RequestInfo &info) {
  return json{{"id", info.id},
              {"object", info.endpoint == Endpoint::Chat ? "chat.completion.chunk" : "text_completion"},
              {"created", info.created},
              {"model", info.model},
              {"system_fingerprint", "gemmac"}};
}

/// Waits until the job has events or is done (at most `wait`).
void waitForJob(Job &job, std::unique_lock<std::mutex> &lock, std::chrono::milliseconds wait) {
  job.cv.wait_for(lock, wait, [&] { return job.done || !job.events.empty(); });
}

} // namespace

void Server::complete(const httplib::Request &req, httplib::Response &res, Endpoint endpoint) {
  auto job = std::make_shared<Job>();
  auto info = std::make_shared<RequestInfo>();
  if (RequestError e = buildJob(ctx_, endpoint, req.body, *job, *info))
    return sendError(res, e);
  info->id = (endpoint == Endpoint::Chat ? "chatcmpl-" : "cmpl-") + std::to_string(nextId_++);
  info->created = unixTime();
  if (opts_.timeout_s > 0)
    job->deadline = now() + opts_.timeout_s;
  if (!sched_.submit(job))
    return sendError(res, {503, "unavailable_error",
                           sched_.draining()
                               ? "the server is shutting down"
                               : "the server is busy: every slot is generating and the queue is full"});
  // Counted until the answer is written: a stream's until httplib releases it.
  auto answering = std::shared_ptr<std::atomic<int>>(&answering_, [](std::atomic<int> *n) { --*n; });
  ++answering_;
  if (opts_.verbose)
    std::fprintf(stderr, "%s: %zu prompt tokens\n", info->id.c_str(), job->prompt.size());
  const gemmac_model *model = ctx_.model;

  if (!info->stream) {
    std::string text;
    json logprobs = json::array();
    const int fd = requestSocket(req);
    std::unique_lock<std::mutex> lock(job->mu);
    while (!job->cv.wait_for(lock, std::chrono::milliseconds(100), [&] { return job->done; }))
      if (peerClosed(fd)) {
        // Nobody waits for the answer any more: free the slot.
        job->cancelled = true;
        return;
      }
    for (const TokenEvent &ev : job->events) {
      text += ev.text;
      if (info->logprobs && ev.id >= 0)
        logprobs.push_back(logprobJson(model, ev));
    }
    if (!job->error.empty())
      return sendError(res, sched_.draining()
                                ? RequestError{503, "unavailable_error", job->error}
                                : RequestError{500, "server_error", job->error});
    json choice{{"index", 0}};
    if (endpoint == Endpoint::Chat) {
      char *parsed = gemmac_chat_parse_output(text.data(), text.size());
      json message = parsed ? json::parse(parsed, nullptr, false) : json::object();
      gemmac_free(parsed);
      choice["message"] = message;
      choice["finish_reason"] = finishReason(*job, message.contains("tool_calls"));
      choice["logprobs"] = info->logprobs ? json{{"content", logprobs}} : json(nullptr);
    } else {
      choice["text"] = text;
      choice["finish_reason"] = job->finishReason;
      choice["logprobs"] = info->logprobs ? json{{"content", logprobs}} : json(nullptr);
    }
    json body = chunkBase(*info);
    body["object"] = endpoint == Endpoint::Chat ? "chat.completion" : "text_completion";
    body["choices"] = json::array({choice});
    body["usage"] = usageJson(*job);
    return sendJson(res, 200, body);
  }

  auto stream = std::make_shared<ChatStream>();
  auto started = std::make_shared<bool>(false);
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider(
      "text/event-stream",
      [job, info, stream, started, model](size_t, httplib::DataSink &sink) {
        auto send = [&](const json &choiceDelta, const json &finish, const json &logprobs) {
          json c = chunkBase(*info);
          json choice{{"index", 0}, {"finish_reason", finish}};
          if (info->endpoint == Endpoint::Chat)
            choice["delta"] = choiceDelta;
          else
            choice["text"] = choiceDelta.value("content", "");
          choice["logprobs"] = logprobs;
          c["choices"] = json::array({choice});
          std::string s = sse(c);
          return sink.write(s.data(), s.size());
        };
        if (!*started) {
          *started = true;
          if (info->endpoint == Endpoint::Chat &&
              !send(json{{"role", "assistant"}, {"content", nullptr}}, nullptr, nullptr))
            return false;
        }
        std::unique_lock<std::mutex> lock(job->mu);
        waitForJob(*job, lock, std::chrono::milliseconds(200));
        std::deque<TokenEvent> events;
        events.swap(job->events);
        const bool done = job->done;
        lock.unlock();
        std::string text;
        for (const TokenEvent &ev : events) {
          text += ev.text;
          if (info->logprobs && ev.id >= 0)
            stream->pendingLogprobs.push_back(logprobJson(model, ev));
        }
        auto takeLogprobs = [&]() -> json {
          if (!info->logprobs)
            return nullptr;
          json lp{{"content", std::move(stream->pendingLogprobs)}};
          stream->pendingLogprobs = json::array();
          return lp;
        };
        if (info->endpoint == Endpoint::Chat) {
          json deltas = stream->deltas(text, false);
          if (done) {
            json rest = stream->deltas("", true);
            for (json &d : rest)
              deltas.push_back(std::move(d));
          }
          for (const json &d : deltas)
            if (!send(d, nullptr, takeLogprobs()))
              return false;
        } else {
          // As llama-server: a chunk per generated token, its text possibly
          // empty (a control token, or bytes of a character not yet whole).
          for (const TokenEvent &ev : events) {
            if (ev.id < 0 && ev.text.empty())
              continue;
            json lp = nullptr;
            if (info->logprobs && ev.id >= 0)
              lp = json{{"content", json::array({logprobJson(model, ev)})}};
            if (!send(json{{"content", ev.text}}, nullptr, lp))
              return false;
          }
          stream->pendingLogprobs = json::array();
        }
        if (!done)
          return true;
        if (!job->error.empty()) {
          std::string s = sse(errorJson(500, "server_error", job->error));
          sink.write(s.data(), s.size());
        } else {
          json empty = info->endpoint == Endpoint::Chat ? json::object() : json{{"content", ""}};
          if (!send(empty, finishReason(*job, stream->sawToolCall), takeLogprobs()))
            return false;
          if (info->includeUsage) {
            json u = chunkBase(*info);
            u["choices"] = json::array();
            u["usage"] = usageJson(*job);
            std::string s = sse(u);
            if (!sink.write(s.data(), s.size()))
              return false;
          }
        }
        static const char kDone[] = "data: [DONE]\n\n";
        sink.write(kDone, sizeof kDone - 1);
        sink.done();
        return true;
      },
      [job, answering](bool success) {
        // The client went away (or the write failed): free its slot.
        if (!success)
          job->cancelled = true;
      });
}

} // namespace gemmac::serve
