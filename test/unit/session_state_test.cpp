// Session state, cancellation and outputs (runtime/src/session_state.cpp,
// session_cancel.cpp, session_outputs.cpp, state_format.cpp) against a fake
// compiled model (fake_program.h), whose logits show a wrong or partly
// restored cache.
#include "runtime/src/state_format.h"
#include "test/unit/fake_program.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <mutex>
#include <thread>
#include <unistd.h>

namespace {
using fake::kBatch;
using fake::kVocab;
using fake::onForward;
using fake::forwardCalls;

struct Model {
  explicit Model(uint64_t checksum = 0x1234) : m(fake::newModel(checksum)) {}
  ~Model() { gemmac_model_close(m); }
  gemmac_model *m;
};

struct Session {
  Session(gemmac_model *m, int32_t nCtx = 32) : s(gemmac_session_new(m, nCtx)) {}
  ~Session() { gemmac_session_free(s); }
  operator gemmac_session *() { return s; }
  gemmac_session *s;
};

std::vector<int32_t> tokens(int n, int salt = 0) {
  std::vector<int32_t> t(n);
  for (int i = 0; i < n; ++i)
    t[i] = (i * 7 + salt * 13 + 3) % kVocab;
  return t;
}

std::vector<float> evalLast(gemmac_session *s, std::vector<int32_t> t) {
  std::vector<float> out(kVocab);
  EXPECT_EQ(gemmac_session_eval(s, t.data(), int32_t(t.size()), out.data(), 0), 0)
      << gemmac_last_error();
  return out;
}

bool same(const std::vector<float> &a, const float *b) {
  return b && std::memcmp(a.data(), b, a.size() * 4) == 0;
}

gemmac_sampler_params sampler() {
  gemmac_sampler_params p = gemmac_sampler_defaults();
  p.temperature = 0.9f;
  p.seed = 77;
  p.repeat_penalty = 1.3f;
  return p;
}

std::vector<uint8_t> save(gemmac_session *s) {
  std::vector<uint8_t> b(gemmac_session_state_size(s));
  EXPECT_EQ(gemmac_session_state_save(s, b.data(), b.size()), b.size())
      << gemmac_last_error();
  return b;
}

struct StateTest : ::testing::Test {
  void TearDown() override { onForward = nullptr; }
  Model model;
};

// Mid-generation: a prompt and sampled tokens; the state taken there,
// restored into a fresh session, continues bit for bit: logits, the
// sampler's choices (its RNG and the penalties' history).
TEST_F(StateTest, RestoredSessionContinuesIdentically) {
  Session a(model.m);
  const gemmac_sampler_params p = sampler();
  std::vector<float> logits = evalLast(a, tokens(9));
  for (int i = 0; i < 3; ++i)
    logits = evalLast(a, {gemmac_sample(a, logits.data(), &p)});
  const std::vector<uint8_t> state = save(a);

  Session b(model.m);
  ASSERT_EQ(gemmac_session_state_load(b, state.data(), state.size()), 0)
      << gemmac_last_error();
  EXPECT_EQ(gemmac_session_position(b), 12);
  ASSERT_TRUE(same(logits, gemmac_session_logits(b)));
  for (int i = 0; i < 6; ++i) {
    const gemmac_token ta = gemmac_sample(a, gemmac_session_logits(a), &p);
    const gemmac_token tb = gemmac_sample(b, gemmac_session_logits(b), &p);
    ASSERT_EQ(ta, tb) << "step " << i;
    const std::vector<float> la = evalLast(a, {ta});
    ASSERT_TRUE(same(la, evalLast(b, {tb}).data())) << "step " << i;
  }
}

// The state is everything the next step reads: without the load, the same
// fresh session gives other logits (the test would see a missing piece).
TEST_F(StateTest, TheCacheMatters) {
  Session a(model.m), b(model.m);
  evalLast(a, tokens(9));
  const std::vector<uint8_t> state = save(a);
  evalLast(b, tokens(9, 1));
  const std::vector<float> la = evalLast(a, {5});
  const std::vector<float> lb = evalLast(b, {5});
  EXPECT_FALSE(same(la, lb.data()));
  Session c(model.m);
  evalLast(c, tokens(9, 1));
  ASSERT_EQ(gemmac_session_state_load(c, state.data(), state.size()), 0);
  EXPECT_TRUE(same(la, evalLast(c, {5}).data()));
}

TEST_F(StateTest, SeedAndUnseededStateTravel) {
  Session a(model.m), b(model.m);
  gemmac_session_set_seed(a, 5);
  const std::vector<uint8_t> state = save(a);
  ASSERT_EQ(gemmac_session_state_load(b, state.data(), state.size()), 0);
  EXPECT_TRUE(b.s->seeded);
  EXPECT_EQ(b.s->seededWith, 5u);
  EXPECT_EQ(gemmac_session_logits(b), nullptr);
  Session c(model.m);
  const std::vector<uint8_t> fresh = save(c);
  ASSERT_EQ(gemmac_session_state_load(b, fresh.data(), fresh.size()), 0);
  EXPECT_FALSE(b.s->seeded);
  EXPECT_EQ(gemmac_session_position(b), 0);
}

TEST_F(StateTest, RefusedLoadLeavesTheSessionAlone) {
  Session a(model.m);
  evalLast(a, tokens(6));
  std::vector<uint8_t> state = save(a);
  Session b(model.m);
  evalLast(b, tokens(3, 2));
  const std::vector<uint8_t> before = save(b);
  state[state.size() - 1] ^= 0x10; // in the KV cache: the checksum sees it
  EXPECT_EQ(gemmac_session_state_load(b, state.data(), state.size()), -1);
  EXPECT_NE(std::string(gemmac_last_error()).find("damaged state"), std::string::npos)
      << gemmac_last_error();
  EXPECT_EQ(save(b), before);
}

TEST_F(StateTest, OtherModelOrContextRefused) {
  Session a(model.m);
  evalLast(a, tokens(5));
  const std::vector<uint8_t> state = save(a);
  Model other(0x9999);
  Session b(other.m);
  EXPECT_EQ(gemmac_session_state_load(b, state.data(), state.size()), -1);
  EXPECT_STREQ(gemmac_last_error(),
               "state buffer: saved for another model (weights checksum "
               "0000000000001234, this session's model has 0000000000009999); "
               "load it into a session of the model it was saved from at offset 32");
  Session c(model.m, 16);
  EXPECT_EQ(gemmac_session_state_load(c, state.data(), state.size()), -1);
  EXPECT_NE(std::string(gemmac_last_error()).find("n_ctx 32, this session has 16"),
            std::string::npos)
      << gemmac_last_error();
}

TEST_F(StateTest, SaveNeedsRoom) {
  Session a(model.m);
  evalLast(a, tokens(5));
  std::vector<uint8_t> b(gemmac_session_state_size(a) - 1);
  EXPECT_EQ(gemmac_session_state_save(a, b.data(), b.size()), 0u);
  EXPECT_NE(std::string(gemmac_last_error()).find("gemmac_session_state_size"),
            std::string::npos);
}

// Every truncation and every single flipped bit of a real state is refused
// with the buffer named; none is taken.
TEST_F(StateTest, EveryTruncationAndBitFlipRefused) {
  Session a(model.m);
  std::vector<float> logits = evalLast(a, tokens(7));
  const gemmac_sampler_params p = sampler();
  evalLast(a, {gemmac_sample(a, logits.data(), &p)});
  const std::vector<uint8_t> state = save(a);
  Session b(model.m);
  for (size_t n = 0; n < state.size(); ++n) {
    ASSERT_EQ(gemmac_session_state_load(b, state.data(), n), -1) << n;
    ASSERT_EQ(std::string(gemmac_last_error()).rfind("state buffer: ", 0), 0u);
  }
  std::vector<uint8_t> longer = state;
  longer.push_back(0);
  EXPECT_EQ(gemmac_session_state_load(b, longer.data(), longer.size()), -1);
  for (size_t i = 0; i < state.size(); ++i)
    for (int bit = 0; bit < 8; ++bit) {
      std::vector<uint8_t> bad = state;
      bad[i] ^= uint8_t(1 << bit);
      ASSERT_EQ(gemmac_session_state_load(b, bad.data(), bad.size()), -1)
          << "byte " << i << " bit " << bit;
      ASSERT_NE(std::string(gemmac_last_error()).find(" at offset "), std::string::npos);
    }
  EXPECT_EQ(gemmac_session_position(b), 0);
}

// Fields the decoder checks one by one (re-sealed, so that the checksum does
// not hide them), each named with its offset.
TEST(StateFormat, FieldsValidatedWithOffsets) {
  using namespace gemmac::rt::state;
  Identity id;
  id.weightsChecksum = 1;
  id.fingerprint = 2;
  id.weightsBytes = 3;
  id.vocab = 4;
  id.nCtx = 8;
  id.kvBytes = 16;
  Contents c;
  c.pos = 2;
  const int32_t hist[2] = {1, 3};
  c.history = reinterpret_cast<const uint8_t *>(hist);
  const float logits[4] = {1, 2, 3, 4};
  c.logits = reinterpret_cast<const uint8_t *>(logits);
  const uint8_t kv[16] = {9};
  c.kv = kv;
  const Layout l = layout(id, 2, true);
  std::vector<uint8_t> good(l.total);
  write(good.data(), id, c);
  seal(good.data(), l.total);
  Contents out;
  std::string error;
  ASSERT_TRUE(decode(good.data(), good.size(), "S", id, out, error)) << error;
  EXPECT_EQ(out.pos, 2);
  EXPECT_EQ(std::memcmp(out.kv, kv, 16), 0);

  auto expectRefused = [&](size_t off, uint32_t value, const std::string &what) {
    std::vector<uint8_t> bad = good;
    std::memcpy(bad.data() + off, &value, 4);
    seal(bad.data(), bad.size());
    EXPECT_FALSE(decode(bad.data(), bad.size(), "S", id, out, error)) << what;
    EXPECT_NE(error.find(what), std::string::npos) << error;
  };
  expectRefused(0, 0x41414141, "(bad magic) at offset 0");
  expectRefused(8, 2, "state version 2, this runtime reads version 1 at offset 8");
  expectRefused(12, 120, "at offset 12");
  expectRefused(56, 5, "vocabulary of 5, the model has 4 at offset 56");
  expectRefused(72, 9, "position 9 outside the context of 8 at offset 72");
  expectRefused(72, uint32_t(-1), "position -1 outside");
  expectRefused(76, 2, "unknown flags");
  expectRefused(88, 311, "at offset 88");
  expectRefused(92, 313, "RNG index 313 past its 312 words at offset 92");
  expectRefused(96, 1, "1 history tokens for position 2 at offset 96");
  expectRefused(100, 3, "3 logits, expected 0 or the vocabulary's 4 at offset 100");
  expectRefused(104, 1, "reserved field is not zero at offset 104");
  expectRefused(100, 0, "sections end at");
  expectRefused(l.history + 4, 4, "history token 4 outside the vocabulary of 4 at offset " +
                                      std::to_string(l.history + 4));
}

// The RNG's words and index round-trip, and the engine continues alike.
TEST(StateFormat, RngRoundTrip) {
  using namespace gemmac::rt::state;
  std::mt19937_64 a(42);
  for (int i = 0; i < 500; ++i)
    a();
  uint64_t words[kRngWords];
  uint32_t index = 0;
  ASSERT_TRUE(rngState(a, words, index));
  std::mt19937_64 b;
  ASSERT_TRUE(setRngState(b, words, index));
  for (int i = 0; i < 1000; ++i)
    ASSERT_EQ(a(), b());
  EXPECT_FALSE(setRngState(b, words, kRngWords + 1));
}

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/gemmac-state-test-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::vector<std::string> entries() const {
    std::vector<std::string> r;
    for (auto &e : std::filesystem::directory_iterator(path))
      r.push_back(e.path().filename());
    std::sort(r.begin(), r.end());
    return r;
  }
  std::string path;
};

