// A scripted drafter for measuring speculative decoding at a chosen
// acceptance (random weights give a random drafter): it proposes a known
// continuation (the target's own greedy tokens) with its first error after a
// run of right tokens, each right with probability `accept`, from a seeded
// generator, so every run draws the same. `bench --draft` and serve's
// `speculative.script` (serve --draft-script) both draft with it.
#pragma once

#include "runtime/include/gemmac.h"

#include <cstddef>
#include <cstdint>

namespace gemmac::rt {

struct ScriptedDraft {
  double accept = 0;
  uint64_t state = 0x2545F4914F6CDD1Dull;

  double uniform() {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<double>(state >> 11) * 0x1p-53;
  }

  /// out[i] = continuation[next + i] (`fallback` where that index is outside
  /// the continuation) for i < k, except the first wrong one: after a run of
  /// right tokens of geometric length, that token plus one (mod vocab).
  void propose(const gemmac_token *continuation, size_t size, long next,
               gemmac_token fallback, int32_t vocab, gemmac_token *out,
               int32_t k) {
    int32_t right = 0;
    while (right < k && uniform() < accept)
      ++right;
    for (int32_t i = 0; i < k; ++i) {
      const long c = next + i;
      const gemmac_token t = c >= 0 && static_cast<size_t>(c) < size
                                 ? continuation[c]
                                 : fallback;
      out[i] = i == right ? (t + 1) % vocab : t;
    }
  }
};

/// The per-token acceptance p of a drafter that gets `mean` of `of` drafted
/// tokens accepted on average, each right with probability p until the
/// first wrong one: p + p^2 + ... + p^of = mean.
inline double acceptRateFor(double mean, long of) {
  double lo = 0, hi = 1;
  for (int i = 0; i < 60; ++i) {
    const double p = 0.5 * (lo + hi);
    double sum = 0, pk = 1;
    for (long k = 0; k < of; ++k)
      sum += pk *= p;
    (sum < mean ? lo : hi) = p;
  }
  return 0.5 * (lo + hi);
}

} // namespace gemmac::rt
