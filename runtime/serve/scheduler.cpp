#include "runtime/serve/scheduler.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <ctime>
#include <numeric>

namespace gemmac::serve {

namespace {
// Rows of prompt chunks per step at most: beyond the model's batch a step is
// cut into several forward calls anyway.
constexpr int kMaxBudget = 1 << 16;

/// Bytes at the end of `s` that begin a UTF-8 character not yet complete.
size_t incompleteUtf8Tail(const std::string &s) {
  for (size_t back = 1; back <= std::min<size_t>(3, s.size()); ++back) {
    unsigned char c = s[s.size() - back];
    if ((c & 0xC0) == 0x80)
      continue; // a continuation byte: look further back
    size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    return need > back ? back : 0;
  }
  return 0;
}
} // namespace

std::string tokenPiece(const gemmac_model *m, gemmac_token t, bool special) {
  char buf[256];
  int32_t n = gemmac_token_to_piece(m, t, buf, sizeof buf, special);
  if (n >= 0)
    return std::string(buf, n);
  std::string big(static_cast<size_t>(-n), '\0');
  n = gemmac_token_to_piece(m, t, big.data(), -n, special);
  return n < 0 ? std::string() : big.substr(0, n);
}

double now() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

Scheduler::Scheduler(gemmac_model *model, int nSlots, int nCtx, int maxQueue,
                     int budget, DraftSettings draft)
    : model_(model), nCtx_(nCtx), maxQueue_(maxQueue),
      budget_(std::clamp(budget, 1, kMaxBudget)), draft_(draft),
      vocab_(gemmac_model_vocab_size(model)) {
  pool_ = gemmac_pool_new(model, nSlots, nCtx);
  if (!pool_) {
    error_ = gemmac_last_error();
    return;
  }
  // gemmac_session_truncate's rule: rings of window + K rows go back K + 1
  // positions; without rings, or while the context fits one, any distance.
  const int64_t window = gemmac_model_number(model, "window"),
                extra = gemmac_model_number(model, "draft_max");
  rollback_ = window <= 0 || nCtx <= window + extra ? INT32_MAX
                                                    : static_cast<int32_t>(extra + 1);
  draft_.max = std::clamp(draft_.max, 0, 64);
  draft_.min = std::clamp(draft_.min, 0, draft_.max);
  batch_ = gemmac_batch_init(nSlots * (1 + draft_.max) + budget_);
  if (batch_.capacity == 0) {
    error_ = gemmac_last_error();
    return;
  }
  slots_.resize(static_cast<size_t>(nSlots));
  for (int i = 0; i < nSlots; ++i) {
    slots_[i].session = gemmac_pool_session(pool_, i);
    slots_[i].logits.resize(static_cast<size_t>(vocab_));
  }
  metrics_.slots = nSlots;
  worker_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (worker_.joinable())
    worker_.join();
  for (Slot &s : slots_)
    if (s.job)
      finish(s, "", "the server is shutting down");
  gemmac_batch_free(batch_);
  gemmac_pool_free(pool_);
  for (auto &job : queue_) {
    std::lock_guard<std::mutex> lock(job->mu);
    job->error = "the server is shutting down";
    job->done = true;
    job->cv.notify_all();
  }
}

bool Scheduler::submit(const std::shared_ptr<Job> &job) {
  std::lock_guard<std::mutex> lock(mu_);
  // Jobs the worker has not yet moved to a free slot do not count against
  // the queue: it holds only those that must wait for a slot.
  int free = 0;
  for (const Slot &s : slots_)
    free += s.job == nullptr;
  if (static_cast<int>(queue_.size()) >= maxQueue_ + free || stopping_ || draining_)
    return false;
  job->queued = now();
  queue_.push_back(job);
  cv_.notify_all();
  return true;
}

void Scheduler::drain() {
  std::lock_guard<std::mutex> lock(mu_);
  draining_ = true;
}

bool Scheduler::draining() {
  std::lock_guard<std::mutex> lock(mu_);
  return draining_;
}

bool Scheduler::busy() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!queue_.empty())
    return true;
  for (const Slot &s : slots_)
    if (s.job)
      return true;
  return false;
}

