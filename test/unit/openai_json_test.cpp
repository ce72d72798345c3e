// Parsed Gemma 4 output as OpenAI JSON (runtime/chat/openai_json.h): the
// message and delta objects serve and the C API send, against JSON written
// by hand from OpenAI's chat completion format.
#include "runtime/chat/openai_json.h"

#include <gtest/gtest.h>

using namespace gemmac::chat;
using nlohmann::json;

namespace {
json messageOf(const std::string &text) { return messageJson(parseGemma4Output(text)); }
} // namespace

TEST(OpenAIJson, PlainAnswer) {
  EXPECT_EQ(messageOf("Paris."), json::parse(R"({"role":"assistant","content":"Paris."})"));
}

TEST(OpenAIJson, ThoughtBecomesReasoningContent) {
  EXPECT_EQ(messageOf("<|channel>thought\nLet me see.<channel|>Paris."),
            json::parse(R"({"role":"assistant","content":"Paris.","reasoning_content":"Let me see."})"));
}

TEST(OpenAIJson, ToolCallsOnlyHaveNullContent) {
  json m = messageOf("<|tool_call>call:get_weather{city:<|\"|>Paris<|\"|>,days:2}<tool_call|>"
                     "<|tool_call>call:now{}<tool_call|>");
  EXPECT_EQ(m, json::parse(R"({"role":"assistant","content":null,"tool_calls":[
      {"id":"call_0","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\",\"days\":2}"}},
      {"id":"call_1","type":"function","function":{"name":"now","arguments":"{}"}}]})"));
  // The arguments are JSON text a client parses.
  EXPECT_EQ(json::parse(m["tool_calls"][0]["function"]["arguments"].get<std::string>()),
            json::parse(R"({"city":"Paris","days":2})"));
}

TEST(OpenAIJson, Deltas) {
  Delta content{Delta::Content, "Hel", {}};
  Delta reasoning{Delta::Reasoning, "hmm", {}};
  Delta call{Delta::ToolCallDone, "", {"call_3", "f", "{\"x\":1}"}};
  EXPECT_EQ(deltaJson(content, 0), json::parse(R"({"content":"Hel"})"));
  EXPECT_EQ(deltaJson(reasoning, 0), json::parse(R"({"reasoning_content":"hmm"})"));
  EXPECT_EQ(deltaJson(call, 2), json::parse(R"({"tool_calls":[{"index":2,"id":"call_3","type":"function",
      "function":{"name":"f","arguments":"{\"x\":1}"}}]})"));
}

TEST(OpenAIJson, InvalidUtf8NeverAborts) {
  json j = json::object();
  j["content"] = std::string("a\xff\xfe" "b");
  EXPECT_EQ(dumpJson(j), "{\"content\":\"a\xef\xbf\xbd\xef\xbf\xbd" "b\"}");
}
