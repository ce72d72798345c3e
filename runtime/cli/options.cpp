// Flags of a compiled program. Each flag lists the commands it applies to;
// `OUT COMMAND --help` prints that command's flags from the same table, so
// the help and the parser cannot disagree.

#include "runtime/cli/options.h"
#include "abi/version.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <unistd.h>

namespace gemmac::cli {
namespace {

enum Command : unsigned {
  kRun = 1, kChat = 2, kServe = 4, kEval = 8, kTokenize = 16,
  kPerplexity = 32, kBench = 64, kInfo = 128,
  kModel = kRun | kChat | kServe | kEval | kTokenize | kPerplexity | kBench | kInfo,
  kCompute = kRun | kChat | kServe | kEval | kPerplexity | kBench,
  kSampling = kRun | kChat | kServe,
};

struct CommandInfo {
  const char *name;
  unsigned bit;
  const char *usage;
};

const CommandInfo kCommands[] = {
    {"run", kRun, "run [-p TEXT | -f FILE] [-n N]   generate text after a prompt"},
    {"chat", kChat, "chat [--system TEXT]            talk with the model (chat template)"},
    {"serve", kServe, "serve [--port 8080] [-np N]       an OpenAI-compatible HTTP server"},
    {"eval", kEval, "eval --tokens LIST              evaluate token ids, print or save logits"},
    {"tokenize", kTokenize, "tokenize TEXT                   token ids and pieces of TEXT"},
    {"perplexity", kPerplexity, "perplexity -f TEXT [-c 512]     perplexity of a text, KL divergence"},
    {"bench", kBench, "bench [-p 512] [-n 128]         prefill and decode speed"},
    {"info", kInfo, "info                            the model's configuration and memory"},
};

[[noreturn]] void usageExit(const char *prog, int code);

/// A range bound as a person writes it: "0", "0.01", "100".
std::string fmtNumber(double x) {
  char b[32];
  std::snprintf(b, sizeof b, "%g", x);
  return b;
}

float toFloat(const std::string &flag, const std::string &v, float lo, float hi) {
  char *end = nullptr;
  errno = 0;
  double x = std::strtod(v.c_str(), &end);
  // Range first: "1e99" is out of range, not "not a number".
  if (end == v.c_str() || *end || std::isnan(x) ||
      (errno && errno != ERANGE))
    usageError(flag + " expects a number between " + fmtNumber(lo) + " and " +
               fmtNumber(hi) + ", got '" + v + "'");
  // ERANGE with a tiny result is an underflow ("1e-400"): that is ~0, not
  // out of range.
  const bool overflow = errno == ERANGE && std::fabs(x) > 1;
  if (overflow || x < lo || x > hi)
    usageError(flag + " must be between " + fmtNumber(lo) + " and " +
               fmtNumber(hi) + ", got " + v);
  return static_cast<float>(x);
}

constexpr long kMaxInt = 0x7fffffff;

using Setter = void (*)(Options &, const std::string &flag, const std::string &v);

struct Flag {
  const char *names; // "-t, --threads": every spelling, comma separated
  const char *arg;   // null: a switch
  unsigned commands;
  const char *help;
  Setter set;
};

// clang-format off
const Flag kFlags[] = {
  {"-p, --prompt", "TEXT", kRun | kTokenize | kBench, "the prompt (bench: its length in tokens, default 512)",
   [](Options &o, const std::string &, const std::string &v) { o.prompt = v; }},
  {"-f, --file", "FILE", kRun | kTokenize | kPerplexity, "read the prompt or text from FILE (- for stdin)",
   [](Options &o, const std::string &, const std::string &v) { o.promptFile = v; }},
  {"-n, --n-predict", "N", kRun | kChat | kBench, "tokens to generate (-1: until an end token or the context is full)",
   [](Options &o, const std::string &f, const std::string &v) { o.nPredict = parseInteger(f, v, -1, kMaxInt); }},
  {"--no-display-prompt", nullptr, kRun, "do not echo the prompt",
   [](Options &o, const std::string &, const std::string &) { o.noDisplayPrompt = true; }},
  {"--system", "TEXT", kChat, "the system message",
   [](Options &o, const std::string &, const std::string &v) { o.system = v; }},
  {"--reasoning", "on|off", kChat, "let the model think first (default off); thoughts are shown dimmed",
   [](Options &o, const std::string &f, const std::string &v) {
     if (v != "on" && v != "off") usageError(f + " expects on or off, got '" + v + "'");
     o.reasoning = v == "on"; }},
  {"--temp", "T", kSampling, "sampling temperature (default: the model's, else 1.0; 0 = greedy)",
   [](Options &o, const std::string &f, const std::string &v) { o.sampler.temperature = toFloat(f, v, 0, 100); o.samplingGiven |= kGivenTemperature; }},
  {"--top-k", "K", kSampling, "keep the K most likely tokens (default: the model's, else 64; 0 = off)",
   [](Options &o, const std::string &f, const std::string &v) { o.sampler.top_k = parseInteger(f, v, 0, kMaxInt); o.samplingGiven |= kGivenTopK; }},
  {"--top-p", "P", kSampling, "nucleus sampling mass (default: the model's, else 0.95; 1 = off)",
   [](Options &o, const std::string &f, const std::string &v) { o.sampler.top_p = toFloat(f, v, 0, 1); o.samplingGiven |= kGivenTopP; }},
  {"--min-p", "M", kSampling, "drop tokens below M x the top probability (default 0)",
   [](Options &o, const std::string &f, const std::string &v) { o.sampler.min_p = toFloat(f, v, 0, 1); o.samplingGiven |= kGivenMinP; }},
  {"--repeat-penalty", "R", kSampling, "divide the logits of recent tokens by R (default 1 = off)",
   [](Options &o, const std::string &f, const std::string &v) { o.sampler.repeat_penalty = toFloat(f, v, 0.01f, 100); o.samplingGiven |= kGivenRepeatPenalty; }},
  {"--repeat-last-n", "N", kSampling, "how many recent tokens the penalties look at (default 64; -1 = context)",
   [](Options &o, const std::string &f, const std::string &v) { o.sampler.penalty_last_n = parseInteger(f, v, -1, kMaxInt); o.samplingGiven |= kGivenPenaltyLastN; }},
  {"--presence-penalty", "P", kSampling, "subtract P from the logits of tokens seen (default 0)",
   [](Options &o, const std::string &f, const std::string &v) { o.sampler.presence_penalty = toFloat(f, v, -100, 100); }},
  {"--frequency-penalty", "F", kSampling, "subtract F x count from the logits of tokens seen (default 0)",
   [](Options &o, const std::string &f, const std::string &v) { o.sampler.frequency_penalty = toFloat(f, v, -100, 100); }},
  {"-s, --seed", "S", kSampling, "random seed (default: a random one, printed; -1 = random)",
   [](Options &o, const std::string &f, const std::string &v) {
     if (v == "-1") return;
     char *end = nullptr;
     errno = 0;
     unsigned long long x = std::strtoull(v.c_str(), &end, 10);
     if (errno || end == v.c_str() || *end || !(v[0] >= '0' && v[0] <= '9'))
       usageError(f + " expects an integer between 0 and 18446744073709551615, or -1 "
                  "(random), got '" + v + "'");
     o.sampler.seed = x;
     o.seedGiven = true; }},
  {"--draft-max", "N", kRun | kChat | kServe,
   "speculative decoding: draft up to N tokens per step and verify them in one batch (default 0 "
   "= off; more than the program's compile-model --draft-max + 1 is cut to that; serve: per "
   "slot, in the shared steps)",
   [](Options &o, const std::string &f, const std::string &v) { o.draftMax = parseInteger(f, v, 0, 64); }},
  {"--draft-min", "N", kRun | kChat | kServe, "verify no draft shorter than N tokens (default 0)",
   [](Options &o, const std::string &f, const std::string &v) { o.draftMin = parseInteger(f, v, 0, 64); }},
  {"--draft-adaptive", nullptr, kRun | kChat | kServe, "draft 2 more after a fully accepted draft, 1 fewer after a rejection",
   [](Options &o, const std::string &, const std::string &) { o.draftAdaptive = true; }},
  {"--draft-script", nullptr, kServe,
   "benchmarks: a request may carry \"speculative.script\": {\"tokens\": its greedy continuation, "
   "\"accept\": p}; after the drafter's own k steps (their cost paid), each step drafts the "
   "continuation, each token right with probability p until the first wrong one",
   [](Options &o, const std::string &, const std::string &) { o.draftScript = true; }},
  {"--spec-type", "TYPE", kRun | kChat | kServe, "the drafter: mtp (the MTP drafter compiled in with compile-model "
   "--draft; the default when there is one) or ngram (prompt lookup: what followed the last tokens' latest "
   "earlier occurrence; the default otherwise)",
   [](Options &o, const std::string &f, const std::string &v) {
     if (v != "ngram" && v != "mtp" && v != "draft-mtp")
       usageError(f + " expects mtp or ngram, got '" + v + "'");
     o.specType = v == "draft-mtp" ? "mtp" : v; }},
  {"--draft", "K,...", kBench,
   "speculative decoding at each draft length K (e.g. 1,2,3,4,6): a scripted drafter proposes "
   "the model's own greedy continuation with errors at --accept's rate; tokens/s against plain "
   "decoding, and a verify step's cost",
   [](Options &o, const std::string &f, const std::string &v) {
     o.draftLengths.clear();
     for (size_t at = 0; at <= v.size();) {
       const size_t comma = std::min(v.find(',', at), v.size());
       o.draftLengths.push_back(parseInteger(f, v.substr(at, comma - at), 1, 64));
       at = comma + 1;
     } }},
  {"--accept", "A[/K]", kBench,
   "bench --draft: the drafter's acceptance, A tokens accepted of K drafted on average (default "
   "3.5/6; each draft token is right with the same probability, until the first wrong one)",
   [](Options &o, const std::string &f, const std::string &v) {
     const size_t slash = v.find('/');
     o.acceptOf = slash == std::string::npos ? 6 : parseInteger(f, v.substr(slash + 1), 1, 64);
     o.acceptMean = toFloat(f, v.substr(0, slash), 0, static_cast<float>(o.acceptOf)); }},
  {"--host", "ADDR", kServe, "address to listen on (default 127.0.0.1)",
   [](Options &o, const std::string &, const std::string &v) { o.host = v; }},
  {"--port", "N", kServe, "port to listen on (default 8080; 0 = any free port, printed)",
   [](Options &o, const std::string &f, const std::string &v) { o.port = parseInteger(f, v, 0, 65535); }},
  {"-np, --parallel", "N", kServe | kBench,
   "serve: slots, requests generated at once, each with its own KV cache, batched into one "
   "forward step (default 1); bench: comma-separated sequence counts decoded together "
   "(e.g. 1,2,4,8,16,32)",
   [](Options &o, const std::string &f, const std::string &v) {
     o.parallel.clear();
     for (size_t at = 0; at <= v.size();) {
       const size_t comma = std::min(v.find(',', at), v.size());
       o.parallel.push_back(parseInteger(f, v.substr(at, comma - at), 1, 256));
       at = comma + 1;
     }
     o.slots = o.parallel.front(); }},
  {"--queue", "N", kServe, "requests that may wait for a slot; more get 503 (default 16)",
   [](Options &o, const std::string &f, const std::string &v) { o.queue = parseInteger(f, v, 0, 4096); }},
  {"--api-key", "KEY", kServe, "require Authorization: Bearer KEY",
   [](Options &o, const std::string &, const std::string &v) { o.apiKey = v; }},
  {"--timeout", "S", kServe, "longest a request may run (default 600); socket waits: min(S, 30)",
   [](Options &o, const std::string &f, const std::string &v) { o.timeout = parseInteger(f, v, 1, 86400); }},
  {"--max-body", "BYTES", kServe, "largest request body (default 8388608)",
   [](Options &o, const std::string &f, const std::string &v) { o.maxBody = parseInteger(f, v, 1024, 1L << 30); }},
  {"-a, --alias", "NAME", kServe, "the model's name in /v1/models (default: the checkpoint's file name)",
   [](Options &o, const std::string &, const std::string &v) { o.alias = v; }},
  {"--tokens", "LIST", kEval, "comma-separated token ids",
   [](Options &o, const std::string &, const std::string &v) { o.tokens = v; }},
  {"--logits", "FILE", kEval, "write float32 logits, one row of vocab per token",
   [](Options &o, const std::string &, const std::string &v) { o.logitsPath = v; }},
  {"--draft-steps", "K", kEval,
   "programs with an MTP drafter (compile-model --draft): evaluate all tokens but the last, then "
   "run K draft steps from the last; prints the drafted tokens, --logits gets the K steps' logits",
   [](Options &o, const std::string &f, const std::string &v) { o.draftSteps = parseInteger(f, v, 1, 64); }},
  {"-b, --batch", "N", kEval | kPerplexity | kServe,
   "tokens per evaluation call (default: all at once); serve: rows per forward step, every "
   "generating slot's token then prompt chunks up to N (default: the model's batch)",
   [](Options &o, const std::string &f, const std::string &v) { o.batch = parseInteger(f, v, 1, kMaxInt); }},
  {"--ids", nullptr, kTokenize, "print only the ids, comma separated",
   [](Options &o, const std::string &, const std::string &) { o.ids = true; }},
  {"--chunks", "N", kPerplexity, "score at most N chunks (default: all)",
   [](Options &o, const std::string &f, const std::string &v) { o.chunks = parseInteger(f, v, 1, kMaxInt); }},
  {"--kl-divergence-base", "FILE", kPerplexity, "save this program's log-probs to FILE",
   [](Options &o, const std::string &, const std::string &v) { o.klBase = v; }},
  {"--kl-divergence", nullptr, kPerplexity, "compare with the log-probs in --kl-divergence-base FILE",
   [](Options &o, const std::string &, const std::string &) { o.klCompare = true; }},
  {"--reps", "R", kBench, "repeat R times, report medians (default 1)",
   [](Options &o, const std::string &f, const std::string &v) { o.reps = parseInteger(f, v, 1, 1000000); }},
  {"--json", nullptr, kBench | kInfo, "print one JSON object",
   [](Options &o, const std::string &, const std::string &) { o.json = true; }},
  {"-c, --ctx, --ctx-size", "N", kCompute, "context length of the session (default 4096; perplexity: chunk size, 512)",
   [](Options &o, const std::string &f, const std::string &v) { o.ctx = parseInteger(f, v, 1, kMaxInt); }},
  {"-t, --threads", "N", kModel, "worker threads (default: the CPUs this process may run on; more than 4 per CPU are cut to 4 per CPU)",
   [](Options &o, const std::string &f, const std::string &v) { o.threads = parseInteger(f, v, 0, GEMMAC_MAX_THREADS); }},
  {"--device", "N", kModel, "GPU programs: the CUDA or Vulkan device (default 0)",
   [](Options &o, const std::string &f, const std::string &v) { o.device = parseInteger(f, v, 0, 1024); }},
  {"--weights", "PATH", kModel, "weight file (default: this program's path + .weights)",
   [](Options &o, const std::string &, const std::string &v) { o.weights = v; }},
  {"--mmap", nullptr, kModel, "read weights through the file mapping, never copied into huge pages",
   [](Options &o, const std::string &, const std::string &) { o.mmap = true; }},
  {"-v, --verbose", nullptr, kModel, "say more on stderr (run: the generated token ids; chat: tokens per turn)",
   [](Options &o, const std::string &, const std::string &) { o.verbose = true; }},
};
// clang-format on

bool flagHasName(const Flag &f, const std::string &s) {
  const char *p = f.names;
  while (*p) {
    const char *end = std::strchr(p, ',');
    size_t n = end ? static_cast<size_t>(end - p) : std::strlen(p);
    if (s.size() == n && s.compare(0, n, p, n) == 0)
      return true;
    if (!end)
      break;
    p = end + 2;
  }
  return false;
}

const CommandInfo *findCommand(const std::string &name) {
  for (const CommandInfo &c : kCommands)
    if (name == c.name)
      return &c;
  return nullptr;
}

/// The flags of `commands`; with `common`, only those every command takes.
void printFlags(unsigned commands, bool common) {
  for (const Flag &f : kFlags) {
    if (!(f.commands & commands) || (common && f.commands != kModel))
      continue;
    std::string left = std::string(f.names) + (f.arg ? std::string(" ") + f.arg : "");
    std::printf("  %-32s %s\n", left.c_str(), f.help);
  }
}

void commandHelp(const char *prog, const CommandInfo &c) {
  std::printf("usage: %s %s\n\nOptions:\n", prog, c.usage);
  printFlags(c.bit, false);
  std::printf("  %-32s %s\n", "-h, --help", "this help");
  std::exit(0);
}

void usageExit(const char *prog, int code) {
  std::printf("usage: %s COMMAND [options]   (%s COMMAND --help for its options)\n\n"
              "A Gemma 4 model compiled by gemmac %s. Commands:\n",
              prog, prog, abi::kGemmacVersion);
  for (const CommandInfo &c : kCommands)
    std::printf("  %s\n", c.usage);
  std::printf("\nOptions of every command:\n");
  printFlags(kModel, true);
  std::printf("  %-32s %s\n  %-32s %s\n", "-h, --help", "this help", "--version",
              "print gemmac's version");
  std::exit(code);
}

std::string joined(const std::vector<std::string> &words) {
  std::string s;
  for (const std::string &w : words)
    s += (s.empty() ? "" : " ") + w;
  return s;
}

} // namespace

[[noreturn]] void die(const std::string &msg) {
  std::fprintf(stderr, "error: %s\n", msg.c_str());
  std::exit(1);
}

[[noreturn]] void usageError(const std::string &msg) {
  std::fprintf(stderr, "error: %s\n", msg.c_str());
  std::exit(kUsageError);
}

long parseInteger(const std::string &flag, const std::string &v, long lo, long hi) {
  const std::string range = "between " + std::to_string(lo) + " and " + std::to_string(hi);
  char *end = nullptr;
  errno = 0;
  // strtol skips leading blanks and takes "+5": a value is digits only.
  const bool digits = !v.empty() && (std::isdigit(static_cast<unsigned char>(v[0])) ||
                                     (v[0] == '-' && v.size() > 1 &&
                                      std::isdigit(static_cast<unsigned char>(v[1]))));
  long x = digits ? std::strtol(v.c_str(), &end, 10) : 0;
  if (!digits || *end)
    usageError(flag + " expects an integer " + range + ", got '" + v + "'");
  if (errno == ERANGE || x < lo || x > hi)
    usageError(flag + " must be " + range + ", got " + v);
  return x;
}

Options parseOptions(int argc, char **argv) {
  Options o;
  const CommandInfo *command = nullptr;
  bool help = false;
  struct Given {
    const Flag *flag;
    std::string name, value;
  };
  std::vector<Given> given;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    if (s == "-h" || s == "--help") {
      help = true;
      continue;
    }
    if (s == "--version") {
      std::printf("gemmac %s\n", abi::kGemmacVersion);
      std::exit(0);
    }
    // "-1" is a value (of -n or --seed), never a flag.
    if (s.size() > 1 && s[0] == '-' && !(s[1] >= '0' && s[1] <= '9')) {
      std::string name = s, value;
      size_t eq = s.find('=');
      bool inlineValue = s.rfind("--", 0) == 0 && eq != std::string::npos;
      if (inlineValue) {
        name = s.substr(0, eq);
        value = s.substr(eq + 1);
      }
      const Flag *flag = nullptr;
      for (const Flag &f : kFlags)
        if (flagHasName(f, name))
          flag = &f;
      if (!flag)
        usageError("unknown option '" + name + "' (see --help)");
      if (flag->arg && !inlineValue) {
        if (i + 1 >= argc)
          usageError(name + " needs a value (" + flag->arg + ")");
        value = argv[++i];
      } else if (!flag->arg && inlineValue) {
        usageError(name + " takes no value");
      }
      given.push_back({flag, name, value});
      // Applied after the command is known, so that the error for a flag of
      // another command names the command.
      continue;
    }
    if (!command) {
      command = findCommand(s);
      if (!command)
        usageError("unknown command '" + s + "' (see --help)");
      o.command = s;
    } else {
      o.positional.push_back(s);
    }
  }
  if (!command)
    usageExit(argv[0], help ? 0 : 2);
  if (help)
    commandHelp(argv[0], *command);
  for (auto &[flag, name, value] : given) {
    if (!(flag->commands & command->bit))
      usageError(name + " is not an option of '" + o.command + "' (see " +
          o.command + " --help)");
    flag->set(o, name, value);
  }
  // run and tokenize take their text as one argument (unless -p or -f gives
  // it); nothing else takes any.
  const bool textArgument = (command->bit & (kRun | kTokenize)) && o.prompt.empty() &&
                            o.promptFile.empty();
  if (textArgument && o.positional.size() > 1)
    usageError("'" + o.command + "' takes one TEXT argument, got " +
               std::to_string(o.positional.size()) + " (quote the text as one argument: " +
               o.command + " \"" + joined(o.positional) + "\")");
  if (!textArgument && !o.positional.empty())
    usageError("'" + o.command + "' takes no argument" +
               (command->bit & (kRun | kTokenize) ? " besides -p or -f" : "") + ", got '" +
               o.positional[0] + "' (see " + o.command + " --help)");
  if (o.draftMin > o.draftMax && o.draftMax > 0)
    usageError("--draft-min " + std::to_string(o.draftMin) + " is more than --draft-max " +
               std::to_string(o.draftMax));
  if (!o.seedGiven) {
    // A fresh seed each run, printed by the commands that sample, so that a
    // run can be repeated with --seed.
    uint64_t seed = 0;
    int fd = open("/dev/urandom", O_RDONLY);
    if (fd < 0 || read(fd, &seed, sizeof seed) != sizeof seed)
      seed = static_cast<uint64_t>(std::time(nullptr)) ^ (static_cast<uint64_t>(getpid()) << 32);
    if (fd >= 0)
      close(fd);
    o.sampler.seed = seed >> 1; // printable as a non-negative int64
  }
  return o;
}

