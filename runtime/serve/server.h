// The server behind `OUT serve`: routes, authentication, errors (this
// file's .cpp) and the completion endpoints (completion.cpp).
#pragma once

#include "runtime/serve/requests.h"

#include <httplib.h>

#include <atomic>
#include <csignal>

namespace gemmac::serve {

void sendJson(httplib::Response &res, int status, const nlohmann::json &body);
void sendError(httplib::Response &res, const RequestError &e);
std::string sse(const nlohmann::json &j);
long unixTime();
/// The signals that stop the server: SIGINT and SIGTERM.
void stopSignals(sigset_t &set);

/// The socket a request arrived on, found by its two addresses among the
/// process's descriptors (-1 if not found): cpp-httplib 0.11 gives a handler
/// no way to see whether its client is still there.
int requestSocket(const httplib::Request &req);
/// Whether the peer of `fd` has closed its side of the connection.
bool peerClosed(int fd);

class Server {
public:
  Server(gemmac_model *model, const gemmac_serve_options &o);

  /// Listens until SIGINT or SIGTERM; the exit code.
  int run();

private:
  bool authorized(const httplib::Request &req) const;
  void routes();
  void metrics(httplib::Response &res);
  void tokenize(const httplib::Request &req, httplib::Response &res);
  void detokenize(const httplib::Request &req, httplib::Response &res);
  /// /v1/chat/completions and /v1/completions (completion.cpp).
  void complete(const httplib::Request &req, httplib::Response &res, Endpoint endpoint);
  /// After SIGINT/SIGTERM: lets requests in flight finish (a bounded
  /// time, cut short by a second of `signals`), then cancels what is
  /// left, then stops listening.
  void shutdown(const sigset_t &signals);

  gemmac_serve_options opts_;
  Scheduler sched_;
  ServeContext ctx_;
  httplib::Server http_;
  std::atomic<uint64_t> nextId_{1};
  // Completion requests whose answer is not yet wholly written.
  std::atomic<int> answering_{0};
};

} // namespace gemmac::serve
