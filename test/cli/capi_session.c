/* The C API's session additions on a compiled model, driven by
 * cli.capi-session (linked with the model's object and the runtime archive):
 * state save/load, cancel, eval_outputs (logits, hidden states), session
 * logits, batches of several sessions (gemmac_pool, gemmac_decode).
 * Usage: capi_session WEIGHTS CASE [FILE] (batch: [MAX_SEQUENCES]). Prints what it checked; exits 0
 * when every check held, 1 otherwise. */
#include "runtime/include/gemmac.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;
static void check(int ok, const char *what) {
  printf("%s %s", ok ? "ok  " : "FAIL", what);
  if (!ok)
    printf(" (error: '%s')", gemmac_last_error());
  printf("\n");
  failures += !ok;
}
static int has(const char *text) { return strstr(gemmac_last_error(), text) != NULL; }

static gemmac_model *model;
static int32_t vocab;

/* n deterministic in-vocabulary tokens after <bos>. */
static gemmac_token *tokens(int32_t n, int salt) {
  gemmac_token *t = malloc(sizeof *t * (size_t)n);
  for (int32_t i = 0; i < n; ++i)
    t[i] = (gemmac_token)((i * 37 + salt * 11 + 5) % vocab);
  t[0] = gemmac_token_bos(model);
  return t;
}

static gemmac_sampler_params sampler(void) {
  gemmac_sampler_params p = gemmac_sampler_defaults();
  p.temperature = 0.8f;
  p.top_k = 0;
  p.seed = 1234;
  p.repeat_penalty = 1.2f;
  p.frequency_penalty = 0.1f;
  return p;
}

static int same_logits(const float *a, const float *b) {
  return a && b && memcmp(a, b, sizeof(float) * (size_t)vocab) == 0;
}

struct text {
  char buf[4096];
  size_t len;
};
static int collect(const char *piece, size_t len, void *user) {
  struct text *t = user;
  if (t->len + len < sizeof t->buf) {
    memcpy(t->buf + t->len, piece, len);
    t->len += len;
  }
  return 0;
}

/* Mid-generation, the state saved to memory and to a file; restored into
 * fresh sessions, the next logits are those of the uninterrupted session
 * (memcmp) and generation continues with the same text. */
