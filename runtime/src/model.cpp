// Opening a compiled model's weight file: map it, check that it belongs to
// this program, load the tokenizer.

#include "runtime/src/model.h"
#include "abi/artifact_format.h"
#include "abi/model_abi.h"
#include "abi/weights_checksum.h"

#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace gemmac;

// The checksum of the weight file compiled with this program: zeros here,
// written into the program file by compile-model (abi/artifact_format.h).
// Volatile: the loader must read the stamped bytes, never fold the zeros.
extern "C" __attribute__((used)) volatile const artifact::ProgramStamp gemmac_weights_stamp = {
    {artifact::kStampMagic[0], artifact::kStampMagic[1], artifact::kStampMagic[2],
     artifact::kStampMagic[3], artifact::kStampMagic[4], artifact::kStampMagic[5],
     artifact::kStampMagic[6], artifact::kStampMagic[7], artifact::kStampMagic[8],
     artifact::kStampMagic[9], artifact::kStampMagic[10], artifact::kStampMagic[11],
     artifact::kStampMagic[12], artifact::kStampMagic[13], artifact::kStampMagic[14],
     artifact::kStampMagic[15]},
    0,
    0};

namespace {
thread_local std::string lastError;

/// Whether the kernel gives anonymous memory transparent huge pages when
/// asked (madvise) or always.
bool hugePagesAvailable() {
  FILE *f = std::fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
  if (!f)
    return false;
  char buf[128] = {};
  size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  std::string mode(buf, n);
  return mode.find("[always]") != std::string::npos ||
         mode.find("[madvise]") != std::string::npos;
}

/// MemAvailable from /proc/meminfo, in bytes (0 if unknown).
uint64_t availableMemory() {
  FILE *f = std::fopen("/proc/meminfo", "r");
  if (!f)
    return 0;
  char line[256];
  uint64_t kb = 0;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "MemAvailable: %lu kB", &kb) == 1)
      break;
  std::fclose(f);
  return kb * 1024;
}

/// A copy of the weight blob in anonymous memory backed by 2 MiB pages, or
/// null. Streaming gigabytes through 4 KiB pages costs a TLB miss every 4 KiB;
/// with huge pages a decoded token reads its weights measurably faster
/// (docs/PERFORMANCE.md). Only when huge pages exist and the copy fits in
/// the memory available (the mapped file's pages can then be dropped).
struct HugeCopy {
  void *mapping = nullptr;
  size_t mappingBytes = 0;
  const uint8_t *data = nullptr;
};

HugeCopy copyToHugePages(const uint8_t *src, uint64_t bytes,
                         gemmac::rt::ThreadPool &pool) {
  constexpr uint64_t kHuge = 2u << 20;
  if (bytes < kHuge || !hugePagesAvailable())
    return {};
  const uint64_t n = (bytes + kHuge - 1) / kHuge * kHuge;
  if (availableMemory() < n + n / 8)
    return {};
  void *p = mmap(nullptr, n + kHuge, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED)
    return {};
  // Align to a huge page so that every 2 MiB of weights is one page.
  auto base = reinterpret_cast<uintptr_t>(p);
  auto *dst = reinterpret_cast<uint8_t *>((base + kHuge - 1) & ~(kHuge - 1));
  madvise(dst, n, MADV_HUGEPAGE);
  pool.parallelFor(static_cast<int64_t>(n / kHuge), 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const uint64_t off = i * kHuge;
      std::memcpy(dst + off, src + off, std::min(kHuge, bytes - std::min(bytes, off)));
    }
  });
  mprotect(dst, n, PROT_READ);
  return {p, n + kHuge, dst};
}

std::string hex(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "%016llx", static_cast<unsigned long long>(v));
  return b;
}

