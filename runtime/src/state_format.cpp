// The saved-state format (state_format.h): layout, writer, checksum and the
// validating decoder.

#include "runtime/src/state_format.h"
#include "abi/weights_checksum.h"

#include <bit>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <locale>
#include <sstream>

namespace gemmac::rt::state {

static_assert(std::endian::native == std::endian::little,
              "the state format is little-endian, as the host is assumed to be");

namespace {
// Header field offsets (state_format.h).
enum : size_t {
  kOffVersion = 8,
  kOffHeaderBytes = 12,
  kOffTotal = 16,
  kOffChecksum = 24,
  kOffWeightsChecksum = 32,
  kOffFingerprint = 40,
  kOffWeightsBytes = 48,
  kOffVocab = 56,
  kOffNCtx = 60,
  kOffKVBytes = 64,
  kOffPos = 72,
  kOffFlags = 76,
  kOffSeed = 80,
  kOffRngWords = 88,
  kOffRngIndex = 92,
  kOffHistory = 96,
  kOffLogits = 100,
  kOffReserved = 104,
};
constexpr uint32_t kFlagSeeded = 1;

template <typename T> T get(const uint8_t *p, size_t off) {
  T v;
  std::memcpy(&v, p + off, sizeof v);
  return v;
}
template <typename T> void put(uint8_t *p, size_t off, T v) {
  std::memcpy(p + off, &v, sizeof v);
}

std::string hex(uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "%016" PRIx64, v);
  return b;
}

/// WordHash (seeded with the size) over the whole state, its checksum field
/// read as zeros.
uint64_t checksumOf(const uint8_t *data, uint64_t total) {
  artifact::WordHash h(total);
  for (size_t off = 0; off < kOffChecksum; off += 8)
    h.add(get<uint64_t>(data, off));
  h.add(0);
  h.addBytes(data + kOffChecksum + 8, total - kOffChecksum - 8);
  return h.value();
}
} // namespace

Layout layout(const Identity &id, int32_t pos, bool hasLogits) {
  Layout l;
  l.rng = kHeaderBytes;
  l.history = l.rng + uint64_t(kRngWords) * 8;
  l.logits = l.history + uint64_t(pos) * 4;
  l.kv = l.logits + (hasLogits ? uint64_t(id.vocab) * 4 : 0);
  l.total = l.kv + id.kvBytes;
  return l;
}

void write(uint8_t *dst, const Identity &id, const Contents &c) {
  const Layout l = layout(id, c.pos, c.logits != nullptr);
  std::memset(dst, 0, kHeaderBytes);
  std::memcpy(dst, kMagic, sizeof kMagic);
  put<uint32_t>(dst, kOffVersion, kVersion);
  put<uint32_t>(dst, kOffHeaderBytes, kHeaderBytes);
  put<uint64_t>(dst, kOffTotal, l.total);
  put<uint64_t>(dst, kOffWeightsChecksum, id.weightsChecksum);
  put<uint64_t>(dst, kOffFingerprint, id.fingerprint);
  put<uint64_t>(dst, kOffWeightsBytes, id.weightsBytes);
  put<int32_t>(dst, kOffVocab, id.vocab);
  put<int32_t>(dst, kOffNCtx, id.nCtx);
  put<uint64_t>(dst, kOffKVBytes, id.kvBytes);
  put<int32_t>(dst, kOffPos, c.pos);
  put<uint32_t>(dst, kOffFlags, c.seeded ? kFlagSeeded : 0);
  put<uint64_t>(dst, kOffSeed, c.seed);
  put<uint32_t>(dst, kOffRngWords, kRngWords);
  put<uint32_t>(dst, kOffRngIndex, c.rngIndex);
  put<uint32_t>(dst, kOffHistory, static_cast<uint32_t>(c.pos));
  put<uint32_t>(dst, kOffLogits, c.logits ? static_cast<uint32_t>(id.vocab) : 0);
  std::memcpy(dst + l.rng, c.rng, sizeof c.rng);
  if (c.pos > 0) // an empty history's pointer may be null
    std::memcpy(dst + l.history, c.history, l.logits - l.history);
  if (c.logits)
    std::memcpy(dst + l.logits, c.logits, l.kv - l.logits);
  if (c.kv)
    std::memcpy(dst + l.kv, c.kv, id.kvBytes);
}

