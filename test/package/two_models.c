/* Two compiled models in one process: a dense model from its shared
 * library and an E2B-like model from its static library, open at once,
 * each evaluating the same tokens with every row's logits, alternating
 * between them. Writes the logits of each (float32, one row of vocab per
 * token) for comparison with each model's own program (`OUT eval`).
 *   two_models TOKENS OUT_DENSE OUT_E2B      (TOKENS: "1,2,3") */
#include <gemmac.h>

#include "dense.h"
#include "e2b.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int write_floats(const char *path, const float *v, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(v, sizeof *v, n, f) != n || fclose(f) != 0) {
    perror(path);
    return 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: two_models TOKENS OUT_DENSE OUT_E2B\n");
    return 2;
  }
  gemmac_token tokens[512];
  int32_t n = 0;
  for (char *p = argv[1]; *p && n < 512; ++n) {
    tokens[n] = (gemmac_token)strtol(p, &p, 10);
    if (*p == ',')
      ++p;
  }
  const gemmac_program *programs[2] = {dense_program(), e2b_program()};
  gemmac_model *models[2];
  gemmac_session *sessions[2];
  float *logits[2];
  for (int i = 0; i < 2; ++i) {
    models[i] = gemmac_model_open_program(programs[i], NULL, NULL);
    if (!models[i]) {
      fprintf(stderr, "model %d: %s\n", i, gemmac_last_error());
      return 1;
    }
    sessions[i] = gemmac_session_new(models[i], 512);
    logits[i] = malloc(sizeof(float) * (size_t)n *
                       (size_t)gemmac_model_vocab_size(models[i]));
  }
  /* Interleaved: neither model's state may touch the other's. */
  for (int32_t at = 0; at < n;) {
    int32_t chunk = n - at < 16 ? n - at : 16;
    for (int i = 0; i < 2; ++i) {
      size_t vocab = (size_t)gemmac_model_vocab_size(models[i]);
      if (gemmac_session_eval(sessions[i], tokens + at, chunk,
                              logits[i] + (size_t)at * vocab, 1) != 0) {
        fprintf(stderr, "eval %d: %s\n", i, gemmac_last_error());
        return 1;
      }
    }
    at += chunk;
  }
  printf("dense: %s, vocab %d; e2b: %s, vocab %d\n",
         gemmac_model_string(models[0], "source"), gemmac_model_vocab_size(models[0]),
         gemmac_model_string(models[1], "source"), gemmac_model_vocab_size(models[1]));
  int rc = write_floats(argv[2], logits[0], (size_t)n * gemmac_model_vocab_size(models[0])) |
           write_floats(argv[3], logits[1], (size_t)n * gemmac_model_vocab_size(models[1]));
  for (int i = 0; i < 2; ++i) {
    gemmac_session_free(sessions[i]);
    gemmac_model_close(models[i]);
    free(logits[i]);
  }
  return rc;
}
