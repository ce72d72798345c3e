/* Speculative decoding through the C API against plain decoding written
 * here (eval, sample, eval, ...): with drafters that propose the plain
 * continuation with errors at chosen offsets (every accept length 0..k),
 * end tokens inside drafts, or nothing right, gemmac_generate_speculative
 * must give the same tokens, end token, final position and final logits,
 * greedy and seeded with penalties, while the rings wrap (window 16).
 *   capi_speculative WEIGHTS greedy|sampled|eog|truncate|drafters|mtp|mtp-pool */
#include "runtime/include/gemmac.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures = 0;
static void check(int ok, const char *what) {
  if (!ok) {
    ++failures;
    fprintf(stderr, "FAIL: %s (%s)\n", what, gemmac_last_error());
  }
}

static gemmac_model *model;
static int32_t vocab;
enum { kCtx = 192, kMax = 64 };

static void prompt_of(gemmac_token *p, int32_t n, unsigned salt) {
  unsigned x = 12345u + salt * 7919u;
  p[0] = gemmac_token_bos(model);
  for (int32_t i = 1; i < n; ++i) {
    x = x * 1103515245u + 12345u;
    p[i] = (gemmac_token)(20 + (x >> 8) % (unsigned)(vocab - 20));
  }
}

struct run {
  gemmac_token out[kMax + 1];
  int32_t n;
  gemmac_token end;
  int32_t pos;
  float *logits; /* the session's last logits at the end */
};

/* Plain decoding: sample, stop at an end token, evaluate, repeat. */
static void plain(const gemmac_token *prompt, int32_t n, int32_t max,
                  const gemmac_sampler_params *p, struct run *r) {
  gemmac_session *s = gemmac_session_new(model, kCtx);
  float *logits = malloc(sizeof(float) * vocab);
  check(gemmac_session_eval(s, prompt, n, logits, 0) == 0, "plain prompt");
  r->n = 0;
  r->end = -1;
  while (r->n < max) {
    gemmac_token t = gemmac_sample(s, logits, p);
    if (gemmac_token_is_eog(model, t)) {
      r->end = t;
      break;
    }
    r->out[r->n++] = t;
    if (gemmac_session_position(s) >= gemmac_session_context(s))
      break;
    check(gemmac_session_eval(s, &t, 1, logits, 0) == 0, "plain step");
  }
  r->pos = gemmac_session_position(s);
  r->logits = malloc(sizeof(float) * vocab);
  memcpy(r->logits, gemmac_session_logits(s), sizeof(float) * vocab);
  free(logits);
  gemmac_session_free(s);
}

/* Drafts from the plain continuation. */
enum mode { PERFECT, CYCLE, EOG_INSIDE, WRONG, FAIL_NEG, FAIL_LONG, FAIL_VOCAB };
struct script {
  const struct run *ref;
  int32_t prompt_len;
  enum mode mode;
  int calls;
  gemmac_token eog;
  int asked_too_far; /* a context that is not the prompt and the continuation */
  int accept_seen[65];
};

static int32_t scripted(const gemmac_token *tokens, int32_t n, gemmac_token *draft,
                        int32_t max, void *user) {
  struct script *sc = user;
  const int32_t at = n - sc->prompt_len; /* the continuation's next index */
  const int call = sc->calls++;
  /* The context must be the prompt, then the continuation so far. */
  if (at < 1 || at > sc->ref->n || tokens[n - 1] != sc->ref->out[at - 1])
    sc->asked_too_far = 1;
  if (sc->mode == FAIL_NEG)
    return -1;
  if (sc->mode == FAIL_LONG)
    return max + 1;
  /* The plain continuation from `at` on: its tokens, then its end token. */
  const struct run *ref = sc->ref;
  int32_t k = 0;
  for (; k < max; ++k) {
    const int32_t i = at + k;
    draft[k] = i < ref->n ? ref->out[i] : i == ref->n && ref->end >= 0 ? ref->end : 3;
  }
  const int32_t wrong_at = sc->mode == CYCLE || sc->mode == EOG_INSIDE ? call % (max + 1)
                           : sc->mode == WRONG                         ? 0
                                                                       : max;
  if (wrong_at < max) {
    const gemmac_token right = draft[wrong_at];
    draft[wrong_at] = sc->mode == EOG_INSIDE && right != sc->eog ? sc->eog : (right + 7) % vocab;
  }
  if (sc->mode == FAIL_VOCAB)
    draft[0] = vocab + 5;
  return k;
}