static void state_case(const char *file) {
  const int32_t n_ctx = 256;
  gemmac_session *a = gemmac_session_new(model, n_ctx);
  gemmac_sampler_params p = sampler();
  gemmac_token *prompt = tokens(40, 0);
  check(gemmac_session_logits(a) == NULL, "no logits before any eval");
  float *logits = malloc(sizeof(float) * (size_t)vocab);
  check(gemmac_session_eval(a, prompt, 40, logits, 0) == 0, "prompt evaluated");
  check(same_logits(logits, gemmac_session_logits(a)), "session logits = eval's logits");
  for (int i = 0; i < 5; ++i) {
    gemmac_token t = gemmac_sample(a, logits, &p);
    gemmac_session_eval(a, &t, 1, logits, 0);
  }
  size_t size = gemmac_session_state_size(a);
  void *mem = malloc(size);
  check(gemmac_session_state_save(a, mem, size) == size, "state saved to memory");
  check(gemmac_session_state_save_file(a, file) == 0, "state saved to a file");
  printf("state: %zu bytes at position %d (KV cache %llu bytes)\n", size,
         gemmac_session_position(a), (unsigned long long)gemmac_session_kv_bytes(a));

  gemmac_session *m = gemmac_session_new(model, n_ctx);
  gemmac_session *f = gemmac_session_new(model, n_ctx);
  check(gemmac_session_state_load(m, mem, size) == 0, "loaded from memory");
  check(gemmac_session_state_load_file(f, file) == 0, "loaded from the file");
  check(gemmac_session_position(m) == 45 && gemmac_session_position(f) == 45,
        "position restored");
  check(same_logits(logits, gemmac_session_logits(m)) &&
            same_logits(logits, gemmac_session_logits(f)),
        "last logits restored");
  /* Three steps: sample (RNG, penalties' history), evaluate, compare. */
  float *lm = malloc(sizeof(float) * (size_t)vocab), *lf = malloc(sizeof(float) * (size_t)vocab);
  int steps_same = 1;
  for (int i = 0; i < 3; ++i) {
    gemmac_token ta = gemmac_sample(a, gemmac_session_logits(a), &p);
    gemmac_token tm = gemmac_sample(m, gemmac_session_logits(m), &p);
    gemmac_token tf = gemmac_sample(f, gemmac_session_logits(f), &p);
    steps_same &= ta == tm && ta == tf;
    gemmac_session_eval(a, &ta, 1, logits, 0);
    gemmac_session_eval(m, &tm, 1, lm, 0);
    gemmac_session_eval(f, &tf, 1, lf, 0);
    steps_same &= same_logits(logits, lm) && same_logits(logits, lf);
  }
  check(steps_same, "restored sessions sample the same tokens and give bit-identical logits");

  /* gemmac_generate continues from a loaded state (empty prompt: the
   * session's last logits). */
  gemmac_session *g1 = gemmac_session_new(model, n_ctx), *g2 = gemmac_session_new(model, n_ctx);
  struct text t1 = {{0}, 0}, t2 = {{0}, 0};
  int r1 = gemmac_session_state_load(g1, mem, size) == 0
               ? gemmac_generate(g1, "", 12, &p, collect, &t1) : -1;
  int r2 = gemmac_session_state_load_file(g2, file) == 0
               ? gemmac_generate(g2, "", 12, &p, collect, &t2) : -1;
  check(r1 >= 0 && r1 == r2 && t1.len == t2.len && memcmp(t1.buf, t2.buf, t1.len) == 0,
        "generation from both restored states gives the same text");

  /* Another n_ctx is refused, the session untouched. */
  gemmac_session *other = gemmac_session_new(model, 128);
  check(gemmac_session_state_load(other, mem, size) == -1 && has("n_ctx 256") &&
            gemmac_session_position(other) == 0,
        "a session of another n_ctx refuses it");
  printf("refused: %s\n", gemmac_last_error());
  gemmac_session_free(other);
  gemmac_session_free(g1);
  gemmac_session_free(g2);
  gemmac_session_free(a);
  gemmac_session_free(m);
  gemmac_session_free(f);
  free(mem);
  free(prompt);
  free(logits);
  free(lm);
  free(lf);
}

/* A state file, damaged by the driver (or saved by another model), is
 * refused with the file and an offset named. */
static void load_case(const char *file, const char *expect) {
  gemmac_session *s = gemmac_session_new(model, 256);
  check(gemmac_session_state_load_file(s, file) == -1 && has(file) && has("at offset") &&
            has(expect) && gemmac_session_position(s) == 0,
        "the state file is refused, naming file, offset and cause");
  printf("refused: %s\n", gemmac_last_error());
  gemmac_session_free(s);
}

struct canceller {
  gemmac_session *s;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int asked, done;
};

/* Runs on the generating thread between tokens: has the other thread cancel,
 * and waits until it has. */
static int piece_then_cancel(const char *piece, size_t len, void *user) {
  (void)piece;
  (void)len;
  struct canceller *c = user;
  pthread_mutex_lock(&c->mu);
  c->asked = 1;
  pthread_cond_broadcast(&c->cv);
  while (!c->done)
    pthread_cond_wait(&c->cv, &c->mu);
  pthread_mutex_unlock(&c->mu);
  return 0;
}

static void *cancel_when_asked(void *arg) {
  struct canceller *c = arg;
  pthread_mutex_lock(&c->mu);
  while (!c->asked)
    pthread_cond_wait(&c->cv, &c->mu);
  gemmac_session_cancel(c->s);
  c->done = 1;
  pthread_cond_broadcast(&c->cv);
  pthread_mutex_unlock(&c->mu);
  return NULL;
}

static void *cancel_now(void *arg) {
  gemmac_session_cancel(arg);
  return NULL;
}

