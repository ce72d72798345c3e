// The Gemma 4 output scanner and the stream parser built on it.
//
// Three stages, each holding back only what it cannot decide yet, so that a
// text gives the same message however it is split into pieces:
//   bytes --sanitizeUtf8--> whole UTF-8 characters
//         --stop markers--> the text before the first `<eos>`/`<turn|>`/
//                           `<|tool_response>` (the generator's stop tokens)
//         --Gemma4Scanner-> content / reasoning / tool-call deltas.
// parseGemma4Output is the stream parser fed the whole text at once.
//
// Whitespace: kept byte for byte, as llama.cpp's gemma4 parser does (its
// content and reasoning tags capture the raw text); only the whitespace right
// after the channel name `thought` is dropped (llama.cpp: literal "thought"
// then space(); vLLM strips "thought\n"). So `<|channel>thought<channel|>` is
// an empty thought, and `<|channel>thought\nA\n<channel|>` is "A\n".

#include "runtime/chat/gemma4_output.h"
#include "runtime/chat/gemma4_call.h"

#include <utility>

namespace gemmac::chat {
namespace {

constexpr std::string_view kChannelOpen = "<|channel>";
constexpr std::string_view kChannelClose = "<channel|>";
constexpr std::string_view kCallOpen = "<|tool_call>";
constexpr std::string_view kThoughtName = "thought";
constexpr std::string_view kStopMarkers[] = {"<eos>", "<turn|>",
                                             "<|tool_response>"};
constexpr std::string_view kContentMarkers[] = {kChannelOpen, kChannelClose,
                                                kCallOpen};
constexpr std::string_view kReasoningMarkers[] = {kChannelClose};

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool startsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// Where the first of `markers` starts at or after `from`; npos if none.
// Sets `which` to the marker found.
template <size_t N>
size_t findMarker(std::string_view s, size_t from,
                  const std::string_view (&markers)[N], std::string_view *which) {
  for (size_t i = s.find('<', from); i != std::string_view::npos;
       i = s.find('<', i + 1)) {
    for (std::string_view m : markers) {
      if (startsWith(s.substr(i), m)) {
        if (which)
          *which = m;
        return i;
      }
    }
  }
  return std::string_view::npos;
}

// The start of the earliest suffix of s[from..] that is a proper prefix of
// one of `markers` (it may still become that marker); s.size() if none.
template <size_t N>
size_t partialMarkerStart(std::string_view s, size_t from,
                          const std::string_view (&markers)[N]) {
  size_t longest = 0;
  for (std::string_view m : markers)
    longest = std::max(longest, m.size());
  size_t i = s.size() > from + longest ? s.size() - longest + 1 : from;
  for (; i < s.size(); ++i) {
    if (s[i] != '<')
      continue;
    std::string_view tail = s.substr(i);
    for (std::string_view m : markers)
      if (tail.size() < m.size() && startsWith(m, tail))
        return i;
  }
  return s.size();
}

// Appends text to the last delta when it has the same kind.
void emitText(std::vector<Delta> &out, Delta::Kind kind, std::string_view text) {
  if (text.empty())
    return;
  if (!out.empty() && out.back().kind == kind) {
    out.back().text += text;
    return;
  }
  Delta d{kind, std::string(text), {}};
  out.push_back(std::move(d));
}

} // namespace

namespace detail {

size_t Gemma4Scanner::run(std::string_view text, bool final,
                          std::vector<Delta> &out) {
  size_t p = 0;
  for (;;) {
    switch (mode_) {
    case Mode::ReasoningStart:
      while (p < text.size() && isSpace(text[p]))
        ++p;
      if (p == text.size())
        return p;
      mode_ = Mode::Reasoning;
      break;
    case Mode::Reasoning: {
      size_t m = findMarker(text, p, kReasoningMarkers, nullptr);
      if (m == std::string_view::npos) {
        size_t keep = final ? text.size()
                            : partialMarkerStart(text, p, kReasoningMarkers);
        emitText(out, Delta::Reasoning, text.substr(p, keep - p));
        return keep;
      }
      emitText(out, Delta::Reasoning, text.substr(p, m - p));
      p = m + kChannelClose.size();
      mode_ = Mode::Content;
      bareCallAllowed_ = true;
      break;
    }
    case Mode::Content: {
      if (bareCallAllowed_) {
        int bare = tryBareCall(text, p, final, out);
        if (bare < 0)
          return p;
        if (bare > 0)
          break;
      }
      std::string_view marker;
      size_t m = findMarker(text, p, kContentMarkers, &marker);
      if (m == std::string_view::npos) {
        size_t keep = final ? text.size()
                            : partialMarkerStart(text, p, kContentMarkers);
        emitText(out, Delta::Content, text.substr(p, keep - p));
        return keep;
      }
      emitText(out, Delta::Content, text.substr(p, m - p));
      p = m;
      if (marker == kChannelClose) {
        p += marker.size(); // a stray close: dropped, as llama.cpp does
      } else if (marker == kChannelOpen) {
        if (!handleChannelOpen(text, p, final, out))
          return p;
      } else if (!handleToolCall(text, p, final, out)) {
        return p;
      }
      break;
    }
    }
  }
}

// `<|channel>` at p. Returns false when more text is needed to decide.
bool Gemma4Scanner::handleChannelOpen(std::string_view text, size_t &p,
                                      bool final, std::vector<Delta> &out) {
  size_t after = p + kChannelOpen.size();
  std::string_view rest = text.substr(after);
  if (startsWith(rest, kThoughtName)) {
    p = after + kThoughtName.size();
    mode_ = Mode::ReasoningStart;
    return true;
  }
  if (startsWith(rest, kChannelOpen)) {
    p = after; // an empty channel before another one: dropped (llama.cpp)
    return true;
  }
  if (!final && (startsWith(kThoughtName, rest) || startsWith(kChannelOpen, rest)))
    return false;
  emitText(out, Delta::Content, kChannelOpen); // some other channel: text
  p = after;
  return true;
}

// A pending call waiting inside a long string value: skip the re-parse until
// its closing delimiter can be there (keeps streaming linear in the text).
// Only valid when the pending call is at the start of `text`, where the last
// run left it.
bool Gemma4Scanner::skipWhileWaitingForQuote(std::string_view text, size_t p,
                                             bool final) {
  if (final || p != 0 || waitQuoteFrom_ == std::string_view::npos ||
      text.find(kStringDelim, waitQuoteFrom_) != std::string_view::npos) {
    waitQuoteFrom_ = std::string_view::npos;
    return false;
  }
  size_t tail = kStringDelim.size() - 1;
  if (text.size() > waitQuoteFrom_ + tail)
    waitQuoteFrom_ = text.size() - tail;
  return true;
}

void Gemma4Scanner::emitCall(CallParse &call, std::vector<Delta> &out) {
  Delta d{Delta::ToolCallDone, {}, {}};
  d.call.id = idPrefix_ + std::to_string(callCount_++);
  d.call.name = std::move(call.name);
  d.call.argumentsJson = std::move(call.argumentsJson);
  out.push_back(std::move(d));
  bareCallAllowed_ = true;
}

// `<|tool_call>` at p. Returns false when more text is needed to decide.
bool Gemma4Scanner::handleToolCall(std::string_view text, size_t &p, bool final,
                                   std::vector<Delta> &out) {
  size_t after = p + kCallOpen.size();
  if (skipWhileWaitingForQuote(text, p, final))
    return false;
  CallParse call = parseGemma4Call(text.substr(after), final);
  if (call.status == CallStatus::NeedMore) {
    if (call.waitQuoteFrom != std::string_view::npos)
      waitQuoteFrom_ = after - p + call.waitQuoteFrom;
    return false;
  }
  if (call.status == CallStatus::Malformed) {
    emitText(out, Delta::Content, kCallOpen); // not a call: plain text
    p = after;
    return true;
  }
  emitCall(call, out);
  p = after + call.end;
  return true;
}

// Whitespace then `call:` at p, where a call may have lost its opener.
// Returns 1 for a call (p moved past it), 0 for not a call (plain content
// from p on), -1 when more text is needed to decide.
int Gemma4Scanner::tryBareCall(std::string_view text, size_t &p, bool final,
                               std::vector<Delta> &out) {
  constexpr std::string_view kCallWord = "call:";
  size_t q = p;
  while (q < text.size() && isSpace(text[q]))
    ++q;
  std::string_view rest = text.substr(q);
  if (!startsWith(rest, kCallWord)) {
    if (!final && startsWith(kCallWord, rest))
      return -1; // all whitespace so far, or a prefix of "call:"
    bareCallAllowed_ = false;
    return 0;
  }
  if (skipWhileWaitingForQuote(text, p, final))
    return -1;
  CallParse call = parseGemma4Call(rest, final, /*closeOptional=*/true);
  if (call.status == CallStatus::NeedMore) {
    if (call.waitQuoteFrom != std::string_view::npos)
      waitQuoteFrom_ = q - p + call.waitQuoteFrom;
    return -1;
  }
  if (call.status == CallStatus::Malformed) {
    bareCallAllowed_ = false;
    return 0;
  }
  emitCall(call, out); // the whitespace before it is dropped
  p = q + call.end;
  return 1;
}

} // namespace detail

Gemma4StreamParser::Gemma4StreamParser(std::string idPrefix)
    : scanner_(std::move(idPrefix)) {}

std::vector<Delta> Gemma4StreamParser::feed(std::string_view piece) {
  std::vector<Delta> out;
  if (stopped_ || finished_)
    return out;
  raw_.append(piece);
  size_t used = detail::sanitizeUtf8(raw_, false, text_);
  raw_.erase(0, used);
  advance(false, out);
  return out;
}

std::vector<Delta> Gemma4StreamParser::finish() {
  std::vector<Delta> out;
  if (finished_)
    return out;
  finished_ = true;
  if (stopped_)
    return out;
  detail::sanitizeUtf8(raw_, true, text_);
  raw_.clear();
  advance(true, out);
  return out;
}

void Gemma4StreamParser::advance(bool finishing, std::vector<Delta> &out) {
  size_t stop = findMarker(text_, stopScanFrom_, kStopMarkers, nullptr);
  size_t limit = text_.size();
  bool final = finishing;
  if (stop != std::string::npos) {
    limit = stop;
    final = true;
    stopped_ = true;
  } else if (!finishing) {
    limit = partialMarkerStart(text_, stopScanFrom_, kStopMarkers);
    stopScanFrom_ = limit;
  }
  std::string_view avail(text_);
  scanPos_ += scanner_.run(avail.substr(scanPos_, limit - scanPos_), final, out);
  for (const Delta &d : out) {
    if (d.kind == Delta::Content)
      message_.content += d.text;
    else if (d.kind == Delta::Reasoning)
      message_.reasoning += d.text;
    else
      message_.toolCalls.push_back(d.call);
  }
  if (stopped_ || final) {
    text_.clear();
    scanPos_ = stopScanFrom_ = 0;
  } else if (scanPos_ >= 4096 && scanPos_ * 2 >= text_.size()) {
    // Drop the consumed text (amortized: at most half the buffer is copied).
    text_.erase(0, scanPos_);
    stopScanFrom_ -= scanPos_;
    scanPos_ = 0;
  }
}

Message parseGemma4Output(std::string_view text, std::string_view idPrefix) {
  Gemma4StreamParser parser{std::string(idPrefix)};
  parser.feed(text);
  parser.finish();
  return parser.message();
}

} // namespace gemmac::chat
