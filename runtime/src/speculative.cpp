// Speculative decoding: rolling a session back, an n-gram drafter, and the
// draft/verify loop of gemmac_generate_speculative.
//
// The loop keeps gemmac_generate's semantics exactly. A verify step
// evaluates [t, d1 .. dk] (t: the token just sampled, d: the draft) with
// every row's logits; row j is the distribution after t, d1 .. dj, which is
// what plain decoding would sample from at that point, because a row's
// logits do not depend on the rest of the batch. Each row is sampled in
// order, with the session's history cut to that row (the penalties), one
// random draw each as plain decoding makes; the draft is kept while it
// equals the samples, and the session is then truncated after the last
// kept token. The first differing sample is the next step's t.

#include "abi/model_meta.h"
#include "runtime/src/model.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <string>
#include <vector>

using namespace gemmac;

namespace {
/// Positions a session can go back at most, whatever its position: a ring
/// of window + extra rows holds positions [pos - window - extra, pos), and
/// returning to n needs [n - window + 1, n), so pos - n <= extra + 1.
/// Without rings, or while the context fits a ring, nothing is lost.
int32_t rollbackLimit(const gemmac_session *s) {
  const int64_t *meta = s->model->program->meta;
  const int64_t window = meta[abi::kMetaWindow], extra = meta[abi::kMetaDraftMax];
  if (window == 0 || s->nCtx <= window + extra)
    return INT32_MAX;
  return static_cast<int32_t>(extra + 1);
}
} // namespace

extern "C" int32_t gemmac_session_max_rollback(const gemmac_session *s) {
  return std::min(s->pos, rollbackLimit(s));
}

extern "C" int gemmac_session_truncate(gemmac_session *s, int32_t nPast) {
  if (nPast < 0 || nPast > s->pos) {
    rt::setError("cannot truncate a session at position " +
                 std::to_string(s->pos) + " to " + std::to_string(nPast) +
                 " tokens");
    return -1;
  }
  const int32_t most = gemmac_session_max_rollback(s);
  if (s->pos - nPast > most) {
    rt::setError("cannot roll back " + std::to_string(s->pos - nPast) +
                 " positions: the sliding-window caches keep " +
                 std::to_string(most) +
                 " (compile the model with a larger --draft-max)");
    return -1;
  }
  if (nPast == s->pos)
    return 0;
  s->pos = nPast;
  s->history.resize(static_cast<size_t>(nPast));
  s->hasLogits = false;
  return 0;
}

extern "C" int32_t gemmac_draft_ngram(const gemmac_token *tokens, int32_t n,
                                      gemmac_token *draft, int32_t maxDraft,
                                      void *) {
  if (!tokens || !draft || n <= 0 || maxDraft <= 0)
    return 0;
  // The latest earlier occurrence of the last `size` tokens wins.
  for (int32_t size = std::min(3, n - 1); size >= 1; --size) {
    const gemmac_token *tail = tokens + n - size;
    for (int32_t at = n - size - 1; at >= 0; --at) {
      if (!std::equal(tail, tail + size, tokens + at))
        continue;
      // What followed, continued as a repetition when it reaches the end
      // (a loop of period n - from goes on looping).
      const int32_t from = at + size;
      for (int32_t i = 0; i < maxDraft; ++i)
        draft[i] = from + i < n ? tokens[from + i] : draft[from + i - n];
      return maxDraft;
    }
  }
  return 0;
}

