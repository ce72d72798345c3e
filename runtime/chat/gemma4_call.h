// Internal pieces of the Gemma 4 output parser: the tool-call body parser
// (Gemma's argument syntax -> JSON text) and the UTF-8 sanitizer.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace gemmac::chat::detail {

inline constexpr std::string_view kStringDelim = "<|\"|>";

enum class CallStatus { Ok, Malformed, NeedMore };

struct CallParse {
  CallStatus status = CallStatus::Malformed;
  size_t end = 0; // Ok: bytes of `text` the call took, `<tool_call|>` included
  std::string name, argumentsJson;
  // NeedMore inside a string value: nothing changes until a `<|"|>` appears
  // at or after this offset of `text` (npos: any new byte may matter).
  size_t waitQuoteFrom = std::string_view::npos;
};

// Parses `call:NAME{key:value,...}` + optional whitespace + `<tool_call|>`,
// `text` starting right after `<|tool_call>`. With `final` false, running out
// of text before the call is decided gives NeedMore; with `final` true it is
// Malformed. With `closeOptional` (a call that lost its `<|tool_call>`), a
// missing `<tool_call|>` is fine: the call then ends at its closing brace.
CallParse parseGemma4Call(std::string_view text, bool final,
                          bool closeOptional = false);

// Appends `s` (valid UTF-8) as the inside of a JSON string literal.
void appendJsonEscaped(std::string &out, std::string_view s);

// Appends the valid UTF-8 of `in` to `out`, each maximal invalid subpart
// replaced by U+FFFD. Returns the bytes consumed: all of `in` when `final`,
// otherwise all but an incomplete character at the end.
size_t sanitizeUtf8(std::string_view in, bool final, std::string &out);

} // namespace gemmac::chat::detail
