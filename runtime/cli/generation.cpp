#include "runtime/cli/generation.h"
#include "runtime/cli/options.h"

#include <algorithm>
#include <climits>
#include <cstdio>

namespace gemmac::cli {

std::string tokenText(const gemmac_model *m, gemmac_token t, bool special) {
  char buf[256];
  int32_t n = gemmac_token_to_piece(m, t, buf, sizeof buf, special);
  if (n >= 0)
    return std::string(buf, n);
  std::string big(static_cast<size_t>(-n), '\0');
  n = gemmac_token_to_piece(m, t, big.data(), -n, special);
  return n < 0 ? std::string() : big.substr(0, n);
}

std::vector<gemmac_token> tokenize(const gemmac_model *m, const std::string &text,
                                   bool addBos) {
  std::vector<gemmac_token> ids(text.size() + 8);
  int32_t n = gemmac_tokenize(m, text.data(), text.size(), addBos, 1, ids.data(),
                              static_cast<int32_t>(ids.size()));
  if (n < 0) {
    ids.resize(static_cast<size_t>(-n));
    n = gemmac_tokenize(m, text.data(), text.size(), addBos, 1, ids.data(), -n);
  }
  if (n < 0)
    die(std::string("tokenize: ") + gemmac_last_error());
  ids.resize(static_cast<size_t>(n));
  return ids;
}

GenerationStats generate(gemmac_session *s, const std::vector<gemmac_token> &prompt,
                         long maxTokens, const gemmac_sampler_params &sampler,
                         const TokenSink &sink, gemmac_speculative *spec) {
  const gemmac_model *m = gemmac_session_model(s);
  GenerationStats st;
  std::vector<float> logits;
  const int32_t ctx = gemmac_session_context(s);
  if (gemmac_session_position(s) + static_cast<long>(prompt.size()) > ctx)
    die("the prompt (" + std::to_string(prompt.size()) + " tokens after " +
        std::to_string(gemmac_session_position(s)) +
        " held) does not fit the context of " + std::to_string(ctx) +
        " tokens (raise --ctx)");
  st.promptTokens = static_cast<long>(prompt.size());
  const double t0 = seconds();
  logits.resize(static_cast<size_t>(gemmac_model_vocab_size(m)));
  if (!prompt.empty() &&
      gemmac_session_eval(s, prompt.data(), static_cast<int32_t>(prompt.size()),
                          logits.data(), 0) != 0)
    die(gemmac_last_error());
  const double t1 = seconds();
  st.promptSeconds = t1 - t0;
  if (spec) {
    const long afterPrompt = gemmac_session_position(s);
    struct Trampoline {
      const TokenSink *sink;
      const gemmac_model *m;
      bool stopped = false;
    } tr{&sink, m};
    const int32_t n = gemmac_generate_speculative(
        s, nullptr, 0,
        static_cast<int32_t>(std::min<long>(maxTokens, INT32_MAX)), &sampler,
        spec,
        [](gemmac_token t, void *user) {
          auto *tr = static_cast<Trampoline *>(user);
          tr->stopped = !(*tr->sink)(t, tokenText(tr->m, t));
          return tr->stopped ? 1 : 0;
        },
        &tr);
    if (n < 0)
      die(gemmac_last_error());
    st.generated = n;
    if (spec->end_token >= 0) {
      st.endToken = spec->end_token;
      st.stopReason = "end token " + tokenText(m, spec->end_token);
    } else if (tr.stopped) {
      st.stopReason = "interrupted";
    } else if (gemmac_session_position(s) - afterPrompt < st.generated) {
      // The last token sampled found the context full (as below).
      st.stopReason = "context full";
      if (maxTokens < 0 || st.generated < maxTokens)
        std::fprintf(stderr,
                     "\ncontext full (%d tokens): stopped after %ld generated tokens%s\n",
                     ctx, st.generated, maxTokens < 0 ? "" : " (raise --ctx for more)");
    }
  }
  while (!spec && (maxTokens < 0 || st.generated < maxTokens)) {
    gemmac_token t = gemmac_sample(s, logits.data(), &sampler);
    if (gemmac_token_is_eog(m, t)) {
      st.endToken = t;
      st.stopReason = "end token " + tokenText(m, t);
      break;
    }
    ++st.generated;
    if (!sink(t, tokenText(m, t))) {
      st.stopReason = "interrupted";
      break;
    }
    if (gemmac_session_position(s) >= ctx) {
      st.stopReason = "context full";
      if (maxTokens < 0 || st.generated < maxTokens)
        std::fprintf(stderr,
                     "\ncontext full (%d tokens): stopped after %ld generated tokens%s\n", ctx,
                     st.generated, maxTokens < 0 ? "" : " (raise --ctx for more)");
      break;
    }
    if (gemmac_session_eval(s, &t, 1, logits.data(), 0) != 0)
      die(gemmac_last_error());
  }
  if (st.stopReason.empty())
    st.stopReason = "length (-n)";
  st.generateSeconds = seconds() - t1;
  return st;
}

void printSummary(const GenerationStats &st, const gemmac_session *s) {
  auto rate = [](long n, double sec) { return sec > 0 ? n / sec : 0.0; };
  std::fprintf(stderr,
               "\nprompt     %6ld tokens %9.2f ms %10.2f tok/s\n"
               "generation %6ld tokens %9.2f ms %10.2f tok/s\n"
               "stop: %s; context %d of %d tokens; KV cache %.2f MiB\n",
               st.promptTokens, st.promptSeconds * 1e3,
               rate(st.promptTokens, st.promptSeconds), st.generated,
               st.generateSeconds * 1e3, rate(st.generated, st.generateSeconds),
               st.stopReason.c_str(), gemmac_session_position(s),
               gemmac_session_context(s),
               gemmac_session_kv_bytes(s) / (1024.0 * 1024.0));
}

} // namespace gemmac::cli