extern "C" int32_t gemmac_session_draft(gemmac_session *s, gemmac_token token,
                                        int32_t nDraft, gemmac_token *draft,
                                        float *logits) {
  gemmac_model *m = s->model;
  const int32_t V = m->vocab;
  if (!m->program->draft || s->gpu) {
    rt::setError("this program has no MTP drafter (compile-model --draft "
                 "ASSISTANT.gguf, CPU targets)");
    return -1;
  }
  if (nDraft < 0 || (nDraft > 0 && !draft) || token < 0 || token >= V) {
    rt::setError("gemmac_session_draft needs a token of the vocabulary and "
                 "room for n_draft >= 0 tokens");
    return -1;
  }
  if (s->hiddenAt != s->pos || s->hiddenRows < 1 || s->pos >= s->nCtx) {
    rt::setError("the drafter needs the hidden state of the session's last "
                 "evaluated token (evaluate, then draft the token sampled "
                 "from its logits)");
    return -1;
  }
  // Every step at the position `token` will take, reading the target's
  // caches below it: row 0 of a one-row step in slot 0.
  const size_t H = static_cast<size_t>(m->program->meta[abi::kMetaHidden]);
  const auto last = s->outHidden.begin() + (s->hiddenRows - 1) * H;
  std::vector<float> h(last, last + H), next(H);
  std::vector<float> &row = s->draftLogits;
  row.resize(V);
  const int64_t position = s->pos, outRow = 0;
  const int64_t seq[GEMMAC_SEQ_FIELDS] = {0, s->pos, 0, 1};
  gemmac_token t = token;
  for (int32_t i = 0; i < nDraft; ++i) {
    float *out = logits ? logits + static_cast<size_t>(i) * V : row.data();
    m->program->draft(m->rt.get(), m->weights, s->kv, s->arena, &t, out,
                      next.data(), 1, &position, seq, 1, &outRow, 1, s->nCtx,
                      1, rt::kvStride(s->kvBytes), h.data());
    for (int32_t id : m->tokenizer.suppressed())
      out[id] = -INFINITY;
    // Greedy drafting, as llama.cpp's draft-mtp: the most likely token.
    t = static_cast<gemmac_token>(std::max_element(out, out + V) - out);
    draft[i] = t;
    h.swap(next);
  }
  return nDraft;
}

