// libgemmac_serve.so: the OpenAI-compatible HTTP server of `OUT serve`,
// on cpp-httplib, answering as llama-server does.

#include "runtime/serve/server.h"

#include <arpa/inet.h>
#include <csignal>
#include <dirent.h>
#include <poll.h>
#include <sys/socket.h>
#include <cstdio>
#include <ctime>
#include <functional>
#include <thread>

using nlohmann::json;

namespace gemmac::serve {


void sendJson(httplib::Response &res, int status, const json &body) {
  res.status = status;
  res.set_content(body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
}

void sendError(httplib::Response &res, const RequestError &e) {
  sendJson(res, e.status, errorJson(e.status, e.type, e.message));
}

std::string sse(const json &j) {
  return "data: " + j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n\n";
}

long unixTime() { return static_cast<long>(std::time(nullptr)); }

void stopSignals(sigset_t &set) {
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
}

namespace {
constexpr int kSocketTimeoutS = 30;  // longest silence of a client mid-request
constexpr int kKeepAliveS = 5;       // an idle kept-alive connection waits this long
constexpr double kShutdownGraceS = 10; // for requests in flight at SIGTERM
constexpr double kFlushS = 5;        // to write out answers after the grace

/// "address:port" of a socket address (IPv4 or IPv6), as httplib writes them.
std::string endpoint(const sockaddr_storage &a) {
  char host[INET6_ADDRSTRLEN] = {};
  int port = -1;
  if (a.ss_family == AF_INET) {
    auto *in = reinterpret_cast<const sockaddr_in *>(&a);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    port = ntohs(in->sin_port);
  } else if (a.ss_family == AF_INET6) {
    auto *in = reinterpret_cast<const sockaddr_in6 *>(&a);
    inet_ntop(AF_INET6, &in->sin6_addr, host, sizeof host);
    port = ntohs(in->sin6_port);
  }
  return std::string(host) + ":" + std::to_string(port);
}
} // namespace

int requestSocket(const httplib::Request &req) {
  const std::string peer = req.remote_addr + ":" + std::to_string(req.remote_port);
  const std::string local = req.local_addr + ":" + std::to_string(req.local_port);
  DIR *dir = opendir("/proc/self/fd");
  if (!dir)
    return -1;
  int found = -1;
  while (dirent *e = readdir(dir)) {
    int fd = std::atoi(e->d_name);
    sockaddr_storage a{}, b{};
    socklen_t la = sizeof a, lb = sizeof b;
    if (e->d_name[0] < '0' || e->d_name[0] > '9' ||
        getpeername(fd, reinterpret_cast<sockaddr *>(&a), &la) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr *>(&b), &lb) != 0)
      continue;
    if (endpoint(a) == peer && endpoint(b) == local) {
      found = fd;
      break;
    }
  }
  closedir(dir);
  return found;
}

bool peerClosed(int fd) {
  if (fd < 0)
    return false;
  pollfd p{fd, POLLIN | POLLRDHUP, 0};
  if (poll(&p, 1, 0) <= 0)
    return false;
  if (p.revents & (POLLRDHUP | POLLHUP | POLLERR))
    return true;
  // Readable: the peer's end of stream reads as 0 bytes (a pipelined next
  // request would read as data).
  char byte;
  return recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

Server::Server(gemmac_model *model, const gemmac_serve_options &o)
    : opts_(o), sched_(model, o.n_slots, o.n_ctx, o.queue, o.batch,
             DraftSettings{o.draft_max, o.draft_min, o.draft_adaptive != 0, o.draft_mtp != 0}) {
  ctx_.model = model;
  ctx_.options = &opts_;
  ctx_.nCtx = o.n_ctx;
  ctx_.bosText = tokenPiece(model, gemmac_token_bos(model), true);
  for (const char *marker : {"<turn|>", "<eos>", "<|tool_response>"}) {
    std::vector<gemmac_token> t = tokenizeText(ctx_, marker, false);
    if (t.size() == 1)
      ctx_.chatStopTokens.push_back(t[0]);
  }
}

int Server::run() {
  if (!sched_.error().empty()) {
    std::fprintf(stderr, "error: %s\n", sched_.error().c_str());
    return 1;
  }
  const size_t threads = static_cast<size_t>(opts_.n_slots + opts_.queue + 16);
  http_.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  http_.set_payload_max_length(static_cast<size_t>(opts_.max_body));
  // A client silent for this long while sending a request (or not reading
  // its answer) is gone: its connection and thread are freed.
  const int socketTimeout = std::min(opts_.timeout_s, kSocketTimeoutS);
  http_.set_read_timeout(socketTimeout);
  http_.set_write_timeout(socketTimeout);
  http_.set_keep_alive_timeout(kKeepAliveS);
  routes();
  int port = opts_.port;
  if (port == 0)
    port = http_.bind_to_any_port(opts_.host);
  else if (!http_.bind_to_port(opts_.host, port))
    port = -1;
  if (port < 0) {
    std::fprintf(stderr, "error: cannot listen on %s:%d (in use, or not an address of this machine)\n",
                 opts_.host, opts_.port);
    return 1;
  }
  std::fprintf(stderr,
               "gemmac serve: %d slot(s) of %d tokens (KV caches %.2f GiB), up to %d "
               "rows per step, listening on http://%s:%d\n",
               opts_.n_slots, opts_.n_ctx, sched_.kvBytes() / double(1ull << 30),
               opts_.batch, opts_.host, port);
  if (opts_.draft_max > 0)
    std::fprintf(stderr,
                 "gemmac serve: speculative decoding: %s drafts of %d to %d tokens%s per "
                 "slot and step\n",
                 opts_.draft_mtp ? "MTP" : "n-gram", std::max(opts_.draft_min, 1), opts_.draft_max,
                 opts_.draft_adaptive ? " (adaptive)" : "");
  std::fflush(stderr);
  // SIGINT/SIGTERM end the server: blocked everywhere (gemmac_serve),
  // waited for here.
  sigset_t set;
  stopSignals(set);
  std::thread listener([this] { http_.listen_after_bind(); });
  int sig = 0;
  sigwait(&set, &sig);
  std::fprintf(stderr, "gemmac serve: stopping (signal %d)\n", sig);
  std::fflush(stderr);
  shutdown(set);
  listener.join();
  return 0;
}

void Server::shutdown(const sigset_t &signals) {
  using namespace std::chrono;
  auto waitFor = [](double seconds, const std::function<bool()> &done) {
    const auto end = steady_clock::now() + duration<double>(seconds);
    while (!done() && steady_clock::now() < end)
      std::this_thread::sleep_for(milliseconds(20));
    return done();
  };
  sched_.drain(); // new completions get 503 meanwhile
  const double grace = std::min(static_cast<double>(opts_.timeout_s), kShutdownGraceS);
  // A second signal cuts the grace short.
  auto again = [&signals] {
    timespec zero{0, 0};
    return sigtimedwait(&signals, nullptr, &zero) > 0;
  };
  if (!waitFor(grace, [&] { return !sched_.busy() || again(); })) {
    std::fprintf(stderr, "gemmac serve: cancelling the requests still running\n");
    sched_.cancelAll("the server is shutting down");
  }
  // Answers already decided are written out (streams end with their error
  // event and [DONE]) before the connections close.
  waitFor(kFlushS, [this] { return !sched_.busy() && answering_ == 0; });
  http_.stop();
}

bool Server::authorized(const httplib::Request &req) const {
  if (!opts_.api_key || !*opts_.api_key)
    return true;
  static const char *kPublic[] = {"/health", "/v1/health", "/models", "/v1/models"};
  for (const char *p : kPublic)
    if (req.path == p)
      return true;
  std::string want = std::string("Bearer ") + opts_.api_key;
  return req.get_header_value("Authorization") == want ||
         req.get_header_value("X-Api-Key") == opts_.api_key;
}

void Server::routes() {
  http_.set_pre_routing_handler([this](const httplib::Request &req, httplib::Response &res) {
    if (authorized(req))
      return httplib::Server::HandlerResponse::Unhandled;
    sendError(res, {401, "authentication_error", "Invalid API Key"});
    return httplib::Server::HandlerResponse::Handled;
  });
  http_.set_error_handler([](const httplib::Request &, httplib::Response &res) {
    if (!res.body.empty())
      return;
    if (res.status == 404)
      sendError(res, {404, "not_found_error", "File Not Found"});
    else if (res.status == 413)
      sendError(res, {413, "invalid_request_error", "the request body is too large"});
    else
      sendError(res, {res.status, "invalid_request_error", "bad request"});
  });
  http_.set_exception_handler([](const httplib::Request &, httplib::Response &res,
                                 std::exception_ptr) {
    sendError(res, {500, "server_error", "internal error"});
  });
  http_.Get("/health", [](const httplib::Request &, httplib::Response &res) {
    sendJson(res, 200, json{{"status", "ok"}});
  });
  http_.Get("/v1/health", [](const httplib::Request &, httplib::Response &res) {
    sendJson(res, 200, json{{"status", "ok"}});
  });
  auto models = [this](const httplib::Request &, httplib::Response &res) {
    json meta{{"n_vocab", gemmac_model_vocab_size(ctx_.model)},
              {"n_ctx_train", gemmac_model_context_length(ctx_.model)},
              {"n_ctx", opts_.n_ctx},
              {"size", gemmac_model_weight_bytes(ctx_.model)}};
    sendJson(res, 200,
             json{{"object", "list"},
                  {"data", json::array({json{{"id", opts_.model_name},
                                             {"object", "model"},
                                             {"created", unixTime()},
                                             {"owned_by", "gemmac"},
                                             {"meta", meta}}})}});
  };
  http_.Get("/v1/models", models);
  http_.Get("/models", models);
  http_.Get("/metrics", [this](const httplib::Request &, httplib::Response &res) {
    metrics(res);
  });
  http_.Post("/v1/chat/completions", [this](const httplib::Request &req, httplib::Response &res) {
    complete(req, res, Endpoint::Chat);
  });
  http_.Post("/chat/completions", [this](const httplib::Request &req, httplib::Response &res) {
    complete(req, res, Endpoint::Chat);
  });
  http_.Post("/v1/completions", [this](const httplib::Request &req, httplib::Response &res) {
    complete(req, res, Endpoint::Completion);
  });
  http_.Post("/completions", [this](const httplib::Request &req, httplib::Response &res) {
    complete(req, res, Endpoint::Completion);
  });
  http_.Post("/tokenize", [this](const httplib::Request &req, httplib::Response &res) {
    tokenize(req, res);
  });
  http_.Post("/detokenize", [this](const httplib::Request &req, httplib::Response &res) {
    detokenize(req, res);
  });
  http_.Post("/apply-template", [this](const httplib::Request &req, httplib::Response &res) {
    json body;
    std::string prompt;
    if (RequestError e = parseObject(req.body, body))
      return sendError(res, e);
    if (RequestError e = renderChat(ctx_, body, prompt))
      return sendError(res, e);
    sendJson(res, 200, json{{"prompt", prompt}});
  });
}

void Server::metrics(httplib::Response &res) {
  Metrics m = sched_.metrics();
  std::string out;
  auto add = [&](const char *name, const char *type, const char *help, double v) {
    char line[512];
    std::snprintf(line, sizeof line, "# HELP gemmac:%s %s\n# TYPE gemmac:%s %s\ngemmac:%s %.17g\n",
                  name, help, name, type, name, v);
    out += line;
  };
  add("prompt_tokens_total", "counter", "Prompt tokens evaluated.", m.promptTokens);
  add("prompt_seconds_total", "counter", "Seconds spent evaluating prompts.", m.promptSeconds);
  add("tokens_predicted_total", "counter", "Tokens generated.", m.generatedTokens);
  add("tokens_predicted_seconds_total", "counter", "Seconds spent generating.", m.generateSeconds);
  add("requests_total", "counter", "Generation requests finished.", m.requests);
  add("requests_cancelled_total", "counter", "Requests whose client went away.", m.cancelled);
  add("requests_processing", "gauge", "Requests holding a slot.", m.processing);
  add("requests_deferred", "gauge", "Requests waiting for a slot.", m.deferred);
  add("slots", "gauge", "Slots (concurrent generations).", m.slots);
  add("draft_tokens_total", "counter", "Draft tokens verified (--draft-max).", m.draftTokens);
  add("draft_tokens_accepted_total", "counter", "Draft tokens accepted.", m.draftAccepted);
  res.set_content(out, "text/plain; version=0.0.4");
}

void Server::tokenize(const httplib::Request &req, httplib::Response &res) {
  TokenizeRequest r;
  if (RequestError e = parseTokenizeRequest(req.body, r))
    return sendError(res, e);
  std::vector<gemmac_token> ids = tokenizeText(ctx_, r.content, r.addSpecial);
  json tokens = json::array();
  for (gemmac_token t : ids)
    tokens.push_back(r.withPieces ? json{{"id", t}, {"piece", tokenPiece(ctx_.model, t, true)}}
                                  : json(t));
  sendJson(res, 200, json{{"tokens", tokens}});
}

void Server::detokenize(const httplib::Request &req, httplib::Response &res) {
  std::vector<gemmac_token> ids;
  if (RequestError e = parseDetokenizeRequest(req.body, gemmac_model_vocab_size(ctx_.model), ids))
    return sendError(res, e);
  std::string text;
  for (gemmac_token t : ids)
    text += tokenPiece(ctx_.model, t, false);
  sendJson(res, 200, json{{"content", text}});
}

} // namespace gemmac::serve

extern "C" int gemmac_serve(gemmac_model *model, const gemmac_serve_options *options) {
  if (!options || options->abi != GEMMAC_SERVE_ABI) {
    std::fprintf(stderr, "error: libgemmac_serve.so was built for another gemmac version\n");
    return 1;
  }
  std::signal(SIGPIPE, SIG_IGN);
  // Blocked before the scheduler's thread starts, which inherits the mask.
  sigset_t set;
  gemmac::serve::stopSignals(set);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  gemmac::serve::Server server(model, *options);
  return server.run();
}