void seal(uint8_t *dst, uint64_t total) {
  put<uint64_t>(dst, kOffChecksum, checksumOf(dst, total));
}

bool decode(const uint8_t *data, size_t len, const std::string &name,
            const Identity &expect, Contents &out, std::string &error) {
  auto fail = [&](const std::string &what, uint64_t offset) {
    error = name + ": " + what + " at offset " + std::to_string(offset);
    return false;
  };
  if (len < sizeof kMagic || std::memcmp(data, kMagic, sizeof kMagic) != 0)
    return fail(len < sizeof kMagic ? "not a gemmac session state (" +
                                          std::to_string(len) + " bytes)"
                                    : "not a gemmac session state (bad magic)",
                0);
  if (len < kHeaderBytes)
    return fail("truncated: " + std::to_string(len) + " bytes, the header alone is " +
                    std::to_string(kHeaderBytes),
                len);
  const uint32_t version = get<uint32_t>(data, kOffVersion);
  if (version != kVersion)
    return fail("state version " + std::to_string(version) +
                    ", this runtime reads version " + std::to_string(kVersion),
                kOffVersion);
  const uint32_t headerBytes = get<uint32_t>(data, kOffHeaderBytes);
  if (headerBytes != kHeaderBytes)
    return fail("header of " + std::to_string(headerBytes) + " bytes, version " +
                    std::to_string(kVersion) + " has " + std::to_string(kHeaderBytes),
                kOffHeaderBytes);
  const uint64_t total = get<uint64_t>(data, kOffTotal);
  if (total != len)
    return fail("the header says " + std::to_string(total) + " bytes, there are " +
                    std::to_string(len) + (len < total ? " (truncated)" : ""),
                kOffTotal);

  // The identity: the same compiled model (its weight file) and n_ctx.
  const std::string remedy = "; load it into a session of the model it was saved from";
  auto same = [&](uint64_t got, uint64_t want, const char *what, size_t off) {
    return got == want ||
           fail(std::string("saved for another model (") + what + " " + hex(got) +
                    ", this session's model has " + hex(want) + ")" + remedy,
                off);
  };
  if (!same(get<uint64_t>(data, kOffWeightsChecksum), expect.weightsChecksum,
            "weights checksum", kOffWeightsChecksum) ||
      !same(get<uint64_t>(data, kOffFingerprint), expect.fingerprint,
            "layout fingerprint", kOffFingerprint) ||
      !same(get<uint64_t>(data, kOffWeightsBytes), expect.weightsBytes,
            "weight bytes", kOffWeightsBytes))
    return false;
  const int32_t vocab = get<int32_t>(data, kOffVocab);
  if (vocab != expect.vocab)
    return fail("vocabulary of " + std::to_string(vocab) + ", the model has " +
                    std::to_string(expect.vocab),
                kOffVocab);
  const int32_t nCtx = get<int32_t>(data, kOffNCtx);
  if (nCtx != expect.nCtx)
    return fail("saved from a session of n_ctx " + std::to_string(nCtx) +
                    ", this session has " + std::to_string(expect.nCtx) +
                    "; create the session with the same n_ctx",
                kOffNCtx);
  const uint64_t kvBytes = get<uint64_t>(data, kOffKVBytes);
  if (kvBytes != expect.kvBytes)
    return fail("KV cache of " + std::to_string(kvBytes) + " bytes, this session's is " +
                    std::to_string(expect.kvBytes),
                kOffKVBytes);

  const int32_t pos = get<int32_t>(data, kOffPos);
  if (pos < 0 || pos > nCtx)
    return fail("position " + std::to_string(pos) + " outside the context of " +
                    std::to_string(nCtx),
                kOffPos);
  const uint32_t flags = get<uint32_t>(data, kOffFlags);
  if (flags & ~kFlagSeeded)
    return fail("unknown flags " + hex(flags), kOffFlags);
  const uint32_t rngWords = get<uint32_t>(data, kOffRngWords);
  if (rngWords != kRngWords)
    return fail("RNG of " + std::to_string(rngWords) + " words, expected " +
                    std::to_string(kRngWords),
                kOffRngWords);
  const uint32_t rngIndex = get<uint32_t>(data, kOffRngIndex);
  if (rngIndex > kRngWords)
    return fail("RNG index " + std::to_string(rngIndex) + " past its " +
                    std::to_string(kRngWords) + " words",
                kOffRngIndex);
  const uint32_t history = get<uint32_t>(data, kOffHistory);
  if (history != static_cast<uint32_t>(pos))
    return fail(std::to_string(history) + " history tokens for position " +
                    std::to_string(pos),
                kOffHistory);
  const uint32_t logits = get<uint32_t>(data, kOffLogits);
  if (logits != 0 && logits != static_cast<uint32_t>(vocab))
    return fail(std::to_string(logits) + " logits, expected 0 or the vocabulary's " +
                    std::to_string(vocab),
                kOffLogits);
  if (get<uint64_t>(data, kOffReserved) != 0)
    return fail("reserved field is not zero", kOffReserved);

  // Every size is bounded now (position by n_ctx, KV bytes by the session's
  // own), so the sections' end cannot overflow.
  const Layout l = layout(expect, pos, logits != 0);
  if (l.total != total)
    return fail("sections end at " + std::to_string(l.total) + ", the state has " +
                    std::to_string(total) + " bytes",
                kHeaderBytes);
  const uint64_t sum = checksumOf(data, total);
  const uint64_t stored = get<uint64_t>(data, kOffChecksum);
  if (sum != stored)
    return fail("damaged state: checksum " + hex(sum) + ", its header says " + hex(stored),
                kOffChecksum);
  for (uint64_t i = 0; i < uint64_t(pos); ++i) {
    const int32_t t = get<int32_t>(data, l.history + 4 * i);
    if (t < 0 || t >= vocab)
      return fail("history token " + std::to_string(t) + " outside the vocabulary of " +
                      std::to_string(vocab),
                  l.history + 4 * i);
  }

  out.pos = pos;
  out.seeded = flags & kFlagSeeded;
  out.seed = get<uint64_t>(data, kOffSeed);
  std::memcpy(out.rng, data + l.rng, sizeof out.rng);
  out.rngIndex = rngIndex;
  out.history = data + l.history;
  out.logits = logits ? data + l.logits : nullptr;
  out.kv = data + l.kv;
  return true;
}

// libstdc++ writes the engine as its 312 words and the index of the next;
// the words travel as binary, the text is only the engine's own interface.
bool rngState(const std::mt19937_64 &rng, uint64_t words[kRngWords],
              uint32_t &index) {
  std::ostringstream os;
  os.imbue(std::locale::classic());
  os << rng;
  std::istringstream is(os.str());
  is.imbue(std::locale::classic());
  for (uint32_t i = 0; i < kRngWords; ++i)
    if (!(is >> words[i]))
      return false;
  uint64_t next = 0;
  std::string rest;
  if (!(is >> next) || next > kRngWords || (is >> rest))
    return false;
  index = static_cast<uint32_t>(next);
  return true;
}

bool setRngState(std::mt19937_64 &rng, const uint64_t words[kRngWords],
                 uint32_t index) {
  if (index > kRngWords)
    return false;
  std::ostringstream os;
  os.imbue(std::locale::classic());
  for (uint32_t i = 0; i < kRngWords; ++i)
    os << words[i] << ' ';
  os << index;
  std::istringstream is(os.str());
  is.imbue(std::locale::classic());
  std::mt19937_64 restored;
  if (!(is >> restored))
    return false;
  rng = restored;
  return true;
}

} // namespace gemmac::rt::state