static int collect(gemmac_token t, void *user) {
  struct run *r = user;
  if (r->n <= kMax)
    r->out[r->n] = t;
  ++r->n;
  return 0;
}

/* One speculative run against the plain one. */
static void compare(const char *what, const gemmac_token *prompt, int32_t n, int32_t max,
                    const gemmac_sampler_params *p, const struct run *ref, enum mode mode,
                    int32_t draft_max, int adaptive) {
  struct script sc = {ref, n, mode, 0, 1, 0, {0}};
  for (int32_t t = 0; t < vocab; ++t)
    if (gemmac_token_is_eog(model, t)) {
      sc.eog = t;
      break;
    }
  gemmac_speculative spec = gemmac_speculative_defaults();
  spec.draft_max = draft_max;
  spec.adaptive = adaptive;
  spec.draft = scripted;
  spec.draft_user = &sc;
  gemmac_session *s = gemmac_session_new(model, kCtx);
  struct run got = {{0}, 0, -1, 0, NULL};
  const int32_t produced = gemmac_generate_speculative(s, prompt, n, max, p, &spec, collect, &got);
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %d tokens, %d steps, %d drafted, %d accepted (plain: %d tokens, "
           "end %d)", what, produced, spec.n_steps, spec.n_drafted, spec.n_accepted, ref->n, ref->end);
  printf("%s\n", msg);
  check(produced == ref->n && got.n == ref->n, msg);
  check(memcmp(got.out, ref->out, sizeof(gemmac_token) * (size_t)ref->n) == 0, "the same tokens");
  check(spec.end_token == ref->end, "the same end token");
  check(gemmac_session_position(s) == ref->pos, "the same final position");
  check(memcmp(gemmac_session_logits(s), ref->logits, sizeof(float) * vocab) == 0,
        "the same final logits");
  check(!sc.asked_too_far, "the drafter saw the prompt and the continuation so far");
  check(spec.n_accepted <= spec.n_drafted, "accepted <= drafted");
  if (mode == PERFECT && !adaptive) {
    /* Every draft is right: each step keeps its k + 1 tokens (k within
     * what the rings can roll back). */
    const int64_t most = gemmac_model_number(model, "draft_max") + 1;
    const int32_t per_step = (draft_max < most ? draft_max : (int32_t)most) + 1;
    check(spec.n_accepted == spec.n_drafted, "a perfect drafter is always accepted");
    check(spec.n_steps <= (ref->n + per_step - 1) / per_step + 1,
          "a perfect drafter takes about tokens / (k + 1) steps");
  }
  if (mode == WRONG)
    check(spec.n_accepted == 0, "a drafter always wrong is never accepted");
  gemmac_session_free(s);
}

static gemmac_sampler_params greedy(void) {
  gemmac_sampler_params p = gemmac_sampler_defaults();
  p.temperature = 0;
  return p;
}

