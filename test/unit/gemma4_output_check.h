// Shared checks for the Gemma 4 output parser tests: the streaming invariant
// (however a text is split into pieces, the deltas add up to the whole-text
// parse, each delta is whole UTF-8 characters, and nothing is emitted that a
// later byte would have turned into a marker).
#pragma once

#include "runtime/chat/gemma4_output.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace gemmac::chat::test {

// A Gemma string delimiter, to keep the cases readable.
inline const std::string Q = "<|\"|>";

inline bool isWholeUtf8(const std::string &s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char b = s[i];
    size_t n = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > s.size())
      return false;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80)
        return false;
    i += n;
  }
  return true;
}

inline void expectSameMessage(const Message &got, const Message &want,
                       const std::string &where) {
  EXPECT_EQ(got.content, want.content) << where;
  EXPECT_EQ(got.reasoning, want.reasoning) << where;
  ASSERT_EQ(got.toolCalls.size(), want.toolCalls.size()) << where;
  for (size_t i = 0; i < want.toolCalls.size(); ++i) {
    EXPECT_EQ(got.toolCalls[i].id, want.toolCalls[i].id) << where;
    EXPECT_EQ(got.toolCalls[i].name, want.toolCalls[i].name) << where;
    EXPECT_EQ(got.toolCalls[i].argumentsJson, want.toolCalls[i].argumentsJson)
        << where;
  }
}

// Streams `text` cut at `cuts` (increasing offsets) and checks the invariant
// against `whole`: every delta is whole characters, what was streamed so far is
// always a prefix of the final content/reasoning/calls, and the sum is equal.
inline void checkStream(const std::string &text, const std::vector<size_t> &cuts,
                 const Message &whole) {
  std::string where = "cuts:";
  for (size_t c : cuts)
    where += " " + std::to_string(c);
  Gemma4StreamParser parser;
  Message sum;
  auto take = [&](const std::vector<Delta> &deltas) {
    for (const Delta &d : deltas) {
      if (d.kind == Delta::ToolCallDone) {
        sum.toolCalls.push_back(d.call);
        ASSERT_LE(sum.toolCalls.size(), whole.toolCalls.size()) << where;
        continue;
      }
      EXPECT_FALSE(d.text.empty()) << where;
      EXPECT_TRUE(isWholeUtf8(d.text)) << where;
      std::string &field = d.kind == Delta::Content ? sum.content : sum.reasoning;
      const std::string &final =
          d.kind == Delta::Content ? whole.content : whole.reasoning;
      field += d.text;
      ASSERT_EQ(final.compare(0, field.size(), field), 0)
          << where << ": streamed text is not a prefix of the final text";
    }
  };
  size_t prev = 0;
  for (size_t c : cuts) {
    take(parser.feed(std::string_view(text).substr(prev, c - prev)));
    prev = c;
  }
  take(parser.feed(std::string_view(text).substr(prev)));
  take(parser.finish());
  expectSameMessage(sum, whole, where);
  expectSameMessage(parser.message(), whole, where);
}

// Every single cut, every byte on its own, and random multi-cuts.
inline void checkAllSplits(const std::string &text) {
  Message whole = parseGemma4Output(text);
  for (size_t c = 0; c <= text.size(); ++c)
    checkStream(text, {c}, whole);
  std::vector<size_t> each;
  for (size_t c = 1; c < text.size(); ++c)
    each.push_back(c);
  checkStream(text, each, whole);
  std::mt19937 rng(static_cast<unsigned>(text.size()));
  for (int round = 0; round < 50 && !text.empty(); ++round) {
    std::vector<size_t> cuts;
    for (size_t c = 1; c < text.size(); ++c)
      if (rng() % 4 == 0)
        cuts.push_back(c);
    checkStream(text, cuts, whole);
  }
}

} // namespace gemmac::chat::test