/// The weight file's size and sampled checksum against its header, and the
/// header against the stamp compile-model wrote into this program.
bool checkIntegrity(const std::string &path, int fd, uint64_t size,
                    const artifact::ArtifactHeader &h) {
  const std::string remedy =
      "; recompile the model, or give this program's own weight file with --weights PATH";
  if (h.fileBytes != size) {
    rt::setError(path + ": damaged weight file: " + std::to_string(size) +
                 " bytes, its header says " + std::to_string(h.fileBytes) +
                 (size < h.fileBytes ? " (truncated)" : "") + remedy);
    return false;
  }
  // The windows are read with pread, not through the mapping: a page fault
  // reads ahead megabytes, and 64 of them cost half a second on a cold 7 GB
  // file where 64 reads of 4 KiB cost 15 ms.
  const uint64_t b = artifact::sampleBytes(size);
  std::vector<uint8_t> windows(artifact::kSamples * b);
  for (uint64_t i = 0; i < artifact::kSamples; ++i) {
    const uint64_t at = artifact::sampleOffset(i, size);
    if (pread(fd, windows.data() + i * b, b, static_cast<off_t>(at)) !=
        static_cast<ssize_t>(b)) {
      rt::setError(path + ": cannot read the weight file at offset " +
                   std::to_string(at) + ": " + std::strerror(errno));
      return false;
    }
  }
  const uint64_t sum = artifact::weightsChecksum(windows.data(), size);
  if (sum != h.checksum) {
    rt::setError(path + ": damaged weight file: checksum " + hex(sum) +
                 ", its header says " + hex(h.checksum) + remedy);
    return false;
  }
  const uint64_t stamped = gemmac_weights_stamp.checksum;
  if (stamped != 0 && (stamped != h.checksum ||
                       gemmac_weights_stamp.fileBytes != h.fileBytes)) {
    rt::setError(path + ": this weight file belongs to another compile (checksum " +
                 hex(h.checksum) + ", " + std::to_string(h.fileBytes) +
                 " bytes; this program was compiled with " + hex(stamped) + ", " +
                 std::to_string(gemmac_weights_stamp.fileBytes) +
                 " bytes); use the .weights file written with this program, or recompile");
    return false;
  }
  return true;
}

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
  if (copyMapping)
    munmap(copyMapping, copyMappingBytes);
}

extern "C" gemmac_model_options gemmac_model_default_options(void) {
  gemmac_model_options o;
  o.n_threads = 0;
  o.weights_in_memory = -1;
  o.device = 0;
  return o;
}

extern "C" gemmac_model *gemmac_model_open(const char *weightsPath,
                                           int nThreads) {
  gemmac_model_options o = gemmac_model_default_options();
  o.n_threads = nThreads;
  return gemmac_model_open_with(weightsPath, &o);
}

extern "C" gemmac_model *gemmac_model_open_with(const char *weightsPath,
                                                const gemmac_model_options *opts) {
  const gemmac_model_options o = opts ? *opts : gemmac_model_default_options();
  int nThreads = o.n_threads;
  using rt::setError;
  auto model = std::make_unique<gemmac_model>();
  model->path = weightsPath ? weightsPath : defaultWeightsPath();
  const std::string &path = model->path;
  if (gemmac_model_meta[abi::kMetaAbiVersion] != abi::kAbiVersion) {
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
  // Closed when this function returns (the mapping keeps the file); the
  // integrity check below reads through it.
  struct FdCloser {
    int fd;
    ~FdCloser() { close(fd); }
  } closer{fd};
  if (p == MAP_FAILED) {
    setError(path + ": cannot map the weight file (" + std::to_string(st.st_size) +
             " bytes): " + std::strerror(errno));
    return nullptr;
  }
  model->map = static_cast<const uint8_t *>(p);
  model->mapBytes = st.st_size;

  artifact::ArtifactHeader h;
  std::memcpy(&h, model->map, sizeof h);
  const uint64_t size = model->mapBytes;
  if (std::memcmp(h.magic, artifact::kMagic, 8) != 0) {
    setError(path + ": not a gemmac weight file (bad magic)");
    return nullptr;
  }
  if (h.version != artifact::kVersion) {
    setError(path + ": weight file version " + std::to_string(h.version) +
             ", this program reads version " + std::to_string(artifact::kVersion) +
             "; recompile the model");
    return nullptr;
  }
  if (!checkIntegrity(path, fd, size, h))
    return nullptr;
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
          static_cast<uint64_t>(gemmac_model_meta[abi::kMetaFingerprint]) ||
      h.weightsBytes !=
          static_cast<uint64_t>(gemmac_model_meta[abi::kMetaWeightsBytes])) {
    setError(path + ": these weights were compiled for another program "
                    "(layout fingerprint differs); recompile the model");
    return nullptr;
  }
  model->weights = model->map + h.weightsOffset;
  model->weightsBytes = h.weightsBytes;
  model->weightsChecksum = h.checksum;
  model->fingerprint = h.fingerprint;
  // The header's strings need not be terminated in a damaged file.
  auto field = [](const char *f, size_t cap) { return std::string(f, strnlen(f, cap)); };
  model->source = field(h.source, sizeof h.source);
  model->target = field(h.target, sizeof h.target);
  model->compiler = field(h.compiler, sizeof h.compiler);
  model->residuals = field(h.residuals, sizeof h.residuals);
  model->formats = field(h.formats, sizeof h.formats);
  std::string err;
  if (!model->tokenizer.load(model->map + h.tokenizerOffset, h.tokenizerBytes,
                             err)) {
    setError(path + ": " + err);
    return nullptr;
  }
  model->vocab = static_cast<int32_t>(gemmac_model_meta[abi::kMetaVocab]);
  model->context = static_cast<int32_t>(gemmac_model_meta[abi::kMetaContext]);
  model->maxBatch = static_cast<int32_t>(gemmac_model_meta[abi::kMetaMaxBatch]);
  if (model->tokenizer.vocabSize() != model->vocab) {
    setError(path + ": tokenizer has " +
             std::to_string(model->tokenizer.vocabSize()) +
             " tokens, the model " + std::to_string(model->vocab));
    return nullptr;
  }
  if (nThreads > GEMMAC_MAX_THREADS) {
    setError(std::to_string(nThreads) + " threads asked for; at most " +
             std::to_string(GEMMAC_MAX_THREADS));
    return nullptr;
  }
  // More threads than CPUs only wait for each other: 4 per CPU at most.
  const int cpus = rt::usableCpus();
  if (nThreads <= 0)
    nThreads = cpus;
  nThreads = std::min(nThreads, 4 * cpus);
  model->rt = std::make_unique<gemmac_rt>(nThreads);
  if (!model->rt->pool.error().empty()) {
    setError(model->rt->pool.error() + " (use fewer threads)");
    return nullptr;
  }
  if (gemmac_gpu_program) {
    // The weights go to the device once; the mapping's pages are not needed
    // after the upload.
    std::string err;
    model->gpu = gpu::openBackend(gemmac_gpu_program,
                                  static_cast<uint64_t>(gemmac_gpu_program_bytes),
                                  model->weights, model->weightsBytes, o.device,
                                  err);
    if (!model->gpu) {
      setError(err);
      return nullptr;
    }
    model->device = model->gpu->deviceName();
    madvise(const_cast<uint8_t *>(model->map), h.tokenizerOffset, MADV_DONTNEED);
  } else if (o.weights_in_memory != 0) {
    HugeCopy copy = copyToHugePages(model->weights, model->weightsBytes,
                                    model->rt->pool);
    if (copy.data) {
      model->copyMapping = copy.mapping;
      model->copyMappingBytes = copy.mappingBytes;
      model->weights = copy.data;
      // The file's weight pages are no longer read: let the kernel drop them.
      madvise(const_cast<uint8_t *>(model->map), h.tokenizerOffset, MADV_DONTNEED);
    } else if (o.weights_in_memory == 1) {
      setError(path + ": cannot hold the weights in huge pages (transparent "
                      "huge pages off or not enough memory)");
      return nullptr;
    }
  }
  return model.release();
}