static void modes_case(const gemmac_sampler_params *p, const char *label) {
  for (unsigned salt = 0; salt < 2; ++salt) {
    gemmac_token prompt[40];
    const int32_t n = salt ? 40 : 9;
    prompt_of(prompt, n, salt);
    struct run ref;
    plain(prompt, n, kMax, p, &ref);
    const int32_t ks[] = {1, 3, 6};
    for (size_t i = 0; i < sizeof ks / sizeof ks[0]; ++i) {
      char what[128];
      snprintf(what, sizeof what, "%s, prompt %d, k=%d perfect", label, n, ks[i]);
      compare(what, prompt, n, kMax, p, &ref, PERFECT, ks[i], 0);
      snprintf(what, sizeof what, "%s, prompt %d, k=%d every accept length", label, n, ks[i]);
      compare(what, prompt, n, kMax, p, &ref, CYCLE, ks[i], 0);
      snprintf(what, sizeof what, "%s, prompt %d, k=%d end tokens in drafts", label, n, ks[i]);
      compare(what, prompt, n, kMax, p, &ref, EOG_INSIDE, ks[i], 0);
      snprintf(what, sizeof what, "%s, prompt %d, k=%d always wrong", label, n, ks[i]);
      compare(what, prompt, n, kMax, p, &ref, WRONG, ks[i], 0);
    }
    char what[128];
    snprintf(what, sizeof what, "%s, prompt %d, adaptive k<=6", label, n);
    compare(what, prompt, n, kMax, p, &ref, CYCLE, 6, 1);
    /* A budget shorter than a draft, and none at all. */
    struct run shortRef;
    plain(prompt, n, 2, p, &shortRef);
    compare("max_tokens 2, k=6", prompt, n, 2, p, &shortRef, PERFECT, 6, 0);
    free(shortRef.logits);
    free(ref.logits);
  }
}

/* A sampled run that ends with an end token, accepted inside a draft. */
static void eog_case(void) {
  gemmac_sampler_params p = gemmac_sampler_defaults();
  p.temperature = 3.0f;
  p.top_k = 0;
  p.top_p = 1.0f;
  for (unsigned seed = 1; seed < 200; ++seed) {
    p.seed = seed;
    gemmac_token prompt[12];
    prompt_of(prompt, 12, seed);
    struct run ref;
    plain(prompt, 12, kMax, &p, &ref);
    if (ref.end < 0) {
      free(ref.logits);
      continue;
    }
    printf("seed %u ends with end token %d after %d tokens\n", seed, ref.end, ref.n);
    compare("an end token accepted inside a draft, k=3", prompt, 12, kMax, &p, &ref, PERFECT, 3, 0);
    compare("an end token, every accept length, k=6", prompt, 12, kMax, &p, &ref, CYCLE, 6, 0);
    free(ref.logits);
    return;
  }
  check(0, "no seed below 200 samples an end token");
}

static void truncate_case(void) {
  const int64_t window = gemmac_model_number(model, "window");
  const int64_t extra = gemmac_model_number(model, "draft_max");
  check(window == 16, "the model's window is 16");
  gemmac_session *s = gemmac_session_new(model, kCtx);
  gemmac_token prompt[100];
  prompt_of(prompt, 100, 3);
  check(gemmac_session_eval(s, prompt, 100, NULL, 0) == 0, "eval 100");
  check(gemmac_session_max_rollback(s) == extra + 1, "a wrapped ring rolls back draft_max + 1");
  check(gemmac_session_truncate(s, 100 - (int32_t)extra - 2) == -1 &&
            gemmac_session_position(s) == 100,
        "rolling back past the rings is refused, nothing changed");
  check(gemmac_session_truncate(s, 101) == -1, "truncating forward is refused");
  check(gemmac_session_truncate(s, -1) == -1, "a negative length is refused");
  /* Rolled back, the next tokens give the logits of a session that never
   * saw the dropped ones. */
  const int32_t keep = 100 - (int32_t)extra - 1;
  check(gemmac_session_truncate(s, keep) == 0 && gemmac_session_position(s) == keep,
        "rolled back draft_max + 1");
  float *a = malloc(sizeof(float) * vocab), *b = malloc(sizeof(float) * vocab);
  gemmac_token next[3] = {77, 78, 79};
  check(gemmac_session_eval(s, next, 3, a, 0) == 0, "eval after the rollback");
  gemmac_session *fresh = gemmac_session_new(model, kCtx);
  check(gemmac_session_eval(fresh, prompt, keep, NULL, 0) == 0 &&
            gemmac_session_eval(fresh, next, 3, b, 0) == 0,
        "eval without the dropped tokens");
  check(memcmp(a, b, sizeof(float) * vocab) == 0, "the same logits as never having seen them");
  /* A context that fits the ring rolls back any distance. */
  gemmac_session *small = gemmac_session_new(model, (int32_t)(window + extra));
  check(gemmac_session_eval(small, prompt, (int32_t)(window + extra), NULL, 0) == 0, "fill");
  check(gemmac_session_max_rollback(small) == window + extra, "no ring wraps: any distance");
  check(gemmac_session_truncate(small, 0) == 0, "back to the start");
  free(a);
  free(b);
  gemmac_session_free(s);
  gemmac_session_free(fresh);
  gemmac_session_free(small);
}

