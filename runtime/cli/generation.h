// Generating tokens after a prompt, with what llama-cli reports at the end:
// prompt and generation speed, why it stopped, the KV cache's size.
#pragma once

#include "runtime/include/gemmac.h"

#include <functional>
#include <string>
#include <vector>

namespace gemmac::cli {

struct GenerationStats {
  long promptTokens = 0, generated = 0;
  double promptSeconds = 0, generateSeconds = 0;
  std::string stopReason; // "end token <turn|>", "length", "context full", "interrupted"
  gemmac_token endToken = -1; // the end-of-generation token sampled, or -1
};

/// Receives each generated token with its text (control tokens included);
/// returns false to stop.
using TokenSink = std::function<bool(gemmac_token, const std::string &piece)>;

/// Evaluates `prompt` after what the session holds, then samples up to
/// `maxTokens` tokens (-1: until an end token or the context is full). An
/// end token is not evaluated. With `spec`, decodes speculatively (the same
/// tokens, fewer steps; its counters are filled). Dies on an evaluation
/// error.
GenerationStats generate(gemmac_session *s, const std::vector<gemmac_token> &prompt,
                         long maxTokens, const gemmac_sampler_params &sampler,
                         const TokenSink &sink, gemmac_speculative *spec = nullptr);

/// The text of a token; control tokens are "" unless `special`.
std::string tokenText(const gemmac_model *m, gemmac_token t, bool special = true);

/// Tokenizes with special tokens parsed; dies if the API fails.
std::vector<gemmac_token> tokenize(const gemmac_model *m, const std::string &text,
                                   bool addBos);

/// llama-cli's closing lines on stderr.
void printSummary(const GenerationStats &st, const gemmac_session *s);

} // namespace gemmac::cli
