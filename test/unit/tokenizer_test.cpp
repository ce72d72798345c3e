// The Gemma 4 tokenizer on a hand-made vocabulary: special-token splitting,
// U+2581 spaces, newline runs, merge ranks, byte fallback, detokenization.

#include "abi/artifact_format.h"
#include "runtime/src/tokenizer.h"
#include "test/unit/tokenizer_section.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

using gemmac::rt::Tokenizer;
using gemmac::test::section;
using gemmac::test::Vocab;

namespace {

const std::string kSpace = "\xE2\x96\x81";

class TokenizerTest : public ::testing::Test {
protected:
  void SetUp() override {
    Vocab v;
    auto add = [&](const std::string &t, int32_t type) {
      v.tokens.push_back({t, type});
      return static_cast<int32_t>(v.tokens.size() - 1);
    };
    add("<pad>", 3);
    add("<eos>", 3);
    add("<bos>", 3);
    add("<unk>", 2);
    turnOpen = add("<|turn>", 3);
    turnClose = add("<turn|>", 3);
    quote = add("<|\"|>", 4); // user-defined: always matched
    for (int b = 0; b < 256; ++b) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "<0x%02X>", b);
      add(buf, 6);
    }
    for (const char *c : {"h", "e", "l", "o", "w", "r", "d", "a", "b", "\n"})
      add(c, 1);
    space = add(kSpace, 1);
    nn = add("\n\n", 1);
    he = add("he", 1);
    ll = add("ll", 1);
    hell = add("hell", 1);
    hello = add("hello", 1);
    spaceW = add(kSpace + "w", 1);
    // Merges in rank order; "o w" produces a piece that is not in the vocab.
    v.merges = {"l l", "h e", "he ll", "hell o", kSpace + " w", "a b"};
    std::string bytes = section(v, 2, {1, turnClose});
    std::string err;
    ASSERT_TRUE(tok.load(reinterpret_cast<const uint8_t *>(bytes.data()),
                         bytes.size(), err))
        << err;
  }

  int32_t byteToken(unsigned char c) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "<0x%02X>", c);
    return tok.find(buf);
  }

  Tokenizer tok;
  int32_t turnOpen, turnClose, quote, space, nn, he, ll, hell, hello, spaceW;
};

TEST_F(TokenizerTest, MergesByRankAndAddsBos) {
  EXPECT_EQ(tok.encode("hello", true, false),
            (std::vector<int32_t>{2, hello}));
  EXPECT_EQ(tok.encode("hello", false, false), (std::vector<int32_t>{hello}));
}

TEST_F(TokenizerTest, SpacesBecomeU2581AndMergeAcrossWords) {
  std::vector<int32_t> ids = tok.encode("hello world", false, false);
  ASSERT_GE(ids.size(), 3u);
  EXPECT_EQ(ids[0], hello);
  EXPECT_EQ(ids[1], spaceW);
}

TEST_F(TokenizerTest, NewlineRunsSplitAndStayWholeWhenInVocab) {
  std::vector<int32_t> ids = tok.encode("he\n\nhe\n\n\n", false, false);
  // "\n\n\n" is not a token: it is split into characters.
  int32_t nl = tok.find("\n");
  EXPECT_EQ(ids, (std::vector<int32_t>{he, nn, he, nl, nl, nl}));
}

TEST_F(TokenizerTest, UnknownCharactersFallBackToBytes) {
  std::vector<int32_t> ids = tok.encode("h\xC3\xA9", false, false); // "hé"
  EXPECT_EQ(ids, (std::vector<int32_t>{tok.find("h"), byteToken(0xC3),
                                       byteToken(0xA9)}));
}

TEST_F(TokenizerTest, MergedPieceOutsideVocabFallsBackToBytes) {
  // "ab" is merged but is not a token: its bytes are emitted.
  EXPECT_EQ(tok.encode("ab", false, false),
            (std::vector<int32_t>{byteToken('a'), byteToken('b')}));
}

TEST_F(TokenizerTest, InvalidUtf8BecomesReplacementCharacter) {
  std::vector<int32_t> ids = tok.encode("h\xFFh", false, false);
  EXPECT_EQ(ids, (std::vector<int32_t>{tok.find("h"), byteToken(0xEF),
                                       byteToken(0xBF), byteToken(0xBD),
                                       tok.find("h")}));
}