static void drafters_case(void) {
  const gemmac_token seq[] = {5, 6, 7, 8, 9, 5, 6, 7};
  gemmac_token d[4] = {0};
  check(gemmac_draft_ngram(seq, 8, d, 4, NULL) == 4 && d[0] == 8 && d[1] == 9 && d[2] == 5 &&
            d[3] == 6,
        "ngram: what followed the last 3 tokens");
  const gemmac_token seq2[] = {1, 2, 3, 4, 2, 9, 4, 2};
  check(gemmac_draft_ngram(seq2, 8, d, 4, NULL) == 4 && d[0] == 9 && d[1] == 4 && d[2] == 2 &&
            d[3] == 9,
        "ngram: the last 2 tokens' latest occurrence, looping at the end");
  const gemmac_token loop[] = {4, 7, 7, 7, 7};
  check(gemmac_draft_ngram(loop, 5, d, 3, NULL) == 3 && d[0] == 7 && d[1] == 7 && d[2] == 7,
        "ngram: a one-token loop goes on");
  const gemmac_token seq3[] = {1, 2, 3};
  check(gemmac_draft_ngram(seq3, 3, d, 4, NULL) == 0, "ngram: nothing repeats");
  /* Hostile drafters stop generation with an error. */
  gemmac_token prompt[20];
  prompt_of(prompt, 20, 9);
  gemmac_sampler_params p = greedy();
  struct run ref;
  plain(prompt, 20, 30, &p, &ref);
  const enum mode bad[] = {FAIL_NEG, FAIL_LONG, FAIL_VOCAB};
  const char *expect[] = {"the drafter failed", "more than the", "outside the vocabulary"};
  for (int i = 0; i < 3; ++i) {
    struct script sc = {&ref, 20, bad[i], 0, 1, 0, {0}};
    gemmac_speculative spec = gemmac_speculative_defaults();
    spec.draft = scripted;
    spec.draft_user = &sc;
    gemmac_session *s = gemmac_session_new(model, kCtx);
    struct run got = {{0}, 0, -1, 0, NULL};
    check(gemmac_generate_speculative(s, prompt, 20, 30, &p, &spec, collect, &got) == -1 &&
              strstr(gemmac_last_error(), expect[i]),
          expect[i]);
    gemmac_session_free(s);
  }
  gemmac_speculative spec = gemmac_speculative_defaults();
  spec.draft_max = 0;
  gemmac_session *s = gemmac_session_new(model, kCtx);
  check(gemmac_generate_speculative(s, prompt, 20, 30, &p, &spec, NULL, NULL) == -1,
        "draft_max 0 is refused");
  /* The n-gram drafter on the real loop: the same tokens. */
  spec = gemmac_speculative_defaults();
  struct run got = {{0}, 0, -1, 0, NULL};
  gemmac_session_reset(s);
  check(gemmac_generate_speculative(s, prompt, 20, 30, &p, &spec, collect, &got) == ref.n &&
            memcmp(got.out, ref.out, sizeof(gemmac_token) * (size_t)ref.n) == 0,
        "ngram drafting: the same tokens");
  gemmac_session_free(s);
  free(ref.logits);
}

