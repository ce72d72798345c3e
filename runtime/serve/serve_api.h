// The boundary between a compiled program and libgemmac_serve.so, which the
// program opens at run time for `OUT serve` (the server needs cpp-httplib's
// shared library; every other command runs on libc alone). The library calls
// the program's C API (gemmac.h), which the program exports.
#pragma once

#include "runtime/include/gemmac.h"

#ifdef __cplusplus
extern "C" {
#endif

#define GEMMAC_SERVE_ABI 4

typedef struct {
  int abi;                  /* GEMMAC_SERVE_ABI */
  const char *host;         /* "127.0.0.1" */
  int port;                 /* 8080 */
  int n_slots;              /* concurrent generations, each with a KV cache */
  int n_ctx;                /* context of each slot */
  int queue;                /* requests that may wait for a slot */
  const char *api_key;      /* NULL or "": no key */
  int timeout_s;            /* longest a request may run, and socket timeouts */
  long max_body;            /* bytes of a request body */
  int verbose;
  const char *model_name;   /* what /v1/models lists */
  gemmac_sampler_params sampler; /* defaults a request may override */
  int batch;                /* rows per forward step: every generating slot's
                               token, then prompt chunks up to this budget */
  int draft_max;            /* speculative decoding: tokens drafted per slot
                               and step (n-gram drafter), 0: off */
  int draft_min;            /* a shorter draft is not verified */
  int draft_adaptive;       /* nonzero: the draft length follows acceptance */
  int draft_mtp;            /* nonzero: draft with the program's compiled
                               MTP drafter instead of n-gram lookup */
  int draft_script;         /* nonzero: a request may carry
                               "speculative.script" (benchmarks: drafts of a
                               given continuation at a given acceptance) */
} gemmac_serve_options;

/* Serves until SIGINT/SIGTERM; returns the process exit code. */
int gemmac_serve(gemmac_model *model, const gemmac_serve_options *options);
typedef int (*gemmac_serve_fn)(gemmac_model *, const gemmac_serve_options *);

#ifdef __cplusplus
}
#endif
