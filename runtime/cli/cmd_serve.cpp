// OUT serve: opens libgemmac_serve.so (the HTTP server, which needs
// cpp-httplib's shared library: Debian's libcpp-httplib0.11) and hands it
// the model. Every other command runs without it.

#include "runtime/cli/commands.h"
#include "runtime/serve/serve_api.h"

#include <csignal>
#include <cstdio>
#include <dlfcn.h>

namespace gemmac::cli {

int cmdServe(const Options &o) {
  // Found through the program's run path: beside the program, then the
  // lib/ folder of the gemmac build that compiled it.
  const char *env = std::getenv("GEMMAC_SERVE_LIBRARY");
  const char *name = env && *env ? env : "libgemmac_serve.so";
  void *lib = dlopen(name, RTLD_NOW | RTLD_LOCAL);
  if (!lib)
    die(std::string("serve needs ") + name + " (built with gemmac; it needs Debian's "
        "libcpp-httplib0.11): " + dlerror() +
        "\nPut libgemmac_serve.so beside the program or set GEMMAC_SERVE_LIBRARY to its path.");
  auto serve = reinterpret_cast<gemmac_serve_fn>(dlsym(lib, "gemmac_serve"));
  if (!serve)
    die(std::string(name) + " has no gemmac_serve: " + dlerror());
  // The server waits for SIGINT/SIGTERM (sigwait): they must be blocked in
  // every thread, so before the model's compute threads start, or one of
  // them takes a signal's default action and the process dies mid-request.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  if (o.parallel.size() > 1)
    usageError("serve takes one -np N (slots), not a list");
  gemmac_model *m = openModel(o);
  gemmac_serve_options so;
  so.abi = GEMMAC_SERVE_ABI;
  so.host = o.host.c_str();
  so.port = static_cast<int>(o.port);
  so.n_slots = static_cast<int>(o.slots);
  so.n_ctx = static_cast<int>(o.ctx > 0 ? o.ctx : 4096);
  so.queue = static_cast<int>(o.queue);
  so.api_key = o.apiKey.c_str();
  so.timeout_s = static_cast<int>(o.timeout);
  so.max_body = o.maxBody;
  so.verbose = o.verbose;
  std::string alias = o.alias.empty() ? gemmac_model_string(m, "source") : o.alias;
  so.model_name = alias.c_str();
  so.sampler = samplerFor(o, m);
  so.batch = static_cast<int>(
      o.batch > 0 ? o.batch : gemmac_model_number(m, "max_batch"));
  so.draft_max = static_cast<int>(o.draftMax);
  so.draft_min = static_cast<int>(o.draftMin);
  so.draft_adaptive = o.draftAdaptive;
  so.draft_script = o.draftScript;
  if (o.draftScript && o.draftMax <= 0)
    die("--draft-script goes with --draft-max K");
  so.draft_mtp = o.draftMax > 0 && specTypeFor(o, m) == "mtp";
  if (so.draft_mtp && gemmac_model_number(m, "drafter") != 1)
    die("--spec-type mtp: this program has no MTP drafter (compile-model --draft ASSISTANT.gguf)");
  int rc = serve(m, &so);
  gemmac_model_close(m);
  return rc;
}

} // namespace gemmac::cli
