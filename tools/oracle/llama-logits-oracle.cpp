// llama.cpp's logits for a token sequence, as llama-oracle.mjs computes them
// with node-llama-cpp, from a program on libllama: for a llama.cpp build that
// node cannot load, such as the aarch64 one run under qemu-user (the
// reference of aarch64 programs' arithmetic, docs/arm.md).
//   llama-logits-oracle MODEL.gguf BACKEND_DIR --tokens LIST --logits FILE
//       [--threads N]
// One batch of max(64, n) for the whole sequence (llama.cpp's batched
// attention path), a context as node-llama-cpp's defaults make it; writes n
// rows of n_vocab floats, the model's suppressed tokens -inf (as
// llama-oracle.mjs and gemmac's eval do).
#include "ggml-backend.h"
#include "llama.h"

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace {

[[noreturn]] void fail(const std::string &msg) {
  std::fprintf(stderr, "llama-logits-oracle: %s\n", msg.c_str());
  std::exit(2);
}

std::vector<int> parseInts(const std::string &list, const char *what) {
  std::vector<int> out;
  std::string item;
  for (size_t at = 0; at <= list.size(); ++at) {
    const char c = at < list.size() ? list[at] : ',';
    if (c >= '0' && c <= '9') {
      item += c;
    } else if (c == ',' || c == ']') {
      if (!item.empty()) {
        const long v = std::strtol(item.c_str(), nullptr, 10);
        if (item.size() > 10 || v > INT_MAX)
          fail(std::string(what) + ": '" + item + "' is out of range");
        out.push_back(static_cast<int>(v));
      }
      item.clear();
    } else if (c != ' ' && c != '[') {
      fail(std::string(what) + ": unexpected '" + c + "' in '" + list + "'");
    }
  }
  return out;
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 3)
    fail("usage: llama-logits-oracle MODEL.gguf BACKEND_DIR --tokens LIST "
         "--logits FILE [--threads N]");
  std::string tokenList, logitsPath;
  long threads = 2;
  for (int i = 3; i < argc; i += 2) {
    const std::string f = argv[i];
    if (i + 1 >= argc)
      fail(f + " needs a value");
    if (f == "--tokens")
      tokenList = argv[i + 1];
    else if (f == "--logits")
      logitsPath = argv[i + 1];
    else if (f == "--threads")
      threads = std::atol(argv[i + 1]);
    else
      fail("unknown option " + f);
  }
  if (tokenList.empty() || logitsPath.empty())
    fail("--tokens and --logits are required");
  if (threads < 1 || threads > 256)
    fail("--threads must be in [1, 256]");
  const std::vector<int> tokens = parseInts(tokenList, "--tokens");
  const int n = static_cast<int>(tokens.size());
  if (n < 1)
    fail("--tokens is empty");

  ggml_backend_load_all_from_path(argv[2]);
  llama_backend_init();
  llama_log_set([](ggml_log_level level, const char *text, void *) {
    if (level == GGML_LOG_LEVEL_ERROR)
      std::fputs(text, stderr);
  }, nullptr);
  llama_model_params mp = llama_model_default_params();
  mp.n_gpu_layers = 0;
  llama_model *model = llama_model_load_from_file(argv[1], mp);
  if (!model)
    fail(std::string("cannot load ") + argv[1]);
  const int V = llama_vocab_n_tokens(llama_model_get_vocab(model));
  for (int t : tokens)
    if (t >= V)
      fail("token " + std::to_string(t) + " is outside the vocabulary");
  std::vector<int> suppressed;
  char meta[4096];
  if (llama_model_meta_val_str(model, "tokenizer.ggml.suppress_tokens", meta,
                               sizeof meta) > 0)
    suppressed = parseInts(meta, "tokenizer.ggml.suppress_tokens");

  llama_context_params cp = llama_context_default_params();
  cp.n_ctx = static_cast<uint32_t>(std::max(256, n + 8));
  cp.n_batch = cp.n_ubatch = static_cast<uint32_t>(std::max(64, n));
  cp.n_seq_max = 1;
  cp.n_threads = cp.n_threads_batch = static_cast<int32_t>(threads);
  llama_context *ctx = llama_init_from_model(model, cp);
  if (!ctx)
    fail("cannot create a context");
  llama_batch batch = llama_batch_init(n, 0, 1);
  for (int i = 0; i < n; ++i) {
    batch.token[i] = tokens[i];
    batch.pos[i] = i;
    batch.n_seq_id[i] = 1;
    batch.seq_id[i][0] = 0;
    batch.logits[i] = true;
  }
  batch.n_tokens = n;
  if (llama_decode(ctx, batch) != 0)
    fail("llama_decode failed");
  std::vector<float> rows(static_cast<size_t>(n) * V);
  for (int i = 0; i < n; ++i) {
    const float *l = llama_get_logits_ith(ctx, i);
    if (!l)
      fail("no logits at position " + std::to_string(i));
    std::copy(l, l + V, rows.begin() + static_cast<size_t>(i) * V);
    for (int t : suppressed)
      if (t >= 0 && t < V)
        rows[static_cast<size_t>(i) * V + t] = -INFINITY;
  }
  FILE *f = std::fopen(logitsPath.c_str(), "wb");
  if (!f || std::fwrite(rows.data(), sizeof(float), rows.size(), f) != rows.size() ||
      std::fclose(f) != 0)
    fail("cannot write " + logitsPath);
  llama_batch_free(batch);
  llama_free(ctx);
  llama_model_free(model);
  llama_backend_free();
  return 0;
}
