// OUT run: text after a prompt, as llama-cli -no-cnv does.

#include "runtime/cli/commands.h"
#include "runtime/cli/generation.h"

#include <cstdio>

namespace gemmac::cli {

int cmdRun(const Options &o) {
  std::string prompt = readPrompt(o);
  if (prompt.empty())
    die("run needs a prompt (-p TEXT, -f FILE, or text on stdin)");
  gemmac_model *m = openModel(o);
  gemmac_session *s = newSession(m, o.ctx > 0 ? o.ctx : 4096, o.ctx > 0);
  const gemmac_sampler_params sampler = samplerFor(o, m);
  if (sampler.temperature > 0)
    std::fprintf(stderr, "seed: %llu\n", static_cast<unsigned long long>(sampler.seed));
  // Exactly one <bos>: a prompt that starts with it (a rendered chat
  // template) gets none added.
  const std::string bos = tokenText(m, gemmac_token_bos(m));
  std::vector<gemmac_token> ids = tokenize(m, prompt, prompt.rfind(bos, 0) != 0);
  if (!o.noDisplayPrompt) {
    std::fwrite(prompt.data(), 1, prompt.size(), stdout);
    std::fflush(stdout);
  }
  const long maxTokens = o.nPredict == -2 ? 128 : o.nPredict;
  gemmac_speculative spec = speculativeFor(o, s);
  std::vector<gemmac_token> generated;
  GenerationStats st = generate(s, ids, maxTokens, sampler,
                                [&](gemmac_token t, const std::string &) {
                                  generated.push_back(t);
                                  std::string piece = tokenText(m, t, false);
                                  std::fwrite(piece.data(), 1, piece.size(), stdout);
                                  std::fflush(stdout);
                                  return true;
                                },
                                o.draftMax > 0 ? &spec : nullptr);
  std::printf("\n");
  if (o.verbose) {
    std::fprintf(stderr, "prompt tokens: %zu; generated tokens:", ids.size());
    for (size_t i = 0; i < generated.size(); ++i)
      std::fprintf(stderr, "%s%d", i ? "," : " ", generated[i]);
    std::fprintf(stderr, "\n");
  }
  printSummary(st, s);
  if (o.draftMax > 0)
    std::fprintf(stderr,
                 "speculative (%s, draft max %d): %d steps for %ld tokens, %d drafted, "
                 "%d accepted (%.1f%%)\n",
                 specTypeFor(o, m).c_str(), spec.draft_max, spec.n_steps, st.generated,
                 spec.n_drafted, spec.n_accepted,
                 spec.n_drafted ? 100.0 * spec.n_accepted / spec.n_drafted : 0.0);
  gemmac_session_free(s);
  gemmac_model_close(m);
  return 0;
}

} // namespace gemmac::cli
