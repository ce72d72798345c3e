// gemmac_session_cancel: another thread asks a session's eval or generate to
// stop. The request is a flag the session polls before each forward chunk
// (gemmac_generate evaluates each generated token, so it is polled between
// tokens too); the check that sees it clears it.

#include "runtime/src/model.h"

using namespace gemmac;

extern "C" void gemmac_session_cancel(gemmac_session *s) {
  s->cancelRequested.store(true, std::memory_order_release);
}

bool rt::takeCancel(gemmac_session *s) {
  if (!s->cancelRequested.exchange(false, std::memory_order_acq_rel))
    return false;
  rt::setError("cancelled");
  return true;
}
