// The command line of every compiled program:
//   OUT run -p "text" -n N [--temp T --top-k K --top-p P --min-p M --seed S]
//   OUT eval --tokens 2,105,... [--logits FILE] [--batch N]
//   OUT tokenize "text"
//   OUT bench [-p 512] [-n 128] [--reps R] [--json]
//   OUT --help

#include "runtime/include/gemmac.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <ctime>
#include <vector>

namespace {

const char *kUsage =
    "usage: %s COMMAND [options]\n"
    "\n"
    "A Gemma 4 model compiled by gemmac. Commands:\n"
    "  run -p TEXT [-n N]        generate up to N tokens (default 128) after TEXT\n"
    "      --temp T              sampling temperature (default 1.0; 0 = greedy)\n"
    "      --top-k K             keep the K most likely tokens (default 64; 0 = off)\n"
    "      --top-p P             nucleus sampling mass (default 0.95; 1 = off)\n"
    "      --min-p M             drop tokens below M x the top probability (default 0)\n"
    "      --seed S              random seed (default 0)\n"
    "  eval --tokens LIST        evaluate comma-separated token ids\n"
    "      --logits FILE         write float32 logits, one row of vocab per token\n"
    "      --batch N             feed N tokens per step (default: all at once)\n"
    "  tokenize TEXT             print the token ids of TEXT (with <bos>)\n"
    "  bench [-p N] [-n M]       time a prompt of N tokens (default 512) in one\n"
    "                            batch, then M decoded tokens (default 128)\n"
    "      --reps R              repeat R times, report medians (default 1)\n"
    "      --json                one JSON object: prefill_tok_s, decode_tok_s,\n"
    "                            bytes_per_token, decode_gb_s, ...\n"
    "\n"
    "Common options:\n"
    "  --ctx N                   context length of the session (default 4096)\n"
    "  --threads N               worker threads (default: all cores)\n"
    "  --device N                GPU programs: the CUDA or Vulkan device (default 0)\n"
    "  --weights PATH            weight file (default: this program's path + .weights)\n"
    "  --mmap                    read weights through the file mapping, never\n"
    "                            copied into huge pages (less memory, slower)\n"
    "  -h, --help                this help\n";

[[noreturn]] void die(const std::string &msg) {
  std::fprintf(stderr, "error: %s\n", msg.c_str());
  std::exit(1);
}

struct Args {
  std::string command;
  std::vector<std::string> positional;
  std::string prompt, tokens, logitsPath, weights;
  long nPredict = 128, ctx = 0, threads = 0, batch = 0, reps = 1, device = 0;
  bool json = false, mmap = false;
  gemmac_sampler_params sampler = gemmac_sampler_defaults();
};

long toLong(const std::string &flag, const std::string &v) {
  char *end = nullptr;
  errno = 0;
  long x = std::strtol(v.c_str(), &end, 10);
  if (errno || end == v.c_str() || *end)
    die(flag + " expects an integer, got '" + v + "'");
  return x;
}

float toFloat(const std::string &flag, const std::string &v) {
  char *end = nullptr;
  errno = 0;
  float x = std::strtof(v.c_str(), &end);
  if (errno || end == v.c_str() || *end || !std::isfinite(x))
    die(flag + " expects a number, got '" + v + "'");
  return x;
}

Args parse(int argc, char **argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc)
        die(s + " needs a value");
      return argv[++i];
    };
    if (s == "-h" || s == "--help") {
      std::printf(kUsage, argv[0]);
      std::exit(0);
    } else if (s == "-p" || s == "--prompt") a.prompt = value();
    else if (s == "-n" || s == "--n-predict") a.nPredict = toLong(s, value());
    else if (s == "--temp") a.sampler.temperature = toFloat(s, value());
    else if (s == "--top-k") a.sampler.top_k = static_cast<int32_t>(toLong(s, value()));
    else if (s == "--top-p") a.sampler.top_p = toFloat(s, value());
    else if (s == "--min-p") a.sampler.min_p = toFloat(s, value());
    else if (s == "--seed") a.sampler.seed = static_cast<uint64_t>(toLong(s, value()));
    else if (s == "--tokens") a.tokens = value();
    else if (s == "--logits") a.logitsPath = value();
    else if (s == "--batch") a.batch = toLong(s, value());
    else if (s == "--ctx") a.ctx = toLong(s, value());
    else if (s == "--threads") a.threads = toLong(s, value());
    else if (s == "--device") a.device = toLong(s, value());
    else if (s == "--weights") a.weights = value();
    else if (s == "--reps") a.reps = toLong(s, value());
    else if (s == "--json") a.json = true;
    else if (s == "--mmap") a.mmap = true;
    else if (!s.empty() && s[0] == '-') die("unknown option '" + s + "' (see --help)");
    else if (a.command.empty()) a.command = s;
    else a.positional.push_back(s);
  }
  if (a.command.empty()) {
    std::printf(kUsage, argv[0]);
    std::exit(2);
  }
  return a;
}

gemmac_model *openModel(const Args &a) {
  gemmac_model_options o = gemmac_model_default_options();
  o.n_threads = static_cast<int>(a.threads);
  o.weights_in_memory = a.mmap ? 0 : -1;
  o.device = static_cast<int>(a.device);
  gemmac_model *m =
      gemmac_model_open_with(a.weights.empty() ? nullptr : a.weights.c_str(), &o);
  if (!m)
    die(gemmac_last_error());
  return m;
}

