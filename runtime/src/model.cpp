// Opening a compiled model: check its program table (abi/program_table.h),
// map its weight file (or take the bytes embedded in it), check that the
// file belongs to this compile, load the tokenizer.

#include "runtime/src/model.h"
#include "abi/artifact_format.h"
#include "abi/model_abi.h"
#include "abi/program_table.h"
#include "abi/version.h"
#include "abi/weights_checksum.h"

#include <cstring>
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace gemmac;

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
/// header against the identity compiled into the program table. `read`
/// copies n bytes at an offset of the file (false on failure).
template <typename ReadFn>
bool checkIntegrity(const std::string &path, uint64_t size,
                    const artifact::ArtifactHeader &h, const gemmac_program &p,
                    ReadFn read) {
  const std::string remedy =
      "; recompile the model, or give this program's own weight file with --weights PATH";
  if (h.fileBytes != size) {
    rt::setError(path + ": damaged weight file: " + std::to_string(size) +
                 " bytes, its header says " + std::to_string(h.fileBytes) +
                 (size < h.fileBytes ? " (truncated)" : "") + remedy);
    return false;
  }
  const uint64_t b = artifact::sampleBytes(size);
  std::vector<uint8_t> windows(artifact::kSamples * b);
  for (uint64_t i = 0; i < artifact::kSamples; ++i) {
    const uint64_t at = artifact::sampleOffset(i, size);
    if (!read(windows.data() + i * b, b, at)) {
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
  if (p.weights_checksum != 0 && (p.weights_checksum != h.checksum ||
                                  p.weights_file_bytes != h.fileBytes)) {
    rt::setError(path + ": this weight file belongs to another compile (checksum " +
                 hex(h.checksum) + ", " + std::to_string(h.fileBytes) +
                 " bytes; this program was compiled with " + hex(p.weights_checksum) +
                 ", " + std::to_string(p.weights_file_bytes) +
                 " bytes); use the .weights file written with this program, or recompile");
    return false;
  }
  return true;
}

std::string selfExecutable() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0)
    return "";
  buf[n] = 0;
  return buf;
}

/// The weight file of a program the caller names none for: a program's own
/// path + ".weights"; a library's weights_name beside the shared object or
/// executable holding its table, then weights_path. Sets the error (naming
/// every place tried) and returns "" when none exists.
std::string defaultWeightsPath(const gemmac_program &p) {
  if (!p.weights_name) {
    std::string self = selfExecutable();
    return self.empty() ? "model.weights" : self + ".weights";
  }
  std::vector<std::string> tried;
  Dl_info info{};
  if (dladdr(&p, &info) && info.dli_fname) {
    std::string holder = info.dli_fname;
    // The main executable is reported by the name it was started with.
    if (holder.find('/') == std::string::npos)
      holder = selfExecutable();
    size_t slash = holder.rfind('/');
    tried.push_back((slash == std::string::npos ? "" : holder.substr(0, slash + 1)) +
                    p.weights_name);
  }
  if (p.weights_path)
    tried.push_back(p.weights_path);
  for (const std::string &path : tried)
    if (access(path.c_str(), F_OK) == 0)
      return path;
  std::string list;
  for (const std::string &path : tried)
    list += (list.empty() ? "" : ", ") + path;
  rt::setError(std::string("cannot find the weight file of model '") + p.name +
               "': tried " + (list.empty() ? "nothing" : list) +
               " (copy it beside the library, or pass its path)");
  return "";
}

#if defined(__aarch64__)
const char *const kTargetHint =
    "--target cpu:aarch64 runs on every 64-bit Arm CPU; add what it has, "
    "e.g. cpu:aarch64,+dotprod";
#else
const char *const kTargetHint =
    "--target cpu:x86-64-v3 for AVX2, cpu:x86-64-v4 for AVX-512";
#endif

