// libFuzzer harness for the Gemma 4 output parser. The input is the model
// text; its hash seeds random split points. Checks: no crash or hang, every
// delta is whole valid UTF-8, streamed text is always a prefix of the final
// text, the streamed sum equals the whole-text parse (split at random points
// and byte by byte), and every tool call's arguments are a JSON object.
//
// Build: clang++-22 -fsanitize=fuzzer,address,undefined -O1 -g -std=c++17
//   -I. test/fuzz/gemma4_output_fuzz.cpp runtime/chat/gemma4_output.cpp
//   runtime/chat/gemma4_call.cpp
// Run:   ./a.out test/fuzz/corpus/gemma4_output -dict=test/fuzz/gemma4_output.dict

#include "runtime/chat/gemma4_output.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

using gemmac::chat::Delta;
using gemmac::chat::Gemma4StreamParser;
using gemmac::chat::Message;

namespace {

void check(bool ok, const char *what) {
  if (!ok) {
    std::fprintf(stderr, "gemma4_output_fuzz: %s\n", what);
    std::abort();
  }
}

// Strict UTF-8 (no overlongs, surrogates or values above U+10FFFF).
bool isValidUtf8(const std::string &s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char b = s[i];
    size_t n;
    uint32_t cp;
    if (b < 0x80) { n = 1; cp = b; }
    else if ((b >> 5) == 6) { n = 2; cp = b & 0x1f; }
    else if ((b >> 4) == 14) { n = 3; cp = b & 0x0f; }
    else if ((b >> 3) == 30) { n = 4; cp = b & 0x07; }
    else return false;
    if (i + n > s.size())
      return false;
    for (size_t k = 1; k < n; ++k) {
      unsigned char c = s[i + k];
      if ((c & 0xC0) != 0x80)
        return false;
      cp = cp << 6 | (c & 0x3f);
    }
    static const uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += n;
  }
  return true;
}

bool sameMessage(const Message &a, const Message &b) {
  if (a.content != b.content || a.reasoning != b.reasoning ||
      a.toolCalls.size() != b.toolCalls.size())
    return false;
  for (size_t i = 0; i < a.toolCalls.size(); ++i) {
    const auto &x = a.toolCalls[i], &y = b.toolCalls[i];
    if (x.id != y.id || x.name != y.name || x.argumentsJson != y.argumentsJson)
      return false;
  }
  return true;
}

void stream(std::string_view text, const std::vector<size_t> &cuts,
            const Message &whole) {
  Gemma4StreamParser parser;
  Message sum;
  auto take = [&](const std::vector<Delta> &deltas) {
    for (const Delta &d : deltas) {
      if (d.kind == Delta::ToolCallDone) {
        sum.toolCalls.push_back(d.call);
        continue;
      }
      check(!d.text.empty(), "empty text delta");
      check(isValidUtf8(d.text), "delta is not whole valid UTF-8");
      std::string &field = d.kind == Delta::Content ? sum.content : sum.reasoning;
      const std::string &final =
          d.kind == Delta::Content ? whole.content : whole.reasoning;
      field += d.text;
      check(final.compare(0, field.size(), field) == 0,
            "streamed text is not a prefix of the final text");
    }
  };
  size_t prev = 0;
  for (size_t c : cuts) {
    take(parser.feed(text.substr(prev, c - prev)));
    prev = c;
  }
  take(parser.feed(text.substr(prev)));
  take(parser.finish());
  check(sameMessage(sum, whole), "streamed deltas differ from the whole parse");
  check(sameMessage(parser.message(), whole), "message() differs");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string_view text(reinterpret_cast<const char *>(data), size);
  Message whole = gemmac::chat::parseGemma4Output(text);
  check(isValidUtf8(whole.content), "content is not valid UTF-8");
  check(isValidUtf8(whole.reasoning), "reasoning is not valid UTF-8");
  for (const auto &call : whole.toolCalls) {
    check(!call.name.empty(), "empty tool name");
    check(isValidUtf8(call.argumentsJson), "arguments are not valid UTF-8");
    nlohmann::json args = nlohmann::json::parse(call.argumentsJson, nullptr, false);
    check(!args.is_discarded() && args.is_object(), "arguments are not a JSON object");
  }
  // Random cuts from an FNV-1a hash of the input (deterministic per input).
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < size; ++i)
    h = (h ^ data[i]) * 1099511628211ull;
  for (int round = 0; round < 4; ++round) {
    std::vector<size_t> cuts;
    for (size_t c = 1; c < size; ++c) {
      h ^= h << 13, h ^= h >> 7, h ^= h << 17;
      if (h % (round + 2) == 0)
        cuts.push_back(c);
    }
    stream(text, cuts, whole);
  }
  if (size <= 512) {
    std::vector<size_t> each;
    for (size_t c = 1; c < size; ++c)
      each.push_back(c);
    stream(text, each, whole);
  }
  return 0;
}
