// Gemma 4 model output -> an OpenAI chat message (content, reasoning_content,
// tool_calls), whole or streamed piece by piece.
//
// What the parser accepts (sources: llama.cpp common/parsers/gemma4.cpp and
// common/chat-peg-parser.cpp, the Gemma 4 chat template's format_argument,
// vLLM's gemma4 reasoning parser; details in gemma4_output.cpp):
// - `<|channel>thought` + whitespace + REASONING + `<channel|>`: the channel
//   name and the whitespace right after it are dropped, the rest is kept
//   byte for byte. A thought still open at the end is reasoning.
// - `<|tool_call>call:NAME{key:value,...}<tool_call|>`: one tool call, its
//   arguments converted to compact JSON text. A call that is not well formed
//   leaves its `<|tool_call>` marker in the content as plain text.
// - `call:NAME{...}` without `<|tool_call>` (and maybe without `<tool_call|>`)
//   at the start of the output, right after a thought or right after another
//   call (optionally after whitespace, which is then dropped) is a call too:
//   Gemma 4 often drops the opener there (vLLM issue #54256, PR #54257).
// - Everything else is content, byte for byte. A stray `<channel|>` and an
//   empty `<|channel>` right before another `<|channel>` are dropped (as
//   llama.cpp does); other markers are plain text.
// - `<eos>`, `<turn|>` and `<|tool_response>` end the message wherever they
//   appear; they and what follows them are not part of it.
// - Bytes that are not valid UTF-8 become U+FFFD (one per maximal invalid
//   subpart, as Unicode recommends), so every output string is valid UTF-8.
// Tool-call ids are `idPrefix` + the call's index in the message (0, 1, ...);
// the caller passes a per-request prefix when ids must be unique across
// requests.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gemmac::chat {

struct ToolCall {
  std::string id, name, argumentsJson;
};

struct Message {
  std::string content, reasoning;
  std::vector<ToolCall> toolCalls;
};

// The whole generated text at once.
Message parseGemma4Output(std::string_view text,
                          std::string_view idPrefix = "call_");

// One streamed change. Content and Reasoning carry text (whole UTF-8
// characters, never part of a marker); ToolCallDone carries one complete call
// (calls are not streamed argument by argument: a call is only known to be a
// call once `<tool_call|>` closes it).
struct Delta {
  enum Kind { Content, Reasoning, ToolCallDone } kind;
  std::string text;
  ToolCall call;
};

namespace detail {
struct CallParse;
// The marker-level state machine; internal, declared here so the stream
// parser can hold one by value.
class Gemma4Scanner {
 public:
  enum class Mode { Content, ReasoningStart, Reasoning };
  explicit Gemma4Scanner(std::string idPrefix) : idPrefix_(std::move(idPrefix)) {}
  // Consumes what can be decided in `text` (all of it when `final`) and
  // returns how many bytes that was; the rest must be passed again, with more
  // text after it, on the next call.
  size_t run(std::string_view text, bool final, std::vector<Delta> &out);

 private:
  bool handleChannelOpen(std::string_view text, size_t &p, bool final,
                         std::vector<Delta> &out);
  bool handleToolCall(std::string_view text, size_t &p, bool final,
                      std::vector<Delta> &out);
  int tryBareCall(std::string_view text, size_t &p, bool final,
                  std::vector<Delta> &out);
  bool skipWhileWaitingForQuote(std::string_view text, size_t p, bool final);
  void emitCall(CallParse &call, std::vector<Delta> &out);
  Mode mode_ = Mode::Content;
  // Where a call that lost its `<|tool_call>` is recognized: at the start of
  // the output, after a thought, after a call.
  bool bareCallAllowed_ = true;
  std::string idPrefix_;
  size_t callCount_ = 0;
  // A pending call waiting for a closing `<|"|>`: where to look for it.
  size_t waitQuoteFrom_ = std::string_view::npos;
};
} // namespace detail

// Feed pieces as the model produces them (any byte strings: markers and UTF-8
// characters may be split across pieces). Each call returns the deltas that
// are now certain; text that could still become a marker, or is an incomplete
// UTF-8 character, or belongs to a tool call not yet closed, is held back.
class Gemma4StreamParser {
 public:
  explicit Gemma4StreamParser(std::string idPrefix = "call_");
  std::vector<Delta> feed(std::string_view piece);
  // End of generation: flush what was held (a half marker at the end is plain
  // content, an unclosed tool call is plain content).
  std::vector<Delta> finish();
  // Every delta returned so far, accumulated; after finish() it equals
  // parseGemma4Output of all pieces concatenated.
  Message message() const { return message_; }
  // True once a stop marker was seen: later pieces are ignored (feed returns
  // nothing), as are pieces fed after finish().
  bool stopped() const { return stopped_; }

 private:
  void advance(bool finishing, std::vector<Delta> &out);
  std::string raw_;  // bytes not yet known to be whole UTF-8 characters
  std::string text_; // valid UTF-8 text, from the scanner's position on
  size_t scanPos_ = 0;     // how much of text_ the scanner consumed
  size_t stopScanFrom_ = 0; // no stop marker starts before this in text_
  bool stopped_ = false, finished_ = false;
  detail::Gemma4Scanner scanner_;
  Message message_;
};

} // namespace gemmac::chat
