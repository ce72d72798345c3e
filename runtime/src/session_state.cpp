// Saving and restoring a session (gemmac_session_state_*): position, token
// history, sampler RNG, last logits and the whole KV cache buffer, in the
// format of state_format.h. A load validates everything before it changes
// the session; files are written under a temporary name and renamed.

#include "runtime/src/model.h"
#include "runtime/src/state_format.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace gemmac;
namespace state = gemmac::rt::state;

namespace {

state::Identity identityOf(const gemmac_session *s) {
  state::Identity id;
  id.weightsChecksum = s->model->weightsChecksum;
  id.fingerprint = s->model->fingerprint;
  id.weightsBytes = s->model->weightsBytes;
  id.vocab = s->model->vocab;
  id.nCtx = s->nCtx;
  id.kvBytes = s->kvBytes;
  return id;
}

state::Layout layoutOf(const gemmac_session *s) {
  return state::layout(identityOf(s), s->pos, s->hasLogits);
}

/// Writes the state into dst (layoutOf(s).total bytes).
bool saveInto(const gemmac_session *s, uint8_t *dst, std::string &error) {
  const state::Identity id = identityOf(s);
  state::Contents c;
  c.pos = s->pos;
  c.seeded = s->seeded;
  c.seed = s->seededWith;
  if (!state::rngState(s->rng, c.rng, c.rngIndex)) {
    error = "cannot save the sampler's random state (this C++ library writes "
            "std::mt19937_64 in a form the state format does not hold)";
    return false;
  }
  c.history = reinterpret_cast<const uint8_t *>(s->history.data());
  c.logits = s->hasLogits ? reinterpret_cast<const uint8_t *>(s->lastLogits.data())
                          : nullptr;
  c.kv = s->gpu ? nullptr : s->kv;
  state::write(dst, id, c);
  const state::Layout l = layoutOf(s);
  if (s->gpu && !s->gpu->readKV(s->slot, dst + l.kv, error)) {
    error = "cannot read the GPU session's KV cache: " + error;
    return false;
  }
  state::seal(dst, l.total);
  return true;
}

/// Validates `len` bytes as a state of this session's model and n_ctx and,
/// only if all is well, makes it the session's.
int loadFrom(gemmac_session *s, const uint8_t *data, size_t len,
             const std::string &name) {
  state::Contents c;
  std::string error;
  if (!state::decode(data, len, name, identityOf(s), c, error)) {
    rt::setError(error);
    return -1;
  }
  std::mt19937_64 rng;
  if (!state::setRngState(rng, c.rng, c.rngIndex)) {
    rt::setError(name + ": the sampler's random state is not one this C++ "
                        "library reads at offset " +
                 std::to_string(state::kHeaderBytes));
    return -1;
  }
  if (s->gpu) {
    if (!s->gpu->writeKV(s->slot, c.kv, error)) {
      // The cache may be half written: the session starts over.
      gemmac_session_reset(s);
      rt::setError(name + ": cannot write the GPU session's KV cache (the "
                          "session was reset): " + error);
      return -1;
    }
  } else {
    std::memcpy(s->kv, c.kv, s->kvBytes);
  }
  s->pos = c.pos;
  s->hiddenAt = -1; // the drafter needs a fresh eval
  s->history.resize(static_cast<size_t>(c.pos));
  if (c.pos > 0) // an empty vector's data() may be null
    std::memcpy(s->history.data(), c.history, s->history.size() * 4);
  s->hasLogits = c.logits != nullptr;
  if (c.logits) {
    s->lastLogits.resize(static_cast<size_t>(s->model->vocab));
    std::memcpy(s->lastLogits.data(), c.logits, s->lastLogits.size() * 4);
  }
  s->rng = rng;
  s->seeded = c.seeded;
  s->seededWith = c.seed;
  return 0;
}

/// A buffer of n bytes, or null (and the error set) when there is no memory:
/// states hold a KV cache of up to gigabytes.
struct Bytes {
  explicit Bytes(uint64_t n, const std::string &name)
      : data(static_cast<uint8_t *>(std::malloc(n ? n : 1))), size(n) {
    if (!data)
      rt::setError(name + ": out of memory for " + std::to_string(n) + " bytes");
  }
  ~Bytes() { std::free(data); }
  uint8_t *data;
  uint64_t size;
};

bool writeAll(int fd, const uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

bool readAll(int fd, uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t r = ::read(fd, p, n);
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      return false;
    p += r;
    n -= static_cast<size_t>(r);
  }
  return true;
}

} // namespace

