// OUT bench: prefill and decode speed on a fixed pseudo-random prompt; with
// --parallel, of several sequences decoded together (continuous batching).

#include "runtime/cli/commands.h"

#include "runtime/src/scripted_draft.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace gemmac::cli {
namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

gemmac_token argmax(const float *logits, int32_t n) {
  return static_cast<gemmac_token>(std::max_element(logits, logits + n) - logits);
}
gemmac_token argmax(const std::vector<float> &logits) {
  return argmax(logits.data(), static_cast<int32_t>(logits.size()));
}

/// The fixed pseudo-random prompt of sequence `seq`: <bos>, then an LCG's.
std::vector<gemmac_token> benchPrompt(gemmac_model *m, long p, uint64_t seq) {
  const int32_t V = gemmac_model_vocab_size(m);
  std::vector<gemmac_token> prompt(p);
  uint64_t state = 0x9E3779B97F4A7C15ull + seq;
  prompt[0] = gemmac_token_bos(m);
  for (long i = 1; i < p; ++i) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    prompt[i] = static_cast<gemmac_token>((state >> 33) % static_cast<uint64_t>(V));
  }
  return prompt;
}

double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * v.size()))];
}

struct ParallelRun {
  long seqs;
  double prefill, decode, itl, itlP90; // tok/s aggregate; ms per step
};

/// N sequences of one pool: their N prompts of p tokens prefilled in one
/// gemmac_decode (the runtime cuts it into steps of the model's batch), then
/// n steps of one token per sequence (each its argmax). Aggregate rates;
/// every sequence receives one token per step, so the inter-token latency
/// of each stream is the step's time.
ParallelRun benchParallel(gemmac_model *m, long N, long p, long n, long reps) {
  const int32_t V = gemmac_model_vocab_size(m);
  gemmac_pool *pool = gemmac_pool_new(m, static_cast<int32_t>(N),
                                      static_cast<int32_t>(p + n + 1));
  if (!pool)
    die(gemmac_last_error());
  gemmac_batch b = gemmac_batch_init(static_cast<int32_t>(N * p));
  std::vector<std::vector<gemmac_token>> prompts;
  for (long s = 0; s < N; ++s)
    prompts.push_back(benchPrompt(m, p, static_cast<uint64_t>(s)));
  auto decode = [&] {
    if (gemmac_decode(pool, &b) != 0)
      die(gemmac_last_error());
  };
  auto add = [&](long seq, gemmac_token t, long pos, bool logits) {
    if (gemmac_batch_add(&b, gemmac_pool_session(pool, static_cast<int32_t>(seq)), t,
                         static_cast<int32_t>(pos), logits) != 0)
      die(gemmac_last_error());
  };
  auto argmaxOf = [&](long row) {
    const float *l = gemmac_get_logits_ith(pool, static_cast<int32_t>(row));
    if (!l)
      die(gemmac_last_error());
    return argmax(l, V);
  };
  // One untimed row brings every weight page in.
  add(0, prompts[0][0], 0, true);
  decode();
  std::vector<double> prefill, rate, itl, p90;
  std::vector<gemmac_token> next(N);
  for (long r = 0; r < reps; ++r) {
    gemmac_batch_clear(&b);
    for (long s = 0; s < N; ++s) {
      gemmac_session_reset(gemmac_pool_session(pool, static_cast<int32_t>(s)));
      for (long i = 0; i < p; ++i)
        add(s, prompts[s][i], i, i == p - 1);
    }
    const double t0 = seconds();
    decode();
    prefill.push_back(N * p / (seconds() - t0));
    for (long s = 0; s < N; ++s) // each prompt's last row
      next[s] = argmaxOf(s * p + p - 1);
    std::vector<double> steps;
    for (long i = 0; i < n; ++i) {
      gemmac_batch_clear(&b);
      for (long s = 0; s < N; ++s)
        add(s, next[s], -1, true);
      const double t1 = seconds();
      decode();
      steps.push_back(seconds() - t1);
      for (long s = 0; s < N; ++s)
        next[s] = argmaxOf(s);
    }
    double total = 0;
    for (double t : steps)
      total += t;
    rate.push_back(N * n / total);
    itl.push_back(1e3 * median(steps));
    p90.push_back(1e3 * quantile(steps, 0.9));
  }
  gemmac_batch_free(b);
  gemmac_pool_free(pool);
  return {N, median(prefill), median(rate), median(itl), median(p90)};
}

