// The command line of every compiled program: `OUT COMMAND [options]`
// (`OUT --help` lists the commands, `OUT COMMAND --help` their options).

#include "runtime/cli/commands.h"

using namespace gemmac::cli;

int main(int argc, char **argv) {
  Options o = parseOptions(argc, argv);
  if (o.command == "run")
    return cmdRun(o);
  if (o.command == "chat")
    return cmdChat(o);
  if (o.command == "serve")
    return cmdServe(o);
  if (o.command == "eval")
    return cmdEval(o);
  if (o.command == "tokenize")
    return cmdTokenize(o);
  if (o.command == "info")
    return cmdInfo(o);
  if (o.command == "bench")
    return cmdBench(o);
  if (o.command == "perplexity")
    return cmdPerplexity(o);
  die("unknown command '" + o.command + "' (see --help)");
}