extern "C" int gemmac_pool_draft(gemmac_pool *pool, int32_t n,
                                 gemmac_session *const *sessions,
                                 const gemmac_token *tokens, int32_t *nDraft,
                                 int32_t maxDraft, gemmac_token *drafts,
                                 float *logits) {
  if (!pool || n < 0 || maxDraft < 0 ||
      (n > 0 &&
       (!sessions || !tokens || !nDraft || (maxDraft > 0 && !drafts)))) {
    rt::setError("gemmac_pool_draft needs a pool, n >= 0 sessions with their "
                 "tokens and draft lengths, and room for n * max_draft tokens");
    return -1;
  }
  gemmac_model *m = pool->model;
  const int32_t V = m->vocab;
  if (!m->program->draft || pool->gpu) {
    rt::setError("this program has no MTP drafter (compile-model --draft "
                 "ASSISTANT, CPU targets)");
    return -1;
  }
  std::vector<bool> seen(pool->sessions.size());
  for (int32_t j = 0; j < n; ++j) {
    const gemmac_session *s = sessions[j];
    if (!s || s->pool != pool || seen[s->slot] || tokens[j] < 0 ||
        tokens[j] >= V || nDraft[j] < 0 || nDraft[j] > maxDraft) {
      rt::setError("gemmac_pool_draft: sequence " + std::to_string(j) +
                   " is not a distinct session of the pool with a token of "
                   "the vocabulary and 0 .. max_draft tokens to draft");
      return -1;
    }
    seen[s->slot] = true;
  }
  // Each sequence's drafter input: its last evaluated row's hidden state.
  const size_t H = static_cast<size_t>(m->program->meta[abi::kMetaHidden]);
  std::vector<float> h(static_cast<size_t>(n) * H);
  std::vector<gemmac_token> current(tokens, tokens + n);
  for (int32_t j = 0; j < n; ++j) {
    const gemmac_session *s = sessions[j];
    if (s->hiddenAt != s->pos || s->hiddenRows < 1 || s->pos >= s->nCtx) {
      nDraft[j] = 0;
      continue;
    }
    std::copy_n(s->outHidden.begin() + (s->hiddenRows - 1) * H, H,
                h.begin() + j * H);
  }
  // Step i: one drafter call per chunk of at most maxBatch sequences still
  // drafting, row r at its sequence's position (segments of one row).
  std::vector<int32_t> stepTokens;
  std::vector<int64_t> positions, seqs, outRows;
  std::vector<float> hIn, hOut, &out = pool->draftLogits;
  for (int32_t i = 0; i < maxDraft; ++i) {
    std::vector<int32_t> active;
    for (int32_t j = 0; j < n; ++j)
      if (nDraft[j] > i)
        active.push_back(j);
    for (size_t c0 = 0; c0 < active.size(); c0 += m->maxBatch) {
      const size_t c1 = std::min(active.size(), c0 + m->maxBatch);
      const size_t R = c1 - c0;
      stepTokens.clear();
      positions.clear();
      seqs.clear();
      outRows.clear();
      hIn.resize(R * H);
      hOut.resize(R * H);
      out.resize(R * V);
      for (size_t r = 0; r < R; ++r) {
        const int32_t j = active[c0 + r];
        const gemmac_session *s = sessions[j];
        stepTokens.push_back(current[j]);
        positions.push_back(s->pos);
        seqs.insert(seqs.end(), {s->slot, s->pos, static_cast<int64_t>(r), 1});
        outRows.push_back(static_cast<int64_t>(r));
        std::copy_n(h.begin() + j * H, H, hIn.begin() + r * H);
      }
      m->program->draft(m->rt.get(), m->weights, pool->kv, pool->arena,
                        stepTokens.data(), out.data(), hOut.data(),
                        static_cast<int64_t>(R), positions.data(), seqs.data(),
                        static_cast<int64_t>(R), outRows.data(),
                        static_cast<int64_t>(R), pool->nCtx,
                        static_cast<int64_t>(pool->sessions.size()),
                        pool->kvStride, hIn.data());
      for (size_t r = 0; r < R; ++r) {
        const int32_t j = active[c0 + r];
        float *row = out.data() + r * V;
        for (int32_t id : m->tokenizer.suppressed())
          row[id] = -INFINITY;
        // Greedy, as gemmac_session_draft.
        current[j] =
            static_cast<gemmac_token>(std::max_element(row, row + V) - row);
        drafts[static_cast<size_t>(j) * maxDraft + i] = current[j];
        if (logits)
          std::copy_n(row, V,
                      logits + (static_cast<size_t>(j) * maxDraft + i) * V);
        std::copy_n(hOut.begin() + r * H, H, h.begin() + j * H);
      }
    }
  }
  return 0;
}

extern "C" int32_t gemmac_draft_mtp(const gemmac_token *tokens, int32_t n,
                                    gemmac_token *draft, int32_t maxDraft,
                                    void *user) {
  auto *s = static_cast<gemmac_session *>(user);
  if (!s || !tokens || n != s->pos + 1) {
    rt::setError("gemmac_draft_mtp drafts for its session (user), after the "
                 "tokens it has evaluated and the one just sampled");
    return -1;
  }
  return gemmac_session_draft(s, tokens[n - 1], maxDraft, draft, nullptr);
}

extern "C" gemmac_speculative gemmac_speculative_defaults(void) {
  gemmac_speculative spec = {};
  spec.draft_max = 3;
  spec.draft = gemmac_draft_ngram;
  spec.end_token = -1;
  return spec;
}

