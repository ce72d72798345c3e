// The checksum of a weight file (abi/artifact_format.h), written by
// compile-model and verified by every program at load. Fast on any size: it
// hashes kSamples windows of kSampleBytes spread evenly over the file, the
// first at offset 0 (the header, its checksum field read as zeros) and the
// last ending at the file's end, and the file's size. Window i starts at
//   i * (fileBytes - B) / (kSamples - 1),  B = min(kSampleBytes, fileBytes).
// A damaged byte inside a window, any change of size, and a file of another
// compile (other weights, other header) are caught; a damaged byte between
// windows is not (a full check would read gigabytes at every start).
#pragma once

#include "abi/artifact_format.h"

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace gemmac::artifact {

inline constexpr uint64_t kSamples = 64;
inline constexpr uint64_t kSampleBytes = 4096;

inline uint64_t sampleBytes(uint64_t fileBytes) {
  return fileBytes < kSampleBytes ? fileBytes : kSampleBytes;
}

inline uint64_t sampleOffset(uint64_t i, uint64_t fileBytes) {
  return i * (fileBytes - sampleBytes(fileBytes)) / (kSamples - 1);
}

/// A 64-bit hash over 8-byte little-endian words: xor, multiply by an odd
/// constant, fold the high half down. Each step is invertible, so any one
/// changed word changes the result.
class WordHash {
public:
  explicit WordHash(uint64_t seed) : h_(0x9e3779b97f4a7c15ull ^ seed) {}
  void add(uint64_t w) {
    h_ ^= w;
    h_ *= 0xff51afd7ed558ccdull;
    h_ ^= h_ >> 32;
  }
  void addBytes(const uint8_t *p, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      uint64_t w;
      std::memcpy(&w, p + i, 8);
      add(w);
    }
    uint64_t tail = 0;
    std::memcpy(&tail, p + i, n - i);
    add(tail ^ (uint64_t(n - i) << 56));
  }
  uint64_t value() const { return h_ ^ (h_ >> 29); }

private:
  uint64_t h_;
};

/// The checksum of a file of fileBytes (>= kHeaderBytes) whose windows are
/// concatenated in `windows` (kSamples x sampleBytes(fileBytes) bytes, window
/// 0 starting with the header). Window 0's checksum field is hashed as zeros.
inline uint64_t weightsChecksum(const uint8_t *windows, uint64_t fileBytes) {
  const uint64_t b = sampleBytes(fileBytes);
  constexpr size_t field = offsetof(ArtifactHeader, checksum);
  WordHash h(fileBytes);
  h.addBytes(windows, field);
  h.add(0);
  h.addBytes(windows + field + 8, b - field - 8);
  h.addBytes(windows + b, (kSamples - 1) * b);
  return h.value();
}

/// The same over a whole file in memory (the runtime's mapping).
inline uint64_t weightsChecksumOfFile(const uint8_t *file, uint64_t fileBytes,
                                      uint8_t *scratch /* kSamples x kSampleBytes */) {
  const uint64_t b = sampleBytes(fileBytes);
  for (uint64_t i = 0; i < kSamples; ++i)
    std::memcpy(scratch + i * b, file + sampleOffset(i, fileBytes), b);
  return weightsChecksum(scratch, fileBytes);
}

} // namespace gemmac::artifact