TEST_F(StateTest, FilesRoundTripAndReplaceOnlyTheNamedOutput) {
  TempDir dir;
  const std::string file = dir.path + "/s.state";
  {
    std::ofstream(file) << "the user's old file";
  }
  Session a(model.m);
  evalLast(a, tokens(10));
  ASSERT_EQ(gemmac_session_state_save_file(a, file.c_str()), 0) << gemmac_last_error();
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"s.state"}); // no temporary left
  EXPECT_EQ(std::filesystem::file_size(file), gemmac_session_state_size(a));
  Session b(model.m);
  ASSERT_EQ(gemmac_session_state_load_file(b, file.c_str()), 0) << gemmac_last_error();
  EXPECT_TRUE(same(evalLast(a, {1}), evalLast(b, {1}).data()));

  // A save that cannot complete touches nothing.
  const std::string missing = dir.path + "/no/such/dir/x.state";
  EXPECT_EQ(gemmac_session_state_save_file(a, missing.c_str()), -1);
  EXPECT_NE(std::string(gemmac_last_error()).find("state file " + missing), std::string::npos);
  EXPECT_EQ(dir.entries(), std::vector<std::string>{"s.state"});
}

TEST_F(StateTest, HostileFilesRefusedWithTheirName) {
  TempDir dir;
  const std::string file = dir.path + "/s.state";
  Session a(model.m);
  evalLast(a, tokens(5));
  ASSERT_EQ(gemmac_session_state_save_file(a, file.c_str()), 0);
  Session b(model.m);
  auto refused = [&](const std::string &path, const std::string &what) {
    EXPECT_EQ(gemmac_session_state_load_file(b, path.c_str()), -1);
    const std::string e = gemmac_last_error();
    EXPECT_EQ(e.rfind("state file " + path + ": ", 0), 0u) << e;
    EXPECT_NE(e.find(what), std::string::npos) << e;
  };
  refused(dir.path + "/absent", "cannot open");
  refused(dir.path, "not a regular file");
  std::filesystem::resize_file(file, 50);
  refused(file, "the header alone is 112 at offset 50");
  std::filesystem::resize_file(file, 1 << 20);
  refused(file, "more than a state of this session can be");
  EXPECT_EQ(gemmac_session_position(b), 0);
}

