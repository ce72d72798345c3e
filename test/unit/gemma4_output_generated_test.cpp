// The Gemma 4 output parser on random well-formed outputs, written the way the
// chat template writes them, against the expected message built alongside.

#include "runtime/chat/gemma4_output.h"
#include "test/unit/gemma4_output_check.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <random>
#include <string>
#include <vector>

using gemmac::chat::Message;
using gemmac::chat::parseGemma4Output;
using namespace gemmac::chat::test;

namespace {

// Random well-formed outputs written the way the chat template writes them
// (format_argument), with the expected message built alongside as JSON.
class OutputGenerator {
 public:
  explicit OutputGenerator(unsigned seed) : rng_(seed) {}

  // Text without markers: no '|' (every marker but <eos> has one) and no
  // 'e'/'o'/'s'/'l' (no <eos>, no "call:").
  std::string plainText(size_t maxLen) {
    static const std::vector<std::string> kPieces = {
        "a", "b", "d", "x", "y", "z", " ", "\n", "<", ">", "{", "}", ":", ",",
        "\"", "\\", "\t", "\xc3\xa9", "\xf0\x9f\x98\x80", "[", "]"};
    std::string s;
    for (size_t n = rng_() % (maxLen + 1); n > 0; --n)
      s += kPieces[rng_() % kPieces.size()];
    return s;
  }

  // A value as Gemma text, and the same value as JSON.
  void value(int depth, std::string &gemma, nlohmann::json &json) {
    static const char *kNumbers[] = {"0", "-7", "42", "3.14", "1.5e10", "-2E-3", "1e+2"};
    switch (rng_() % (depth < 3 ? 7 : 5)) {
    case 0: {
      std::string s = plainText(12);
      gemma += Q + s + Q;
      json = s;
      break;
    }
    case 1: {
      const char *n = kNumbers[rng_() % 7];
      gemma += n;
      json = nlohmann::json::parse(n);
      break;
    }
    case 2: gemma += "true"; json = true; break;
    case 3: gemma += "false"; json = false; break;
    case 4: gemma += "null"; json = nullptr; break;
    case 5: object(depth + 1, gemma, json); break;
    default: {
      gemma += "[";
      json = nlohmann::json::array();
      for (size_t i = 0, n = rng_() % 4; i < n; ++i) {
        if (i)
          gemma += ",";
        nlohmann::json item;
        value(depth + 1, gemma, item);
        json.push_back(item);
      }
      gemma += "]";
    }
    }
  }

  void object(int depth, std::string &gemma, nlohmann::json &json) {
    gemma += "{";
    json = nlohmann::json::object();
    for (size_t i = 0, n = rng_() % 4; i < n; ++i) {
      std::string key = "k" + std::to_string(i) + (rng_() % 2 ? "_x" : "");
      gemma += (i ? "," : "") + key + ":";
      value(depth, gemma, json[key]);
    }
    gemma += "}";
  }

  // One output and the message expected from it (arguments as JSON values).
  std::string output(Message &want, std::vector<nlohmann::json> &args) {
    std::string text;
    if (rng_() % 2) {
      std::string body = "x" + plainText(20);
      text += "<|channel>thought\n" + body + "<channel|>";
      want.reasoning += body;
    }
    for (size_t i = 0, n = rng_() % 5; i < n; ++i) {
      if (rng_() % 2) {
        std::string s = plainText(20);
        text += s;
        want.content += s;
        continue;
      }
      std::string name = "fn_" + std::to_string(rng_() % 100);
      std::string gemma;
      nlohmann::json json;
      object(0, gemma, json);
      text += "<|tool_call>call:" + name + gemma + "<tool_call|>";
      want.toolCalls.push_back({"call_" + std::to_string(want.toolCalls.size()), name, ""});
      args.push_back(json);
    }
    if (rng_() % 2)
      text += rng_() % 2 ? "<|tool_response>" : "<turn|>";
    return text;
  }

 private:
  std::mt19937 rng_;
};

TEST(Gemma4Output, GeneratedOutputs) {
  OutputGenerator gen(12345);
  for (int i = 0; i < 400; ++i) {
    Message want;
    std::vector<nlohmann::json> args;
    std::string text = gen.output(want, args);
    SCOPED_TRACE(text);
    Message got = parseGemma4Output(text);
    EXPECT_EQ(got.content, want.content);
    EXPECT_EQ(got.reasoning, want.reasoning);
    ASSERT_EQ(got.toolCalls.size(), want.toolCalls.size());
    for (size_t k = 0; k < args.size(); ++k) {
      EXPECT_EQ(got.toolCalls[k].id, want.toolCalls[k].id);
      EXPECT_EQ(got.toolCalls[k].name, want.toolCalls[k].name);
      nlohmann::json parsed =
          nlohmann::json::parse(got.toolCalls[k].argumentsJson, nullptr, false);
      EXPECT_EQ(parsed, args[k]) << got.toolCalls[k].argumentsJson;
    }
    std::mt19937 rng(i);
    std::vector<size_t> cuts;
    for (size_t c = 1; c < text.size(); ++c)
      if (rng() % 3 == 0)
        cuts.push_back(c);
    checkStream(text, cuts, got);
  }
}

} // namespace
