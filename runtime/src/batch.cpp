// Continuous batching (gemmac.h's gemmac_pool and gemmac_decode): rows of
// several sequences evaluated in shared forward steps. A batch is grouped
// per sequence, in order of first appearance, and the groups are packed into
// steps of at most the model's batch size; each step is one call of the
// program's forward (or of a GPU program's device session) with one segment
// per sequence (abi/step.h). The kernels compute a row from its own
// sequence's rows and cache only, so a sequence's logits do not depend on
// how it was batched or split.

#include "abi/model_meta.h"
#include "abi/program_table.h"
#include "runtime/src/model.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <unordered_map>

using namespace gemmac;

gemmac_pool::~gemmac_pool() {
  sessions.clear(); // before the buffers they point into
  std::free(kv);
  std::free(arena);
}

extern "C" gemmac_pool *gemmac_pool_new(gemmac_model *m, int32_t nSeq,
                                        int32_t nCtx) {
  if (!m) {
    rt::setError("gemmac_pool_new: no model");
    return nullptr;
  }
  if (nSeq <= 0 || nSeq > 4096) {
    rt::setError("gemmac_pool_new: " + std::to_string(nSeq) +
                 " sequences (1 to 4096)");
    return nullptr;
  }
  auto pool = std::make_unique<gemmac_pool>();
  pool->model = m;
  pool->nCtx = nCtx = rt::defaultContext(m, nCtx);
  if (m->gpu) {
    std::string err;
    pool->gpu = m->gpu->newSession(nCtx, nSeq, err);
    if (!pool->gpu) {
      rt::setError(err);
      return nullptr;
    }
    for (int32_t i = 0; i < nSeq; ++i) {
      auto s = std::make_unique<gemmac_session>();
      s->model = m;
      s->pool = pool.get();
      s->slot = i;
      s->nCtx = nCtx;
      s->gpu = pool->gpu;
      s->kvBytes = pool->gpu->kvBytes();
      pool->sessions.push_back(std::move(s));
    }
    return pool.release();
  }
  uint64_t kvBytes = 0;
  if (!rt::contextKVBytes(m, nCtx, kvBytes))
    return nullptr;
  pool->kvStride = rt::kvStride(kvBytes);
  int64_t total = 0;
  if (__builtin_mul_overflow(pool->kvStride, static_cast<int64_t>(nSeq),
                             &total) ||
      total > (int64_t(1) << 62)) {
    rt::setError("the KV caches of " + std::to_string(nSeq) +
                 " sequences of " + std::to_string(nCtx) +
                 " tokens are more than memory can address");
    return nullptr;
  }
  // Zeroed: an unwritten cache row must never be read, but make it benign.
  pool->kv = static_cast<uint8_t *>(std::calloc(1, total + 64));
  if (!pool->kv) {
    rt::setError("out of memory: cannot allocate the KV caches of " +
                 std::to_string(nSeq) + " sequences of " +
                 std::to_string(nCtx) + " tokens (" +
                 rt::gib(static_cast<uint64_t>(total)) + ")");
    return nullptr;
  }
  pool->arena = rt::newArena(m);
  if (!pool->arena)
    return nullptr;
  for (int32_t i = 0; i < nSeq; ++i) {
    auto s = std::make_unique<gemmac_session>();
    s->model = m;
    s->pool = pool.get();
    s->slot = i;
    s->nCtx = nCtx;
    s->kv = pool->kv + i * pool->kvStride;
    s->kvBytes = kvBytes;
    s->arena = pool->arena;
    pool->sessions.push_back(std::move(s));
  }
  return pool.release();
}

extern "C" void gemmac_pool_free(gemmac_pool *pool) { delete pool; }

extern "C" gemmac_session *gemmac_pool_session(gemmac_pool *pool, int32_t seq) {
  if (seq < 0 || seq >= static_cast<int32_t>(pool->sessions.size())) {
    rt::setError("sequence " + std::to_string(seq) + " is not in the pool of " +
                 std::to_string(pool->sessions.size()));
    return nullptr;
  }
  return pool->sessions[seq].get();
}

extern "C" int32_t gemmac_pool_size(const gemmac_pool *pool) {
  return static_cast<int32_t>(pool->sessions.size());
}

extern "C" uint64_t gemmac_pool_kv_bytes(const gemmac_pool *pool) {
  uint64_t total = 0;
  for (const auto &s : pool->sessions)
    total += s->kvBytes;
  return total;
}

