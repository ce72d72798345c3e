// The server's scheduler: N slots, the sequences of one KV pool
// (gemmac_pool), and a bounded queue of requests waiting for one. One worker
// thread runs the steps: each step is one batch (gemmac_decode) holding the
// next token of every generating slot, then chunks of waiting prompts up to
// the row budget (chunked prefill: a long prompt does not stall the others),
// so one pass over the weights serves every slot. A slot's token is sampled
// and streamed as soon as its step returns; queued requests take slots as
// they free up. With speculative decoding on, a generating slot's rows are
// its next token and a draft of what follows (n-gram lookup in its own
// history), verified in the same step; the tokens are those of plain
// decoding (gemmac_speculative_accept).
#pragma once

#include "runtime/include/gemmac.h"
#include "runtime/src/scripted_draft.h"

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace gemmac::serve {

struct TokenEvent {
  gemmac_token id = -1;
  std::string text;   // what this token adds to the answer (after stop strings)
  float logprob = 0;  // of the token under the model's distribution
  std::vector<std::pair<gemmac_token, float>> top; // when top_logprobs > 0
};

/// One generation request and what it produced, shared by the HTTP thread
/// that waits on it and the worker that runs it.
struct Job {
  // The request.
  std::vector<gemmac_token> prompt;
  long maxTokens = -1; // -1: until an end token or the context is full
  gemmac_sampler_params sampler{};
  std::vector<std::string> stop;          // stop strings
  std::vector<gemmac_token> stopTokens;   // besides the model's end tokens
  bool specialText = false; // token text with control tokens (chat parsing)
  int topLogprobs = -1;     // -1: no logprobs
  double deadline = 0;      // seconds (monotonic); 0: none
  int draftMax = 0;         // tokens drafted per step (0: none)
  // serve --draft-script: drafts from this continuation (after the
  // prompt), each token right with probability scriptDraft.accept until the
  // first wrong one, drawn from a fixed seed.
  std::vector<gemmac_token> script;
  gemmac::rt::ScriptedDraft scriptDraft;

  // The outcome, under `mu`.
  std::mutex mu;
  std::condition_variable cv;
  std::deque<TokenEvent> events;
  bool done = false;
  std::string finishReason; // "stop", "length"; error: set `error`
  std::string error;
  long generated = 0, reused = 0; // tokens generated; prompt tokens reused from the cache
  long drafted = 0, accepted = 0; // draft tokens verified; of them, accepted
  double queued = 0, started = 0, firstToken = 0, finished = 0;

  std::atomic<bool> cancelled{false};
};

struct Metrics {
  uint64_t promptTokens = 0, generatedTokens = 0, requests = 0, cancelled = 0;
  uint64_t draftTokens = 0, draftAccepted = 0;
  double promptSeconds = 0, generateSeconds = 0;
  int processing = 0, deferred = 0, slots = 0;
};

/// Speculative decoding of every slot (serve --draft-max ...).
struct DraftSettings {
  int max = 0, min = 0; // max 0: off
  bool adaptive = false;
  bool mtp = false; // the compiled MTP drafter, else n-gram lookup
};

class Scheduler {
public:
  /// `budget`: rows per step (decoding rows always go; prompts fill the rest).
  Scheduler(gemmac_model *model, int nSlots, int nCtx, int maxQueue,
            int budget, DraftSettings draft = {});
  ~Scheduler();
  /// False when the queue is full (the caller answers 503).
  bool submit(const std::shared_ptr<Job> &job);
  Metrics metrics();
  /// Shutdown, first step: refuse new jobs (submit returns false).
  void drain();
  bool draining();
  /// Whether a job is queued or generating.
  bool busy();
  /// Shutdown, second step: ends every job with an error saying why.
  void cancelAll(const std::string &why);
  int context() const { return nCtx_; }
  /// Error from creating the slots ("" if none).
  const std::string &error() const { return error_; }
  /// Bytes of KV cache of all the slots.
  uint64_t kvBytes() const { return pool_ ? gemmac_pool_kv_bytes(pool_) : 0; }

private:
  struct Slot {
    gemmac_session *session = nullptr;
    std::vector<gemmac_token> history; // what the KV cache holds
    std::shared_ptr<Job> job;
    size_t promptDone = 0;
    std::string pending; // generated text held back: may start a stop string
    std::vector<float> logits;
    gemmac_token next = -1; // sampled, streamed, not yet evaluated
    int draftLength = 0;    // the next draft's length (adaptive)
    std::vector<gemmac_token> draft; // this step's, after `next`
  };
  void loop();
  void admit();
  void runStep(const std::vector<Slot *> &active);
  /// The drafts to verify after the slots' next tokens (none: empty); the
  /// MTP drafter runs once per draft step for all of them.
  void draftFor(const std::vector<Slot *> &slots);
  /// How many tokens the slot may draft this step (0: none).
  int32_t draftRoom(const Slot &slot) const;
  /// serve --draft-script: replaces the draft by the job's script.
  int32_t scriptDraft(Job &job, std::vector<gemmac_token> &draft);
  /// A token sampled from `logits`, after which the slot's cache would hold
  /// `position` tokens: streams it, or ends the job (an end token, a stop
  /// string, max_tokens, a full context). Whether the job goes on.
  bool take(Slot &slot, gemmac_token t, const float *logits, int32_t position);
  /// After a verify step of the slot's next token and draft (rows: their
  /// logits): the accepted tokens, streamed, and the slot's next token.
  void acceptDraft(Slot &slot, const float *rows);
  void emit(Slot &slot, gemmac_token t, const float *logits);
  void finish(Slot &slot, const std::string &reason, const std::string &error = "");

  gemmac_model *model_;
  gemmac_pool *pool_ = nullptr;
  gemmac_batch batch_{};
  int nCtx_, maxQueue_, budget_;
  DraftSettings draft_;
  int32_t rollback_ = 0; // positions a slot's cache can go back
  int32_t vocab_;
  std::string error_;
  std::vector<Slot> slots_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> queue_;
  Metrics metrics_;
  bool stopping_ = false, draining_ = false;
  std::string cancelWhy_; // set by cancelAll
  std::thread worker_;
};

double now();

/// The bytes of a token (control tokens only when `special`).
std::string tokenPiece(const gemmac_model *m, gemmac_token t, bool special);

} // namespace gemmac::serve
