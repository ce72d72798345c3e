// The Gemma 4 output parser against hand-written expected messages, each also
// streamed at every split (gemma4_output_check.h), plus streaming specifics.

#include "runtime/chat/gemma4_output.h"
#include "test/unit/gemma4_output_check.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <string>
#include <vector>

using gemmac::chat::Delta;
using gemmac::chat::Gemma4StreamParser;
using gemmac::chat::Message;
using gemmac::chat::parseGemma4Output;
using gemmac::chat::ToolCall;
using namespace gemmac::chat::test;

namespace {

struct Case {
  const char *name;
  std::string input;
  std::string content, reasoning;
  std::vector<std::pair<std::string, std::string>> calls; // name, arguments
};

std::vector<Case> corpus() {
  std::vector<Case> c;
  auto add = [&](const char *name, std::string in, std::string content,
                 std::string reasoning = "",
                 std::vector<std::pair<std::string, std::string>> calls = {}) {
    c.push_back({name, std::move(in), std::move(content), std::move(reasoning),
                 std::move(calls)});
  };
  auto raw = [&](const char *name, std::string in) { add(name, in, in); };
  // Plain answers.
  add("plain", "Hello, world!", "Hello, world!");
  add("empty", "", "");
  add("whitespace kept", "\n  Hi there.\n\n", "\n  Hi there.\n\n");
  add("unicode", "Grüße 😀 — 中文", "Grüße 😀 — 中文");
  add("unknown markers are text", "a <|image|> b <tool_call|> c <|\"|> d <x>",
      "a <|image|> b <tool_call|> c <|\"|> d <x>");
  add("lone angle brackets", "a < b <| c <chan", "a < b <| c <chan");
  // Thoughts (llama.cpp tests/test-chat.cpp vectors first).
  add("thought", "<|channel>thought\nI'm\nthinking<channel|>Hello, world!\nWhat's up?",
      "Hello, world!\nWhat's up?", "I'm\nthinking");
  add("empty thought no newline", "<|channel>thought<channel|>Hello", "Hello", "");
  add("empty thought", "<|channel>thought\n<channel|>Hello", "Hello", "");
  add("thought spaces after name", "<|channel>thought \n\n  A\n<channel|>B", "B", "A\n");
  add("thought multi-line", "<|channel>thought\nline 1\n\nline 3\n<channel|>\nAnswer",
      "\nAnswer", "line 1\n\nline 3\n");
  add("thought with marker-like text",
      "<|channel>thought\nuse <|tool_call>call:f{} or " + Q + "x" + Q +
          " <|channel> <tool_call|><channel|>ok",
      "ok", "use <|tool_call>call:f{} or " + Q + "x" + Q + " <|channel> <tool_call|>");
  add("unterminated thought", "<|channel>thought\nstill thinking", "",
      "still thinking");
  add("thought name only", "<|channel>thought", "", "");
  add("thought name glued", "<|channel>thoughtful<channel|>x", "x", "ful");
  add("trailing stray close", "<|channel>thought\n<channel|>Hello, world!\nWhat's up?<channel|>",
      "Hello, world!\nWhat's up?");
  add("trailing empty thought",
      "<|channel>thought\n<channel|>Hello, world!\nWhat's up?<|channel>thought\n<channel|>",
      "Hello, world!\nWhat's up?");
  add("trailing empty thought and close",
      "<|channel>thought\n<channel|>Hi<|channel>thought\n<channel|><channel|>", "Hi");
  add("doubled channel open", "<|channel><|channel>thought\n<channel|>Hello", "Hello");
  add("two thoughts", "<|channel>thought\nA<channel|>x<|channel>thought\nB<channel|>y",
      "xy", "AB");
  add("other channel is text", "<|channel>analysis\nfoo<channel|>bar",
      "<|channel>analysis\nfoobar");
  // Tool calls.
  add("call string", "<|tool_call>call:get_time{city:" + Q + "London" + Q + "}<tool_call|>",
      "", "", {{"get_time", R"({"city":"London"})"}});
  add("call empty args", "<|tool_call>call:empty_args{}<tool_call|>", "", "",
      {{"empty_args", "{}"}});
  add("content then call",
      "Hello, world!\nWhat's up?<|tool_call>call:get_time{city:" + Q + "Paris" + Q + "}<tool_call|>",
      "Hello, world!\nWhat's up?", "", {{"get_time", R"({"city":"Paris"})"}});
  add("call then content", "<|tool_call>call:f{}<tool_call|>\nDone.", "\nDone.", "",
      {{"f", "{}"}});
  add("two calls",
      "<|tool_call>call:get_time{city:" + Q + "London" + Q + "}<tool_call|>"
      "<|tool_call>call:get_weather{city:" + Q + "Paris" + Q + "}<tool_call|>",
      "", "", {{"get_time", R"({"city":"London"})"}, {"get_weather", R"({"city":"Paris"})"}});
  add("three calls with text between",
      "a<|tool_call>call:f{}<tool_call|>b<|tool_call>call:g{x:1}<tool_call|>\n"
      "<|tool_call>call:h{y:2}<tool_call|>c",
      "ab\nc", "", {{"f", "{}"}, {"g", R"({"x":1})"}, {"h", R"({"y":2})"}});
  add("thought then call",
      "<|channel>thought\nI'm\nthinking<channel|><|tool_call>call:get_time{city:" + Q +
          "Paris" + Q + "}<tool_call|>",
      "", "I'm\nthinking", {{"get_time", R"({"city":"Paris"})"}});
  add("numbers",
      "<|tool_call>call:n{a:42,b:-7,c:3.14,d:1.5e10,e:0,f:-0.5,g:1E-5,h:2e+3,i:-0}<tool_call|>",
      "", "",
      {{"n", R"({"a":42,"b":-7,"c":3.14,"d":1.5e10,"e":0,"f":-0.5,"g":1E-5,"h":2e+3,"i":-0})"}});
  add("numbers at the edge of double",
      "<|tool_call>call:n{a:1.7976931348623157e308,b:-179769313486231570000e288,"
      "c:1e-400,d:0e99999,e:123456789012345678901234567890,f:0.000001e313}<tool_call|>",
      "", "",
      {{"n", R"({"a":1.7976931348623157e308,"b":-179769313486231570000e288,"c":1e-400,"d":0e99999,"e":123456789012345678901234567890,"f":0.000001e313})"}});
  add("booleans and null", "<|tool_call>call:t{on:true,off:false,v:null,w:None}<tool_call|>",
      "", "", {{"t", R"({"on":true,"off":false,"v":null,"w":null})"}});
  add("array", "<|tool_call>call:todo{todos:[" + Q + "buy milk" + Q + "," + Q + "walk dog" + Q + "]}<tool_call|>",
      "", "", {{"todo", R"({"todos":["buy milk","walk dog"]})"}});
  add("nested", "<|tool_call>call:cfg{config:{theme:" + Q + "dark" + Q +
                    ",count:3,tags:[[1,2],[],{k:[true]}],sub:{}}}<tool_call|>",
      "", "", {{"cfg", R"({"config":{"theme":"dark","count":3,"tags":[[1,2],[],{"k":[true]}],"sub":{}}})"}});
  add("empty array and dict", "<|tool_call>call:e{a:[],b:{}}<tool_call|>", "", "",
      {{"e", R"({"a":[],"b":{}})"}});
  add("string special chars",
      "<|tool_call>call:w{s:" + Q + "{a:1}, [b]: \"q\" 'x' \\ back\\n\nline\ttab" + Q + "}<tool_call|>",
      "", "", {{"w", R"({"s":"{a:1}, [b]: \"q\" 'x' \\ back\\n\nline\ttab"})"}});
  add("string with markers inside",
      "<|tool_call>call:w{s:" + Q + "<tool_call|><|tool_call><|channel><channel|>" + Q + "}<tool_call|>",
      "", "", {{"w", R"({"s":"<tool_call|><|tool_call><|channel><channel|>"})"}});
  add("string unicode and control",
      "<|tool_call>call:w{s:" + Q + "é😀\x01\x1f" + Q + ",e:" + Q + Q + "}<tool_call|>",
      "", "", {{"w", "{\"s\":\"é😀\\u0001\\u001f\",\"e\":\"\"}"}});
  add("quoted keys", "<|tool_call>call:k{" + Q + "my key" + Q + ":1,o:{" + Q + "a:b" + Q + ":2}}<tool_call|>",
      "", "", {{"k", R"({"my key":1,"o":{"a:b":2}})"}});
  add("bare key with space and quote-free symbols",
      "<|tool_call>call:k{first name:1,$x.y-z:2}<tool_call|>", "", "",
      {{"k", R"({"first name":1,"$x.y-z":2})"}});
  add("whitespace between tokens",
      "<|tool_call>call:f{ a : 1 ,\n b : [ 1 , " + Q + "x" + Q + " ] , c : { } }\n<tool_call|>",
      "", "", {{"f", R"({"a":1,"b":[1,"x"],"c":{}})"}});
  add("namespaced name", "<|tool_call>call:mcp.files/read-v2{}<tool_call|>", "", "",
      {{"mcp.files/read-v2", "{}"}});
  // Calls that lost their `<|tool_call>` opener (vLLM issue #54256).
  add("bare call after thought",
      "<|channel>thought\nLet me inspect.\n<channel|>call:bash{command:" + Q + "cat x" + Q + "}",
      "", "Let me inspect.\n", {{"bash", R"({"command":"cat x"})"}});
  add("bare call with close", "call:f{a:1}<tool_call|>", "", "", {{"f", R"({"a":1})"}});
  add("bare call after whitespace", "\n call:f{} \n<tool_call|>", "", "", {{"f", "{}"}});
  add("bare call then content", "call:f{}\nDone", "\nDone", "", {{"f", "{}"}});
  add("bare call then half close", "call:f{} <tool_c", " <tool_c", "", {{"f", "{}"}});
  add("bare call after call", "<|tool_call>call:a{}<tool_call|>call:b{}<|tool_response>",
      "", "", {{"a", "{}"}, {"b", "{}"}});
  add("bare call after thought and space",
      "<|channel>thought\nx<channel|>\ncall:f{}", "", "x", {{"f", "{}"}});
  raw("bare call malformed", "call:f{a:}");
  raw("bare call without brace", "call: me maybe");
  raw("call word mid content", "Use call:f{} here");
  raw("calls at start", "calls are fun");
  raw("cal at end", "cal");
  raw("whitespace only", " \n ");
  add("call word after content and thought", "a<|channel>thought\nx<channel|>b call:f{}",
      "ab call:f{}", "x");
  // Stop markers end the message.
  add("stop turn", "Hi<turn|>ignored <|tool_call>call:f{}<tool_call|>", "Hi");
  add("stop eos", "Hi<eos>more", "Hi");
  add("stop tool response", "<|tool_call>call:f{}<tool_call|><|tool_response>response:f{}",
      "", "", {{"f", "{}"}});
  add("stop inside thought", "<|channel>thought\nab<turn|>cd", "", "ab");
  add("stop inside call string", "<|tool_call>call:f{a:" + Q + "x<eos>y" + Q + "}<tool_call|>",
      "<|tool_call>call:f{a:" + Q + "x");
  add("half stop at end", "Hi<turn", "Hi<turn");
  // Malformed calls: the marker and what follows are plain content.
  raw("unterminated string", "<|tool_call>call:f{a:" + Q + "abc}<tool_call|>");
  raw("unterminated call", "<|tool_call>call:f{a:1}");
  raw("unterminated args", "<|tool_call>call:f{a:1");
  raw("missing call:", "<|tool_call>f{a:1}<tool_call|>");
  raw("garbage after name", "<|tool_call>call:f x{a:1}<tool_call|>");
  raw("garbage after args", "<|tool_call>call:f{a:1}x<tool_call|>");
  raw("empty name", "<|tool_call>call:{}<tool_call|>");
  raw("unbalanced open", "<|tool_call>call:f{a:{b:1}<tool_call|>");
  raw("unbalanced close", "<|tool_call>call:f{a:1}}<tool_call|>");
  raw("unbalanced array", "<|tool_call>call:f{a:[1,2}<tool_call|>");
  raw("bare word value", "<|tool_call>call:f{city:London}<tool_call|>");
  raw("trailing comma", "<|tool_call>call:f{a:1,}<tool_call|>");
  raw("missing value", "<|tool_call>call:f{a:}<tool_call|>");
  raw("missing colon", "<|tool_call>call:f{a}<tool_call|>");
  raw("args not an object", "<|tool_call>call:f[1]<tool_call|>");
  raw("leading zero", "<|tool_call>call:f{a:01}<tool_call|>");
  raw("bad fraction", "<|tool_call>call:f{a:1.}<tool_call|>");
  raw("bad exponent", "<|tool_call>call:f{a:1e}<tool_call|>");
  raw("leading dot", "<|tool_call>call:f{a:.5}<tool_call|>");
  raw("lone minus", "<|tool_call>call:f{a:-}<tool_call|>");
  raw("beyond double", "<|tool_call>call:f{a:1.8e308}<tool_call|>");
  raw("far beyond double", "<|tool_call>call:f{a:-2.5e3117}<tool_call|>");
  raw("huge exponent", "<|tool_call>call:f{a:1e99999999999999999999999}<tool_call|>");
  raw("inf", "<|tool_call>call:f{a:inf}<tool_call|>");
  raw("bad literal", "<|tool_call>call:f{a:tru}<tool_call|>");
  raw("literal glued", "<|tool_call>call:f{a:truex}<tool_call|>");
  raw("json quotes", "<|tool_call>call:f{\"a\":\"b\"}<tool_call|>");
  raw("call marker at end", "Hello<|tool_call>");
  raw("call word at end", "Hello<|tool_call>call:");
  raw("channel marker at end", "Hello<|channel>");
  raw("half channel marker at end", "Hello<|chan");
  raw("half call marker at end", "Hello<|tool_ca");
  add("wrong close", "<|tool_call>call:f{}<channel|>", "<|tool_call>call:f{}");
  std::string deep = "<|tool_call>call:f{a:";
  for (int i = 0; i < 100; ++i)
    deep += "[";
  for (int i = 0; i < 100; ++i)
    deep += "]";
  deep += "}<tool_call|>";
  raw("nesting too deep", deep);
  add("malformed then valid call",
      "<|tool_call>call:bad<tool_call|><|tool_call>call:ok{}<tool_call|>",
      "<|tool_call>call:bad<tool_call|>", "", {{"ok", "{}"}});
  add("malformed call then thought",
      "<|tool_call>call:f{a:" + Q + "<|channel>thought\nx",
      "<|tool_call>call:f{a:" + Q, "x");
  // Invalid UTF-8 becomes U+FFFD (one per maximal invalid subpart).
  add("invalid byte", "a\xff" "b", "a\xEF\xBF\xBD" "b");
  add("truncated at end", "a\xe2\x82", "a\xEF\xBF\xBD");
  add("truncated then ascii", "\xe2\x82" "A", "\xEF\xBF\xBD" "A");
  add("surrogate", "\xed\xa0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  add("overlong", "\xc0\xaf", "\xEF\xBF\xBD\xEF\xBF\xBD");
  const std::string R = "\xEF\xBF\xBD";
  add("above U+10FFFF", "\xf4\x90\x80\x80", R + R + R + R);
  add("invalid in argument", "<|tool_call>call:f{s:" + Q + "\xff" + Q + "}<tool_call|>",
      "", "", {{"f", "{\"s\":\"\xEF\xBF\xBD\"}"}});
  return c;
}

TEST(Gemma4Output, Corpus) {
  for (const Case &k : corpus()) {
    SCOPED_TRACE(k.name);
    Message want;
    want.content = k.content;
    want.reasoning = k.reasoning;
    for (size_t i = 0; i < k.calls.size(); ++i)
      want.toolCalls.push_back(
          {"call_" + std::to_string(i), k.calls[i].first, k.calls[i].second});
    Message got = parseGemma4Output(k.input);
    expectSameMessage(got, want, k.name);
    for (const ToolCall &call : got.toolCalls) {
      nlohmann::json args = nlohmann::json::parse(call.argumentsJson, nullptr, false);
      EXPECT_FALSE(args.is_discarded()) << call.argumentsJson;
      EXPECT_TRUE(args.is_object()) << call.argumentsJson;
    }
    checkAllSplits(k.input);
  }
}

TEST(Gemma4Output, ArgumentsRoundTripThroughJson) {
  // The escaped string decodes back to the exact bytes between the delimiters.
  std::string s = "quote\" back\\ nl\n tab\t ctl\x02 \xc3\xa9 {,:} <|x|>";
  Message m = parseGemma4Output("<|tool_call>call:f{s:" + Q + s + Q + "}<tool_call|>");
  ASSERT_EQ(m.toolCalls.size(), 1u);
  nlohmann::json args = nlohmann::json::parse(m.toolCalls[0].argumentsJson);
  EXPECT_EQ(args["s"].get<std::string>(), s);
}

TEST(Gemma4Output, IdPrefix) {
  std::string text = "<|tool_call>call:f{}<tool_call|><|tool_call>call:g{}<tool_call|>";
  Message m = parseGemma4Output(text, "call_req7_");
  ASSERT_EQ(m.toolCalls.size(), 2u);
  EXPECT_EQ(m.toolCalls[0].id, "call_req7_0");
  EXPECT_EQ(m.toolCalls[1].id, "call_req7_1");
  Gemma4StreamParser stream("x");
  stream.feed(text);
  stream.finish();
  EXPECT_EQ(stream.message().toolCalls.at(1).id, "x1");
}

TEST(Gemma4Output, StreamsIncrementally) {
  Gemma4StreamParser p;
  std::vector<Delta> d = p.feed("<|channel>thought\nLet me");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].kind, Delta::Reasoning);
  EXPECT_EQ(d[0].text, "Let me");
  d = p.feed(" see<chan"); // "<chan" may be the close marker
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].text, " see");
  d = p.feed("nel|>Hi \xe2\x82"); // half of a euro sign is held back
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].kind, Delta::Content);
  EXPECT_EQ(d[0].text, "Hi ");
  d = p.feed("\xac<|tool_call>call:f{a:" + Q + "x");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].text, "\xe2\x82\xac");
  EXPECT_TRUE(p.feed("y" + Q + "}<tool_").empty()); // a call is one delta
  d = p.feed("call|><turn|>");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].kind, Delta::ToolCallDone);
  EXPECT_EQ(d[0].call.argumentsJson, R"({"a":"xy"})");
  EXPECT_TRUE(p.stopped());
  EXPECT_TRUE(p.feed("more").empty());
  EXPECT_TRUE(p.finish().empty());
  EXPECT_EQ(p.message().content, "Hi \xe2\x82\xac");
  EXPECT_EQ(p.message().reasoning, "Let me see");
}

