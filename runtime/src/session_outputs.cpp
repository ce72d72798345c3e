// What an evaluation leaves for the caller beyond gemmac_session_eval: the
// logits and final hidden states of the last n_out tokens
// (gemmac_session_eval_outputs) and the last token's logits kept by the
// session (gemmac_session_logits).

#include "abi/model_meta.h"
#include "abi/program_table.h"
#include "runtime/src/model.h"

using namespace gemmac;

extern "C" int gemmac_session_eval_outputs(gemmac_session *s,
                                           const gemmac_token *tokens,
                                           int32_t n, int32_t nOut,
                                           float *logits, float *hidden) {
  if (n < 0 || nOut < 0 || nOut > n) {
    rt::setError("n_out " + std::to_string(nOut) + " must be between 0 and the " +
                 std::to_string(n) + " tokens given");
    return -1;
  }
  if (hidden && nOut > 0) {
    if (s->gpu) {
      rt::setError("hidden states are not available from GPU programs (" +
                   s->model->device + "): pass hidden = NULL, or use a CPU program");
      return -1;
    }
    if (s->model->program->meta[abi::kMetaHiddenOutput] != 1) {
      rt::setError("this program does not write hidden states (its forward "
                   "function returns no output projection's input)");
      return -1;
    }
  }
  return rt::evalTokens(s, tokens, n, nOut, logits, hidden);
}

extern "C" const float *gemmac_session_logits(const gemmac_session *s) {
  return s->hasLogits ? s->lastLogits.data() : nullptr;
}
