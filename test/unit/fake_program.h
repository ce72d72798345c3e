// A fake compiled model for testing sessions without compile-model: the
// symbols a program generates (abi/model_abi.h), defined over a "KV cache"
// that chains every token into its position's word, with logits a function
// of that word. A token's logits thus depend on every token before it and
// on nothing but the cache. Include in one file of a binary.
#pragma once

#include "abi/model_abi.h"
#include "runtime/src/model.h"

#include <functional>
#include <memory>

// Unread: the fake model is built without opening a weight file.
const int64_t gemmac_model_meta[gemmac::abi::kMetaCount] = {};

namespace fake {
constexpr int32_t kVocab = 40, kBatch = 4, kRing = 2;

/// Called by the forward before each step (tests block or cancel in it).
inline std::function<void(int64_t pos0, int64_t n)> onForward;
inline int forwardCalls = 0;

inline uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h * 0xff51afd7ed558ccdull;
}

/// A model whose weight identity is (checksum, 0xabcd, 1000).
inline gemmac_model *newModel(uint64_t checksum = 0x1234) {
  auto *m = new gemmac_model;
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

// The cache: kRing words (a ring, as sliding-window layers have) then one
// word per position.
extern "C" int64_t gemmac_kv_bytes(int64_t nCtx) { return (fake::kRing + nCtx) * 8; }
extern "C" int64_t gemmac_arena_bytes(int64_t) { return 64; }
extern "C" void gemmac_forward(gemmac_rt *, const uint8_t *, uint8_t *kv,
                               uint8_t *, const int32_t *tokens, float *logits,
                               int64_t n, int64_t pos0, int64_t, int64_t nOut) {
  using namespace fake;
  ++forwardCalls;
  if (onForward)
    onForward(pos0, n);
  auto *w = reinterpret_cast<uint64_t *>(kv);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t p = pos0 + i;
    const uint64_t prev = p == 0 ? 0 : w[kRing + p - 1];
    w[kRing + p] = mix(mix(prev, tokens[i]), w[p % kRing]);
    w[p % kRing] = mix(w[p % kRing], tokens[i]);
    if (i >= n - nOut)
      for (int32_t v = 0; v < kVocab; ++v)
        logits[(i - (n - nOut)) * kVocab + v] =
            static_cast<float>(mix(w[kRing + p], v) >> 40) / float(1 << 20) - 4.0f;
  }
}
