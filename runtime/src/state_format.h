// The bytes of a saved session state (gemmac_session_state_save), and their
// decoder: a pure function over untrusted bytes, so that it is fuzzed and
// unit-tested without a compiled model. Version 1, little-endian:
//
//   offset  field
//        0  magic "GMCSTATE"
//        8  u32 version (1)          12  u32 header bytes (112)
//       16  u64 total bytes          24  u64 checksum (of every byte, this
//                                         field read as zeros)
//       32  u64 weights checksum     40  u64 layout fingerprint
//       48  u64 weight bytes             (the model's identity: its weight
//                                         file's header)
//       56  i32 vocab                60  i32 n_ctx
//       64  u64 KV cache bytes       72  i32 position
//       76  u32 flags (bit 0: the sampler's RNG was seeded; others zero)
//       80  u64 seed the RNG was seeded with
//       88  u32 RNG words (312)      92  u32 RNG index (0..312)
//       96  u32 history tokens (= position)
//      100  u32 logits (0, or vocab: the last evaluated token's)
//      104  u64 reserved (0)
//      112  RNG words (u64 each), history (i32 each), logits (f32 each),
//           the KV cache (the session's whole buffer, as the generated code
//           laid it out for this n_ctx)
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>

namespace gemmac::rt::state {

inline constexpr char kMagic[8] = {'G', 'M', 'C', 'S', 'T', 'A', 'T', 'E'};
inline constexpr uint32_t kVersion = 1;
inline constexpr uint32_t kHeaderBytes = 112;
/// std::mt19937_64's state: 312 words and the index of the next one.
inline constexpr uint32_t kRngWords = 312;

/// What a state belongs to; a session it is loaded into must match every
/// field (same compiled model, same n_ctx).
struct Identity {
  uint64_t weightsChecksum = 0, fingerprint = 0, weightsBytes = 0;
  int32_t vocab = 0, nCtx = 0;
  uint64_t kvBytes = 0;
};

/// A session's state. Decoding points the sections into the input.
struct Contents {
  int32_t pos = 0;
  bool seeded = false;
  uint64_t seed = 0;
  uint64_t rng[kRngWords] = {};
  uint32_t rngIndex = kRngWords;
  const uint8_t *history = nullptr; // pos little-endian i32 tokens
  const uint8_t *logits = nullptr;  // vocab f32, or null: none
  const uint8_t *kv = nullptr;      // kvBytes
};

/// Where the sections lie in a state of `pos` tokens.
struct Layout {
  uint64_t rng = 0, history = 0, logits = 0, kv = 0, total = 0;
};
Layout layout(const Identity &id, int32_t pos, bool hasLogits);

/// Writes header, RNG, history and logits of `c` into `dst` (layout's total
/// bytes); the KV cache goes to dst + layout.kv, copied from c.kv unless it
/// is null (the caller fills it, e.g. from a GPU). Call seal() after.
void write(uint8_t *dst, const Identity &id, const Contents &c);
/// Stores the checksum of a written state of `total` bytes.
void seal(uint8_t *dst, uint64_t total);

/// Validates `len` bytes as a state for a session of identity `expect`;
/// false with "NAME: what at offset N" in `error` when any field is wrong.
/// On success the sections of `out` point into `data`.
bool decode(const uint8_t *data, size_t len, const std::string &name,
            const Identity &expect, Contents &out, std::string &error);

/// The engine's state as words and index, and back; false when the standard
/// library writes a representation this format does not hold (or the index
/// is out of range).
bool rngState(const std::mt19937_64 &rng, uint64_t words[kRngWords],
              uint32_t &index);
bool setRngState(std::mt19937_64 &rng, const uint64_t words[kRngWords],
                 uint32_t index);

} // namespace gemmac::rt::state