static void cancel_case(void) {
  /* gemmac_generate, cancelled from another thread after its first token. */
  gemmac_session *s = gemmac_session_new(model, 512);
  struct canceller c = {s, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};
  pthread_t th;
  pthread_create(&th, NULL, cancel_when_asked, &c);
  gemmac_sampler_params p = sampler();
  p.temperature = 0; /* greedy: no end-of-generation token ends it early by chance */
  const int32_t r = gemmac_generate(s, "hello", 50, &p, piece_then_cancel, &c);
  pthread_join(th, NULL);
  check(r == -1 && strcmp(gemmac_last_error(), "cancelled") == 0,
        "gemmac_generate cancelled from another thread returns -1, \"cancelled\"");
  const int32_t pos = gemmac_session_position(s);
  gemmac_token one = 7;
  check(gemmac_session_eval(s, &one, 1, NULL, 0) == 0 && gemmac_session_position(s) == pos + 1,
        "the session evaluates again after the cancel");
  gemmac_session_free(s);

  /* A long eval (several chunks of the model's batch) cancelled from
   * another thread: it stops at a chunk border, or, if the cancel came
   * after its last check, the next call is cancelled. Either way the
   * session's position counts what was evaluated, and finishing the tokens
   * gives the uninterrupted session's logits. */
  const int32_t n = 2000, batch = (int32_t)gemmac_model_number(model, "max_batch");
  gemmac_token *t = tokens(n, 3);
  gemmac_session *a = gemmac_session_new(model, 2048), *ref = gemmac_session_new(model, 2048);
  float *la = malloc(sizeof(float) * (size_t)vocab), *lr = malloc(sizeof(float) * (size_t)vocab);
  pthread_create(&th, NULL, cancel_now, a);
  int rc = gemmac_session_eval(a, t, n, la, 0);
  pthread_join(th, NULL);
  int32_t done = gemmac_session_position(a);
  if (rc == 0) {
    printf("the cancel came after the eval's last check\n");
    gemmac_token x = 1;
    check(gemmac_session_eval(a, &x, 1, NULL, 0) == -1 && has("cancelled") &&
              gemmac_session_position(a) == n,
          "a cancel after the last check cancels the next call, before it evaluates");
    gemmac_session_reset(a);
    done = 0;
  } else {
    printf("cancelled after %d of %d tokens (batch %d)\n", done, n, batch);
    check(has("cancelled") && done % batch == 0 && done < n && gemmac_session_logits(a) == NULL,
          "the eval stopped at a chunk border, \"cancelled\"");
  }
  check(gemmac_session_eval(a, t + done, n - done, la, 0) == 0 &&
            gemmac_session_eval(ref, t, n, lr, 0) == 0 && same_logits(la, lr),
        "the rest evaluated after the cancel gives the uninterrupted logits");
  gemmac_session_free(a);
  gemmac_session_free(ref);
  free(t);
  free(la);
  free(lr);
}

/* eval_outputs' logits of the last k tokens are all_logits' last k rows,
 * across chunk borders (on a CPU program: a GPU one, on lavapipe, would
 * take minutes over 500 tokens). */
