// Sessions: a KV cache and a scratch arena sized by the compiled model,
// token evaluation in chunks of the model's batch size, sampling and
// generation.

#include "abi/model_meta.h"
#include "abi/program_table.h"
#include "runtime/src/model.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <unordered_map>

using namespace gemmac;

gemmac_session::~gemmac_session() {
  if (!pool) { // a pool's session lives in the pool's buffers
    std::free(kv);
    std::free(arena);
  }
}

int32_t rt::defaultContext(const gemmac_model *m, int32_t nCtx) {
  return nCtx > 0 ? nCtx
                  : std::min<int32_t>(m->context > 0 ? m->context : 4096, 4096);
}

std::string rt::gib(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / double(1ull << 30));
  return buf;
}

bool rt::contextKVBytes(const gemmac_model *m, int32_t nCtx, uint64_t &bytes) {
  // The generated size function: the rings hold min(window, n_ctx rounded
  // up to 64) rows, then perToken bytes per context token
  // (CPULowering::kvLayout). It is not linear in n_ctx, so it is asked for
  // n_ctx itself; perToken (from two contexts past every window) bounds it,
  // so that a context whose byte count does not fit 62 bits is refused.
  const int64_t big = int64_t(1) << 24;
  int64_t (*const kvBytesOf)(int64_t) = m->program->kv_bytes;
  const int64_t perToken = kvBytesOf(big + 1) - kvBytesOf(big);
  int64_t bound = 0;
  if (perToken < 0 ||
      __builtin_mul_overflow(perToken, static_cast<int64_t>(nCtx), &bound) ||
      __builtin_add_overflow(bound, kvBytesOf(big) - perToken * big, &bound) ||
      bound > (int64_t(1) << 62)) {
    rt::setError("a context of " + std::to_string(nCtx) + " tokens (" +
                 std::to_string(perToken) +
                 " bytes of KV cache each) is more than the KV cache can address");
    return false;
  }
  bytes = static_cast<uint64_t>(kvBytesOf(nCtx));
  return true;
}

uint8_t *rt::newArena(const gemmac_model *m) {
  const size_t bytes =
      static_cast<size_t>(m->program->arena_bytes(m->maxBatch));
  auto *arena = static_cast<uint8_t *>(
      std::aligned_alloc(64, (bytes + 63) / 64 * 64));
  if (!arena)
    rt::setError("out of memory: cannot allocate a scratch arena of " +
                 std::to_string(bytes) + " bytes");
  return arena;
}

extern "C" gemmac_session *gemmac_session_new(gemmac_model *model,
                                              int32_t nCtx) {
  nCtx = rt::defaultContext(model, nCtx);
  auto s = std::make_unique<gemmac_session>();
  s->model = model;
  s->nCtx = nCtx;
  if (model->gpu) {
    std::string err;
    s->gpu = model->gpu->newSession(nCtx, 1, err);
    if (!s->gpu) {
      rt::setError(err);
      return nullptr;
    }
    s->kvBytes = s->gpu->kvBytes();
    return s.release();
  }
  if (!rt::contextKVBytes(model, nCtx, s->kvBytes))
    return nullptr;
  // Zeroed: an unwritten cache row must never be read, but make it benign.
  s->kv = static_cast<uint8_t *>(std::calloc(1, s->kvBytes + 64));
  if (!s->kv) {
    rt::setError("out of memory: cannot allocate the KV cache of " +
                 std::to_string(s->kvBytes) + " bytes (" + rt::gib(s->kvBytes) +
                 ") for a context of " + std::to_string(nCtx) + " tokens");
    return nullptr;
  }
  s->arena = rt::newArena(model);
  return s->arena ? s.release() : nullptr;
}

extern "C" void gemmac_session_free(gemmac_session *s) {
  if (s && !s->pool) // a pool's sessions are freed with the pool
    delete s;
}
extern "C" gemmac_model *gemmac_session_model(const gemmac_session *s) {
  return s->model;
}
extern "C" void gemmac_session_reset(gemmac_session *s) {
  s->pos = 0;
  s->history.clear();
  s->hasLogits = false;
  s->hiddenAt = -1;
  s->cancelRequested = false;
}
extern "C" int32_t gemmac_session_position(const gemmac_session *s) {
  return s->pos;
}
extern "C" int32_t gemmac_session_context(const gemmac_session *s) {
  return s->nCtx;
}
extern "C" uint64_t gemmac_session_kv_bytes(const gemmac_session *s) {
  return s->kvBytes;
}