extern "C" gemmac_batch gemmac_batch_init(int32_t capacity) {
  gemmac_batch b{};
  if (capacity <= 0) {
    rt::setError("a batch of " + std::to_string(capacity) + " rows");
    return b;
  }
  b.capacity = capacity;
  b.token = static_cast<gemmac_token *>(std::calloc(capacity, sizeof *b.token));
  b.session =
      static_cast<gemmac_session **>(std::calloc(capacity, sizeof *b.session));
  b.pos = static_cast<int32_t *>(std::calloc(capacity, sizeof *b.pos));
  b.logits = static_cast<int8_t *>(std::calloc(capacity, sizeof *b.logits));
  if (!b.token || !b.session || !b.pos || !b.logits) {
    gemmac_batch_free(b);
    rt::setError("out of memory: a batch of " + std::to_string(capacity) +
                 " rows");
    return gemmac_batch{};
  }
  return b;
}

extern "C" void gemmac_batch_free(gemmac_batch b) {
  std::free(b.token);
  std::free(b.session);
  std::free(b.pos);
  std::free(b.logits);
}

extern "C" void gemmac_batch_clear(gemmac_batch *b) { b->n_tokens = 0; }

extern "C" int gemmac_batch_add(gemmac_batch *b, gemmac_session *s,
                                gemmac_token t, int32_t pos, int logits) {
  if (b->n_tokens >= b->capacity) {
    rt::setError("the batch is full (" + std::to_string(b->capacity) + " rows)");
    return -1;
  }
  const int32_t i = b->n_tokens++;
  b->token[i] = t;
  b->session[i] = s;
  b->pos[i] = pos;
  b->logits[i] = logits ? 1 : 0;
  return 0;
}

namespace {

/// One sequence's rows of a batch, in batch order.
struct Group {
  gemmac_session *session;
  std::vector<int32_t> rows;
};

/// The batch's groups; false (and the error) unless every row is valid.
bool groupRows(const gemmac_pool *pool, const gemmac_batch *b,
               std::vector<Group> &groups) {
  const gemmac_model *m = pool->model;
  if (b->n_tokens < 0 || b->n_tokens > b->capacity) {
    rt::setError("the batch has " + std::to_string(b->n_tokens) +
                 " rows for a capacity of " + std::to_string(b->capacity));
    return false;
  }
  if (b->n_tokens > 0 && (!b->token || !b->session)) {
    rt::setError("the batch has no token or session array");
    return false;
  }
  std::unordered_map<const gemmac_session *, size_t> index;
  for (int32_t i = 0; i < b->n_tokens; ++i) {
    gemmac_session *s = b->session[i];
    const std::string row = "batch row " + std::to_string(i) + ": ";
    if (!s || s->pool != pool) {
      rt::setError(row + "its sequence is not one of this pool's");
      return false;
    }
    if (b->token[i] < 0 || b->token[i] >= m->vocab) {
      rt::setError(row + "token " + std::to_string(b->token[i]) +
                   " is outside the vocabulary of " + std::to_string(m->vocab));
      return false;
    }
    auto [it, added] = index.try_emplace(s, groups.size());
    if (added)
      groups.push_back({s, {}});
    Group &g = groups[it->second];
    const int64_t pos = static_cast<int64_t>(s->pos) + g.rows.size();
    if (b->pos && b->pos[i] >= 0 && b->pos[i] != pos) {
      rt::setError(row + "position " + std::to_string(b->pos[i]) +
                   ", but sequence " + std::to_string(s->slot) +
                   " is at position " + std::to_string(pos));
      return false;
    }
    if (pos >= s->nCtx) {
      rt::setError(row + "context full: sequence " + std::to_string(s->slot) +
                   " has all " + std::to_string(s->nCtx) + " positions");
      return false;
    }
    g.rows.push_back(i);
  }
  return true;
}

/// After rows [from, to) of group g were evaluated: the sequence's position,
/// history and last logits (its last row's, when that row wanted them).
void advance(gemmac_pool *pool, const gemmac_batch *b, const Group &g,
             size_t from, size_t to) {
  gemmac_session *s = g.session;
  for (size_t r = from; r < to; ++r)
    s->history.push_back(b->token[g.rows[r]]);
  s->pos += static_cast<int32_t>(to - from);
  if (to != g.rows.size())
    return;
  const int32_t last = pool->outIndex[g.rows.back()];
  s->hasLogits = last >= 0;
  if (last >= 0) {
    const size_t V = static_cast<size_t>(pool->model->vocab);
    s->lastLogits.assign(pool->out.begin() + last * V,
                         pool->out.begin() + (last + 1) * V);
  }
}

} // namespace