static void outputs_case(void) {
  const int32_t batch = (int32_t)gemmac_model_number(model, "max_batch");
  const int gpu = strcmp(gemmac_model_device(model), "cpu") != 0;
  const int32_t n = gpu ? 40 : batch + 40;
  gemmac_token *t = tokens(n, 5);
  gemmac_session *ref = gemmac_session_new(model, 1024);
  float *all = malloc(sizeof(float) * (size_t)n * (size_t)vocab);
  check(gemmac_session_eval(ref, t, n, all, 1) == 0, "all_logits of the reference");
  const int32_t ks[] = {0, 1, 7, n / 2, n - 1, n};
  for (size_t i = 0; i < sizeof ks / sizeof ks[0]; ++i) {
    const int32_t k = ks[i];
    gemmac_session *s = gemmac_session_new(model, 1024);
    float *out = malloc(sizeof(float) * ((size_t)k * (size_t)vocab + 1));
    out[(size_t)k * (size_t)vocab] = 42.0f;
    char what[128];
    snprintf(what, sizeof what, "eval_outputs n_out %d of %d: the last rows of all_logits", k, n);
    check(gemmac_session_eval_outputs(s, t, n, k, out, NULL) == 0 &&
              memcmp(out, all + (size_t)(n - k) * (size_t)vocab,
                     sizeof(float) * (size_t)k * (size_t)vocab) == 0 &&
              out[(size_t)k * (size_t)vocab] == 42.0f &&
              same_logits(gemmac_session_logits(s), all + (size_t)(n - 1) * (size_t)vocab),
          what);
    free(out);
    gemmac_session_free(s);
  }
  gemmac_session *s = gemmac_session_new(model, 1024);
  check(gemmac_session_eval_outputs(s, t, n, n + 1, NULL, NULL) == -1 && has("n_out"),
        "n_out beyond n refused");
  if (gpu) {
    float h[1];
    check(gemmac_session_eval_outputs(s, t, 1, 0, NULL, h) == 0,
          "GPU: hidden with n_out 0 asks for nothing");
    check(gemmac_session_eval_outputs(s, t + 1, 1, 1, NULL, h) == -1 && has("GPU programs") &&
              gemmac_session_position(s) == 1,
          "GPU: hidden states refused, naming GPU");
    printf("refused: %s\n", gemmac_last_error());
  }
  gemmac_session_free(s);
  gemmac_session_free(ref);
  free(all);
  free(t);
}

/* Hidden states: n_out x hidden floats, the last rows of the whole batch's;
 * one-by-one evaluation gives the same rows (batch invariance, as close as
 * the kernels' batched and single-row arithmetic agree); the last token's
 * goes to OUT (and its tokens to OUT.tokens) for the driver to compare with
 * llama.cpp's embedding (the output norm's result). */
static void hidden_case(const char *out) {
  const int64_t hidden = gemmac_model_number(model, "hidden");
  const int32_t n = 24;
  gemmac_token *t = tokens(n, 9);
  check(hidden > 0, "the model has a hidden size");
  const size_t row = (size_t)hidden;
  float *all = malloc(sizeof(float) * row * (size_t)n);
  gemmac_session *s = gemmac_session_new(model, 256);
  check(gemmac_session_eval_outputs(s, t, n, n, NULL, all) == 0, "hidden states of every token");
  gemmac_session_free(s);
  const int32_t ks[] = {1, 5, n - 1};
  for (size_t i = 0; i < sizeof ks / sizeof ks[0]; ++i) {
    const int32_t k = ks[i];
    float *h = malloc(sizeof(float) * (row * (size_t)k + 1));
    float *l = malloc(sizeof(float) * (size_t)vocab * (size_t)k);
    h[row * (size_t)k] = 42.0f;
    s = gemmac_session_new(model, 256);
    char what[128];
    snprintf(what, sizeof what, "hidden of the last %d tokens: the batch's last rows", k);
    check(gemmac_session_eval_outputs(s, t, n, k, l, h) == 0 &&
              memcmp(h, all + row * (size_t)(n - k), sizeof(float) * row * (size_t)k) == 0 &&
              h[row * (size_t)k] == 42.0f,
          what);
    gemmac_session_free(s);
    free(h);
    free(l);
  }
  /* One token at a time. */
  float *one = malloc(sizeof(float) * row * (size_t)n);
  s = gemmac_session_new(model, 256);
  int ok = 1;
  for (int32_t i = 0; i < n; ++i)
    ok &= gemmac_session_eval_outputs(s, t + i, 1, 1, NULL, one + row * (size_t)i) == 0;
  double maxAbs = 0, maxDiff = 0;
  int finite = 1;
  for (size_t i = 0; i < row * (size_t)n; ++i) {
    const double a = all[i], d = a - one[i];
    finite &= a == a && a - a == 0;
    maxAbs = a < 0 ? (-a > maxAbs ? -a : maxAbs) : (a > maxAbs ? a : maxAbs);
    maxDiff = d < 0 ? (-d > maxDiff ? -d : maxDiff) : (d > maxDiff ? d : maxDiff);
  }
  printf("hidden %lld: max |h| %.4g, batch vs one-by-one max |diff| %.3g%s\n",
         (long long)hidden, maxAbs, maxDiff,
         memcmp(all, one, sizeof(float) * row * (size_t)n) == 0 ? " (bit-identical)" : "");
  check(ok && finite && maxAbs > 0, "one-by-one hidden states, finite and not all zero");
  check(maxDiff <= 1e-3 * maxAbs, "batch and one-by-one hidden states agree within 1e-3 of max |h|");
  gemmac_session_free(s);
  /* The last token's, for the driver's comparison with llama.cpp. */
  FILE *f = fopen(out, "wb");
  check(f && fwrite(all + row * (size_t)(n - 1), sizeof(float), row, f) == row && fclose(f) == 0,
        "the last hidden state written");
  char name[4096];
  snprintf(name, sizeof name, "%s.tokens", out);
  f = fopen(name, "w");
  for (int32_t i = 0; f && i < n; ++i)
    fprintf(f, i ? ",%d" : "%d", t[i]);
  check(f && fclose(f) == 0, "its tokens written");
  free(all);
  free(one);
  free(t);
}