std::string specTypeFor(const Options &o, const gemmac_model *m) {
  if (!o.specType.empty())
    return o.specType;
  return gemmac_model_number(m, "drafter") == 1 ? "mtp" : "ngram";
}

gemmac_speculative speculativeFor(const Options &o, gemmac_session *s) {
  gemmac_speculative spec = gemmac_speculative_defaults(); // ngram
  if (specTypeFor(o, gemmac_session_model(s)) == "mtp") {
    if (gemmac_model_number(gemmac_session_model(s), "drafter") != 1 && o.draftMax > 0)
      die("--spec-type mtp: this program has no MTP drafter (compile-model --draft ASSISTANT.gguf)");
    spec.draft = gemmac_draft_mtp;
    spec.draft_user = s;
  }
  spec.draft_max = static_cast<int32_t>(o.draftMax);
  spec.draft_min = static_cast<int32_t>(o.draftMin);
  spec.adaptive = o.draftAdaptive;
  return spec;
}

std::string readPrompt(const Options &o) {
  if (!o.prompt.empty())
    return o.prompt;
  auto readAll = [](FILE *f, const std::string &name) {
    std::string text;
    char buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0)
      text.append(buf, n);
    if (std::ferror(f))
      die(name + ": read failed: " + std::strerror(errno));
    return text;
  };
  if (!o.promptFile.empty()) {
    if (o.promptFile == "-")
      return readAll(stdin, "stdin");
    FILE *f = std::fopen(o.promptFile.c_str(), "rb");
    if (!f)
      die(o.promptFile + ": " + std::strerror(errno));
    std::string text = readAll(f, o.promptFile);
    std::fclose(f);
    return text;
  }
  if (!o.positional.empty())
    return o.positional[0];
  if (!isatty(0))
    return readAll(stdin, "stdin");
  return "";
}

