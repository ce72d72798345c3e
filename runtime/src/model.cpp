// Opening a compiled model's weight file: map it, check that it belongs to
// this program, load the tokenizer.

#include "runtime/src/model.h"
#include "runtime/src/artifact_format.h"
#include "runtime/src/model_abi.h"

#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

using namespace gemmac;

namespace {
thread_local std::string lastError;

std::string defaultWeightsPath() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0)
    return "model.weights";
  buf[n] = 0;
  return std::string(buf) + ".weights";
}
} // namespace

void rt::setError(const std::string &message) { lastError = message; }

extern "C" const char *gemmac_last_error(void) { return lastError.c_str(); }

gemmac_model::~gemmac_model() {
  if (map)
    munmap(const_cast<uint8_t *>(map), mapBytes);
}

extern "C" gemmac_model *gemmac_model_open(const char *weightsPath,
                                           int nThreads) {
  using rt::setError;
  auto model = std::make_unique<gemmac_model>();
  model->path = weightsPath ? weightsPath : defaultWeightsPath();
  const std::string &path = model->path;
  if (gemmac_model_meta[rt::kMetaAbiVersion] != rt::kAbiVersion) {
    setError("program and runtime ABI versions differ");
    return nullptr;
  }
  int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) {
    setError(path + ": cannot open weight file: " + std::strerror(errno));
    return nullptr;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size < static_cast<off_t>(artifact::kHeaderBytes)) {
    close(fd);
    setError(path + ": not a gemmac weight file (too small)");
    return nullptr;
  }
  void *p = mmap(nullptr, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) {
    setError(path + ": mmap failed: " + std::strerror(errno));
    return nullptr;
  }
  model->map = static_cast<const uint8_t *>(p);
  model->mapBytes = st.st_size;

  artifact::ArtifactHeader h;
  std::memcpy(&h, model->map, sizeof h);
  const uint64_t size = model->mapBytes;
  if (std::memcmp(h.magic, artifact::kMagic, 8) != 0 ||
      h.version != artifact::kVersion) {
    setError(path + ": not a gemmac weight file (bad magic or version)");
    return nullptr;
  }
  auto inFile = [&](uint64_t off, uint64_t n) {
    return off <= size && n <= size - off;
  };
  if (!inFile(h.weightsOffset, h.weightsBytes) ||
      !inFile(h.tokenizerOffset, h.tokenizerBytes)) {
    setError(path + ": truncated weight file (sections run past its " +
             std::to_string(size) + " bytes)");
    return nullptr;
  }
  if (h.fingerprint !=
          static_cast<uint64_t>(gemmac_model_meta[rt::kMetaFingerprint]) ||
      h.weightsBytes !=
          static_cast<uint64_t>(gemmac_model_meta[rt::kMetaWeightsBytes])) {
    setError(path + ": these weights were compiled for another program "
                    "(layout fingerprint differs); recompile the model");
    return nullptr;
  }
  model->weights = model->map + h.weightsOffset;
  model->weightsBytes = h.weightsBytes;
  std::string err;
  if (!model->tokenizer.load(model->map + h.tokenizerOffset, h.tokenizerBytes,
                             err)) {
    setError(path + ": " + err);
    return nullptr;
  }
  model->vocab = static_cast<int32_t>(gemmac_model_meta[rt::kMetaVocab]);
  model->context = static_cast<int32_t>(gemmac_model_meta[rt::kMetaContext]);
  model->maxBatch = static_cast<int32_t>(gemmac_model_meta[rt::kMetaMaxBatch]);
  if (model->tokenizer.vocabSize() != model->vocab) {
    setError(path + ": tokenizer has " +
             std::to_string(model->tokenizer.vocabSize()) +
             " tokens, the model " + std::to_string(model->vocab));
    return nullptr;
  }
  if (nThreads <= 0)
    nThreads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  model->rt = std::make_unique<gemmac_rt>(nThreads);
  return model.release();
}

extern "C" void gemmac_model_close(gemmac_model *model) { delete model; }

extern "C" int32_t gemmac_model_vocab_size(const gemmac_model *m) {
  return m->vocab;
}
extern "C" int32_t gemmac_model_context_length(const gemmac_model *m) {
  return m->context;
}
extern "C" int32_t gemmac_model_threads(const gemmac_model *m) {
  return m->rt->pool.size();
}
extern "C" uint64_t gemmac_model_weight_bytes(const gemmac_model *m) {
  return m->weightsBytes;
}

extern "C" int32_t gemmac_tokenize(const gemmac_model *m, const char *text,
                                   size_t len, int addBos, int parseSpecial,
                                   gemmac_token *out, int32_t cap) {
  std::vector<int32_t> ids =
      m->tokenizer.encode(std::string_view(text, len), addBos, parseSpecial);
  if (static_cast<int64_t>(ids.size()) > cap)
    return -static_cast<int32_t>(ids.size());
  std::memcpy(out, ids.data(), ids.size() * sizeof(int32_t));
  return static_cast<int32_t>(ids.size());
}

extern "C" int32_t gemmac_token_to_piece(const gemmac_model *m,
                                         gemmac_token token, char *buf,
                                         int32_t cap, int special) {
  std::string s = m->tokenizer.piece(token, special != 0);
  if (static_cast<int64_t>(s.size()) > cap)
    return -static_cast<int32_t>(s.size());
  std::memcpy(buf, s.data(), s.size());
  return static_cast<int32_t>(s.size());
}

extern "C" int gemmac_token_is_eog(const gemmac_model *m, gemmac_token t) {
  return m->tokenizer.isEndOfGeneration(t) ? 1 : 0;
}

extern "C" gemmac_token gemmac_token_bos(const gemmac_model *m) {
  return m->tokenizer.bos();
}