extern "C" size_t gemmac_session_state_size(const gemmac_session *s) {
  return static_cast<size_t>(layoutOf(s).total);
}

extern "C" size_t gemmac_session_state_save(const gemmac_session *s, void *dst,
                                            size_t cap) {
  const uint64_t total = layoutOf(s).total;
  if (!dst || cap < total) {
    rt::setError("state buffer of " + std::to_string(cap) + " bytes; the state needs " +
                 std::to_string(total) + " (gemmac_session_state_size)");
    return 0;
  }
  std::string error;
  if (!saveInto(s, static_cast<uint8_t *>(dst), error)) {
    rt::setError(error);
    return 0;
  }
  return static_cast<size_t>(total);
}

extern "C" int gemmac_session_state_load(gemmac_session *s, const void *src,
                                         size_t len) {
  if (!src) {
    rt::setError("state buffer: NULL");
    return -1;
  }
  return loadFrom(s, static_cast<const uint8_t *>(src), len, "state buffer");
}

extern "C" int gemmac_session_state_save_file(const gemmac_session *s,
                                              const char *path) {
  if (!path || !*path) {
    rt::setError("state file: no path given");
    return -1;
  }
  const std::string name = std::string("state file ") + path;
  Bytes bytes(layoutOf(s).total, name);
  if (!bytes.data)
    return -1;
  std::string error;
  if (!saveInto(s, bytes.data, error)) {
    rt::setError(name + ": " + error);
    return -1;
  }
  // A new file beside the target (O_EXCL: never one that exists), renamed
  // over it once complete: a failed save leaves the old file as it was.
  static std::atomic<unsigned> counter{0};
  const std::string tmp = std::string(path) + ".tmp-" + std::to_string(getpid()) +
                          "-" + std::to_string(counter++);
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    rt::setError(name + ": cannot create " + tmp + ": " + std::strerror(errno));
    return -1;
  }
  errno = 0;
  int err = 0;
  if (!writeAll(fd, bytes.data, bytes.size) || fsync(fd) != 0)
    err = errno ? errno : EIO;
  if (close(fd) != 0 && !err)
    err = errno;
  if (err) {
    unlink(tmp.c_str());
    rt::setError(name + ": cannot write " + tmp + ": " + std::strerror(err));
    return -1;
  }
  if (rename(tmp.c_str(), path) != 0) {
    const int e = errno;
    unlink(tmp.c_str());
    rt::setError(name + ": cannot rename " + tmp + " to it: " + std::strerror(e));
    return -1;
  }
  return 0;
}

extern "C" int gemmac_session_state_load_file(gemmac_session *s,
                                              const char *path) {
  if (!path || !*path) {
    rt::setError("state file: no path given");
    return -1;
  }
  const std::string name = std::string("state file ") + path;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    rt::setError(name + ": cannot open: " + std::strerror(errno));
    return -1;
  }
  struct FdCloser {
    int fd;
    ~FdCloser() { close(fd); }
  } closer{fd};
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    rt::setError(name + ": not a regular file");
    return -1;
  }
  // The file may be no larger than this session's state can be (full
  // context, logits): a hostile size never becomes an allocation.
  const state::Identity id = identityOf(s);
  const uint64_t most = state::layout(id, id.nCtx, true).total;
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size > most) {
    rt::setError(name + ": " + std::to_string(size) +
                 " bytes, more than a state of this session can be (" +
                 std::to_string(most) + ") at offset " + std::to_string(most));
    return -1;
  }
  Bytes bytes(size, name);
  if (!bytes.data)
    return -1;
  errno = 0;
  if (!readAll(fd, bytes.data, bytes.size)) {
    rt::setError(name + ": cannot read its " + std::to_string(size) + " bytes: " +
                 (errno ? std::strerror(errno) : "the file shrank"));
    return -1;
  }
  return loadFrom(s, bytes.data, bytes.size, name);
}
