// The command line of a compiled program: one table of flags, each valid for
// some commands, with llama.cpp's spellings beside gemmac's own.
#pragma once

#include "runtime/include/gemmac.h"

#include <cstdint>
#include <string>
#include <vector>

namespace gemmac::cli {

struct Options {
  std::string command;
  std::vector<std::string> positional;
  std::string prompt, promptFile, tokens, logitsPath, weights, system;
  std::string klBase; // perplexity: the log-prob file to write, or to compare with
  long nPredict = -2;            // -2: the command's default; -1: no limit
  long ctx = 0, threads = 0, batch = 0, reps = 1, device = 0, chunks = -1;
  bool json = false, mmap = false, ids = false, noDisplayPrompt = false;
  bool verbose = false, seedGiven = false, klCompare = false;
  int reasoning = -1; // chat: -1 default (off), 0 off, 1 on
  // serve
  std::string host = "127.0.0.1", apiKey, alias;
  /// -np: the slots of serve (one value), the sequence counts of bench.
  std::vector<long> parallel;
  long port = 8080, slots = 1, queue = 16, timeout = 600, maxBody = 8 << 20;
  gemmac_sampler_params sampler = gemmac_sampler_defaults();
  // Speculative decoding (run): tokens drafted per step (0: off), the
  // shortest draft verified, adaptive length, the drafter.
  long draftMax = 0, draftMin = 0;
  long draftSteps = 0; // eval --draft-steps K: the compiled drafter's steps
  bool draftAdaptive = false;
  bool draftScript = false; // serve: requests may script their drafts
  std::string specType; // ngram, mtp; "": mtp when the program has a drafter
  // bench --draft K,...: draft lengths measured with a scripted drafter that
  // accepts `acceptMean` tokens per step on average (bench --accept).
  std::vector<long> draftLengths;
  float acceptMean = 3.5f; // of acceptOf drafted tokens (bench --accept A/K)
  long acceptOf = 6;
  unsigned samplingGiven = 0; // kGiven* bits: sampling flags the user set
};

/// The sampling flags that override a model's stated defaults.
enum : unsigned {
  kGivenTemperature = 1u << 0,
  kGivenTopK = 1u << 1,
  kGivenTopP = 1u << 2,
  kGivenMinP = 1u << 3,
  kGivenRepeatPenalty = 1u << 4,
  kGivenPenaltyLastN = 1u << 5,
};

/// The sampler of run/chat/serve: the model's stated defaults (its
/// checkpoint's generation_config) under the flags the user gave, as
/// llama.cpp applies a GGUF's general.sampling.*.
gemmac_sampler_params samplerFor(const Options &o, const gemmac_model *m);

/// run/chat --draft-max: the speculative decoding settings, drafting with
/// --spec-type's drafter for session `s` (the compiled MTP drafter when the
/// program has one, else n-gram lookup).
gemmac_speculative speculativeFor(const Options &o, gemmac_session *s);
/// The drafter speculativeFor picks: "mtp" or "ngram".
std::string specTypeFor(const Options &o, const gemmac_model *m);

/// Parses argv; prints help and exits for -h/--help and --version; exits
/// with a message naming the flag for anything invalid.
Options parseOptions(int argc, char **argv);

/// The prompt of run/perplexity: -p TEXT, -f FILE ("-": stdin), the first
/// positional argument, or stdin when it is not a terminal. Empty if none.
std::string readPrompt(const Options &o);

/// Exit status of a usage error (a bad flag, value or argument); failures
/// while running (a missing file, out of memory) exit with 1.
constexpr int kUsageError = 2;

/// "error: MSG" on stderr, exit 1.
[[noreturn]] void die(const std::string &msg);
/// "error: MSG" on stderr, exit kUsageError.
[[noreturn]] void usageError(const std::string &msg);

/// The integer `v` of `flag`: digits only (an optional leading '-'), the
/// whole string, within [lo, hi]; a usage error naming the flag, the value
/// and the range otherwise.
long parseInteger(const std::string &flag, const std::string &v, long lo, long hi);

/// Opens the model with the common options; dies with the API's error.
gemmac_model *openModel(const Options &o);

/// A session of `ctx` tokens; warns when a `given` (--ctx) context is beyond
/// the model's trained one; dies with the API's error (naming --ctx) when it
/// cannot be made.
gemmac_session *newSession(gemmac_model *m, long ctx, bool given);

double seconds();

} // namespace gemmac::cli
