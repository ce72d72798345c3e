// libFuzzer harness: `OUT perplexity --kl-divergence` reading a hostile
// log-probability file (gemmac's or llama-perplexity's layout). The reader
// must refuse or read every input without crashing, hanging or reading
// past what it checked.
#include "runtime/cli/logprob_file.h"

#include <cstdio>
#include <string>
#include <unistd.h>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const std::string path = "/tmp/gemmac-logprob-fuzz-" + std::to_string(getpid());
  FILE *f = std::fopen(path.c_str(), "wb");
  if (!f)
    return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  gemmac::cli::LogProbReader reader;
  std::string error;
  if (reader.open(path, 16, error)) {
    std::vector<float> rows;
    for (uint32_t c = 0; c < reader.nChunk() && c < 4; ++c)
      if (!reader.readChunk(c, rows, error))
        break;
  }
  return 0;
}