std::vector<gemmac_token> parseTokens(const std::string &list) {
  std::vector<gemmac_token> out;
  size_t i = 0;
  while (i < list.size()) {
    size_t j = list.find(',', i);
    if (j == std::string::npos)
      j = list.size();
    std::string item = list.substr(i, j - i);
    out.push_back(static_cast<gemmac_token>(toLong("--tokens", item)));
    i = j + 1;
  }
  if (out.empty())
    die("--tokens is empty");
  return out;
}

int cmdEval(const Args &a) {
  if (a.tokens.empty())
    die("eval needs --tokens");
  std::vector<gemmac_token> toks = parseTokens(a.tokens);
  gemmac_model *m = openModel(a);
  long ctx = a.ctx > 0 ? a.ctx : std::max<long>(static_cast<long>(toks.size()), 256);
  gemmac_session *s = gemmac_session_new(m, static_cast<int32_t>(ctx));
  if (!s)
    die(gemmac_last_error());
  const int32_t V = gemmac_model_vocab_size(m);
  std::vector<float> logits(toks.size() * static_cast<size_t>(V));
  long step = a.batch > 0 ? a.batch : static_cast<long>(toks.size());
  for (size_t i = 0; i < toks.size(); i += step) {
    int32_t n = static_cast<int32_t>(std::min<size_t>(step, toks.size() - i));
    if (gemmac_session_eval(s, toks.data() + i, n, logits.data() + i * V, 1) != 0)
      die(gemmac_last_error());
  }
  if (!a.logitsPath.empty()) {
    FILE *f = std::fopen(a.logitsPath.c_str(), "wb");
    if (!f)
      die(a.logitsPath + ": " + std::strerror(errno));
    if (std::fwrite(logits.data(), sizeof(float), logits.size(), f) != logits.size())
      die(a.logitsPath + ": write failed");
    std::fclose(f);
  } else {
    for (size_t i = 0; i < toks.size(); ++i) {
      const float *row = logits.data() + i * V;
      int32_t best = 0;
      double maxL = row[0], sum = 0;
      for (int32_t v = 1; v < V; ++v)
        if (row[v] > row[best])
          best = v;
      maxL = row[best];
      for (int32_t v = 0; v < V; ++v)
        sum += std::exp(row[v] - maxL);
      std::printf("%zu\ttoken %d\tnext %d\tlogp %.5f\n", i, toks[i], best,
                  -std::log(sum));
    }
  }
  gemmac_session_free(s);
  gemmac_model_close(m);
  return 0;
}

int writePiece(const char *piece, size_t len, void *) {
  std::fwrite(piece, 1, len, stdout);
  std::fflush(stdout);
  return 0;
}

int cmdRun(const Args &a) {
  if (a.prompt.empty() && a.positional.empty())
    die("run needs a prompt (-p TEXT)");
  std::string prompt = a.prompt.empty() ? a.positional[0] : a.prompt;
  gemmac_model *m = openModel(a);
  gemmac_session *s = gemmac_session_new(m, static_cast<int32_t>(a.ctx > 0 ? a.ctx : 4096));
  if (!s)
    die(gemmac_last_error());
  std::fwrite(prompt.data(), 1, prompt.size(), stdout);
  int32_t n = gemmac_generate(s, prompt.c_str(), static_cast<int32_t>(a.nPredict),
                              &a.sampler, writePiece, nullptr);
  std::printf("\n");
  if (n < 0)
    die(gemmac_last_error());
  gemmac_session_free(s);
  gemmac_model_close(m);
  return 0;
}

int cmdTokenize(const Args &a) {
  if (a.positional.empty() && a.prompt.empty())
    die("tokenize needs TEXT");
  std::string text = a.prompt.empty() ? a.positional[0] : a.prompt;
  gemmac_model *m = openModel(a);
  std::vector<gemmac_token> ids(text.size() + 8);
  int32_t n = gemmac_tokenize(m, text.data(), text.size(), 1, 1, ids.data(),
                              static_cast<int32_t>(ids.size()));
  if (n < 0) {
    ids.resize(-n);
    n = gemmac_tokenize(m, text.data(), text.size(), 1, 1, ids.data(), -n);
  }
  for (int32_t i = 0; i < n; ++i)
    std::printf(i ? ",%d" : "%d", ids[i]);
  std::printf("\n");
  gemmac_model_close(m);
  return 0;
}

double seconds() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

gemmac_token argmax(const std::vector<float> &logits) {
  return static_cast<gemmac_token>(
      std::max_element(logits.begin(), logits.end()) - logits.begin());
}

/// Prefill: one prompt of `p` tokens evaluated as a batch (in chunks of the
/// model's batch size). Decode: `n` tokens, each the argmax of the last
/// logits, one evaluation per token. Token ids are a fixed pseudo-random
/// sequence: speed does not depend on them.
int cmdBench(const Args &a) {
  const long p = a.prompt.empty() ? 512 : toLong("-p", a.prompt);
  const long n = a.nPredict;
  if (p < 1 || n < 1 || a.reps < 1)
    die("bench needs -p >= 1, -n >= 1 and --reps >= 1");
  gemmac_model *m = openModel(a);
  const int32_t V = gemmac_model_vocab_size(m);
  const long ctx = std::max(a.ctx, p + n + 1);
  gemmac_session *s = gemmac_session_new(m, static_cast<int32_t>(ctx));
  if (!s)
    die(gemmac_last_error());
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

} // namespace

int main(int argc, char **argv) {
  Args a = parse(argc, argv);
  if (a.command == "run")
    return cmdRun(a);
  if (a.command == "eval")
    return cmdEval(a);
  if (a.command == "tokenize")
    return cmdTokenize(a);
  if (a.command == "bench")
    return cmdBench(a);
  die("unknown command '" + a.command + "' (see --help)");
}