// A cancel made while no call runs stops the next one before it evaluates
// anything, and only that one.
TEST_F(StateTest, PendingCancelStopsTheNextCall) {
  Session a(model.m), ref(model.m);
  evalLast(a, tokens(3));
  evalLast(ref, tokens(3));
  gemmac_session_cancel(a);
  const std::vector<int32_t> t = tokens(5, 1);
  forwardCalls = 0;
  EXPECT_EQ(gemmac_session_eval(a, t.data(), 5, nullptr, 0), -1);
  EXPECT_STREQ(gemmac_last_error(), "cancelled");
  EXPECT_EQ(forwardCalls, 0);
  EXPECT_EQ(gemmac_session_position(a), 3);
  EXPECT_TRUE(same(evalLast(ref, t), evalLast(a, t).data()));
  gemmac_session_cancel(a);
  gemmac_session_reset(a);
  EXPECT_EQ(gemmac_session_eval(a, t.data(), 5, nullptr, 0), 0);
}

// Cancelled from another thread while a step runs: the eval stops at the
// next chunk; the position counts the chunks evaluated, and evaluating the
// rest gives what the uninterrupted session gives.
TEST_F(StateTest, CancelFromAnotherThreadStopsBetweenChunks) {
  Session a(model.m), ref(model.m);
  std::mutex mu;
  std::condition_variable cv;
  bool inStep = false, cancelled = false;
  onForward = [&](int64_t pos0, int64_t) {
    if (pos0 != kBatch)
      return;
    std::unique_lock<std::mutex> lock(mu);
    inStep = true;
    cv.notify_all();
    cv.wait(lock, [&] { return cancelled; });
  };
  std::thread canceller([&] {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return inStep; });
    gemmac_session_cancel(a);
    cancelled = true;
    cv.notify_all();
  });
  const std::vector<int32_t> t = tokens(11);
  EXPECT_EQ(gemmac_session_eval(a, t.data(), 11, nullptr, 0), -1);
  canceller.join();
  onForward = nullptr;
  EXPECT_STREQ(gemmac_last_error(), "cancelled");
  EXPECT_EQ(gemmac_session_position(a), 2 * kBatch);
  EXPECT_EQ(gemmac_session_logits(a), nullptr);
  const std::vector<int32_t> rest(t.begin() + 2 * kBatch, t.end());
  EXPECT_TRUE(same(evalLast(ref, t), evalLast(a, rest).data()));
}