gemmac_model *openModel(const Options &o) {
  gemmac_model_options mo = gemmac_model_default_options();
  mo.n_threads = static_cast<int>(o.threads);
  mo.weights_in_memory = o.mmap ? 0 : -1;
  mo.device = static_cast<int>(o.device);
  gemmac_model *m =
      gemmac_model_open_with(o.weights.empty() ? nullptr : o.weights.c_str(), &mo);
  if (!m)
    die(gemmac_last_error());
  if (o.threads > gemmac_model_threads(m))
    std::fprintf(stderr, "warning: --threads %ld is more than 4 per CPU this process may use; "
                 "using %d\n", o.threads, gemmac_model_threads(m));
  return m;
}

gemmac_session *newSession(gemmac_model *m, long ctx, bool given) {
  if (ctx > 0x7fffffff)
    usageError("--ctx: a context of " + std::to_string(ctx) +
               " tokens is more than the largest, 2147483647");
  const long trained = gemmac_model_context_length(m);
  if (given && trained > 0 && ctx > trained)
    std::fprintf(stderr,
                 "warning: --ctx %ld is beyond the model's trained context of %ld "
                 "tokens; positions past %ld were never trained\n",
                 ctx, trained, trained);
  gemmac_session *s = gemmac_session_new(m, static_cast<int32_t>(ctx));
  if (!s)
    die("--ctx " + std::to_string(ctx) + ": " + gemmac_last_error());
  return s;
}

double seconds() {
  timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

} // namespace gemmac::cli

gemmac_sampler_params gemmac::cli::samplerFor(const Options &o,
                                              const gemmac_model *m) {
  gemmac_sampler_params p = gemmac_model_sampler_defaults(m);
  const gemmac_sampler_params &u = o.sampler;
  if (o.samplingGiven & kGivenTemperature) p.temperature = u.temperature;
  if (o.samplingGiven & kGivenTopK) p.top_k = u.top_k;
  if (o.samplingGiven & kGivenTopP) p.top_p = u.top_p;
  if (o.samplingGiven & kGivenMinP) p.min_p = u.min_p;
  if (o.samplingGiven & kGivenRepeatPenalty) p.repeat_penalty = u.repeat_penalty;
  if (o.samplingGiven & kGivenPenaltyLastN) p.penalty_last_n = u.penalty_last_n;
  // Neither a model nor llama.cpp states these: the flags' values.
  p.seed = u.seed;
  p.presence_penalty = u.presence_penalty;
  p.frequency_penalty = u.frequency_penalty;
  return p;
}