/* A scripted drafter that first checks the MTP drafter's input at this
 * step: drafting from the session must give what drafting from a session
 * that evaluated the same tokens in one batch gives. */
struct checked {
  struct script sc;
  gemmac_session *s;
  int checks, mismatches;
};

static int32_t checked_draft(const gemmac_token *tokens, int32_t n, gemmac_token *draft,
                             int32_t max, void *user) {
  struct checked *c = user;
  float *a = malloc(sizeof(float) * 2 * vocab), *b = malloc(sizeof(float) * 2 * vocab);
  gemmac_token da[2], db[2];
  gemmac_session *f = gemmac_session_new(model, kCtx);
  const int ok = gemmac_session_draft(c->s, tokens[n - 1], 2, da, a) == 2 &&
                 gemmac_session_eval(f, tokens, n - 1, NULL, 0) == 0 &&
                 gemmac_session_draft(f, tokens[n - 1], 2, db, b) == 2 &&
                 memcmp(da, db, sizeof da) == 0 && memcmp(a, b, sizeof(float) * 2 * vocab) == 0;
  ++c->checks;
  c->mismatches += !ok;
  gemmac_session_free(f);
  free(a);
  free(b);
  return scripted(tokens, n, draft, max, &c->sc);
}

/* The MTP drafter compiled into the program (compile-model --draft):
 * decoding with gemmac_draft_mtp equals plain decoding; and after steps of
 * every accept length, the drafter's next input (the hidden state of the
 * last kept row) is what evaluating the same tokens afresh gives, so its
 * drafts and logits are bit for bit those of a fresh session. */
static void mtp_case(void) {
  check(gemmac_model_number(model, "drafter") == 1, "the program has a drafter");
  gemmac_token prompt[40];
  prompt_of(prompt, 40, 3);
  gemmac_sampler_params params[2] = {greedy(), gemmac_sampler_defaults()};
  params[1].temperature = 0.9f;
  params[1].repeat_penalty = 1.3f;
  params[1].seed = 77;
  /* Budgets that end runs after steps of different accept lengths. */
  const int32_t budgets[] = {kMax, 7, 12, 17, 22, 29};
  for (int i = 0; i < 2 * 6; ++i) {
    const gemmac_sampler_params *p = &params[i % 2];
    const int32_t max = budgets[i / 2];
    struct run ref;
    plain(prompt, 40, max, p, &ref);
    for (int scripted_drafts = 0; scripted_drafts < 2; ++scripted_drafts) {
      gemmac_session *s = gemmac_session_new(model, kCtx);
      struct checked cd = {{&ref, 40, CYCLE, 0, 1, 0, {0}}, s, 0, 0};
      gemmac_speculative spec = gemmac_speculative_defaults();
      spec.draft_max = 4;
      spec.draft = scripted_drafts ? checked_draft : gemmac_draft_mtp;
      spec.draft_user = scripted_drafts ? (void *)&cd : (void *)s;
      struct run got = {{0}, 0, -1, 0, NULL};
      const int32_t produced = gemmac_generate_speculative(s, prompt, 40, max, p, &spec, collect, &got);
      printf("%s, %s drafts, max %d: %d tokens, %d steps, %d drafted, %d accepted\n",
             i % 2 ? "seeded" : "greedy", scripted_drafts ? "scripted" : "MTP", max, produced,
             spec.n_steps, spec.n_drafted, spec.n_accepted);
      check(produced == ref.n && memcmp(got.out, ref.out, sizeof(gemmac_token) * (size_t)ref.n) == 0,
            "the tokens of plain decoding");
      check(gemmac_session_position(s) == ref.pos &&
                memcmp(gemmac_session_logits(s), ref.logits, sizeof(float) * vocab) == 0,
            "plain decoding's final position and logits");
      if (scripted_drafts)
        check(cd.checks > 0 && cd.mismatches == 0,
              "at every step, the drafter's input is a fresh evaluation's");
      /* Draft from the final state, and from a session that evaluated the
       * same tokens in one batch. */
      const float *last = gemmac_session_logits(s);
      gemmac_token t = 0;
      for (int32_t v = 1; v < vocab; ++v)
        if (last[v] > last[t])
          t = v;
      float *a = malloc(sizeof(float) * 3 * vocab), *b = malloc(sizeof(float) * 3 * vocab);
      gemmac_token da[3], db[3], all[40 + kMax];
      memcpy(all, prompt, sizeof prompt);
      memcpy(all + 40, ref.out, sizeof(gemmac_token) * (size_t)(ref.pos - 40));
      gemmac_session *f = gemmac_session_new(model, kCtx);
      check(gemmac_session_draft(s, t, 3, da, a) == 3, "gemmac_session_draft after decoding");
      check(gemmac_session_eval(f, all, ref.pos, NULL, 0) == 0 &&
                gemmac_session_draft(f, t, 3, db, b) == 3,
            "gemmac_session_draft after one eval");
      check(memcmp(da, db, sizeof da) == 0 && memcmp(a, b, sizeof(float) * 3 * vocab) == 0,
            "the same drafts and logits as a fresh session's");
      /* Without the hidden state of the last token: refused. */
      check(gemmac_session_truncate(s, ref.pos - 1) == 0 &&
                gemmac_session_draft(s, t, 1, da, NULL) == -1,
            "no draft after a truncate");
      free(a);
      free(b);
      gemmac_session_free(f);
      gemmac_session_free(s);
    }
    free(ref.logits);
  }
}