/* Continuous batching: sessions of one pool decoded together, each its own
 * prompt (1 + 7i mod 40 tokens) arriving at step i / 2 while the others
 * decode, prompts cut to a row budget per step, then greedy (even sessions)
 * or seeded sampling (odd) until position 90 of a 96-token context (the
 * tiny models' windows of 16 wrap many times). Every logits row a session
 * receives must equal, bit for bit, that session evaluated alone (its
 * prompt whole, then a token at a time), and so must every sampled token. */
enum { kBatchCtx = 96, kBatchEnd = 90 };

struct seq_ref {
  int32_t prompt_len, rows;
  gemmac_token *prompt, *next; /* next[k]: the token sampled from row k */
  float *logits;               /* rows x vocab */
};

static gemmac_sampler_params seq_sampler(int i) {
  gemmac_sampler_params p = sampler();
  if (i % 2 == 0)
    p.temperature = 0; /* greedy */
  p.seed = 1000 + (uint64_t)i;
  return p;
}

static void reference_alone(int i, struct seq_ref *r) {
  r->prompt_len = 1 + (7 * i) % 40;
  r->prompt = tokens(r->prompt_len, 20 + i);
  r->rows = kBatchEnd - r->prompt_len + 1;
  r->next = malloc(sizeof *r->next * (size_t)r->rows);
  r->logits = malloc(sizeof(float) * (size_t)r->rows * (size_t)vocab);
  gemmac_session *s = gemmac_session_new(model, kBatchCtx);
  const gemmac_sampler_params p = seq_sampler(i);
  for (int32_t k = 0; k < r->rows; ++k) {
    float *row = r->logits + (size_t)k * (size_t)vocab;
    const int ok = k == 0 ? gemmac_session_eval(s, r->prompt, r->prompt_len, row, 0)
                          : gemmac_session_eval(s, &r->next[k - 1], 1, row, 0);
    if (ok != 0) {
      check(0, "the reference session evaluates");
      break;
    }
    r->next[k] = gemmac_sample(s, row, &p);
  }
  gemmac_session_free(s);
}