void Scheduler::cancelAll(const std::string &why) {
  std::deque<std::shared_ptr<Job>> queued;
  {
    std::lock_guard<std::mutex> lock(mu_);
    draining_ = true;
    cancelWhy_ = why;
    queued.swap(queue_);
    // Jobs in slots end at their next step (the worker owns the slots).
    for (Slot &s : slots_)
      if (s.job)
        s.job->cancelled = true;
    metrics_.requests += queued.size();
    metrics_.cancelled += queued.size();
  }
  for (auto &job : queued) {
    {
      std::lock_guard<std::mutex> lock(job->mu);
      job->error = why;
      job->finished = now();
      job->done = true;
    }
    job->cv.notify_all();
  }
}

Metrics Scheduler::metrics() {
  std::lock_guard<std::mutex> lock(mu_);
  Metrics m = metrics_;
  m.deferred = static_cast<int>(queue_.size());
  m.processing = 0;
  for (const Slot &s : slots_)
    m.processing += s.job != nullptr;
  return m;
}

/// Gives waiting jobs free slots: the slot whose cache holds the longest
/// prefix of the prompt, else the emptiest. A cache is reused only when it
/// is a prefix of the prompt: sliding-window layers keep only their window,
/// so a cache cannot be cut back to an earlier position.
void Scheduler::admit() {
  while (!queue_.empty()) {
    std::shared_ptr<Job> job = queue_.front();
    Slot *best = nullptr;
    size_t bestReuse = 0;
    for (Slot &s : slots_) {
      if (s.job)
        continue;
      const std::vector<gemmac_token> &h = s.history;
      bool prefix = h.size() < job->prompt.size() &&
                    std::equal(h.begin(), h.end(), job->prompt.begin());
      size_t reuse = prefix ? h.size() : 0;
      if (!best || reuse > bestReuse ||
          (reuse == bestReuse && s.history.size() < best->history.size())) {
        best = &s;
        bestReuse = reuse;
      }
    }
    if (!best)
      return;
    queue_.pop_front();
    if (bestReuse == 0) {
      gemmac_session_reset(best->session);
      best->history.clear();
    }
    best->job = job;
    best->promptDone = bestReuse;
    best->pending.clear();
    best->next = -1;
    best->draftLength = job->draftMax;
    job->reused = static_cast<long>(bestReuse);
    job->started = now();
    gemmac_session_set_seed(best->session, job->sampler.seed);
  }
}

void Scheduler::loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    admit();
    std::vector<Slot *> active;
    for (Slot &s : slots_)
      if (s.job)
        active.push_back(&s);
    if (active.empty()) {
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      continue;
    }
    lock.unlock();
    runStep(active);
    lock.lock();
  }
}