static gemmac_token argmax(const float *row) {
  gemmac_token t = 0;
  for (int32_t v = 1; v < vocab; ++v)
    if (row[v] > row[t])
      t = v;
  return t;
}

/* gemmac_pool_draft: several sequences of a pool drafting together get each
 * sequence's own gemmac_session_draft, tokens and logits bit for bit, and a
 * fresh session's; one without a hidden state drafts nothing; a session
 * twice, or of no pool, is refused. */
static void mtp_pool_case(void) {
  enum { kSeq = 5, kDraft = 3 };
  gemmac_pool *pool = gemmac_pool_new(model, kSeq, kCtx);
  check(pool != NULL, "gemmac_pool_new");
  if (!pool)
    return;
  const int32_t lens[kSeq] = {70, 9, 33, 50, 21}; /* rings of 16 wrapped or not */
  gemmac_token prompts[kSeq][70], next[kSeq];
  float *logits = malloc(sizeof(float) * vocab);
  for (int i = 0; i < kSeq; ++i) {
    prompt_of(prompts[i], lens[i], 10u + (unsigned)i);
    check(gemmac_session_eval(gemmac_pool_session(pool, i), prompts[i], lens[i], logits, 0) == 0,
          "a pool sequence's prompt");
    next[i] = argmax(logits);
  }
  /* Sequence 2 loses its hidden state. */
  check(gemmac_session_truncate(gemmac_pool_session(pool, 2), lens[2] - 1) == 0, "truncate sequence 2");
  const int order[kSeq] = {3, 0, 2, 4, 1};
  int32_t want[kSeq] = {3, 1, 2, 0, 2}, got[kSeq];
  gemmac_session *seqs[kSeq];
  gemmac_token toks[kSeq], drafts[kSeq * kDraft];
  float *all = malloc(sizeof(float) * kSeq * kDraft * vocab);
  for (int j = 0; j < kSeq; ++j) {
    seqs[j] = gemmac_pool_session(pool, order[j]);
    toks[j] = next[order[j]];
    got[j] = want[j];
  }
  check(gemmac_pool_draft(pool, kSeq, seqs, toks, got, kDraft, drafts, all) == 0, "gemmac_pool_draft");
  for (int j = 0; j < kSeq; ++j) {
    const int i = order[j];
    check(got[j] == (i == 2 ? 0 : want[j]), "each sequence drafts what it asked, none without a hidden state");
    if (got[j] <= 0)
      continue;
    gemmac_token alone[kDraft], fresh[kDraft];
    float *a = malloc(sizeof(float) * kDraft * vocab), *f = malloc(sizeof(float) * kDraft * vocab);
    gemmac_session *s = gemmac_session_new(model, kCtx);
    check(gemmac_session_draft(seqs[j], toks[j], got[j], alone, a) == got[j] &&
              gemmac_session_eval(s, prompts[i], lens[i], NULL, 0) == 0 &&
              gemmac_session_draft(s, toks[j], got[j], fresh, f) == got[j],
          "the sequence drafting alone, and a fresh session");
    const size_t bytes = sizeof(float) * (size_t)got[j] * (size_t)vocab;
    check(memcmp(drafts + j * kDraft, alone, sizeof(gemmac_token) * (size_t)got[j]) == 0 &&
              memcmp(all + (size_t)j * kDraft * vocab, a, bytes) == 0,
          "drafted together: the tokens and logits of drafting alone");
    check(memcmp(alone, fresh, sizeof(gemmac_token) * (size_t)got[j]) == 0 && memcmp(a, f, bytes) == 0,
          "the tokens and logits of a fresh session");
    printf("sequence %d (%d prompt tokens): drafted %d together, the same alone and afresh\n", i, lens[i],
           got[j]);
    free(a);
    free(f);
    gemmac_session_free(s);
  }
  gemmac_session *twice[2] = {seqs[0], seqs[0]}, *own = gemmac_session_new(model, kCtx);
  int32_t two[2] = {1, 1};
  check(gemmac_pool_draft(pool, 2, twice, toks, two, kDraft, drafts, NULL) == -1, "a session twice is refused");
  check(gemmac_pool_draft(pool, 1, &own, toks, two, kDraft, drafts, NULL) == -1,
        "a session of no pool is refused");
  two[0] = kDraft + 1;
  check(gemmac_pool_draft(pool, 1, seqs, toks, two, kDraft, drafts, NULL) == -1, "n_draft > max_draft is refused");
  gemmac_session_free(own);
  free(all);
  free(logits);
  gemmac_pool_free(pool);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: capi_speculative WEIGHTS greedy|sampled|eog|truncate|drafters|mtp|mtp-pool\n");
    return 2;
  }
  model = gemmac_model_open(argv[1], 2);
  if (!model) {
    fprintf(stderr, "cannot open %s: %s\n", argv[1], gemmac_last_error());
    return 1;
  }
  vocab = gemmac_model_vocab_size(model);
  const char *c = argv[2];
  if (!strcmp(c, "greedy")) {
    gemmac_sampler_params p = greedy();
    modes_case(&p, "greedy");
  } else if (!strcmp(c, "sampled")) {
    gemmac_sampler_params p = gemmac_sampler_defaults();
    p.temperature = 0.9f;
    p.top_k = 40;
    p.repeat_penalty = 1.3f;
    p.presence_penalty = 0.2f;
    p.seed = 4242;
    modes_case(&p, "seeded, penalties");
  } else if (!strcmp(c, "eog")) {
    eog_case();
  } else if (!strcmp(c, "truncate")) {
    truncate_case();
  } else if (!strcmp(c, "drafters")) {
    drafters_case();
  } else if (!strcmp(c, "mtp")) {
    mtp_case();
  } else if (!strcmp(c, "mtp-pool")) {
    mtp_pool_case();
  } else {
    fprintf(stderr, "unknown case %s\n", c);
    return 2;
  }
  gemmac_model_close(model);
  printf("%s\n", failures ? "FAILED" : "ok");
  return failures ? 1 : 0;
}