TEST(Gemma4Output, FinishFlushesHeldText) {
  Gemma4StreamParser p;
  EXPECT_TRUE(p.feed("<|tool_call>call:f{a:1}").empty());
  std::vector<Delta> d = p.finish();
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].kind, Delta::Content);
  EXPECT_EQ(d[0].text, "<|tool_call>call:f{a:1}");
}

TEST(Gemma4Output, LongStringArgumentStreamsInLinearTime) {
  // 1.2 MB of argument fed a few bytes at a time must not re-parse the call
  // on every piece.
  std::string body(1200000, 'x');
  for (size_t i = 0; i < body.size(); i += 97)
    body[i] = '<';
  std::string text = "<|tool_call>call:write{data:" + Q + body + Q + "}<tool_call|>";
  auto start = std::chrono::steady_clock::now();
  Gemma4StreamParser p;
  for (size_t i = 0; i < text.size(); i += 3)
    EXPECT_TRUE(p.feed(std::string_view(text).substr(i, 3)).empty() ||
                i + 3 >= text.size());
  p.finish();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_EQ(p.message().toolCalls.size(), 1u);
  EXPECT_EQ(p.message().toolCalls[0].argumentsJson.size(), body.size() + 11);
  EXPECT_LT(seconds, 3.0);
}

TEST(Gemma4Output, LongContentStreamsInLinearTime) {
  std::string text;
  for (int i = 0; i < 50000; ++i)
    text += "word <| ";
  auto start = std::chrono::steady_clock::now();
  Gemma4StreamParser p;
  for (size_t i = 0; i < text.size(); i += 2)
    p.feed(std::string_view(text).substr(i, 2));
  p.finish();
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(p.message().content, text);
  EXPECT_LT(seconds, 5.0);
}

} // namespace