int rt::evalTokens(gemmac_session *s, const gemmac_token *tokens, int32_t n,
                   int32_t nOut, float *logits, float *hidden,
                   bool takesCancel) {
  gemmac_model *m = s->model;
  if (n <= 0)
    return 0;
  if (static_cast<int64_t>(s->pos) + n > s->nCtx) {
    rt::setError("context full: " + std::to_string(s->pos) + " + " +
                 std::to_string(n) + " tokens exceed the session's " +
                 std::to_string(s->nCtx));
    return -1;
  }
  for (int32_t i = 0; i < n; ++i)
    if (tokens[i] < 0 || tokens[i] >= m->vocab) {
      rt::setError("token " + std::to_string(tokens[i]) + " at index " +
                   std::to_string(i) + " is outside the vocabulary of " +
                   std::to_string(m->vocab));
      return -1;
    }
  const int32_t V = m->vocab;
  // Rows are computed for the tokens from `first` on: the caller's last
  // nOut, and at least the last token (gemmac_session_logits). They are a
  // suffix of the tokens, so each chunk's are the last rows of its step.
  const int32_t first = n - std::max(nOut, 1);
  for (int32_t done = 0; done < n;) {
    if (takesCancel && takeCancel(s))
      return -1;
    const int32_t chunk = std::min(n - done, m->maxBatch);
    const bool last = done + chunk == n;
    const int32_t rows = std::max(0, done + chunk - std::max(first, done));
    // The caller's rows of this chunk start at its row `row0`.
    const size_t row0 = static_cast<size_t>(done + chunk - rows - (n - nOut));
    const size_t H = static_cast<size_t>(m->program->meta[abi::kMetaHidden]);
    float *hiddenOut = hidden && nOut > 0 && rows > 0 ? hidden + row0 * H : nullptr;
    // A drafter reads the hidden state of the row that produced its token:
    // the session keeps the output rows' (or the last row's).
    if (m->program->draft && !s->gpu && rows > 0) {
      s->outHidden.resize(static_cast<size_t>(rows) * H);
      s->hiddenRows = rows;
      if (!hiddenOut)
        hiddenOut = s->outHidden.data();
    }
    float *out = nullptr;
    if (rows > 0 && logits && nOut > 0) {
      out = logits + row0 * V;
    } else {
      s->scratchLogits.resize(static_cast<size_t>(std::max(rows, 1)) * V);
      out = s->scratchLogits.data();
    }
    std::vector<int64_t> outRows(rows);
    std::iota(outRows.begin(), outRows.end(), int64_t{chunk - rows});
    if (s->gpu) {
      // One segment in the session's slot (of its pool's device session).
      const int64_t seq[GEMMAC_SEQ_FIELDS] = {s->slot, s->pos, 0, chunk};
      std::string err;
      if (!s->gpu->forward({tokens + done, chunk, seq, 1, outRows.data(), rows,
                            out},
                           err)) {
        rt::setError(err);
        return -1;
      }
    } else {
      // One segment: this session's cache is slot 0 of a one-slot pool.
      std::vector<int64_t> positions(chunk);
      std::iota(positions.begin(), positions.end(), int64_t{s->pos});
      const int64_t seq[GEMMAC_SEQ_FIELDS] = {0, s->pos, 0, chunk};
      m->program->forward(m->rt.get(), m->weights, s->kv, s->arena,
                          tokens + done, out, hiddenOut, chunk,
                          positions.data(), seq, 1, outRows.data(), rows,
                          s->nCtx, 1, rt::kvStride(s->kvBytes));
    }
    for (int64_t r = 0; r < rows; ++r)
      for (int32_t id : m->tokenizer.suppressed())
        out[r * V + id] = -INFINITY;
    s->history.insert(s->history.end(), tokens + done, tokens + done + chunk);
    s->pos += chunk;
    done += chunk;
    s->hasLogits = last;
    if (last)
      s->lastLogits.assign(out + static_cast<size_t>(rows - 1) * V,
                           out + static_cast<size_t>(rows) * V);
    if (m->program->draft && !s->gpu && rows > 0) {
      if (hiddenOut != s->outHidden.data())
        std::copy(hiddenOut, hiddenOut + static_cast<size_t>(rows) * H,
                  s->outHidden.begin());
      s->hiddenAt = s->pos;
    }
  }
  return 0;
}

extern "C" int gemmac_session_eval(gemmac_session *s,
                                   const gemmac_token *tokens, int32_t n,
                                   float *logits, int allLogits) {
  return rt::evalTokens(s, tokens, n, allLogits ? n : 1, logits, nullptr);
}

extern "C" gemmac_sampler_params gemmac_sampler_defaults(void) {
  gemmac_sampler_params p;
  p.temperature = 1.0f;
  p.top_k = 64;
  p.top_p = 0.95f;
  p.min_p = 0.0f;
  p.seed = 0;
  p.repeat_penalty = 1.0f;
  p.penalty_last_n = 64;
  p.presence_penalty = 0.0f;
  p.frequency_penalty = 0.0f;
  return p;
}

