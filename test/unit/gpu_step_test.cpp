// A GPU step's host side (runtime/gpu/gpu_backend.cpp): the KV layout of a
// session of several sequences (cache by cache) and the params buffer's row
// and output tables, each checked against what abi/step.h promises the
// kernels; every malformed step is refused before anything runs.

#include "abi/step.h"
#include "runtime/gpu/gpu_backend.h"

#include <gtest/gtest.h>


using namespace gemmac::gpu;

namespace {

/// A program image's header and KV bindings: a ring cache (K, V) of 16 rows
/// of 32 bytes read by two layers (shared KV), and a full cache (K, V) of
/// 64 bytes per context row after it.
struct FakeProgram {
  ProgramHeader header{};
  std::vector<BindingEntry> bindings;
  ProgramView view() const {
    ProgramView v;
    v.header = &header;
    v.bindings = bindings.data();
    return v;
  }
  FakeProgram() {
    header.maxBatch = 512;
    header.arenaBytes = 4096;
    header.kvFixedBytes = 1024;
    header.kvPerCtxBytes = 128;
    auto kv = [](uint64_t offset, uint64_t offsetPerCtx, uint64_t bytes,
                 uint64_t bytesPerCtx) {
      BindingEntry b{};
      b.space = static_cast<uint32_t>(Space::KV);
      b.offset = offset;
      b.offsetPerCtx = offsetPerCtx;
      b.bytes = bytes;
      b.bytesPerCtx = bytesPerCtx;
      return b;
    };
    for (int layer = 0; layer < 2; ++layer) {
      bindings.push_back(kv(0, 0, 512, 0));   // ring K
      bindings.push_back(kv(512, 0, 512, 0)); // ring V
    }
    bindings.push_back(kv(1024, 0, 0, 64));  // full K
    bindings.push_back(kv(1024, 64, 0, 64)); // full V
    BindingEntry arena{};
    arena.space = static_cast<uint32_t>(Space::Arena);
    arena.bytes = 4096;
    bindings.push_back(arena);
    header.numBindings = static_cast<uint32_t>(bindings.size());
  }
};

TEST(GpuKVSlots, CacheByCache) {
  FakeProgram p;
  KVSlots kv;
  std::string error;
  ASSERT_TRUE(kvSlots(p.view(), 10, 3, kv, error)) << error;
  EXPECT_EQ(kv.bytes, 1024u + 128u * 10);
  ASSERT_EQ(kv.ranges.size(), 4u); // the shared ring counted once
  const uint64_t want[4][2] = {{0, 512}, {512, 512}, {1024, 640}, {1664, 640}};
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(kv.ranges[i].offset, want[i][0]);
    EXPECT_EQ(kv.ranges[i].bytes, want[i][1]);
  }
  // Slot s's copy of a range: slots x offset + s x bytes.
  EXPECT_EQ(kv.at(kv.ranges[1], 2), 3u * 512 + 2 * 512);
  EXPECT_EQ(kv.at(kv.ranges[3], 0), 3u * 1664);
  // Every slot's copies fill the buffer exactly, and a KV binding spans
  // its cache's copies.
  const SpaceSizes sizes = spaceSizes(p.view(), 0, 10, kv);
  EXPECT_EQ(sizes.bytes[static_cast<int>(Space::KV)], 3u * kv.bytes);
  EXPECT_EQ(kv.at(kv.ranges[3], 2) + 640, 3u * kv.bytes);
  uint64_t offset = 0, bytes = 0;
  ASSERT_TRUE(bindingRange(p.bindings[5], 10, kv, sizes, offset, bytes, error));
  EXPECT_EQ(offset, 3u * 1664);
  EXPECT_EQ(bytes, 3u * 640);
  ASSERT_TRUE(bindingRange(p.bindings[6], 10, kv, sizes, offset, bytes, error));
  EXPECT_EQ(bytes, 4096u); // not a KV range: as it is
}