namespace {

/// What a caller of acceptDraft says of each sample.
enum class Verdict {
  Continue, // go on verifying
  Stop,     // the sample ends generation: it is not evaluated
  Last,     // the last sample: kept (evaluated) if it equals the draft
};

/// The verify half of a step: the session's last k + 1 evaluated tokens are
/// batch = [t, d1 .. dk] and rows their logits. Row j follows t, d1 .. dj:
/// it is sampled with the history cut there (the penalties see what plain
/// decoding saw), and the draft is kept while it equals the samples. The
/// session is then truncated after the kept tokens, its last logits those
/// of the last kept row. Returns how many of the k + 1 tokens were kept
/// (>= 1), and the first sample that is not kept in *next (-1 when the
/// verdict stopped, or the last sample was drafted), or -1 on error.
template <typename Judge>
int32_t acceptDraft(gemmac_session *s, const gemmac_token *batch, int32_t k,
                    const float *rows, const gemmac_sampler_params *params,
                    Judge verdict, gemmac_token *next) {
  const size_t V = static_cast<size_t>(s->model->vocab);
  const int32_t P = s->pos - (k + 1);
  *next = -1;
  int32_t kept = 1;
  for (int32_t j = 0; j <= k; ++j) {
    s->history.resize(static_cast<size_t>(P));
    s->history.insert(s->history.end(), batch, batch + j + 1);
    const gemmac_token x = gemmac_sample(s, rows + j * V, params);
    const Verdict v = verdict(x);
    if (v == Verdict::Stop)
      break;
    if (j < k && x == batch[j + 1]) {
      ++kept; // evaluated in this step already
      if (v == Verdict::Last)
        break;
      continue;
    }
    *next = x;
    break;
  }
  // The history back to the whole step, then cut after the kept tokens.
  s->history.resize(static_cast<size_t>(P));
  s->history.insert(s->history.end(), batch, batch + k + 1);
  if (gemmac_session_truncate(s, P + kept) != 0)
    return -1;
  s->lastLogits.assign(rows + (kept - 1) * V, rows + kept * V);
  s->hasLogits = true;
  // The drafter's next input: the hidden state of the last kept row.
  if (s->hiddenRows == k + 1 && s->hiddenAt == P + k + 1) {
    const size_t H = s->outHidden.size() / static_cast<size_t>(k + 1);
    std::copy_n(s->outHidden.begin() + (kept - 1) * H, H, s->outHidden.begin());
    s->outHidden.resize(H);
    s->hiddenRows = 1;
    s->hiddenAt = P + kept;
  } else {
    s->hiddenAt = -1; // not the step's rows: no draft until the next eval
  }
  return kept;
}

} // namespace

extern "C" int32_t gemmac_speculative_accept(
    gemmac_session *s, int32_t nRows, const float *rows,
    const gemmac_sampler_params *params, gemmac_token_fn onSample, void *user,
    gemmac_token *next) {
  if (!s || !rows || !next || nRows < 1 || nRows > s->pos ||
      static_cast<size_t>(nRows) > s->history.size()) {
    rt::setError("gemmac_speculative_accept needs the session's last "
                 "evaluated rows (1 <= n_rows <= its position), their logits "
                 "and a place for the next token");
    return -1;
  }
  const std::vector<gemmac_token> batch(s->history.end() - nRows,
                                        s->history.end());
  const int32_t kept = acceptDraft(
      s, batch.data(), nRows - 1, rows, params,
      [&](gemmac_token x) {
        return onSample && onSample(x, user) ? Verdict::Stop
                                             : Verdict::Continue;
      },
      next);
  return kept < 0 ? -1 : kept - 1;
}

namespace {

/// How one generation ends, as gemmac_generate would.
enum class Stop { None, EndOfGeneration, Callback };

struct Emitter {
  gemmac_session *s;
  gemmac_speculative *spec;
  gemmac_token_fn onToken;
  void *user;
  int32_t produced = 0;

  /// A sampled token: the end of generation, or one more produced token
  /// passed to the caller (which may stop).
  Stop emit(gemmac_token t) {
    if (s->model->tokenizer.isEndOfGeneration(t)) {
      spec->end_token = t;
      return Stop::EndOfGeneration;
    }
    ++produced;
    return onToken && onToken(t, user) ? Stop::Callback : Stop::None;
  }
};

} // namespace

