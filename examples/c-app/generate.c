/* generate.c - a C application with a Gemma 4 model compiled into it.
 *
 *   generate [-n N] PROMPT
 *
 * prints the text the model generates greedily after PROMPT (as the
 * compiled model's own `OUT run -p PROMPT -n N --temp 0 --no-display-prompt`
 * does). The model is a library named tiny, compiled by gemmac during this
 * application's build: CMakeLists.txt (find_package) or Makefile
 * (pkg-config). tiny.h declares tiny_program(), its table. */
#include <gemmac.h>
#include <tiny.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int print_piece(const char *piece, size_t len, void *user) {
  (void)user;
  fwrite(piece, 1, len, stdout);
  return 0;
}

int main(int argc, char **argv) {
  int n = 32;
  int arg = 1;
  if (argc > 3 && strcmp(argv[1], "-n") == 0) {
    n = atoi(argv[2]);
    arg = 3;
  }
  if (arg >= argc) {
    fprintf(stderr, "usage: %s [-n N] PROMPT\n", argv[0]);
    return 2;
  }
  gemmac_model *model =
      gemmac_model_open_program(tiny_program(), NULL, NULL);
  if (!model) {
    fprintf(stderr, "cannot open the model: %s\n", gemmac_last_error());
    return 1;
  }
  gemmac_session *session = gemmac_session_new(model, 0);
  if (!session) {
    fprintf(stderr, "cannot make a session: %s\n", gemmac_last_error());
    return 1;
  }
  gemmac_sampler_params greedy = gemmac_sampler_defaults();
  greedy.temperature = 0;
  int32_t produced = gemmac_generate(session, argv[arg], n, &greedy, print_piece, NULL);
  printf("\n");
  if (produced < 0)
    fprintf(stderr, "generation failed: %s\n", gemmac_last_error());
  gemmac_session_free(session);
  gemmac_model_close(model);
  return produced < 0;
}