void Scheduler::runStep(const std::vector<Slot *> &active) {
  std::vector<Slot *> live;
  for (Slot *s : active) {
    Job &job = *s->job;
    if (job.cancelled) {
      std::unique_lock<std::mutex> lock(mu_);
      const std::string why = cancelWhy_.empty() ? "cancelled" : cancelWhy_;
      lock.unlock();
      finish(*s, "", why);
    } else if (job.deadline > 0 && now() > job.deadline) {
      finish(*s, "length");
    } else {
      live.push_back(s);
    }
  }
  // The rows: every generating slot's next token, then prompt chunks, the
  // longest-waiting request first, up to the budget.
  gemmac_batch_clear(&batch_);
  std::vector<Slot *> rowSlot, decoding;
  size_t decodeRows = 0;
  for (Slot *s : live)
    if (s->next >= 0)
      decoding.push_back(s);
  draftFor(decoding);
  for (Slot *s : decoding) {
    gemmac_batch_add(&batch_, s->session, s->next, -1, 1);
    rowSlot.push_back(s);
    for (gemmac_token d : s->draft) {
      gemmac_batch_add(&batch_, s->session, d, -1, 1);
      rowSlot.push_back(s);
    }
    decodeRows += 1 + s->draft.size();
  }
  std::vector<Slot *> prompts;
  for (Slot *s : live)
    if (s->promptDone < s->job->prompt.size())
      prompts.push_back(s);
  std::stable_sort(prompts.begin(), prompts.end(), [](Slot *a, Slot *b) {
    return a->job->started < b->job->started;
  });
  size_t left = static_cast<size_t>(budget_);
  for (Slot *s : prompts) {
    const std::vector<gemmac_token> &prompt = s->job->prompt;
    const size_t n = std::min(left, prompt.size() - s->promptDone);
    for (size_t i = 0; i < n; ++i) {
      const size_t k = s->promptDone + i;
      gemmac_batch_add(&batch_, s->session, prompt[k], -1, k + 1 == prompt.size());
      rowSlot.push_back(s);
    }
    left -= n;
    if (left == 0)
      break;
  }
  if (rowSlot.empty())
    return;
  const double t0 = now();
  if (gemmac_decode(pool_, &batch_) != 0) {
    const std::string error = gemmac_last_error();
    for (Slot *s : live)
      if (s->job && std::find(rowSlot.begin(), rowSlot.end(), s) != rowSlot.end())
        finish(*s, "", error);
    return;
  }
  const double seconds = now() - t0;
  // What the caches now hold; then each wanted row's logits, sampled and
  // streamed at once.
  for (int32_t i = 0; i < batch_.n_tokens; ++i) {
    Slot &s = *rowSlot[i];
    s.history.push_back(batch_.token[i]);
    if (i >= static_cast<int32_t>(decodeRows))
      ++s.promptDone;
  }
  uint64_t generated = 0, drafted = 0, accepted = 0;
  for (int32_t i = 0; i < batch_.n_tokens; ++i) {
    if (!batch_.logits[i])
      continue;
    Slot &s = *rowSlot[i];
    const std::shared_ptr<Job> keep = s.job; // read after the job may end
    Job &job = *keep;
    const long before = job.generated, acceptedBefore = job.accepted;
    const float *l = gemmac_get_logits_ith(pool_, i);
    if (i < static_cast<int32_t>(decodeRows) && !s.draft.empty()) {
      // The slot's rows i .. i + k: their logits are consecutive outputs.
      drafted += s.draft.size();
      i += static_cast<int32_t>(s.draft.size());
      acceptDraft(s, l);
    } else {
      std::copy(l, l + vocab_, s.logits.begin());
      const gemmac_token t = gemmac_sample(s.session, s.logits.data(), &job.sampler);
      s.next = take(s, t, s.logits.data(), gemmac_session_position(s.session)) ? t : -1;
    }
    generated += job.generated - before;
    accepted += job.accepted - acceptedBefore;
  }
  const size_t rows = rowSlot.size(), promptRows = rows - decodeRows;
  std::lock_guard<std::mutex> lock(mu_);
  metrics_.promptTokens += promptRows;
  metrics_.generatedTokens += generated;
  metrics_.draftTokens += drafted;
  metrics_.draftAccepted += accepted;
  metrics_.promptSeconds += seconds * promptRows / rows;
  metrics_.generateSeconds += seconds * decodeRows / rows;
}

int32_t Scheduler::draftRoom(const Slot &slot) const {
  const Job &job = *slot.job;
  if (slot.draftLength <= 0)
    return 0;
  // The step keeps at least `next`, so it rolls back at most k positions;
  // the draft stays within the context and the tokens still wanted.
  const int32_t position = gemmac_session_position(slot.session);
  long k = std::min<long>({slot.draftLength, nCtx_ - position - 1, rollback_});
  if (job.maxTokens >= 0)
    k = std::min(k, job.maxTokens - job.generated);
  return static_cast<int32_t>(std::max(k, 0L));
}

