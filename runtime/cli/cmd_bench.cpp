// OUT bench: prefill and decode speed on a fixed pseudo-random prompt.

#include "runtime/cli/commands.h"

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

gemmac_token argmax(const std::vector<float> &logits) {
  return static_cast<gemmac_token>(
      std::max_element(logits.begin(), logits.end()) - logits.begin());
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
  const int32_t V = gemmac_model_vocab_size(m);
  const long ctx = std::max(a.ctx, p + n + 1);
  gemmac_session *s = newSession(m, ctx, a.ctx > 0);
  std::vector<gemmac_token> prompt(p);
  uint64_t state = 0x9E3779B97F4A7C15ull;
  prompt[0] = gemmac_token_bos(m);
  for (long i = 1; i < p; ++i) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    prompt[i] = static_cast<gemmac_token>((state >> 33) % static_cast<uint64_t>(V));
  }
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
