// llama.cpp's continuous batching, measured the way `OUT bench --parallel`
// measures gemmac's: for each N, N sequences of one context, their N prompts
// of -p tokens in one llama_decode (llama.cpp cuts it into micro-batches),
// then -n steps of one token per sequence (each its argmax), one
// llama_decode per step. Aggregate tok/s, the median and p90 step time (the
// inter-token latency of each stream); medians over --reps runs after an
// untimed warm-up. Prints one JSON object.
//
// Built by tools/bench-vs-llamacpp against the libllama of a node-llama-cpp
// install (every CPU variant: ggml loads the best one for this CPU) and the
// llama.h of the llama.cpp source in that package (gitRelease.bundle):
//   llama-batched MODEL.gguf BACKEND_DIR [-p 16] [-n 32] [--threads 2]
//       [--reps 1] [--parallel 1,2,4,8,16,32]
#include "ggml-backend.h"
#include "llama.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

double now() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

double quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * v.size()))];
}

/// The median as `OUT bench` takes it (the mean of the middle two for an
/// even count), so both engines' figures are the same statistic.
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

[[noreturn]] void fail(const std::string &msg) {
  std::fprintf(stderr, "llama-batched: %s\n", msg.c_str());
  std::exit(2);
}

/// OUT bench's prompt of sequence `seq`: <bos>, then the same LCG's tokens.
std::vector<llama_token> benchPrompt(const llama_vocab *vocab, long p,
                                     uint64_t seq) {
  const uint64_t V = static_cast<uint64_t>(llama_vocab_n_tokens(vocab));
  std::vector<llama_token> prompt(p);
  uint64_t state = 0x9E3779B97F4A7C15ull + seq;
  prompt[0] = llama_vocab_bos(vocab);
  for (long i = 1; i < p; ++i) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    prompt[i] = static_cast<llama_token>((state >> 33) % V);
  }
  return prompt;
}

void add(llama_batch &b, llama_token t, llama_pos pos, llama_seq_id seq,
         bool logits) {
  const int i = b.n_tokens++;
  b.token[i] = t;
  b.pos[i] = pos;
  b.n_seq_id[i] = 1;
  b.seq_id[i][0] = seq;
  b.logits[i] = logits;
}

