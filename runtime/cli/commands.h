// The commands of a compiled program, one function each.
#pragma once

#include "runtime/cli/options.h"

namespace gemmac::cli {
int cmdRun(const Options &o);
int cmdChat(const Options &o);
int cmdServe(const Options &o);
int cmdEval(const Options &o);
int cmdTokenize(const Options &o);
int cmdInfo(const Options &o);
int cmdBench(const Options &o);
int cmdPerplexity(const Options &o);
} // namespace gemmac::cli
