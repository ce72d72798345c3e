// libFuzzer harness: the weight file a compiled program maps at start
// (abi/artifact_format.h), through gemmac_model_open_program: header, size and
// checksum, sections, the tokenizer section, then the model's strings and
// tokenizer in use. The first byte picks how the rest is used:
//   even: as it is (the integrity checks must refuse damage cleanly);
//   odd:  re-sealed (size and checksum rewritten to match), so that damage
//         reaches the parsers behind the checks.
// The model's program table (which compile-model generates) is made here,
// its facts taken from the file's own header so that its fingerprint check
// passes; it has no code (no session is made).
#include "abi/artifact_format.h"
#include "abi/model_meta.h"
#include "abi/program_table.h"
#include "abi/weights_checksum.h"
#include "runtime/include/gemmac.h"

#include <cstdio>
#include <cstring>
#include <string>
#include <unistd.h>
#include <vector>

namespace {

int64_t gemmac_model_meta[gemmac::abi::kMetaCount];
int64_t noSize(int64_t) { return 0; }
void noForward(gemmac_rt *, const uint8_t *, uint8_t *, uint8_t *,
               const int32_t *, float *, float *, int64_t, const int64_t *,
               const int64_t *, int64_t, const int64_t *, int64_t, int64_t,
               int64_t, int64_t) {}

gemmac_program table() {
  gemmac_program p{};
  p.magic = GEMMAC_PROGRAM_MAGIC;
  p.abi_version = GEMMAC_PROGRAM_ABI;
  p.table_bytes = sizeof p;
  p.compiler_version = "fuzz";
  p.name = "fuzz";
  p.meta = gemmac_model_meta;
  p.forward = noForward;
  p.kv_bytes = noSize;
  p.arena_bytes = noSize;
  return p;
}

using gemmac::artifact::ArtifactHeader;

void describeModel(const ArtifactHeader &h, const std::vector<uint8_t> &file) {
  namespace abi = gemmac::abi;
  std::memset(gemmac_model_meta, 0, sizeof gemmac_model_meta);
  gemmac_model_meta[abi::kMetaAbiVersion] = abi::kAbiVersion;
  gemmac_model_meta[abi::kMetaFingerprint] = static_cast<int64_t>(h.fingerprint);
  gemmac_model_meta[abi::kMetaWeightsBytes] = static_cast<int64_t>(h.weightsBytes);
  gemmac_model_meta[abi::kMetaContext] = 512;
  gemmac_model_meta[abi::kMetaMaxBatch] = 64;
  // n_tokens follows the section's magic and version.
  uint32_t nTokens = 0;
  if (h.tokenizerOffset <= file.size() && file.size() - h.tokenizerOffset >= 12)
    std::memcpy(&nTokens, file.data() + h.tokenizerOffset + 8, 4);
  gemmac_model_meta[abi::kMetaVocab] = nTokens;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1 + sizeof(ArtifactHeader))
    return 0;
  std::vector<uint8_t> file(data + 1, data + size);
  if (file.size() < gemmac::artifact::kHeaderBytes)
    file.resize(gemmac::artifact::kHeaderBytes);
  ArtifactHeader h;
  std::memcpy(&h, file.data(), sizeof h);
  if (data[0] & 1) {
    h.fileBytes = file.size();
    h.checksum = 0;
    std::memcpy(file.data(), &h, sizeof h);
    std::vector<uint8_t> scratch(gemmac::artifact::kSamples *
                                 gemmac::artifact::kSampleBytes);
    h.checksum = gemmac::artifact::weightsChecksumOfFile(file.data(), file.size(),
                                                         scratch.data());
    std::memcpy(file.data(), &h, sizeof h);
  }
  describeModel(h, file);

  static const std::string path =
      "/tmp/gemmac-weights-fuzz-" + std::to_string(getpid()) + ".weights";
  FILE *f = std::fopen(path.c_str(), "wb");
  if (!f)
    return 0;
  std::fwrite(file.data(), 1, file.size(), f);
  std::fclose(f);

  gemmac_model_options options = gemmac_model_default_options();
  options.n_threads = 1;
  options.weights_in_memory = 0;
  static const gemmac_program program = table();
  gemmac_model *model = gemmac_model_open_program(&program, path.c_str(), &options);
  if (!model)
    return 0;
  for (const char *key : {"source", "target", "compiler", "residuals", "formats",
                          "chat_template", "device"})
    (void)gemmac_model_string(model, key);
  gemmac_token tokens[64];
  (void)gemmac_tokenize(model, "hello <bos> world\n\n", 19, 1, 1, tokens, 64);
  char piece[64];
  for (gemmac_token t = -1; t < 300; ++t)
    (void)gemmac_token_to_piece(model, t, piece, sizeof piece, 1);
  gemmac_model_close(model);
  return 0;
}