// eval_outputs' rows are all_logits' last n_out rows, across chunk borders.
TEST_F(StateTest, EvalOutputsAreTheLastRows) {
  const int32_t n = 11;
  const std::vector<int32_t> t = tokens(n);
  Session ref(model.m);
  std::vector<float> all(size_t(n) * kVocab);
  ASSERT_EQ(gemmac_session_eval(ref, t.data(), n, all.data(), 1), 0);
  for (int32_t k = 0; k <= n; ++k) {
    Session s(model.m);
    std::vector<float> out(size_t(k) * kVocab + 1, 7.0f);
    ASSERT_EQ(gemmac_session_eval_outputs(s, t.data(), n, k, out.data(), nullptr), 0)
        << gemmac_last_error();
    EXPECT_EQ(std::memcmp(out.data(), all.data() + size_t(n - k) * kVocab,
                          size_t(k) * kVocab * 4),
              0)
        << "n_out " << k;
    EXPECT_EQ(out.back(), 7.0f) << "wrote past n_out rows";
    EXPECT_EQ(std::memcmp(gemmac_session_logits(s), all.data() + size_t(n - 1) * kVocab,
                          kVocab * 4),
              0);
  }
  Session s(model.m);
  EXPECT_EQ(gemmac_session_eval_outputs(s, t.data(), n, n + 1, nullptr, nullptr), -1);
  EXPECT_NE(std::string(gemmac_last_error()).find("n_out 12"), std::string::npos);
  EXPECT_EQ(gemmac_session_eval_outputs(s, t.data(), n, -1, nullptr, nullptr), -1);
  EXPECT_EQ(gemmac_session_position(s), 0);
}