int cmdBenchParallel(const Options &a, gemmac_model *m, long p, long n) {
  for (long N : a.parallel)
    if (N * p > (1L << 24))
      usageError("bench --parallel " + std::to_string(N) + " with -p " + std::to_string(p) +
                 ": the prompts' " + std::to_string(N * p) +
                 " rows exceed 16777216; give a shorter -p");
  std::vector<ParallelRun> runs;
  for (long N : a.parallel)
    runs.push_back(benchParallel(m, N, p, n, a.reps));
  const int threads = gemmac_model_threads(m);
  if (a.json) {
    std::printf("{\"parallel\": [");
    for (size_t i = 0; i < runs.size(); ++i)
      std::printf("%s{\"n_seq\": %ld, \"prefill_tok_s\": %.4f, \"decode_tok_s\": %.4f, "
                  "\"itl_ms\": %.3f, \"itl_p90_ms\": %.3f}",
                  i ? ", " : "", runs[i].seqs, runs[i].prefill, runs[i].decode,
                  runs[i].itl, runs[i].itlP90);
    std::printf("], \"prompt_tokens\": %ld, \"decode_tokens\": %ld, \"threads\": %d, "
                "\"reps\": %ld, \"device\": \"%s\"}\n",
                p, n, threads, a.reps, gemmac_model_device(m));
  } else {
    std::printf("%s, threads %d, median of %ld run(s); %ld prompt tokens and %ld decoded "
                "tokens per sequence\n",
                gemmac_model_device(m), threads, a.reps, p, n);
    std::printf("%8s %14s %14s %10s %10s\n", "seqs", "prefill tok/s", "decode tok/s",
                "ITL ms", "ITL p90");
    for (const ParallelRun &r : runs)
      std::printf("%8ld %14.2f %14.2f %10.1f %10.1f\n", r.seqs, r.prefill, r.decode,
                  r.itl, r.itlP90);
  }
  gemmac_model_close(m);
  return 0;
}

/// The scripted drafter (runtime/src/scripted_draft.h) over the model's
/// greedy continuation. With `session`, the program's MTP drafter runs first
/// for the same number of tokens, so that its cost is paid; its tokens are
/// replaced by the script's.
struct ScriptedDrafter {
  const std::vector<gemmac_token> *continuation; // after the prompt
  long promptTokens;
  gemmac::rt::ScriptedDraft script;
  int32_t vocab;
  gemmac_session *session = nullptr;
  std::vector<gemmac_token> scratch = std::vector<gemmac_token>(64);

  static int32_t draft(const gemmac_token *tokens, int32_t n, gemmac_token *out,
                       int32_t max, void *user) {
    auto *d = static_cast<ScriptedDrafter *>(user);
    if (d->session && gemmac_session_draft(d->session, tokens[n - 1], max, d->scratch.data(),
                                           nullptr) != max)
      return -1;
    // The continuation's next index follows the last token.
    d->script.propose(d->continuation->data(), d->continuation->size(),
                      n - d->promptTokens, tokens[n - 1], d->vocab, out, max);
    return max;
  }
};

struct DraftRun {
  long k, verifyRows;
  double rate, steps, accepted, verifyCost, draftCost;
  double ownRate, ownAcceptance, ownAccepted; // the program's own drafter
};