void Scheduler::draftFor(const std::vector<Slot *> &slots) {
  std::vector<int32_t> got(slots.size());
  for (size_t j = 0; j < slots.size(); ++j) {
    Slot &slot = *slots[j];
    slot.draft.assign(static_cast<size_t>(draftRoom(slot)), 0);
    got[j] = static_cast<int32_t>(slot.draft.size());
    if (!draft_.mtp && got[j] > 0) {
      std::vector<gemmac_token> context = slot.history;
      context.push_back(slot.next);
      got[j] = gemmac_draft_ngram(context.data(),
                                  static_cast<int32_t>(context.size()),
                                  slot.draft.data(), got[j], nullptr);
    }
  }
  if (draft_.mtp) {
    // One drafter call per draft step for every slot, each from the hidden
    // state of the row that produced its `next` (none after a reused prompt
    // prefix without a fresh row: no draft then).
    std::vector<gemmac_session *> sessions;
    std::vector<gemmac_token> tokens;
    int32_t most = 0;
    for (size_t j = 0; j < slots.size(); ++j) {
      sessions.push_back(slots[j]->session);
      tokens.push_back(slots[j]->next);
      most = std::max(most, got[j]);
    }
    std::vector<gemmac_token> drafts(slots.size() * static_cast<size_t>(most));
    if (most > 0 &&
        gemmac_pool_draft(pool_, static_cast<int32_t>(slots.size()),
                          sessions.data(), tokens.data(), got.data(), most,
                          drafts.data(), nullptr) != 0)
      std::fill(got.begin(), got.end(), 0);
    for (size_t j = 0; j < slots.size(); ++j)
      std::copy_n(drafts.begin() + j * most, got[j], slots[j]->draft.begin());
  }
  for (size_t j = 0; j < slots.size(); ++j) {
    Slot &slot = *slots[j];
    if (!slot.job->script.empty() && !slot.draft.empty())
      got[j] = scriptDraft(*slot.job, slot.draft);
    slot.draft.resize(
        got[j] >= std::max(draft_.min, 1) ? static_cast<size_t>(got[j]) : 0);
  }
}

int32_t Scheduler::scriptDraft(Job &job, std::vector<gemmac_token> &draft) {
  // The draft follows the slot's next token, the job.generated-th.
  job.scriptDraft.propose(job.script.data(), job.script.size(), job.generated,
                          job.script.back(), vocab_, draft.data(),
                          static_cast<int32_t>(draft.size()));
  return static_cast<int32_t>(draft.size());
}

void Scheduler::acceptDraft(Slot &slot, const float *rows) {
  const std::shared_ptr<Job> job = slot.job; // alive after the job ends
  const int32_t k = static_cast<int32_t>(slot.draft.size());
  job->drafted += k; // counted before any sample can end the job
  struct Verify {
    Scheduler *self;
    Slot *slot;
    const float *rows;
    int32_t start, j = 0;
  } v{this, &slot, rows, gemmac_session_position(slot.session) - (k + 1)};
  // Sample j follows the step's first j + 1 tokens: the cache would then
  // hold start + j + 1. A sample equal to the draft is an accepted token.
  auto onSample = [](gemmac_token t, void *user) -> int {
    auto *v = static_cast<Verify *>(user);
    const size_t V = static_cast<size_t>(v->self->vocab_);
    const int32_t j = v->j++;
    Slot &slot = *v->slot;
    if (static_cast<size_t>(j) < slot.draft.size() && t == slot.draft[j])
      ++slot.job->accepted;
    return !v->self->take(slot, t, v->rows + j * V, v->start + j + 1);
  };
  gemmac_token next = -1;
  const int32_t accepted = gemmac_speculative_accept(slot.session, k + 1, rows, &job->sampler,
                                                     onSample, &v, &next);
  slot.history.resize(static_cast<size_t>(gemmac_session_position(slot.session)));
  if (accepted < 0) {
    if (slot.job)
      finish(slot, "", gemmac_last_error());
    return;
  }
  if (!slot.job) // the job ended at one of the samples
    return;
  slot.next = next;
  if (draft_.adaptive)
    slot.draftLength = accepted == k && k == slot.draftLength
                           ? std::min(slot.draftLength + 2, job->draftMax)
                           : std::max(std::max(draft_.min, 1), slot.draftLength - 1);
}