extern "C" gemmac_sampler_params
gemmac_model_sampler_defaults(const gemmac_model *m) {
  const gemmac_sampler_params base = gemmac_sampler_defaults();
  return m ? m->tokenizer.samplingDefaults(base) : base;
}

extern "C" void gemmac_session_set_seed(gemmac_session *s, uint64_t seed) {
  s->rng.seed(seed);
  s->seeded = true;
  s->seededWith = seed;
}

namespace {
/// llama.cpp's penalties sampler over the session's last tokens; `out` gets
/// the penalized logits. False when every penalty is off.
bool applyPenalties(const gemmac_session *s, const float *logits,
                    const gemmac_sampler_params *p, std::vector<float> &out) {
  if (p->repeat_penalty == 1.0f && p->presence_penalty == 0.0f &&
      p->frequency_penalty == 0.0f)
    return false;
  const size_t n = s->history.size();
  const size_t window = p->penalty_last_n < 0
                            ? n
                            : std::min<size_t>(n, static_cast<size_t>(p->penalty_last_n));
  if (window == 0)
    return false;
  std::unordered_map<int32_t, int> counts;
  for (size_t i = n - window; i < n; ++i)
    ++counts[s->history[i]];
  out.assign(logits, logits + s->model->vocab);
  for (auto [id, count] : counts) {
    float &l = out[id];
    l = l <= 0 ? l * p->repeat_penalty : l / p->repeat_penalty;
    l -= count * p->frequency_penalty + p->presence_penalty;
  }
  return true;
}
} // namespace

extern "C" gemmac_token gemmac_sample(gemmac_session *s, const float *logits,
                                      const gemmac_sampler_params *p) {
  const int32_t V = s->model->vocab;
  if (p && applyPenalties(s, logits, p, s->penalized))
    logits = s->penalized.data();
  if (!p || p->temperature <= 0)
    return static_cast<gemmac_token>(std::max_element(logits, logits + V) -
                                     logits);
  if (!s->seeded || s->seededWith != p->seed) {
    s->rng.seed(p->seed);
    s->seeded = true;
    s->seededWith = p->seed;
  }
  std::vector<int32_t> ids(V);
  std::iota(ids.begin(), ids.end(), 0);
  int32_t k = (p->top_k > 0 && p->top_k < V) ? p->top_k : V;
  std::partial_sort(ids.begin(), ids.begin() + k, ids.end(),
                    [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  ids.resize(k);
  std::vector<double> prob(k);
  double maxL = logits[ids[0]], sum = 0;
  for (int32_t i = 0; i < k; ++i) {
    prob[i] = std::exp((logits[ids[i]] - maxL) / p->temperature);
    sum += prob[i];
  }
  for (double &x : prob)
    x /= sum;
  // top-p: the smallest prefix whose mass reaches p; min-p: relative floor.
  int32_t keep = k;
  if (p->top_p < 1.0f) {
    double acc = 0;
    for (int32_t i = 0; i < k; ++i) {
      acc += prob[i];
      if (acc >= p->top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  if (p->min_p > 0)
    while (keep > 1 && prob[keep - 1] < p->min_p * prob[0])
      --keep;
  double total = std::accumulate(prob.begin(), prob.begin() + keep, 0.0);
  double r = std::uniform_real_distribution<double>(0, total)(s->rng);
  for (int32_t i = 0; i < keep; ++i) {
    r -= prob[i];
    if (r <= 0)
      return ids[i];
  }
  return ids[keep - 1];
}

extern "C" int32_t gemmac_generate(gemmac_session *s, const char *prompt,
                                   int32_t maxTokens,
                                   const gemmac_sampler_params *params,
                                   gemmac_piece_fn onPiece, void *user) {
  gemmac_model *m = s->model;
  std::vector<int32_t> ids = m->tokenizer.encode(prompt, s->pos == 0, true);
  std::vector<float> logits(m->vocab);
  if (gemmac_session_eval(s, ids.data(), static_cast<int32_t>(ids.size()),
                          logits.data(), 0) != 0)
    return -1;
  if (ids.empty()) { // continue from the session's last token (e.g. a loaded state)
    if (!s->hasLogits) {
      rt::setError("nothing to generate from: an empty prompt, and the session "
                   "has no last token's logits");
      return -1;
    }
    logits = s->lastLogits;
  }
  int32_t produced = 0;
  while (produced < maxTokens) {
    gemmac_token t = gemmac_sample(s, logits.data(), params);
    if (m->tokenizer.isEndOfGeneration(t))
      break;
    ++produced;
    std::string piece = m->tokenizer.piece(t);
    if (onPiece && onPiece(piece.data(), piece.size(), user))
      break;
    if (s->pos >= s->nCtx)
      break;
    if (gemmac_session_eval(s, &t, 1, logits.data(), 0) != 0)
      return -1;
  }
  return produced;
}