/// Speculative decoding against plain greedy decoding on the same prompt:
/// the plain run's tokens are the scripted drafter's continuation (and
/// each speculative run must reproduce them). A verify step's cost is the
/// time of evaluating k + 1 tokens (then rolled back) over one token's.
int cmdBenchDraft(const Options &a, gemmac_model *m, long p, long n) {
  const int32_t V = gemmac_model_vocab_size(m);
  const long ctx = std::max(a.ctx, p + n + 80);
  gemmac_session *s = newSession(m, ctx, a.ctx > 0);
  const std::vector<gemmac_token> prompt = benchPrompt(m, p, 0);
  std::vector<float> logits(V);
  gemmac_sampler_params greedy = gemmac_sampler_defaults();
  greedy.temperature = 0;
  auto prefill = [&] {
    gemmac_session_reset(s);
    if (gemmac_session_eval(s, prompt.data(), static_cast<int32_t>(p), logits.data(), 0) != 0)
      die(gemmac_last_error());
  };
  prefill(); // untimed: brings every weight page in
  // The rings' rollback: a step drafts at most `most` tokens; a timed
  // verify step of `rows` is rolled back (any distance while the context
  // fits a ring).
  const long most = gemmac_model_number(m, "draft_max") + 1;
  const bool fitsRing = ctx <= gemmac_model_number(m, "window") + most - 1;
  const double acceptP = gemmac::rt::acceptRateFor(a.acceptMean, a.acceptOf);
  // A compiled MTP drafter runs at every step: its cost is measured, not
  // assumed free.
  const bool mtp = gemmac_model_number(m, "drafter") == 1;
  std::vector<gemmac_token> continuation;
  std::vector<double> plain;
  struct Samples {
    std::vector<double> rate, steps, accepted, cost, draftCost;
    // The program's own drafter (mtp, else ngram): tok/s, accepted of
    // drafted, accepted per step.
    std::vector<double> ownRate, ownAcceptance, ownAccepted;
  };
  std::vector<Samples> samples(a.draftLengths.size());
  // A timed speculative run from the prompt, which must give the plain
  // run's tokens; its seconds.
  auto timedRun = [&](gemmac_speculative &spec, long k) {
    prefill();
    struct Sink {
      const std::vector<gemmac_token> *want;
      long at = 0, wrong = 0;
    } sink{&continuation};
    const double t1 = seconds();
    const int32_t got = gemmac_generate_speculative(
        s, nullptr, 0, static_cast<int32_t>(n), &greedy, &spec,
        [](gemmac_token t, void *user) {
          auto *k = static_cast<Sink *>(user);
          k->wrong += k->at >= static_cast<long>(k->want->size()) || (*k->want)[k->at] != t;
          ++k->at;
          return 0;
        },
        &sink);
    const double dt = seconds() - t1;
    if (got < 0)
      die(gemmac_last_error());
    if (got != n || sink.wrong)
      die("bench --draft " + std::to_string(k) + ": speculative decoding gave " +
          std::to_string(sink.wrong) + " tokens other than plain decoding");
    return dt;
  };
  // Repetitions alternate plain and speculative runs, so that a change in
  // the machine's speed reaches both.
  for (long r = 0; r < a.reps; ++r) {
    prefill();
    std::vector<gemmac_token> out;
    const double t0 = seconds();
    for (long i = 0; i < n; ++i) {
      const gemmac_token t = gemmac_sample(s, logits.data(), &greedy);
      out.push_back(t);
      if (gemmac_session_eval(s, &t, 1, logits.data(), 0) != 0)
        die(gemmac_last_error());
    }
    plain.push_back(n / (seconds() - t0));
    continuation = out;
    for (size_t ki = 0; ki < a.draftLengths.size(); ++ki) {
      const long k = a.draftLengths[ki];
      ScriptedDrafter drafter{&continuation, p, {acceptP}, V, mtp ? s : nullptr};
      gemmac_speculative spec = gemmac_speculative_defaults();
      spec.draft_max = static_cast<int32_t>(k);
      spec.draft = ScriptedDrafter::draft;
      spec.draft_user = &drafter;
      const double dt = timedRun(spec, k);
      Samples &x = samples[ki];
      x.rate.push_back(n / dt);
      x.steps.push_back(spec.n_steps);
      x.accepted.push_back(spec.n_steps ? double(spec.n_accepted) / spec.n_steps : 0.0);
      // The program's own drafter, with the acceptance it gets here.
      gemmac_speculative own = gemmac_speculative_defaults(); // ngram
      own.draft_max = static_cast<int32_t>(k);
      if (mtp) {
        own.draft = gemmac_draft_mtp;
        own.draft_user = s;
      }
      const double ownSeconds = timedRun(own, k);
      x.ownRate.push_back(n / ownSeconds);
      x.ownAcceptance.push_back(own.n_drafted ? double(own.n_accepted) / own.n_drafted : 0.0);
      x.ownAccepted.push_back(own.n_steps ? double(own.n_accepted) / own.n_steps : 0.0);
      // A verify step of k + 1 rows against a step of one, at this context.
      std::vector<gemmac_token> rows(
          static_cast<size_t>(fitsRing ? k + 1 : std::min(k + 1, most)), continuation[0]);
      const int32_t at = gemmac_session_position(s);
      auto timeStep = [&](size_t count) {
        const double t = seconds();
        if (gemmac_session_eval(s, rows.data(), static_cast<int32_t>(count), nullptr, 1) != 0 ||
            gemmac_session_truncate(s, at) != 0)
          die(gemmac_last_error());
        return seconds() - t;
      };
      std::vector<double> one, many, drafts;
      for (int i = 0; i < 5; ++i) {
        one.push_back(timeStep(1));
        many.push_back(timeStep(rows.size()));
        if (mtp) { // k draft steps after the last evaluated token
          std::vector<gemmac_token> d(static_cast<size_t>(k));
          const double t = seconds();
          if (gemmac_session_eval(s, rows.data(), 1, nullptr, 0) != 0 ||
              gemmac_session_draft(s, continuation[0], static_cast<int32_t>(k), d.data(),
                                   nullptr) != k)
            die(gemmac_last_error());
          drafts.push_back(seconds() - t - one.back());
          if (gemmac_session_truncate(s, at) != 0)
            die(gemmac_last_error());
        }
      }
      x.cost.push_back(median(many) / median(one));
      x.draftCost.push_back(mtp ? median(drafts) / median(one) : 0.0);
    }
  }
  const double plainRate = median(plain);
  std::vector<DraftRun> runs;
  for (size_t ki = 0; ki < a.draftLengths.size(); ++ki) {
    const long k = a.draftLengths[ki];
    const Samples &x = samples[ki];
    runs.push_back({std::min(k, most), fitsRing ? k + 1 : std::min(k + 1, most),
                    median(x.rate), median(x.steps), median(x.accepted), median(x.cost),
                    median(x.draftCost), median(x.ownRate), median(x.ownAcceptance),
                    median(x.ownAccepted)});
  }
  const int threads = gemmac_model_threads(m);
  if (a.json) {
    std::printf("{\"plain_decode_tok_s\": %.4f, \"accept_mean\": %.3f, \"accept_of\": %ld, "
                "\"accept_rate\": %.4f, \"draft\": [",
                plainRate, a.acceptMean, a.acceptOf, acceptP);
    for (size_t i = 0; i < runs.size(); ++i)
      std::printf("%s{\"k\": %ld, \"decode_tok_s\": %.4f, \"speedup\": %.4f, "
                  "\"steps\": %.1f, \"accepted_per_step\": %.3f, \"verify_rows\": %ld, "
                  "\"verify_cost\": %.3f, \"draft_cost\": %.3f, \"own_drafter\": "
                  "{\"decode_tok_s\": %.4f, \"speedup\": %.4f, \"acceptance\": %.4f, "
                  "\"accepted_per_step\": %.3f}}",
                  i ? ", " : "", runs[i].k, runs[i].rate, runs[i].rate / plainRate,
                  runs[i].steps, runs[i].accepted, runs[i].verifyRows, runs[i].verifyCost,
                  runs[i].draftCost, runs[i].ownRate, runs[i].ownRate / plainRate,
                  runs[i].ownAcceptance, runs[i].ownAccepted);
    std::printf("], \"own_drafter\": \"%s\", \"prompt_tokens\": %ld, \"decode_tokens\": %ld, "
                "\"threads\": %d, \"reps\": %ld, \"device\": \"%s\"}\n",
                mtp ? "mtp" : "ngram", p, n, threads, a.reps, gemmac_model_device(m));
  } else {
    std::printf("%s, threads %d, median of %ld run(s); %ld prompt tokens, %ld decoded\n"
                "speculative decoding with a scripted drafter: the greedy continuation, each "
                "token right with p = %.3f (%.2f of %ld accepted on average), %s\n",
                gemmac_model_device(m), threads, a.reps, p, n, acceptP, a.acceptMean,
                a.acceptOf,
                mtp ? "the compiled MTP drafter run at every step (its cost paid, its tokens "
                      "replaced by the script's)"
                    : "drafting free");
    std::printf("%6s %12s %8s %7s %15s %26s%s\n", "k", "decode tok/s", "speedup", "steps",
                "accepted/step", "step of rows / of 1 row", mtp ? "  k draft steps / 1 row" : "");
    std::printf("%6s %12.2f %8s %7ld\n", "plain", plainRate, "1.00x", n);
    for (const DraftRun &r : runs) {
      std::printf("%6ld %12.2f %7.2fx %7.0f %15.2f %19ld: %5.2f", r.k, r.rate,
                  r.rate / plainRate, r.steps, r.accepted, r.verifyRows, r.verifyCost);
      if (mtp)
        std::printf(" %23.2f", r.draftCost);
      std::printf("\n");
    }
    std::printf("with the program's own drafter (%s, greedy decoding of the same prompt):\n",
                mtp ? "the compiled MTP drafter" : "n-gram lookup");
    std::printf("%6s %12s %8s %11s %15s\n", "k", "decode tok/s", "speedup", "acceptance",
                "accepted/step");
    for (const DraftRun &r : runs)
      std::printf("%6ld %12.2f %7.2fx %10.1f%% %15.2f\n", r.k, r.ownRate, r.ownRate / plainRate,
                  100 * r.ownAcceptance, r.ownAccepted);
    if (std::any_of(a.draftLengths.begin(), a.draftLengths.end(),
                    [&](long k) { return k > most; }))
      std::printf("(drafts are cut to %ld tokens: the program keeps %ld ring rows beyond the "
                  "window; compile with a larger --draft-max)\n",
                  most, most - 1);
  }
  gemmac_session_free(s);
  gemmac_model_close(m);
  return 0;
}

} // namespace