// Hidden states: the last n_out rows of the whole batch's, the same rows as
// one-by-one evaluation gives, nothing written past them.
TEST_F(StateTest, EvalOutputsHiddenStates) {
  using fake::kHidden;
  const int32_t n = 11;
  const std::vector<int32_t> t = tokens(n);
  Session all(model.m), single(model.m);
  std::vector<float> hAll(size_t(n) * kHidden), hOne(size_t(n) * kHidden);
  ASSERT_EQ(gemmac_session_eval_outputs(all, t.data(), n, n, nullptr, hAll.data()), 0)
      << gemmac_last_error();
  for (int32_t i = 0; i < n; ++i)
    ASSERT_EQ(gemmac_session_eval_outputs(single, &t[i], 1, 1, nullptr,
                                          hOne.data() + size_t(i) * kHidden),
              0);
  EXPECT_EQ(hAll, hOne);
  for (int32_t k : {1, 5, 9}) {
    Session s(model.m);
    std::vector<float> h(size_t(k) * kHidden + 1, 7.0f);
    std::vector<float> l(size_t(k) * kVocab);
    ASSERT_EQ(gemmac_session_eval_outputs(s, t.data(), n, k, l.data(), h.data()), 0);
    EXPECT_EQ(std::memcmp(h.data(), hAll.data() + size_t(n - k) * kHidden,
                          size_t(k) * kHidden * 4),
              0)
        << "n_out " << k;
    EXPECT_EQ(h.back(), 7.0f) << "wrote past n_out rows";
  }
  // A program whose forward writes no hidden states refuses them.
  auto *meta = const_cast<int64_t *>(model.m->program->meta);
  meta[gemmac::abi::kMetaHiddenOutput] = 0;
  Session s(model.m);
  EXPECT_EQ(gemmac_session_eval_outputs(s, t.data(), n, 1, nullptr, hAll.data()), -1);
  meta[gemmac::abi::kMetaHiddenOutput] = 1;
  EXPECT_NE(std::string(gemmac_last_error()).find("does not write hidden states"),
            std::string::npos);
  EXPECT_EQ(gemmac_session_position(s), 0);
}

TEST_F(StateTest, LogitsKeptForTheLastToken) {
  Session s(model.m);
  EXPECT_EQ(gemmac_session_logits(s), nullptr);
  const std::vector<int32_t> t = tokens(6);
  ASSERT_EQ(gemmac_session_eval(s, t.data(), 6, nullptr, 0), 0);
  Session ref(model.m);
  EXPECT_TRUE(same(evalLast(ref, t), gemmac_session_logits(s)));
  gemmac_session_reset(s);
  EXPECT_EQ(gemmac_session_logits(s), nullptr);
}

} // namespace