TEST(GpuKVSlots, BadLayoutsAreRefused) {
  std::string error;
  KVSlots kv;
  FakeProgram overlap;
  overlap.bindings[1].offset = 500; // V starts inside K
  EXPECT_FALSE(kvSlots(overlap.view(), 10, 2, kv, error));
  EXPECT_NE(error.find("overlap"), std::string::npos) << error;
  FakeProgram outside;
  outside.bindings[5].offsetPerCtx = 200; // past the KV bytes
  EXPECT_FALSE(kvSlots(outside.view(), 10, 2, kv, error));
  EXPECT_NE(error.find("KV binding 5"), std::string::npos) << error;
  FakeProgram wraps; // an offset whose product with n_ctx wraps to a small one
  wraps.bindings[5].offsetPerCtx = UINT64_MAX / 10 + 2;
  EXPECT_FALSE(kvSlots(wraps.view(), 10, 2, kv, error));
  EXPECT_NE(error.find("KV binding 5"), std::string::npos) << error;
  FakeProgram huge;
  huge.header.kvPerCtxBytes = uint64_t(1) << 40;
  EXPECT_FALSE(kvSlots(huge.view(), 1 << 20, 4096, kv, error));
  EXPECT_NE(error.find("more than memory can address"), std::string::npos);
  FakeProgram p;
  EXPECT_FALSE(kvSlots(p.view(), 10, 0, kv, error));
}

/// Segments {slot, pos0, row0, rows} for the step's checks.
struct StepCase {
  std::vector<int64_t> seqs, outRows;
  int64_t nTokens;
  bool params(std::vector<int32_t> &words, std::string &error,
              int64_t slots = 4, int64_t nCtx = 32) const {
    Step step{nullptr,        nTokens,
              seqs.data(),    static_cast<int64_t>(seqs.size() / GEMMAC_SEQ_FIELDS),
              outRows.data(), static_cast<int64_t>(outRows.size()),
              nullptr};
    KVSlots kv;
    kv.slots = slots;
    return stepParams(step, nCtx, 512, kv, words, error);
  }
};

TEST(GpuStepParams, RowAndOutputTables) {
  // Sequence in slot 3 decodes one row at position 20; slot 0 gets a
  // 3-row prompt chunk at positions 5..7; the logits of rows 0 and 3.
  StepCase c{{3, 20, 0, 1, 0, 5, 1, 3}, {0, 3}, 4};
  std::vector<int32_t> w;
  std::string error;
  ASSERT_TRUE(c.params(w, error)) << error;
  ASSERT_EQ(w.size(), static_cast<size_t>(gemmac::abi::kParamsWords));
  EXPECT_EQ(w[gemmac::abi::kTokens], 4);
  EXPECT_EQ(w[gemmac::abi::kOutRows], 2);
  EXPECT_EQ(w[gemmac::abi::kContextRows], 32);
  const int32_t rows[4][4] = {{3, 0, 20, 1}, {0, 1, 5, 3}, {0, 1, 5, 3}, {0, 1, 5, 3}};
  for (int t = 0; t < 4; ++t)
    for (int f = 0; f < gemmac::abi::kRowFields; ++f)
      EXPECT_EQ(w[gemmac::abi::kRowTable + t * gemmac::abi::kRowFields + f], rows[t][f])
          << "row " << t << " field " << f;
  EXPECT_EQ(w[gemmac::abi::kOutTable + 0], 0);
  EXPECT_EQ(w[gemmac::abi::kOutTable + 1], 3);
}

TEST(GpuStepParams, MalformedStepsAreRefused) {
  const struct {
    StepCase c;
    const char *error;
  } cases[] = {
      {{{4, 0, 0, 1}, {0}, 1}, "slot 4 is not a free slot of 4"},
      {{{1, 0, 0, 1, 1, 0, 1, 1}, {}, 2}, "slot 1 is not a free slot"},
      {{{0, 0, 1, 1}, {}, 2}, "does not continue the step's rows"},
      {{{0, 0, 0, 1}, {}, 2}, "the segments cover 1 of 2 rows"},
      {{{0, 31, 0, 2}, {}, 2}, "inside a context of 32"},
      {{{0, -1, 0, 1}, {}, 1}, "at position -1"},
      {{{0, 0, 0, 2}, {1, 1}, 2}, "output row 1 is row 1"},
      {{{0, 0, 0, 2}, {2}, 2}, "output row 0 is row 2"},
      {{{0, 0, 0, 1}, {0, 0}, 1}, "2 output rows of 1"},
      {{{0, 0, 0, 0}, {}, 0}, "0 rows (1 to 512)"},
      {{{0, 0, 0, 513}, {}, 513}, "513 rows"},
  };
  for (const auto &k : cases) {
    std::vector<int32_t> w;
    std::string error;
    EXPECT_FALSE(k.c.params(w, error)) << k.error;
    EXPECT_NE(error.find(k.error), std::string::npos)
        << "got: " << error << "; want: " << k.error;
  }
}

} // namespace
