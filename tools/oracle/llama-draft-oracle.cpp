// llama.cpp's MTP drafter (gemma4-assistant) as the oracle of gemmac's: what
// llama.cpp v0.5.0's draft-mtp loop (common/speculative.cpp, the shared-memory
// branch) computes after a prefill, step by step.
//
// The target decodes tokens[0..n-2] in one batch (at least 64 tokens: the
// batched attention path the parity suites pin), keeping the post-final-norm
// hidden row of every position. The drafter, a context of type MTP whose
// ctx_other is the target's, then runs --draft K steps at position n-1 (the
// position of tokens[n-1], whose K/V the target has not written): step 1
// takes (tokens[n-1], hidden row n-2); each later step takes the previous
// step's argmax and its post_projection output, at the same position.
//
// Built against the libllama of the node-llama-cpp install (the pinned CPU
// variant) and the llama.h of the llama.cpp source in that package; its
// JavaScript API cannot create an MTP context (it never sets ctx_other).
//   llama-draft-oracle TARGET.gguf ASSISTANT.gguf BACKEND_DIR --tokens LIST
//       --draft K --logits FILE [--hidden FILE] [--draft-hidden FILE]
//       [--threads N]
// --logits: K rows of n_vocab floats (the draft steps' logits);
// --hidden: n-1 rows of the target's hidden (its post-final-norm rows);
// --draft-hidden: K rows of the drafter's post_projection outputs.
// Prints the drafted tokens as JSON.
#include "ggml-backend.h"
#include "llama.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

// llama-ext.h (llama.cpp's staging API, C++ linkage), exported by libllama.
void llama_set_embeddings_nextn(llama_context *ctx, bool value, bool masked);
float *llama_get_embeddings_nextn_ith(llama_context *ctx, int32_t i);

namespace {

[[noreturn]] void fail(const std::string &msg) {
  std::fprintf(stderr, "llama-draft-oracle: %s\n", msg.c_str());
  std::exit(2);
}

std::vector<llama_token> parseTokens(const std::string &list) {
  std::vector<llama_token> out;
  for (size_t at = 0; at <= list.size();) {
    const size_t comma = std::min(list.find(',', at), list.size());
    const std::string item = list.substr(at, comma - at);
    char *end = nullptr;
    const long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end || v < 0 || v > INT32_MAX)
      fail("--tokens: '" + item + "' is not a token id");
    out.push_back(static_cast<llama_token>(v));
    at = comma + 1;
  }
  return out;
}

void writeRows(const std::string &path, const std::vector<float> &rows) {
  FILE *f = std::fopen(path.c_str(), "wb");
  if (!f || std::fwrite(rows.data(), sizeof(float), rows.size(), f) !=
                rows.size() ||
      std::fclose(f) != 0)
    fail("cannot write " + path);
}