extern "C" int32_t gemmac_generate_speculative(
    gemmac_session *s, const gemmac_token *prompt, int32_t nPrompt,
    int32_t maxTokens, const gemmac_sampler_params *params,
    gemmac_speculative *spec, gemmac_token_fn onToken, void *user) {
  gemmac_model *m = s->model;
  if (!spec || !spec->draft || spec->draft_max < 1 || spec->draft_min < 0 ||
      spec->draft_min > spec->draft_max || nPrompt < 0 ||
      (nPrompt > 0 && !prompt)) {
    rt::setError("gemmac_generate_speculative needs a drafter, 1 <= draft_max, "
                 "0 <= draft_min <= draft_max, and n_prompt >= 0 tokens");
    return -1;
  }
  spec->n_steps = spec->n_drafted = spec->n_accepted = 0;
  spec->end_token = -1;
  if (maxTokens < 0)
    maxTokens = INT32_MAX;
  const int32_t V = m->vocab;
  std::vector<float> logits(V);
  if (nPrompt > 0) {
    if (gemmac_session_eval(s, prompt, nPrompt, logits.data(), 0) != 0)
      return -1;
  } else { // continue from the session's last token
    if (!s->hasLogits) {
      rt::setError("nothing to generate from: no prompt, and the session has "
                   "no last token's logits");
      return -1;
    }
    logits = s->lastLogits;
  }
  Emitter out{s, spec, onToken, user};
  if (maxTokens == 0)
    return 0;
  gemmac_token t = gemmac_sample(s, logits.data(), params);
  if (out.emit(t) != Stop::None)
    return out.produced;

  // t: produced, not yet evaluated. A draft may be as long as the batch,
  // the context and the rings' rollback allow.
  int32_t length = spec->draft_max;
  std::vector<gemmac_token> context, batch;
  std::vector<float> rows;
  while (s->pos < s->nCtx) {
    const int32_t P = s->pos;
    // The step keeps at least t, so it rolls back at most k positions.
    int32_t k = std::min({length, m->maxBatch - 1, s->nCtx - P - 1,
                          maxTokens - out.produced, rollbackLimit(s)});
    batch.assign(1, t);
    if (k > 0) {
      context.assign(s->history.begin(), s->history.end());
      context.push_back(t);
      batch.resize(static_cast<size_t>(k) + 1);
      const int32_t got = spec->draft(context.data(),
                                      static_cast<int32_t>(context.size()),
                                      batch.data() + 1, k, spec->draft_user);
      if (got < 0 || got > k) {
        rt::setError(got < 0 ? "the drafter failed (returned " +
                                   std::to_string(got) + ")"
                             : "the drafter returned " + std::to_string(got) +
                                   " tokens, more than the " +
                                   std::to_string(k) + " asked for");
        return -1;
      }
      for (int32_t i = 1; i <= got; ++i)
        if (batch[i] < 0 || batch[i] >= V) {
          rt::setError("the drafter proposed token " + std::to_string(batch[i]) +
                       ", outside the vocabulary of " + std::to_string(V));
          return -1;
        }
      k = got < std::max(spec->draft_min, 1) ? 0 : got;
      batch.resize(static_cast<size_t>(k) + 1);
    }
    rows.resize(batch.size() * static_cast<size_t>(V));
    if (gemmac_session_eval(s, batch.data(), static_cast<int32_t>(batch.size()),
                            rows.data(), 1) != 0)
      return -1;
    ++spec->n_steps;
    spec->n_drafted += k;
    if (out.produced == maxTokens) // t was the last: evaluated, as plain
      return out.produced;

    // Row j follows t, d1 .. dj: sample it, then emit the sample; the
    // token that reaches max_tokens is the last, kept when it was drafted.
    gemmac_token next = -1;
    const int32_t kept = acceptDraft(
        s, batch.data(), k, rows.data(), params,
        [&](gemmac_token x) {
          return out.emit(x) != Stop::None ? Verdict::Stop
                 : out.produced == maxTokens ? Verdict::Last
                                             : Verdict::Continue;
        },
        &next);
    if (kept < 0)
      return -1;
    spec->n_accepted += kept - 1;
    t = next;
    if (next < 0) // an end, a stop, or max_tokens with every token evaluated
      return out.produced;
    if (spec->adaptive)
      length = kept - 1 == k && k == length
                   ? std::min(length + 2, spec->draft_max)
                   : std::max(std::max(spec->draft_min, 1), length - 1);
  }
  return out.produced; // t produced, the context full: not evaluated
}