extern "C" int gemmac_decode(gemmac_pool *pool, const gemmac_batch *b) {
  gemmac_model *m = pool->model;
  std::vector<Group> groups;
  if (!groupRows(pool, b, groups))
    return -1;
  const size_t V = static_cast<size_t>(m->vocab);
  pool->outIndex.assign(b->n_tokens, -1);
  int32_t wanted = 0;
  for (int32_t i = 0; i < b->n_tokens; ++i)
    if (b->logits && b->logits[i])
      pool->outIndex[i] = wanted++;
  pool->out.assign(wanted * V, 0.0f);

  // Steps of at most maxBatch rows: whole groups while they fit, a group
  // that does not fit split across steps (its rows continue at their own
  // positions, so the split changes nothing).
  std::vector<int32_t> tokens;
  std::vector<int64_t> positions, seqs, outRows;
  std::vector<int32_t> outSlots;
  std::vector<gemmac_session *> outOwner; // each output row's sequence
  std::vector<float> logits, hidden;
  // A drafter reads the final hidden states of each sequence's output rows.
  const bool keepHidden = m->program->draft && !pool->gpu;
  const size_t H = static_cast<size_t>(m->program->meta[abi::kMetaHidden]);
  struct Part {
    size_t group, from, to;
  };
  std::vector<Part> parts;
  size_t g = 0, done = 0;
  while (g < groups.size()) {
    tokens.clear();
    positions.clear();
    seqs.clear();
    outRows.clear();
    outSlots.clear();
    outOwner.clear();
    parts.clear();
    while (g < groups.size() &&
           tokens.size() < static_cast<size_t>(m->maxBatch)) {
      const Group &gr = groups[g];
      const size_t take = std::min(gr.rows.size() - done,
                                   m->maxBatch - tokens.size());
      const int64_t row0 = static_cast<int64_t>(tokens.size());
      seqs.insert(seqs.end(), {gr.session->slot, gr.session->pos, row0,
                               static_cast<int64_t>(take)});
      for (size_t r = done; r < done + take; ++r) {
        const int32_t row = gr.rows[r];
        if (pool->outIndex[row] >= 0) {
          outRows.push_back(static_cast<int64_t>(tokens.size()));
          outSlots.push_back(pool->outIndex[row]);
          outOwner.push_back(gr.session);
        }
        positions.push_back(gr.session->pos + static_cast<int64_t>(r - done));
        tokens.push_back(b->token[row]);
      }
      parts.push_back({g, done, done + take});
      done += take;
      if (done == gr.rows.size()) {
        ++g;
        done = 0;
      }
    }
    logits.resize(std::max<size_t>(outRows.size(), 1) * V);
    if (keepHidden)
      hidden.resize(std::max<size_t>(outRows.size(), 1) * H);
    if (pool->gpu) {
      // A device failure leaves every sequence after its last whole step.
      std::string err;
      if (!pool->gpu->forward({tokens.data(),
                               static_cast<int64_t>(tokens.size()),
                               seqs.data(), static_cast<int64_t>(parts.size()),
                               outRows.data(),
                               static_cast<int64_t>(outRows.size()),
                               logits.data()},
                              err)) {
        rt::setError(err);
        return -1;
      }
    } else {
      m->program->forward(m->rt.get(), m->weights, pool->kv, pool->arena,
                          tokens.data(), logits.data(),
                          keepHidden ? hidden.data() : nullptr,
                          static_cast<int64_t>(tokens.size()),
                          positions.data(), seqs.data(),
                          static_cast<int64_t>(parts.size()), outRows.data(),
                          static_cast<int64_t>(outRows.size()), pool->nCtx,
                          static_cast<int64_t>(pool->sessions.size()),
                          pool->kvStride);
    }
    for (size_t j = 0; j < outRows.size(); ++j) {
      float *row = logits.data() + j * V;
      for (int32_t id : m->tokenizer.suppressed())
        row[id] = -INFINITY;
      std::memcpy(pool->out.data() + outSlots[j] * V, row, V * sizeof(float));
    }
    for (const Part &p : parts)
      advance(pool, b, groups[p.group], p.from, p.to);
    if (keepHidden) {
      for (gemmac_session *s : outOwner) {
        s->outHidden.clear();
        s->hiddenRows = 0;
      }
      for (size_t j = 0; j < outOwner.size(); ++j) {
        gemmac_session *s = outOwner[j];
        s->outHidden.insert(s->outHidden.end(), hidden.begin() + j * H,
                            hidden.begin() + (j + 1) * H);
        ++s->hiddenRows;
        s->hiddenAt = s->pos;
      }
    }
  }
  return 0;
}

extern "C" const float *gemmac_get_logits_ith(gemmac_pool *pool, int32_t i) {
  const int32_t n = static_cast<int32_t>(pool->outIndex.size());
  const int32_t row = i < 0 ? n + i : i;
  if (row < 0 || row >= n || pool->outIndex[row] < 0) {
    rt::setError("batch row " + std::to_string(i) +
                 (row < 0 || row >= n ? " is not in the last batch of " +
                                            std::to_string(n) + " rows"
                                      : " wanted no logits"));
    return nullptr;
  }
  return pool->out.data() +
         static_cast<size_t>(pool->outIndex[row]) * pool->model->vocab;
}
