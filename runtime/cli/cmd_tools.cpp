// OUT eval, OUT tokenize, OUT info: the model's numbers, tokens and facts.

#include "runtime/cli/commands.h"
#include "runtime/cli/generation.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

namespace gemmac::cli {
namespace {

std::vector<gemmac_token> parseTokenList(const std::string &list) {
  std::vector<gemmac_token> out;
  size_t i = 0;
  while (i <= list.size()) {
    size_t j = list.find(',', i);
    if (j == std::string::npos)
      j = list.size();
    out.push_back(static_cast<gemmac_token>(parseInteger(
        "--tokens (id at index " + std::to_string(out.size()) + ")",
        list.substr(i, j - i), 0, 0x7fffffff)));
    i = j + 1;
  }
  return out;
}

/// A piece as llama-tokenize shows it: printable, escapes for the rest.
std::string quoted(const std::string &s) {
  std::string r = "'";
  for (unsigned char c : s) {
    if (c == '\n') r += "\\n";
    else if (c == '\t') r += "\\t";
    else if (c == '\'') r += "\\'";
    else if (c == '\\') r += "\\\\";
    else if (c < 0x20 || c == 0x7f) {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02x", c);
      r += b;
    } else r += static_cast<char>(c);
  }
  return r + "'";
}

std::string mib(double bytes) {
  char b[32];
  std::snprintf(b, sizeof b, "%.2f MiB", bytes / (1024.0 * 1024.0));
  return b;
}

} // namespace

namespace {
/// Writes `values` to `path` (nothing when path is empty).
void writeFloats(const std::string &path, const std::vector<float> &values) {
  if (path.empty())
    return;
  FILE *f = std::fopen(path.c_str(), "wb");
  if (!f)
    die(path + ": " + std::strerror(errno));
  if (std::fwrite(values.data(), sizeof(float), values.size(), f) != values.size() ||
      std::fclose(f) != 0)
    die(path + ": write failed");
}
} // namespace

int cmdEval(const Options &o) {
  if (o.tokens.empty())
    die("eval needs --tokens");
  std::vector<gemmac_token> toks = parseTokenList(o.tokens);
  gemmac_model *m = openModel(o);
  const int32_t vocab = gemmac_model_vocab_size(m);
  for (size_t i = 0; i < toks.size(); ++i)
    if (toks[i] >= vocab)
      usageError("--tokens: id " + std::to_string(toks[i]) + " at index " + std::to_string(i) +
                 " is outside the vocabulary (ids 0 to " + std::to_string(vocab - 1) + ")");
  long ctx = o.ctx > 0 ? o.ctx : std::max<long>(static_cast<long>(toks.size()), 256);
  gemmac_session *s = newSession(m, ctx, o.ctx > 0);
  const size_t V = static_cast<size_t>(gemmac_model_vocab_size(m));
  if (o.draftSteps > 0) {
    // The drafter after a prefill of all tokens but the last, which it
    // drafts from (as llama.cpp's draft-mtp after a prompt).
    if (toks.size() < 2)
      usageError("eval --draft-steps needs at least 2 tokens");
    const int32_t n = static_cast<int32_t>(toks.size()) - 1, k = static_cast<int32_t>(o.draftSteps);
    std::vector<float> logits(static_cast<size_t>(k) * V);
    std::vector<gemmac_token> drafted(static_cast<size_t>(k));
    if (gemmac_session_eval(s, toks.data(), n, nullptr, 0) != 0 ||
        gemmac_session_draft(s, toks.back(), k, drafted.data(), logits.data()) != k)
      die(gemmac_last_error());
    writeFloats(o.logitsPath, logits);
    std::printf("{\"drafted\":[");
    for (int32_t i = 0; i < k; ++i)
      std::printf(i ? ",%d" : "%d", drafted[i]);
    std::printf("]}\n");
    gemmac_session_free(s);
    gemmac_model_close(m);
    return 0;
  }
  std::vector<float> logits(toks.size() * V);
  size_t step = o.batch > 0 ? static_cast<size_t>(o.batch) : toks.size();
  for (size_t i = 0; i < toks.size(); i += step) {
    int32_t n = static_cast<int32_t>(std::min(step, toks.size() - i));
    if (gemmac_session_eval(s, toks.data() + i, n, logits.data() + i * V, 1) != 0)
      die(gemmac_last_error());
  }
  if (!o.logitsPath.empty()) {
    writeFloats(o.logitsPath, logits);
  } else {
    for (size_t i = 0; i < toks.size(); ++i) {
      const float *row = logits.data() + i * V;
      size_t best = std::max_element(row, row + V) - row;
      double sum = 0;
      for (size_t v = 0; v < V; ++v)
        sum += std::exp(row[v] - row[best]);
      std::printf("%zu\ttoken %d\tnext %zu\tlogp %.5f\n", i, toks[i], best, -std::log(sum));
    }
  }
  gemmac_session_free(s);
  gemmac_model_close(m);
  return 0;
}

int cmdTokenize(const Options &o) {
  std::string text = readPrompt(o);
  if (text.empty())
    die("tokenize needs TEXT (an argument, -p TEXT or stdin)");
  gemmac_model *m = openModel(o);
  std::vector<gemmac_token> ids = tokenize(m, text, true);
  if (o.ids) {
    for (size_t i = 0; i < ids.size(); ++i)
      std::printf(i ? ",%d" : "%d", ids[i]);
    std::printf("\n");
  } else {
    for (gemmac_token t : ids)
      std::printf("%6d -> %s\n", t, quoted(tokenText(m, t)).c_str());
  }
  gemmac_model_close(m);
  return 0;
}

int cmdInfo(const Options &o) {
  gemmac_model *m = openModel(o);
  const int32_t ctx = static_cast<int32_t>(o.ctx > 0 ? o.ctx : 4096);
  auto str = [&](const char *k) { return std::string(gemmac_model_string(m, k)); };
  auto num = [&](const char *k) { return static_cast<long long>(gemmac_model_number(m, k)); };
  const long long kv = gemmac_model_kv_bytes(m, ctx);
  const std::string tmpl = str("chat_template");
  const gemmac_sampler_params sp = gemmac_model_sampler_defaults(m);
  if (o.json) {
    auto js = [](const std::string &s) {
      std::string r = "\"";
      for (unsigned char c : s) {
        if (c == '"' || c == '\\') { r += '\\'; r += static_cast<char>(c); }
        else if (c < 0x20) { char b[8]; std::snprintf(b, sizeof b, "\\u%04x", c); r += b; }
        else r += static_cast<char>(c);
      }
      return r + "\"";
    };
    std::printf(
        "{\"source\": %s, \"target\": %s, \"compiler\": %s, \"device\": %s, "
        "\"kernels\": %s, "
        "\"formats\": %s, \"residuals\": %s, \"vocab\": %lld, \"hidden\": "
        "%lld, "
        "\"layers\": %lld, \"context\": %lld, \"max_batch\": %lld, "
        "\"threads\": %lld, \"weight_bytes\": %lld, \"decode_bytes\": %lld, "
        "\"arena_bytes\": %lld, \"kv_ctx\": %d, \"kv_bytes\": %lld, "
        "\"window\": %lld, \"draft_max\": %lld, \"drafter\": %s, "
        "\"chat_template_bytes\": %zu, \"sampling\": {\"temperature\": %g, "
        "\"top_k\": %d, \"top_p\": %g, \"min_p\": %g, "
        "\"repeat_penalty\": %g, \"repeat_last_n\": %d}}\n",
        js(str("source")).c_str(), js(str("target")).c_str(),
        js(str("compiler")).c_str(), js(str("device")).c_str(),
        js(str("kernels")).c_str(), js(str("formats")).c_str(),
        js(str("residuals")).c_str(), num("vocab"), num("hidden"),
        num("layers"), num("context"), num("max_batch"), num("threads"),
        num("weight_bytes"), num("decode_bytes"), num("arena_bytes"), ctx, kv,
        num("window"), num("draft_max"), num("drafter") == 1 ? "true" : "false",
        tmpl.size(), sp.temperature, sp.top_k, sp.top_p, sp.min_p,
        sp.repeat_penalty, sp.penalty_last_n);
  } else {
    std::printf("model       %s (compiled by %s for %s)\n", str("source").c_str(),
                str("compiler").c_str(), str("target").c_str());
    std::printf("runs on     %s%s%s, %lld threads\n", str("device").c_str(),
                str("kernels").empty() ? "" : ", kernels ",
                str("kernels").c_str(), num("threads"));
    std::printf("shape       %lld layers, hidden %lld, vocabulary %lld, trained context %lld\n",
                num("layers"), num("hidden"), num("vocab"), num("context"));
    std::printf("weights     %s in %s (%s)%s\n", mib(num("weight_bytes")).c_str(),
                str("weights_path").c_str(), str("formats").c_str(),
                num("weights_in_memory") == 1 ? ", held in huge pages" : "");
    if (!str("residuals").empty())
      std::printf("residuals   %s folded in\n", str("residuals").c_str());
    std::printf("per token   %s of weights read when decoding\n",
                mib(num("decode_bytes")).c_str());
    std::printf("batch       up to %lld tokens per forward pass\n", num("max_batch"));
    if (kv >= 0)
      std::printf("memory      KV cache %s at --ctx %d, scratch arena %s per session\n",
                  mib(kv).c_str(), ctx, mib(num("arena_bytes")).c_str());
    std::printf("speculative sliding window %lld; rings keep %lld rows more (compile-model "
                "--draft-max): drafts of up to %lld tokens per step; %s\n",
                num("window"), num("draft_max"), num("draft_max") + 1,
                num("drafter") == 1 ? "MTP drafter compiled in (--spec-type mtp)"
                                    : "no MTP drafter (n-gram drafts)");
    std::printf("chat        %s\n", tmpl.empty() ? "no chat template"
                                                  : ("template of " + std::to_string(tmpl.size()) +
                                                     " bytes").c_str());
    std::printf("sampling    temperature %g, top_k %d, top_p %g, min_p %g, repeat penalty %g "
                "over %d (the checkpoint's defaults, else gemmac's)\n",
                sp.temperature, sp.top_k, sp.top_p, sp.min_p, sp.repeat_penalty,
                sp.penalty_last_n);
  }
  gemmac_model_close(m);
  return 0;
}

} // namespace gemmac::cli