void add(llama_batch &b, llama_token t, llama_pos pos, bool logits) {
  const int i = b.n_tokens++;
  b.token[i] = t;
  b.pos[i] = pos;
  b.n_seq_id[i] = 1;
  b.seq_id[i][0] = 0;
  b.logits[i] = logits;
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 4)
    fail("usage: llama-draft-oracle TARGET.gguf ASSISTANT.gguf BACKEND_DIR "
         "--tokens LIST --draft K --logits FILE [--hidden FILE] "
         "[--draft-hidden FILE] [--threads N]");
  std::string tokenList, logitsPath, hiddenPath, draftHiddenPath;
  long draft = 0, threads = 2;
  for (int i = 4; i < argc; i += 2) {
    const std::string f = argv[i];
    if (i + 1 >= argc)
      fail(f + " needs a value");
    const std::string v = argv[i + 1];
    if (f == "--tokens")
      tokenList = v;
    else if (f == "--draft")
      draft = std::atol(v.c_str());
    else if (f == "--logits")
      logitsPath = v;
    else if (f == "--hidden")
      hiddenPath = v;
    else if (f == "--draft-hidden")
      draftHiddenPath = v;
    else if (f == "--threads")
      threads = std::atol(v.c_str());
    else
      fail("unknown option " + f);
  }
  if (tokenList.empty() || logitsPath.empty())
    fail("--tokens and --logits are required");
  if (draft < 1 || draft > 64 || threads < 1 || threads > 256)
    fail("--draft must be in [1, 64] and --threads in [1, 256]");
  const std::vector<llama_token> tokens = parseTokens(tokenList);
  const int n = static_cast<int>(tokens.size());
  if (n < 2)
    fail("--tokens needs at least two tokens");

  ggml_backend_load_all_from_path(argv[3]);
  llama_backend_init();
  llama_log_set([](ggml_log_level level, const char *text, void *) {
    if (level == GGML_LOG_LEVEL_ERROR)
      std::fputs(text, stderr);
  }, nullptr);
  llama_model_params mp = llama_model_default_params();
  mp.n_gpu_layers = 0;
  llama_model *target = llama_model_load_from_file(argv[1], mp);
  if (!target)
    fail(std::string("cannot load the target ") + argv[1]);
  llama_model *assistant = llama_model_load_from_file(argv[2], mp);
  if (!assistant)
    fail(std::string("cannot load the assistant ") + argv[2]);
  const int V = llama_vocab_n_tokens(llama_model_get_vocab(target));
  for (llama_token t : tokens)
    if (t >= V)
      fail("token " + std::to_string(t) + " is outside the vocabulary");
  const int H = llama_model_n_embd_out(target);

  // The target as llama-oracle.mjs configures it (node-llama-cpp's
  // defaults): one sequence, n_ubatch = n_batch, flash attention auto.
  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = static_cast<uint32_t>(std::max(256, n + 8));
  cp.n_batch = cp.n_ubatch = static_cast<uint32_t>(std::max(64, n));
  cp.n_seq_max = 1;
  cp.n_threads = cp.n_threads_batch = static_cast<int32_t>(threads);
  cp.swa_full = false;
  cp.kv_unified = false;
  cp.no_perf = true;
  llama_context *tgt = llama_init_from_model(target, cp);
  if (!tgt)
    fail("cannot create the target context");
  llama_set_embeddings_nextn(tgt, true, /*masked=*/false);

  // The drafter's context as common_speculative_init_result makes it.
  llama_context_params dp = cp;
  dp.ctx_type = LLAMA_CONTEXT_TYPE_MTP;
  dp.ctx_other = tgt;
  llama_context *dft = llama_init_from_model(assistant, dp);
  if (!dft)
    fail("cannot create the drafter's context (is the assistant paired "
         "with this target?)");
  llama_set_embeddings_nextn(dft, true, /*masked=*/true);
  if (llama_model_n_embd_out(assistant) != H)
    fail("the assistant's embedding_length_out " +
         std::to_string(llama_model_n_embd_out(assistant)) +
         " is not the target's width " + std::to_string(H));

  llama_batch b = llama_batch_init(std::max(64, n), 0, 1);
  for (int i = 0; i + 1 < n; ++i)
    add(b, tokens[i], i, true);
  if (llama_decode(tgt, b) != 0)
    fail("the target's prefill failed");
  std::vector<float> hidden(static_cast<size_t>(n - 1) * H);
  for (int i = 0; i + 1 < n; ++i) {
    const float *h = llama_get_embeddings_nextn_ith(tgt, i);
    if (!h)
      fail("no target hidden row " + std::to_string(i));
    std::memcpy(&hidden[static_cast<size_t>(i) * H], h, H * sizeof(float));
  }
  llama_batch_free(b);

  // Draft steps: a batch of one row carrying both a token and a hidden row.
  llama_batch d = llama_batch_init(1, H, 1);
  d.token = static_cast<llama_token *>(std::malloc(sizeof(llama_token)));
  std::vector<float> h(hidden.end() - H, hidden.end());
  llama_token token = tokens[n - 1];
  std::vector<float> logits, draftHidden;
  std::string drafted;
  for (long k = 0; k < draft; ++k) {
    d.n_tokens = 0;
    add(d, token, n - 1, true);
    std::memcpy(d.embd, h.data(), H * sizeof(float));
    if (llama_decode(dft, d) != 0)
      fail("draft step " + std::to_string(k + 1) + " failed");
    const float *l = llama_get_logits_ith(dft, 0);
    const float *hn = llama_get_embeddings_nextn_ith(dft, 0);
    if (!l || !hn)
      fail("draft step " + std::to_string(k + 1) + " has no logits or hidden");
    logits.insert(logits.end(), l, l + V);
    draftHidden.insert(draftHidden.end(), hn, hn + H);
    token = static_cast<llama_token>(std::max_element(l, l + V) - l);
    h.assign(hn, hn + H);
    drafted += (k ? "," : "") + std::to_string(token);
  }
  std::free(d.token);
  d.token = nullptr;
  llama_batch_free(d);

  writeRows(logitsPath, logits);
  if (!hiddenPath.empty())
    writeRows(hiddenPath, hidden);
  if (!draftHiddenPath.empty())
    writeRows(draftHiddenPath, draftHidden);
  std::printf("{\"drafted\": [%s], \"n_vocab\": %d, \"n_embd_target\": %d}\n",
              drafted.c_str(), V, H);
  llama_free(dft);
  llama_free(tgt);
  llama_model_free(assistant);
  llama_model_free(target);
  llama_backend_free();
  return 0;
}
