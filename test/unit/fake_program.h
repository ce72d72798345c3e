// A fake compiled model for testing sessions without compile-model: a
// program table (abi/program_table.h) whose forward works on a "KV cache"
// that chains every token into its position's word, with logits and hidden
// states functions of that word. A token's outputs thus depend on every
// token before it and on nothing but the cache.
#pragma once

#include "abi/model_meta.h"
#include "abi/program_table.h"
#include "runtime/src/model.h"

#include <functional>
#include <memory>

namespace fake {
constexpr int32_t kVocab = 40, kBatch = 4, kRing = 2, kHidden = 8;

/// Called by the forward before each segment of a step (tests block or
/// cancel in it).
inline std::function<void(int64_t pos0, int64_t n)> onForward;
inline int forwardCalls = 0;

inline uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h * 0xff51afd7ed558ccdull;
}
inline float value(uint64_t word, uint64_t v) {
  return static_cast<float>(mix(word, v) >> 40) / float(1 << 20) - 4.0f;
}

// The cache of a sequence: kRing words (a ring, as sliding-window layers
// have) then one word per position; sequence slot s's at kv + s * stride.
inline int64_t kvBytes(int64_t nCtx) { return (kRing + nCtx) * 8; }
inline int64_t arenaBytes(int64_t) { return 64; }
inline void forward(gemmac_rt *, const uint8_t *, uint8_t *kv, uint8_t *,
                    const int32_t *tokens, float *logits, float *hidden,
                    int64_t, const int64_t *positions, const int64_t *seqs,
                    int64_t nSeqs, const int64_t *outRows, int64_t nOut,
                    int64_t, int64_t, int64_t kvStride) {
  ++forwardCalls;
  int64_t outRow = 0;
  for (int64_t q = 0; q < nSeqs; ++q) {
    const int64_t *seg = seqs + q * GEMMAC_SEQ_FIELDS;
    const int64_t pos0 = seg[GEMMAC_SEQ_POS0], row0 = seg[GEMMAC_SEQ_ROW0];
    if (onForward)
      onForward(pos0, seg[GEMMAC_SEQ_ROWS]);
    auto *w = reinterpret_cast<uint64_t *>(kv + seg[GEMMAC_SEQ_SLOT] * kvStride);
    for (int64_t i = row0; i < row0 + seg[GEMMAC_SEQ_ROWS]; ++i) {
      const int64_t p = positions[i];
      const uint64_t prev = p == 0 ? 0 : w[kRing + p - 1];
      w[kRing + p] = mix(mix(prev, tokens[i]), w[p % kRing]);
      w[p % kRing] = mix(w[p % kRing], tokens[i]);
      if (outRow == nOut || outRows[outRow] != i)
        continue;
      for (int32_t v = 0; v < kVocab; ++v)
        logits[outRow * kVocab + v] = value(w[kRing + p], v);
      if (hidden)
        for (int32_t j = 0; j < kHidden; ++j)
          hidden[outRow * kHidden + j] = value(w[kRing + p], 1000 + j);
      ++outRow;
    }
  }
}

inline const gemmac_program *program() {
  static int64_t meta[gemmac::abi::kMetaCount] = {};
  static gemmac_program p{};
  meta[gemmac::abi::kMetaAbiVersion] = gemmac::abi::kAbiVersion;
  meta[gemmac::abi::kMetaVocab] = kVocab;
  meta[gemmac::abi::kMetaHidden] = kHidden;
  meta[gemmac::abi::kMetaMaxBatch] = kBatch;
  meta[gemmac::abi::kMetaHiddenOutput] = 1;
  p.magic = GEMMAC_PROGRAM_MAGIC;
  p.abi_version = GEMMAC_PROGRAM_ABI;
  p.table_bytes = sizeof p;
  p.compiler_version = "fake";
  p.name = "fake";
  p.meta = meta;
  p.forward = forward;
  p.kv_bytes = kvBytes;
  p.arena_bytes = arenaBytes;
  return &p;
}

/// A model built without a weight file, whose weight identity is
/// (checksum, 0xabcd, 1000).
inline gemmac_model *newModel(uint64_t checksum = 0x1234) {
  auto *m = new gemmac_model;
  m->program = program();
  m->vocab = kVocab;
  m->maxBatch = kBatch;
  m->context = 64;
  m->weightsChecksum = checksum;
  m->fingerprint = 0xabcd;
  m->weightsBytes = 1000;
  m->rt = std::make_unique<gemmac_rt>(1);
  return m;
}
} // namespace fake