/// The table's frozen head first: a table of another version is named by
/// the compiler that wrote it, never read further.
bool checkProgram(const gemmac_program *p) {
  if (!p) {
    rt::setError("no program table (NULL): pass what NAME_program() returns");
    return false;
  }
  if (p->magic != GEMMAC_PROGRAM_MAGIC) {
    rt::setError("not a gemmac program table (bad magic): pass what "
                 "NAME_program() of a library compiled with --emit lib returns");
    return false;
  }
  const std::string name = p->name && *p->name ? p->name : "(program)";
  if (p->abi_version != GEMMAC_PROGRAM_ABI ||
      p->table_bytes != sizeof(gemmac_program) ||
      p->meta[abi::kMetaAbiVersion] != abi::kAbiVersion) {
    rt::setError("model '" + name + "' was compiled by gemmac " +
                 (p->compiler_version ? p->compiler_version : "?") +
                 " (program ABI " + std::to_string(p->abi_version) +
                 "); this runtime is gemmac " + abi::kGemmacVersion +
                 " (program ABI " + std::to_string(GEMMAC_PROGRAM_ABI) +
                 "): recompile the model with this version's compile-model, "
                 "or use the runtime it was compiled for");
    return false;
  }
  if (!p->gpu_program && (!p->forward || !p->kv_bytes || !p->arena_bytes)) {
    rt::setError("model '" + name + "': its program table has no code");
    return false;
  }
  // Before any of its code runs: an instruction this CPU lacks would kill
  // the process.
  const uint64_t needs = static_cast<uint64_t>(p->meta[abi::kMetaCpuFeatures]);
  if (std::string missing = rt::missingCpuFeatures(needs); !missing.empty()) {
    rt::setError("model '" + name + "' was compiled for a CPU with " +
                 rt::cpuFeatureNames(needs) + "; this CPU lacks " + missing +
                 ": compile it again for this machine (compile-model --target "
                 "host) or for a CPU it has (" +
                 kTargetHint + ")");
    return false;
  }
  return true;
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

// A program defines gemmac_builtin_program(); the runtime links without one
// (an application using model libraries).
extern "C" const gemmac_program *gemmac_builtin_program(void) __attribute__((weak));

extern "C" gemmac_model *gemmac_model_open(const char *weightsPath,
                                           int nThreads) {
  gemmac_model_options o = gemmac_model_default_options();
  o.n_threads = nThreads;
  return gemmac_model_open_with(weightsPath, &o);
}

extern "C" gemmac_model *gemmac_model_open_with(const char *weightsPath,
                                                const gemmac_model_options *opts) {
  if (!gemmac_builtin_program) {
    rt::setError("this process has no model compiled into it: open a model "
                 "library's table with gemmac_model_open_program(NAME_program(), ...)");
    return nullptr;
  }
  return gemmac_model_open_program(gemmac_builtin_program(), weightsPath, opts);
}

extern "C" gemmac_model *gemmac_model_open_program(const gemmac_program *program,
                                                   const char *weightsPath,
                                                   const gemmac_model_options *opts) {
  const gemmac_model_options o = opts ? *opts : gemmac_model_default_options();
  int nThreads = o.n_threads;
  using rt::setError;
  if (!checkProgram(program))
    return nullptr;
  const gemmac_program &prog = *program;
  const int64_t *meta = prog.meta;
  auto model = std::make_unique<gemmac_model>();
  model->program = program;
  const bool embedded = !weightsPath && prog.embedded_weights;
  if (weightsPath)
    model->path = weightsPath;
  else if (embedded)
    model->path = std::string("(weights embedded in ") +
                  (*prog.name ? prog.name : "the program") + ")";
  else if ((model->path = defaultWeightsPath(prog)).empty())
    return nullptr;
  const std::string &path = model->path;
  // Closed when this function returns (the mapping keeps the file); the
  // integrity check reads windows with pread, not through the mapping: a
  // page fault reads ahead megabytes, and 64 of them cost half a second on
  // a cold 7 GB file where 64 reads of 4 KiB cost 15 ms.
  struct FdCloser {
    int fd = -1;
    ~FdCloser() {
      if (fd >= 0)
        close(fd);
    }
  } file;
  uint64_t size = 0;
  if (embedded) {
    model->bytes = prog.embedded_weights;
    size = prog.weights_file_bytes;
  } else {
    file.fd = open(path.c_str(), O_RDONLY);
    if (file.fd < 0) {
      setError(path + ": cannot open weight file: " + std::strerror(errno));
      return nullptr;
    }
    struct stat st;
    if (fstat(file.fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      setError(path + ": not a regular file");
      return nullptr;
    }
    size = static_cast<uint64_t>(st.st_size);
    if (size >= artifact::kHeaderBytes) {
      void *p = mmap(nullptr, size, PROT_READ, MAP_SHARED, file.fd, 0);
      if (p == MAP_FAILED) {
        setError(path + ": cannot map the weight file (" + std::to_string(size) +
                 " bytes): " + std::strerror(errno));
        return nullptr;
      }
      model->map = static_cast<const uint8_t *>(p);
      model->mapBytes = size;
      model->bytes = model->map;
    }
  }
  if (size < artifact::kHeaderBytes) {
    setError(path + ": not a gemmac weight file (too small)");
    return nullptr;
  }

  artifact::ArtifactHeader h;
  std::memcpy(&h, model->bytes, sizeof h);
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
  const uint8_t *bytes = model->bytes;
  const int fd = file.fd;
  auto read = [&](uint8_t *dst, uint64_t n, uint64_t at) {
    if (fd < 0) {
      std::memcpy(dst, bytes + at, n);
      return true;
    }
    return pread(fd, dst, n, static_cast<off_t>(at)) == static_cast<ssize_t>(n);
  };
  if (!checkIntegrity(path, size, h, prog, read))
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
  if (h.fingerprint != static_cast<uint64_t>(meta[abi::kMetaFingerprint]) ||
      h.weightsBytes != static_cast<uint64_t>(meta[abi::kMetaWeightsBytes])) {
    setError(path + ": these weights were compiled for another program "
                    "(layout fingerprint differs); recompile the model");
    return nullptr;
  }
  model->weights = model->bytes + h.weightsOffset;
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
  if (!model->tokenizer.load(model->bytes + h.tokenizerOffset, h.tokenizerBytes,
                             err)) {
    setError(path + ": " + err);
    return nullptr;
  }
  model->vocab = static_cast<int32_t>(meta[abi::kMetaVocab]);
  model->context = static_cast<int32_t>(meta[abi::kMetaContext]);
  model->maxBatch = static_cast<int32_t>(meta[abi::kMetaMaxBatch]);
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
  model->rt->kernels = meta[abi::kMetaKernelsAtStartup]
                           ? rt::kernelSetForThisCpu()
                           : rt::kernelSetFor(static_cast<uint64_t>(
                                 meta[abi::kMetaCpuFeatures]));
  if (!model->rt->pool.error().empty()) {
    setError(model->rt->pool.error() + " (use fewer threads)");
    return nullptr;
  }
  // Pages of a file mapping the weights no longer need (embedded weights
  // are part of the program's own mapping and stay).
  auto dropMappedWeights = [&] {
    if (model->map)
      madvise(const_cast<uint8_t *>(model->map), h.tokenizerOffset, MADV_DONTNEED);
  };
  if (prog.gpu_program) {
    // The weights go to the device once.
    std::string err;
    model->gpu = gpu::openBackend(prog.gpu_program,
                                  static_cast<uint64_t>(prog.gpu_program_bytes),
                                  model->weights, model->weightsBytes, o.device,
                                  err);
    if (!model->gpu) {
      setError(err);
      return nullptr;
    }
    model->device = model->gpu->deviceName();
    dropMappedWeights();
  } else if (o.weights_in_memory != 0) {
    HugeCopy copy = copyToHugePages(model->weights, model->weightsBytes,
                                    model->rt->pool);
    if (copy.data) {
      model->copyMapping = copy.mapping;
      model->copyMappingBytes = copy.mappingBytes;
      model->weights = copy.data;
      dropMappedWeights();
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
  if (k == "kernels")
    return m->gpu || !m->rt ? "" : rt::kernelSetName(m->rt->kernels);
  if (k == "chat_template") return m->tokenizer.chatTemplate().c_str();
  if (k == "weights_path") return m->path.c_str();
  return nullptr;
}

extern "C" int64_t gemmac_model_number(const gemmac_model *m, const char *key) {
  if (!key)
    return -1;
  std::string_view k = key;
  if (k == "vocab") return m->vocab;
  if (k == "hidden") return m->program->meta[abi::kMetaHidden];
  if (k == "layers") return m->program->meta[abi::kMetaLayers];
  if (k == "context") return m->context;
  if (k == "max_batch") return m->maxBatch;
  if (k == "threads") return m->rt ? m->rt->pool.size() : 0;
  if (k == "weight_bytes") return static_cast<int64_t>(m->weightsBytes);
  if (k == "decode_bytes") return m->program->meta[abi::kMetaDecodeBytes];
  if (k == "window") return m->program->meta[abi::kMetaWindow];
  if (k == "draft_max") return m->program->meta[abi::kMetaDraftMax];
  if (k == "drafter") return m->program->draft != nullptr;
  if (k == "arena_bytes")
    return m->gpu ? -1 : m->program->arena_bytes(m->maxBatch);
  if (k == "weights_in_memory") return m->copyMapping != nullptr;
  return -1;
}

extern "C" int64_t gemmac_model_kv_bytes(const gemmac_model *m, int32_t n_ctx) {
  if (m->gpu || n_ctx <= 0)
    return -1;
  return m->program->kv_bytes(n_ctx);
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
extern "C" uint64_t gemmac_model_decode_bytes(const gemmac_model *m) {
  return static_cast<uint64_t>(m->program->meta[abi::kMetaDecodeBytes]);
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

extern "C" const char *gemmac_version(void) { return abi::kGemmacVersion; }
