/* The C API's limits, driven by cli.hostile-args: linked with a compiled
 * model's object (compile-model --keep-object) and the runtime archive.
 * Usage: capi_limits WEIGHTS CASE. Prints what happened; exits 0 when the
 * API refused (or accepted) as the case expects, 1 otherwise. */
#include "runtime/include/gemmac.h"

#include <stdio.h>
#include <string.h>

static int fail(const char *what) {
  printf("FAIL %s (error: '%s')\n", what, gemmac_last_error());
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 3)
    return 2;
  const char *weights = argv[1], *which = argv[2];
  if (!strcmp(which, "threads")) {
    /* Beyond GEMMAC_MAX_THREADS: refused with a message, never an abort. */
    gemmac_model *m = gemmac_model_open(weights, 100000);
    if (m)
      return fail("100000 threads accepted");
    if (!strstr(gemmac_last_error(), "100000") || !strstr(gemmac_last_error(), "1024"))
      return fail("the error names neither the count nor the limit");
    printf("refused: %s\n", gemmac_last_error());
    /* Within the hard limit: cut to 4 per usable CPU. */
    m = gemmac_model_open(weights, 1000);
    if (!m)
      return fail("1000 threads refused");
    printf("threads %d\n", gemmac_model_threads(m));
    gemmac_model_close(m);
    return 0;
  }
  gemmac_model *m = gemmac_model_open(weights, 1);
  if (!m)
    return fail("open");
  if (!strcmp(which, "token")) {
    gemmac_session *s = gemmac_session_new(m, 64);
    const int32_t vocab = gemmac_model_vocab_size(m);
    gemmac_token tokens[3] = {1, vocab, 2};
    if (!s || gemmac_session_eval(s, tokens, 3, NULL, 0) != -1)
      return fail("token = vocab size accepted");
    printf("refused: %s\n", gemmac_last_error());
    tokens[1] = -7;
    if (gemmac_session_eval(s, tokens, 3, NULL, 0) != -1)
      return fail("token -7 accepted");
    printf("refused: %s\n", gemmac_last_error());
    gemmac_session_free(s);
  } else if (!strcmp(which, "kv")) {
    /* Run under ulimit -v: the KV cache cannot be allocated. */
    gemmac_session *s = gemmac_session_new(m, 100000000);
    if (s)
      return fail("a KV cache of 100M tokens allocated");
    printf("refused: %s\n", gemmac_last_error());
  } else {
    return 2;
  }
  gemmac_model_close(m);
  return 0;
}