extern "C" void gemmac_model_close(gemmac_model *model) { delete model; }

extern "C" const char *gemmac_model_device(const gemmac_model *m) {
  return m->device.c_str();
}

extern "C" const char *gemmac_model_string(const gemmac_model *m,
                                           const char *key) {
  if (!key)
    return nullptr;
  std::string_view k = key;
  if (k == "source") return m->source.c_str();
  if (k == "target") return m->target.c_str();
  if (k == "compiler") return m->compiler.c_str();
  if (k == "residuals") return m->residuals.c_str();
  if (k == "formats") return m->formats.c_str();
  if (k == "device") return m->device.c_str();
  if (k == "chat_template") return m->tokenizer.chatTemplate().c_str();
  if (k == "weights_path") return m->path.c_str();
  return nullptr;
}

extern "C" int64_t gemmac_model_number(const gemmac_model *m, const char *key) {
  if (!key)
    return -1;
  std::string_view k = key;
  if (k == "vocab") return m->vocab;
  if (k == "hidden") return gemmac_model_meta[abi::kMetaHidden];
  if (k == "layers") return gemmac_model_meta[abi::kMetaLayers];
  if (k == "context") return m->context;
  if (k == "max_batch") return m->maxBatch;
  if (k == "threads") return m->rt ? m->rt->pool.size() : 0;
  if (k == "weight_bytes") return static_cast<int64_t>(m->weightsBytes);
  if (k == "decode_bytes") return gemmac_model_meta[abi::kMetaDecodeBytes];
  if (k == "arena_bytes")
    return m->gpu || !gemmac_arena_bytes ? -1 : gemmac_arena_bytes(m->maxBatch);
  if (k == "weights_in_memory") return m->copyMapping != nullptr;
  return -1;
}

extern "C" int64_t gemmac_model_kv_bytes(const gemmac_model *m, int32_t n_ctx) {
  if (m->gpu || !gemmac_kv_bytes || n_ctx <= 0)
    return -1;
  return gemmac_kv_bytes(n_ctx);
}

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
extern "C" uint64_t gemmac_model_decode_bytes(const gemmac_model *) {
  return static_cast<uint64_t>(gemmac_model_meta[abi::kMetaDecodeBytes]);
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