static void batch_run(const struct seq_ref *refs, int n_seq, int budget) {
  gemmac_pool *pool = gemmac_pool_new(model, n_seq, kBatchCtx);
  if (!pool) {
    check(0, "gemmac_pool_new");
    return;
  }
  gemmac_batch b = gemmac_batch_init(n_seq + budget);
  int32_t *fed = calloc((size_t)n_seq, sizeof(int32_t)); /* prompt rows fed */
  int32_t *row = calloc((size_t)n_seq, sizeof(int32_t)); /* logits rows seen */
  int *who = malloc(sizeof(int) * (size_t)(n_seq + budget));
  gemmac_sampler_params *params = malloc(sizeof *params * (size_t)n_seq);
  for (int i = 0; i < n_seq; ++i)
    params[i] = seq_sampler(i);
  int mismatches = 0, steps = 0, decode_with_prompt = 0, done = 0;
  while (!done && steps < 10000) {
    gemmac_batch_clear(&b);
    int left = budget, decoding = 0;
    /* One token of every generating session. */
    for (int i = 0; i < n_seq; ++i) {
      gemmac_session *s = gemmac_pool_session(pool, i);
      if (row[i] > 0 && gemmac_session_position(s) < kBatchEnd) {
        who[b.n_tokens] = i;
        gemmac_batch_add(&b, s, refs[i].next[row[i] - 1], -1, 1);
        ++decoding;
      }
    }
    /* Waiting prompts, oldest first, up to the budget. */
    for (int i = 0; i < n_seq && left > 0; ++i) {
      if (steps < i / 2 || fed[i] == refs[i].prompt_len)
        continue;
      gemmac_session *s = gemmac_pool_session(pool, i);
      while (left > 0 && fed[i] < refs[i].prompt_len) {
        who[b.n_tokens] = i;
        gemmac_batch_add(&b, s, refs[i].prompt[fed[i]], fed[i],
                         fed[i] == refs[i].prompt_len - 1);
        ++fed[i];
        --left;
      }
      decode_with_prompt += decoding > 0;
    }
    if (b.n_tokens > 0 && gemmac_decode(pool, &b) != 0) {
      check(0, "gemmac_decode");
      break;
    }
    for (int32_t j = 0; j < b.n_tokens; ++j) {
      if (!b.logits[j])
        continue;
      const int i = who[j];
      const float *got = gemmac_get_logits_ith(pool, j);
      const struct seq_ref *r = &refs[i];
      if (row[i] >= r->rows || !same_logits(got, r->logits + (size_t)row[i] * (size_t)vocab)) {
        if (mismatches++ < 5)
          printf("     session %d row %d (position %d) differs from the session alone\n", i,
                 row[i], gemmac_session_position(gemmac_pool_session(pool, i)) - 1);
      } else if (gemmac_sample(gemmac_pool_session(pool, i), got, &params[i]) != r->next[row[i]]) {
        if (mismatches++ < 5)
          printf("     session %d row %d: another token sampled\n", i, row[i]);
      }
      ++row[i];
    }
    ++steps;
    done = 1;
    for (int i = 0; i < n_seq; ++i)
      done &= row[i] == refs[i].rows;
  }
  char what[200];
  snprintf(what, sizeof what,
           "%d sessions, budget %d rows per step: %d steps (%d with prompts beside "
           "decoding rows), every row as alone",
           n_seq, budget, steps, decode_with_prompt);
  check(done && mismatches == 0, what);
  free(params);
  free(who);
  free(row);
  free(fed);
  gemmac_batch_free(b);
  gemmac_pool_free(pool);
}

/* Sequence i of a pool evaluates its reference's prompt and first k sampled
 * tokens (the ring wraps past position 16). */
static void feed(gemmac_session *s, const struct seq_ref *r, int32_t k) {
  check(gemmac_session_eval(s, r->prompt, r->prompt_len, NULL, 0) == 0 &&
            gemmac_session_eval(s, r->next, k, NULL, 0) == 0,
        "a pool session evaluates on its own");
}

/* A pool session's state is its own sequence's: saved from slot 2 of a pool
 * whose other slots hold other sequences, it continues as the sequence
 * alone does, in a session of its own and in slot 1 of another pool. */