TEST_F(TokenizerTest, ControlTokensOnlyWithParseSpecial) {
  std::vector<int32_t> on = tok.encode("<|turn>he<turn|>", false, true);
  EXPECT_EQ(on, (std::vector<int32_t>{turnOpen, he, turnClose}));
  std::vector<int32_t> off = tok.encode("<|turn>", false, false);
  EXPECT_GT(off.size(), 1u);
  EXPECT_EQ(off.front(), byteToken('<'));
  // User-defined tokens are matched either way.
  EXPECT_EQ(tok.encode("<|\"|>", false, false), (std::vector<int32_t>{quote}));
}

TEST_F(TokenizerTest, PiecesRenderSpacesBytesAndSpecials) {
  EXPECT_EQ(tok.piece(spaceW), " w");
  EXPECT_EQ(tok.piece(byteToken(0x41)), "A");
  EXPECT_EQ(tok.piece(turnClose), "");
  EXPECT_EQ(tok.piece(turnClose, true), "<turn|>");
  EXPECT_EQ(tok.piece(quote), "<|\"|>");
  EXPECT_TRUE(tok.isEndOfGeneration(turnClose));
  EXPECT_TRUE(tok.isEndOfGeneration(1));
  EXPECT_FALSE(tok.isEndOfGeneration(turnOpen));
}

TEST(TokenizerLoad, SamplingDefaultsOverlayOnlyWhatTheModelStates) {
  Vocab v;
  // section() names ids 0, 1 and 3 as pad, eos and unk.
  v.tokens = {{"<pad>", 3}, {"<eos>", 3}, {"a", 1}, {"<unk>", 2}};
  gemmac::test::Sampling s;
  s.set = gemmac::artifact::kSamplingTemperature | gemmac::artifact::kSamplingTopK;
  s.temperature = 0.5f;
  s.topK = 7;
  s.topP = 0.1f; // not set: ignored
  std::string bytes = section(v, 0, {}, s);
  Tokenizer t;
  std::string err;
  ASSERT_TRUE(t.load(reinterpret_cast<const uint8_t *>(bytes.data()),
                     bytes.size(), err))
      << err;
  gemmac_sampler_params base{};
  base.temperature = 1;
  base.top_k = 64;
  base.top_p = 0.95f;
  const gemmac_sampler_params got = t.samplingDefaults(base);
  EXPECT_EQ(got.temperature, 0.5f);
  EXPECT_EQ(got.top_k, 7);
  EXPECT_EQ(got.top_p, 0.95f);

  // Values outside what the flags accept, and unknown bits, are refused.
  using Edit = void (*)(gemmac::test::Sampling &);
  const Edit edits[] = {[](gemmac::test::Sampling &x) {
                          x.set = gemmac::artifact::kSamplingTopP;
                          x.topP = 2;
                        },
                        [](gemmac::test::Sampling &x) {
                          x.set = gemmac::artifact::kSamplingTemperature;
                          x.temperature = std::nanf("");
                        },
                        [](gemmac::test::Sampling &x) { x.set = 1u << 9; }};
  for (Edit bad : edits) {
    gemmac::test::Sampling x;
    bad(x);
    std::string b = section(v, 0, {}, x);
    Tokenizer t2;
    EXPECT_FALSE(t2.load(reinterpret_cast<const uint8_t *>(b.data()), b.size(),
                         err));
    EXPECT_NE(err.find("sampling default out of range"), std::string::npos);
  }
}

TEST(TokenizerLoad, RejectsTruncatedAndOutOfRangeSections) {
  Tokenizer t;
  std::string err;
  std::string bad = "GMTK";
  EXPECT_FALSE(t.load(reinterpret_cast<const uint8_t *>(bad.data()),
                      bad.size(), err));
  Vocab v;
  v.tokens = {{"<pad>", 3}, {"a", 1}};
  std::string s = section(v, 7 /* bos out of range */, {});
  Tokenizer t2;
  EXPECT_FALSE(t2.load(reinterpret_cast<const uint8_t *>(s.data()), s.size(),
                       err));
  EXPECT_NE(err.find("out of range"), std::string::npos);
  std::string ok = section(v, 0, {});
  Tokenizer t3;
  EXPECT_FALSE(t3.load(reinterpret_cast<const uint8_t *>(ok.data()),
                       ok.size() - 3, err));
}

} // namespace