llama_token argmax(llama_context *ctx, int row, int V) {
  const float *l = llama_get_logits_ith(ctx, row);
  if (!l)
    fail("no logits for batch row " + std::to_string(row));
  return static_cast<llama_token>(std::max_element(l, l + V) - l);
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 3)
    fail("usage: llama-batched MODEL.gguf BACKEND_DIR [-p N] [-n N] [--threads N] "
         "[--reps N] [--parallel LIST]");
  long p = 16, n = 32, threads = 2, reps = 1;
  std::vector<long> parallel = {1, 2, 4, 8, 16, 32};
  for (int i = 3; i + 1 < argc; i += 2) {
    const std::string f = argv[i], v = argv[i + 1];
    if (f == "-p")
      p = std::atol(v.c_str());
    else if (f == "-n")
      n = std::atol(v.c_str());
    else if (f == "--threads")
      threads = std::atol(v.c_str());
    else if (f == "--reps")
      reps = std::atol(v.c_str());
    else if (f == "--parallel") {
      parallel.clear();
      for (size_t at = 0; at <= v.size();) {
        const size_t comma = std::min(v.find(',', at), v.size());
        parallel.push_back(std::atol(v.substr(at, comma - at).c_str()));
        at = comma + 1;
      }
    } else
      fail("unknown option " + f);
  }
  if (p < 1 || n < 1 || threads < 1 || reps < 1)
    fail("-p, -n, --threads and --reps must be positive");
  for (long N : parallel)
    if (N < 1 || N > 256)
      fail("--parallel values must be between 1 and 256");

  ggml_backend_load_all_from_path(argv[2]);
  llama_backend_init();
  llama_log_set([](ggml_log_level, const char *, void *) {}, nullptr);
  llama_model_params mp = llama_model_default_params();
  mp.n_gpu_layers = 0;
  llama_model *model = llama_model_load_from_file(argv[1], mp);
  if (!model)
    fail(std::string("cannot load ") + argv[1]);
  const llama_vocab *vocab = llama_model_get_vocab(model);
  const int V = llama_vocab_n_tokens(vocab);

  std::string rows;
  bool unified = false;
  for (long N : parallel) {
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = static_cast<uint32_t>(N * (p + n + 16));
    cp.n_batch = static_cast<uint32_t>(std::max(N * p, 512L));
    cp.n_seq_max = static_cast<uint32_t>(N);
    cp.n_threads = cp.n_threads_batch = static_cast<int32_t>(threads);
    unified = cp.kv_unified;
    llama_context *ctx = llama_init_from_model(model, cp);
    if (!ctx)
      fail("cannot create a context of " + std::to_string(N) + " sequences");
    llama_batch b = llama_batch_init(static_cast<int32_t>(N * p), 0, 1);
    std::vector<std::vector<llama_token>> prompts;
    for (long s = 0; s < N; ++s)
      prompts.push_back(benchPrompt(vocab, p, static_cast<uint64_t>(s)));
    auto decode = [&] {
      if (llama_decode(ctx, b) != 0)
        fail("llama_decode failed");
    };
    // Untimed: one row brings every weight page in.
    b.n_tokens = 0;
    add(b, prompts[0][0], 0, 0, true);
    decode();
    std::vector<double> prefill, rate, itl, p90;
    std::vector<llama_token> next(N);
    for (long r = 0; r < reps; ++r) {
      llama_memory_clear(llama_get_memory(ctx), true);
      b.n_tokens = 0;
      for (long s = 0; s < N; ++s)
        for (long i = 0; i < p; ++i)
          add(b, prompts[s][i], static_cast<llama_pos>(i),
              static_cast<llama_seq_id>(s), i == p - 1);
      const double t0 = now();
      decode();
      prefill.push_back(N * p / (now() - t0));
      for (long s = 0; s < N; ++s)
        next[s] = argmax(ctx, static_cast<int>(s * p + p - 1), V);
      std::vector<double> steps;
      for (long i = 0; i < n; ++i) {
        b.n_tokens = 0;
        for (long s = 0; s < N; ++s)
          add(b, next[s], static_cast<llama_pos>(p + i),
              static_cast<llama_seq_id>(s), true);
        const double t1 = now();
        decode();
        steps.push_back(now() - t1);
        for (long s = 0; s < N; ++s)
          next[s] = argmax(ctx, static_cast<int>(s), V);
      }
      double total = 0;
      for (double t : steps)
        total += t;
      rate.push_back(N * n / total);
      itl.push_back(1e3 * median(steps));
      p90.push_back(1e3 * quantile(steps, 0.9));
    }
    char row[256];
    std::snprintf(row, sizeof row,
                  "%s{\"n_seq\": %ld, \"prefill_tok_s\": %.4f, \"decode_tok_s\": %.4f, "
                  "\"itl_ms\": %.3f, \"itl_p90_ms\": %.3f}",
                  rows.empty() ? "" : ", ", N, median(prefill), median(rate),
                  median(itl), median(p90));
    rows += row;
    llama_batch_free(b);
    llama_free(ctx);
  }
  std::string system = llama_print_system_info();
  for (char &c : system)
    if (c == '"' || c == '\\' || c == '\n')
      c = ' ';
  std::printf("{\"parallel\": [%s], \"prompt_tokens\": %ld, \"decode_tokens\": %ld, "
              "\"threads\": %ld, \"reps\": %ld, \"kv_unified\": %s, \"system\": \"%s\"}\n",
              rows.c_str(), p, n, threads, reps, unified ? "true" : "false",
              system.c_str());
  llama_model_free(model);
  llama_backend_free();
  return 0;
}