/// Prefill: one prompt of `p` tokens evaluated as a batch (in chunks of the
/// model's batch size). Decode: `n` tokens, each the argmax of the last
/// logits, one evaluation per token. Token ids are a fixed pseudo-random
/// sequence: speed does not depend on them.
int cmdBench(const Options &a) {
  const long p = a.prompt.empty() ? 512 : parseInteger("-p", a.prompt, 1, 1 << 24);
  const long n = a.nPredict == -2 ? 128 : a.nPredict;
  if (n < 1)
    usageError("bench needs -n between 1 and 2147483647, got " + std::to_string(n));
  if (p + n >= 0x7fffffff)
    usageError("bench: -p " + std::to_string(p) + " plus -n " + std::to_string(n) +
               " tokens do not fit a context (at most 2147483647)");
  gemmac_model *m = openModel(a);
  if (!a.parallel.empty())
    return cmdBenchParallel(a, m, p, n);
  if (!a.draftLengths.empty())
    return cmdBenchDraft(a, m, p, n);
  const int32_t V = gemmac_model_vocab_size(m);
  const long ctx = std::max(a.ctx, p + n + 1);
  gemmac_session *s = newSession(m, ctx, a.ctx > 0);
  const std::vector<gemmac_token> prompt = benchPrompt(m, p, 0);
  std::vector<float> logits(V);
  auto eval = [&](const gemmac_token *t, long count) {
    if (gemmac_session_eval(s, t, static_cast<int32_t>(count), logits.data(), 0) != 0)
      die(gemmac_last_error());
  };
  // One untimed step brings every weight page in.
  eval(prompt.data(), 1);
  std::vector<double> prefill, decode;
  for (long r = 0; r < a.reps; ++r) {
    gemmac_session_reset(s);
    const double t0 = seconds();
    eval(prompt.data(), p);
    const double t1 = seconds();
    gemmac_token tok = argmax(logits);
    for (long i = 0; i < n; ++i) {
      eval(&tok, 1);
      tok = argmax(logits);
    }
    const double t2 = seconds();
    prefill.push_back(p / (t1 - t0));
    decode.push_back(n / (t2 - t1));
  }
  const double prefillRate = median(prefill), decodeRate = median(decode);
  const uint64_t bytes = gemmac_model_decode_bytes(m);
  const double gbs = bytes * decodeRate / 1e9;
  const int threads = gemmac_model_threads(m);
  if (a.json) {
    std::printf("{\"prefill_tok_s\": %.4f, \"decode_tok_s\": %.4f, "
                "\"bytes_per_token\": %llu, \"decode_gb_s\": %.4f, "
                "\"prompt_tokens\": %ld, \"decode_tokens\": %ld, "
                "\"threads\": %d, \"reps\": %ld, \"device\": \"%s\"}\n",
                prefillRate, decodeRate, static_cast<unsigned long long>(bytes),
                gbs, p, n, threads, a.reps, gemmac_model_device(m));
  } else {
    std::printf("%s, threads %d, median of %ld run(s)\n", gemmac_model_device(m),
                threads, a.reps);
    std::printf("prefill  %6ld tokens  %10.2f tok/s\n", p, prefillRate);
    std::printf("decode   %6ld tokens  %10.2f tok/s\n", n, decodeRate);
    std::printf("weights read per decoded token  %.3f GB  -> %.2f GB/s\n",
                bytes / 1e9, gbs);
  }
  gemmac_session_free(s);
  gemmac_model_close(m);
  return 0;
}


} // namespace gemmac::cli