bool Scheduler::take(Slot &slot, gemmac_token t, const float *logits, int32_t position) {
  Job &job = *slot.job;
  const bool end = gemmac_token_is_eog(model_, t) ||
                   std::find(job.stopTokens.begin(), job.stopTokens.end(), t) != job.stopTokens.end();
  if (end) {
    finish(slot, "stop");
    return false;
  }
  emit(slot, t, logits);
  if (slot.job == nullptr)
    return false; // a stop string ended it
  if ((job.maxTokens >= 0 && job.generated >= job.maxTokens) || position >= nCtx_) {
    finish(slot, "length");
    return false;
  }
  return true;
}

/// Adds a sampled token: its log-probabilities, and the text it makes
/// certain (text that could still begin a stop string, or an incomplete
/// UTF-8 character, waits in `pending`).
void Scheduler::emit(Slot &slot, gemmac_token t, const float *l) {
  Job &job = *slot.job;
  TokenEvent ev;
  ev.id = t;
  if (job.topLogprobs >= 0) {
    const float mx = *std::max_element(l, l + vocab_);
    double sum = 0;
    for (int32_t i = 0; i < vocab_; ++i)
      sum += std::exp(l[i] - mx);
    const float lse = mx + static_cast<float>(std::log(sum));
    ev.logprob = l[t] - lse;
    const int k = std::min(job.topLogprobs, static_cast<int>(vocab_));
    std::vector<int32_t> ids(static_cast<size_t>(vocab_));
    std::iota(ids.begin(), ids.end(), 0);
    std::partial_sort(ids.begin(), ids.begin() + k, ids.end(),
                      [&](int32_t a, int32_t b) { return l[a] > l[b]; });
    for (int i = 0; i < k; ++i)
      ev.top.push_back({ids[i], l[ids[i]] - lse});
  }
  slot.pending += tokenPiece(model_, t, job.specialText);
  size_t cut = std::string::npos;
  for (const std::string &s : job.stop)
    if (!s.empty())
      cut = std::min(cut, slot.pending.find(s));
  bool stopped = cut != std::string::npos;
  size_t ready = stopped ? cut : slot.pending.size() - incompleteUtf8Tail(slot.pending);
  if (!stopped)
    for (const std::string &s : job.stop)
      for (size_t k = std::min(s.size() - 1, slot.pending.size()); k > 0; --k)
        if (slot.pending.compare(slot.pending.size() - k, k, s, 0, k) == 0) {
          ready = std::min(ready, slot.pending.size() - k);
          break;
        }
  ev.text = slot.pending.substr(0, ready);
  slot.pending.erase(0, ready);
  {
    std::lock_guard<std::mutex> lock(job.mu);
    if (job.firstToken == 0)
      job.firstToken = now();
    ++job.generated;
    job.events.push_back(std::move(ev));
  }
  job.cv.notify_all();
  if (stopped) {
    slot.pending.clear();
    finish(slot, "stop");
  }
}

void Scheduler::finish(Slot &slot, const std::string &reason, const std::string &error) {
  std::shared_ptr<Job> job;
  {
    std::lock_guard<std::mutex> lock(mu_);
    job = std::move(slot.job);
    slot.job = nullptr;
    metrics_.requests += 1;
    metrics_.cancelled += job->cancelled ? 1 : 0;
  }
  {
    std::lock_guard<std::mutex> lock(job->mu);
    if (!slot.pending.empty() && error.empty()) {
      TokenEvent tail; // held-back text that no stop string completed
      tail.text = std::move(slot.pending);
      job->events.push_back(std::move(tail));
    }
    slot.pending.clear();
    job->finishReason = reason;
    job->error = error;
    job->finished = now();
    job->done = true;
  }
  job->cv.notify_all();
}

} // namespace gemmac::serve