static void pool_state_case(const struct seq_ref *refs) {
  enum { kFed = 20 };
  gemmac_pool *pool = gemmac_pool_new(model, 3, kBatchCtx);
  gemmac_pool *other = gemmac_pool_new(model, 2, kBatchCtx);
  gemmac_session *alone = gemmac_session_new(model, kBatchCtx);
  if (!pool || !other || !alone) {
    check(0, "pools and a session for the state case");
    return;
  }
  for (int i = 0; i < 3; ++i)
    feed(gemmac_pool_session(pool, i), &refs[i], kFed);
  feed(gemmac_pool_session(other, 0), &refs[0], kFed);
  const size_t n = gemmac_session_state_size(gemmac_pool_session(pool, 2));
  void *buf = malloc(n);
  check(gemmac_session_state_save(gemmac_pool_session(pool, 2), buf, n) == n,
        "slot 2's state saved");
  gemmac_session *into[2] = {alone, gemmac_pool_session(other, 1)};
  const char *names[2] = {"a session of its own", "slot 1 of another pool"};
  for (int j = 0; j < 2; ++j) {
    float *row = malloc(sizeof(float) * (size_t)vocab);
    const int ok = gemmac_session_state_load(into[j], buf, n) == 0 &&
                   gemmac_session_eval(into[j], &refs[2].next[kFed], 1, row, 0) == 0 &&
                   same_logits(row, refs[2].logits + (size_t)(kFed + 1) * (size_t)vocab);
    char what[160];
    snprintf(what, sizeof what,
             "slot 2's state (position %d) continues in %s as the sequence alone",
             refs[2].prompt_len + kFed, names[j]);
    check(ok, what);
    free(row);
  }
  free(buf);
  gemmac_session_free(alone);
  gemmac_pool_free(other);
  gemmac_pool_free(pool);
}

/* max_seq: the largest pool tried (32; fewer where each step is slow). */
static void batch_case(int max_seq) {
  enum { kMaxSeq = 32 };
  struct seq_ref refs[kMaxSeq];
  if (max_seq < 1 || max_seq > kMaxSeq)
    max_seq = kMaxSeq;
  for (int i = 0; i < max_seq; ++i)
    reference_alone(i, &refs[i]);
  const int configs[][2] = {{1, 512}, {2, 24}, {3, 5}, {8, 1}, {8, 512}, {32, 24}};
  for (size_t c = 0; c < sizeof configs / sizeof configs[0]; ++c)
    if (configs[c][0] <= max_seq)
      batch_run(refs, configs[c][0], configs[c][1]);
  if (max_seq >= 3)
    pool_state_case(refs);
  /* A bad batch is refused whole. */
  gemmac_pool *pool = gemmac_pool_new(model, 2, 8);
  gemmac_batch b = gemmac_batch_init(16);
  for (int k = 0; k < 9; ++k)
    gemmac_batch_add(&b, gemmac_pool_session(pool, 1), 1, -1, k == 8);
  check(gemmac_decode(pool, &b) == -1 && has("context full: sequence 1") &&
            gemmac_session_position(gemmac_pool_session(pool, 1)) == 0,
        "a batch past a sequence's context refused whole");
  gemmac_batch_free(b);
  gemmac_pool_free(pool);
  for (int i = 0; i < max_seq; ++i) {
    free(refs[i].prompt);
    free(refs[i].next);
    free(refs[i].logits);
  }
}

int main(int argc, char **argv) {
  if (argc < 3)
    return 2;
  const char *which = argv[2], *file = argc > 3 ? argv[3] : NULL;
  model = gemmac_model_open(argv[1], 2);
  if (!model) {
    printf("FAIL open: %s\n", gemmac_last_error());
    return 1;
  }
  vocab = gemmac_model_vocab_size(model);
  if (!strcmp(which, "state") && file) {
    state_case(file);
  } else if (!strcmp(which, "load") && argc > 4) {
    load_case(file, argv[4]);
  } else if (!strcmp(which, "cancel")) {
    cancel_case();
  } else if (!strcmp(which, "device")) {
    printf("device: %s\n", gemmac_model_device(model));
  } else if (!strcmp(which, "outputs")) {
    outputs_case();
  } else if (!strcmp(which, "hidden") && file) {
    hidden_case(file);
  } else if (!strcmp(which, "batch")) {
    batch_case(file ? atoi(file) : 32);
  } else {
    return 2;
  }
  gemmac_model_close(model);
  return failures ? 1 : 0;
}
