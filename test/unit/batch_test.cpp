// Continuous batching (runtime/src/batch.cpp: gemmac_pool, gemmac_decode)
// against a fake compiled model (fake_program.h) whose logits are a chain of
// every token of the sequence: rows of several sequences in one batch, split
// across steps, must give each sequence exactly the logits it gets alone.
#include "test/unit/fake_program.h"

#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

namespace {
using fake::kBatch;
using fake::kVocab;

struct Model {
  Model() : m(fake::newModel()) {}
  ~Model() { gemmac_model_close(m); }
  gemmac_model *m;
};

struct Pool {
  Pool(gemmac_model *m, int32_t n, int32_t nCtx = 40)
      : p(gemmac_pool_new(m, n, nCtx)) {}
  ~Pool() { gemmac_pool_free(p); }
  operator gemmac_pool *() { return p; }
  gemmac_session *operator[](int i) { return gemmac_pool_session(p, i); }
  gemmac_pool *p;
};

struct Batch {
  explicit Batch(int32_t capacity) : b(gemmac_batch_init(capacity)) {}
  ~Batch() { gemmac_batch_free(b); }
  void add(gemmac_session *s, int32_t t, bool logits, int32_t pos = -1) {
    ASSERT_EQ(gemmac_batch_add(&b, s, t, pos, logits), 0);
  }
  gemmac_batch b;
};

/// The logits of every token of `t` evaluated alone, in a session of its own.
std::vector<float> alone(gemmac_model *m, const std::vector<int32_t> &t) {
  std::unique_ptr<gemmac_session, decltype(&gemmac_session_free)> s(
      gemmac_session_new(m, 40), gemmac_session_free);
  std::vector<float> out(t.size() * kVocab);
  EXPECT_EQ(gemmac_session_eval(s.get(), t.data(), int32_t(t.size()),
                                out.data(), 1),
            0);
  return out;
}

bool sameRow(const float *got, const std::vector<float> &want, size_t row) {
  return got && std::memcmp(got, want.data() + row * kVocab, kVocab * 4) == 0;
}

// Interleaved rows of three sequences, one of them longer than the model's
// batch (kBatch = 4) so that it splits across steps, then a second batch of
// one row each: every wanted row equals the sequence alone, bit for bit.
TEST(Batch, InterleavedRowsAsIfAlone) {
  Model model;
  Pool pool(model.m, 3);
  const std::vector<int32_t> t0 = {1, 2, 3, 4, 5, 6}, t1 = {7, 8},
                             t2 = {9, 10, 11, 12, 13, 14, 15, 16, 17};
  // (sequence, index of its token), in batch order.
  const std::vector<std::pair<int, int>> order = {
      {0, 0}, {0, 1}, {2, 0}, {0, 2}, {1, 0}, {2, 1}, {2, 2}, {2, 3}, {0, 3},
      {2, 4}, {2, 5}, {2, 6}, {2, 7}, {1, 1}, {0, 4}, {2, 8}};
  const std::vector<int32_t> *tok[3] = {&t0, &t1, &t2};
  auto wanted = [](int s, int i) { return (i + s) % 2 == 0 && s != 1; };
  Batch b(64);
  for (auto [s, i] : order)
    b.add(pool[s], (*tok[s])[i], wanted(s, i));
  fake::forwardCalls = 0;
  ASSERT_EQ(gemmac_decode(pool, &b.b), 0) << gemmac_last_error();
  EXPECT_EQ(fake::forwardCalls, 4); // 15 rows in steps of 4
  std::vector<float> want[3] = {alone(model.m, t0), alone(model.m, t1),
                                alone(model.m, t2)};
  for (size_t r = 0; r < order.size(); ++r) {
    auto [s, i] = order[r];
    const float *got = gemmac_get_logits_ith(pool, int32_t(r));
    if (wanted(s, i))
      EXPECT_TRUE(sameRow(got, want[s], i)) << "row " << r;
    else
      EXPECT_EQ(got, nullptr) << "row " << r << " wanted no logits";
  }
  EXPECT_TRUE(sameRow(gemmac_get_logits_ith(pool, -1), want[2], 8));
  EXPECT_EQ(gemmac_session_position(pool[0]), 5);
  EXPECT_EQ(gemmac_session_position(pool[1]), 2);
  EXPECT_EQ(gemmac_session_position(pool[2]), 9);
  // Sequence 2's last row wanted logits, so the session keeps them; 1's did
  // not.
  EXPECT_TRUE(sameRow(gemmac_session_logits(pool[2]), want[2], 8));
  EXPECT_EQ(gemmac_session_logits(pool[1]), nullptr);

  // One more token each, at the sequences' own positions.
  gemmac_batch_clear(&b.b);
  const int32_t next[3] = {20, 21, 22};
  for (int s = 0; s < 3; ++s)
    b.add(pool[s], next[s], true, gemmac_session_position(pool[s]));
  ASSERT_EQ(gemmac_decode(pool, &b.b), 0) << gemmac_last_error();
  for (int s = 0; s < 3; ++s) {
    std::vector<int32_t> t = *tok[s];
    t.resize(gemmac_session_position(pool[s]) - 1);
    t.push_back(next[s]);
    EXPECT_TRUE(sameRow(gemmac_get_logits_ith(pool, s), alone(model.m, t),
                        t.size() - 1))
        << "sequence " << s;
  }
}

// A bad batch is refused whole: nothing is evaluated, no sequence moves.
TEST(Batch, ErrorsEvaluateNothing) {
  Model model;
  Pool pool(model.m, 2, 6), other(model.m, 1);
  std::unique_ptr<gemmac_session, decltype(&gemmac_session_free)> own(
      gemmac_session_new(model.m, 6), gemmac_session_free);
  auto refused = [&](Batch &b, const char *what) {
    fake::forwardCalls = 0;
    EXPECT_EQ(gemmac_decode(pool, &b.b), -1) << what;
    EXPECT_NE(std::strstr(gemmac_last_error(), what), nullptr)
        << gemmac_last_error();
    EXPECT_EQ(fake::forwardCalls, 0);
    EXPECT_EQ(gemmac_session_position(pool[0]), 0);
    EXPECT_EQ(gemmac_session_position(pool[1]), 0);
  };
  {
    Batch b(8);
    b.add(pool[0], 1, true);
    b.add(other[0], 2, true);
    refused(b, "not one of this pool's");
  }
  {
    Batch b(8);
    b.add(pool[1], 1, true);
    b.add(own.get(), 2, true);
    refused(b, "not one of this pool's");
  }
  {
    Batch b(8);
    b.add(pool[0], 1, true);
    b.add(pool[1], kVocab, true);
    refused(b, "outside the vocabulary");
  }
  {
    Batch b(8);
    b.add(pool[0], 1, false, 0);
    b.add(pool[0], 2, true, 2); // skips position 1
    refused(b, "position 2, but sequence 0 is at position 1");
  }
  {
    Batch b(8);
    for (int i = 0; i < 7; ++i)
      b.add(pool[1], 1, i == 6);
    refused(b, "context full: sequence 1");
  }
  {
    Batch b(1);
    b.add(pool[0], 1, true);
    EXPECT_EQ(gemmac_batch_add(&b.b, pool[0], 2, -1, 1), -1);
  }
  EXPECT_EQ(gemmac_pool_session(pool, 2), nullptr);
  EXPECT_EQ(gemmac_pool_new(model.m, 0, 8), nullptr);
}

// A pool's session is a session: its state saved after a batch continues
// in a session of its own exactly as it would have in the pool.
TEST(Batch, PoolSessionStateMovesToAStandaloneSession) {
  Model model;
  Pool pool(model.m, 2);
  Batch b(16);
  for (int i = 0; i < 6; ++i) {
    b.add(pool[0], 3 + i, i == 5);
    b.add(pool[1], 9 + i, i == 5);
  }
  ASSERT_EQ(gemmac_decode(pool, &b.b), 0) << gemmac_last_error();
  std::vector<uint8_t> state(gemmac_session_state_size(pool[1]));
  ASSERT_EQ(gemmac_session_state_save(pool[1], state.data(), state.size()),
            state.size());
  std::unique_ptr<gemmac_session, decltype(&gemmac_session_free)> s(
      gemmac_session_new(model.m, 40), gemmac_session_free);
  ASSERT_EQ(gemmac_session_state_load(s.get(), state.data(), state.size()), 0)
      << gemmac_last_error();
  const int32_t t = 30;
  std::vector<float> moved(kVocab);
  ASSERT_EQ(gemmac_session_eval(s.get(), &t, 1, moved.data(), 0), 0);
  gemmac_batch_clear(&b.b);
  b.add(pool[1], t, true);
  ASSERT_EQ(gemmac_decode(pool, &b.b), 0);
  EXPECT_EQ(std::memcmp(moved.data(), gemmac_get_logits_ith(pool, 0),
                        kVocab * 4),
            0);
  // gemmac_session_free leaves a pool's session to its pool.
  gemmac_session_free(pool[0]);
  EXPECT_EQ(gemmac_session_position(pool[0]), 6);
}
} // namespace
