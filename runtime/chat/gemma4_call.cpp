// Gemma 4 tool-call bodies -> JSON, and UTF-8 sanitizing.
//
// The argument syntax is the one the chat template writes (format_argument in
// google-gemma-4-31B-it.jinja) and llama.cpp's gemma4 grammar reads
// (common/parsers/gemma4.cpp): strings are `<|"|>...<|"|>` with no escapes
// inside, objects `{key:value,...}` with bare keys, arrays `[v,...]`, JSON
// numbers, true/false/null. Also accepted: keys written as `<|"|>key<|"|>`
// (the template's escape_keys form), `None` for null (the template prints a
// Python None that way), whitespace between tokens (llama.cpp's grammar allows
// it). Numbers are copied as written (they already are JSON numbers).

#include "runtime/chat/gemma4_call.h"

#include <algorithm>

namespace gemmac::chat::detail {
namespace {

constexpr std::string_view kCallEnd = "<tool_call|>";
constexpr int kMaxDepth = 64;
constexpr size_t kMaxNameLength = 256;

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool isDigit(char c) { return c >= '0' && c <= '9'; }

// OpenAI function names are [A-Za-z0-9_-]; dots and slashes appear in
// namespaced tool names.
bool isNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || isDigit(c) ||
         c == '_' || c == '-' || c == '.' || c == '/';
}

// Bare keys: anything up to ':' except structure, quotes and control bytes.
bool isBareKeyChar(char c) {
  if (static_cast<unsigned char>(c) < 0x20 && !isSpace(c))
    return false;
  switch (c) {
  case ':': case '{': case '}': case '[': case ']': case ',': case '<':
  case '>': case '"': case '\'':
    return false;
  default:
    return true;
  }
}

// Whether a JSON number is within a double's range (|x| <= DBL_MAX): a
// larger one is valid JSON but most readers (nlohmann::json among them)
// reject it (RFC 8259 section 6). Tiny ones just round to 0 and are kept.
bool fitsDouble(std::string_view num) {
  std::string digits; // integer and fraction digits, no point
  size_t i = num[0] == '-' ? 1 : 0, intDigits = 0;
  for (; i < num.size() && isDigit(num[i]); ++i, ++intDigits)
    digits += num[i];
  if (i < num.size() && num[i] == '.')
    for (++i; i < num.size() && isDigit(num[i]); ++i)
      digits += num[i];
  long exponent = 0;
  if (i < num.size()) { // 'e' or 'E', then an optional sign and digits
    bool negative = num[++i] == '-';
    if (num[i] == '+' || num[i] == '-')
      ++i;
    for (; i < num.size(); ++i)
      exponent = std::min(exponent * 10 + (num[i] - '0'), 1000000L);
    if (negative)
      exponent = -exponent;
  }
  size_t first = digits.find_first_not_of('0');
  if (first == std::string::npos)
    return true; // zero
  // The leading significant digit stands for 10^lead.
  long lead = static_cast<long>(intDigits) - 1 - static_cast<long>(first) + exponent;
  if (lead != 308)
    return lead < 308;
  std::string significant = digits.substr(first);
  significant.erase(significant.find_last_not_of('0') + 1);
  return significant <= "17976931348623157"; // DBL_MAX = 1.7976931348623157e308
}

class CallParser {
 public:
  CallParser(std::string_view text, bool final, bool closeOptional)
      : t_(text), final_(final), closeOptional_(closeOptional) {}

  CallParse parse() {
    CallParse r;
    CallStatus s = body(r.name);
    r.status = s;
    if (s == CallStatus::Ok) {
      r.end = p_;
      r.argumentsJson = std::move(out_);
    } else if (s == CallStatus::NeedMore) {
      r.waitQuoteFrom = waitQuoteFrom_;
    }
    return r;
  }

 private:
  using S = CallStatus;

  // Out of text: more may come, unless this is the end.
  S outOfText() const { return final_ ? S::Malformed : S::NeedMore; }
  bool atEnd() const { return p_ >= t_.size(); }
  void skipSpace() {
    while (!atEnd() && isSpace(t_[p_]))
      ++p_;
  }

  // Matches `lit` at the cursor; a prefix of it at the end of text is NeedMore.
  S literal(std::string_view lit) {
    size_t n = std::min(lit.size(), t_.size() - p_);
    if (t_.substr(p_, n) != lit.substr(0, n))
      return S::Malformed;
    if (n < lit.size())
      return outOfText();
    p_ += lit.size();
    return S::Ok;
  }

  S body(std::string &name) {
    if (S s = literal("call:"); s != S::Ok)
      return s;
    size_t start = p_;
    while (!atEnd() && isNameChar(t_[p_]) && p_ - start <= kMaxNameLength)
      ++p_;
    if (p_ - start > kMaxNameLength)
      return S::Malformed;
    if (atEnd())
      return outOfText();
    if (p_ == start || t_[p_] != '{')
      return S::Malformed;
    name.assign(t_.substr(start, p_ - start));
    if (S s = object(0); s != S::Ok)
      return s;
    size_t afterArgs = p_;
    skipSpace();
    if (atEnd())
      return closeOptional_ && final_ ? endAt(afterArgs) : outOfText();
    S s = literal(kCallEnd);
    if (s != S::Ok && closeOptional_ && (s == S::Malformed || final_))
      return endAt(afterArgs); // no close marker: the call ends at its '}'
    return s;
  }

  S endAt(size_t end) {
    p_ = end;
    return S::Ok;
  }

  S value(int depth) {
    skipSpace();
    if (atEnd())
      return outOfText();
    switch (t_[p_]) {
    case '{': return object(depth + 1);
    case '[': return array(depth + 1);
    case '<': return string(out_);
    case 't': return word("true", "true");
    case 'f': return word("false", "false");
    case 'n': return word("null", "null");
    case 'N': return word("None", "null");
    default:
      if (t_[p_] == '-' || isDigit(t_[p_]))
        return number();
      return S::Malformed;
    }
  }

  S word(std::string_view lit, std::string_view json) {
    S s = literal(lit);
    if (s == S::Ok)
      out_ += json;
    return s;
  }

  // `<|"|>...<|"|>` -> a JSON string literal appended to `dst`.
  S string(std::string &dst) {
    if (S s = literal(kStringDelim); s != S::Ok)
      return s;
    size_t close = t_.find(kStringDelim, p_);
    if (close == std::string_view::npos) {
      // Only a closing delimiter can change the outcome; it may already have
      // begun in the last bytes.
      size_t tail = kStringDelim.size() - 1;
      waitQuoteFrom_ = t_.size() - p_ > tail ? t_.size() - tail : p_;
      return outOfText();
    }
    dst += '"';
    appendJsonEscaped(dst, t_.substr(p_, close - p_));
    dst += '"';
    p_ = close + kStringDelim.size();
    return S::Ok;
  }

  // JSON number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
  S number() {
    size_t start = p_;
    if (t_[p_] == '-')
      ++p_;
    if (atEnd())
      return outOfText();
    if (t_[p_] == '0') {
      ++p_;
    } else if (isDigit(t_[p_])) {
      while (!atEnd() && isDigit(t_[p_]))
        ++p_;
    } else {
      return S::Malformed;
    }
    if (!atEnd() && t_[p_] == '.') {
      if (S s = digits(); s != S::Ok)
        return s;
    }
    if (!atEnd() && (t_[p_] == 'e' || t_[p_] == 'E')) {
      if (p_ + 1 < t_.size() && (t_[p_ + 1] == '+' || t_[p_ + 1] == '-'))
        ++p_;
      if (S s = digits(); s != S::Ok)
        return s;
    }
    // The number may still go on (more digits, a fraction, an exponent).
    if (atEnd())
      return outOfText();
    if (!fitsDouble(t_.substr(start, p_ - start)))
      return S::Malformed;
    out_ += t_.substr(start, p_ - start);
    return S::Ok;
  }

  // Skips the character at the cursor ('.', 'e', or a sign), then 1+ digits.
  S digits() {
    ++p_;
    if (atEnd())
      return outOfText();
    if (!isDigit(t_[p_]))
      return S::Malformed;
    while (!atEnd() && isDigit(t_[p_]))
      ++p_;
    return S::Ok;
  }

  S key() {
    skipSpace();
    if (atEnd())
      return outOfText();
    if (t_[p_] == '<') {
      if (S s = string(out_); s != S::Ok)
        return s;
    } else {
      size_t start = p_;
      while (!atEnd() && isBareKeyChar(t_[p_]))
        ++p_;
      if (atEnd())
        return outOfText();
      size_t end = p_;
      while (end > start && isSpace(t_[end - 1]))
        --end;
      if (end == start)
        return S::Malformed;
      out_ += '"';
      appendJsonEscaped(out_, t_.substr(start, end - start));
      out_ += '"';
    }
    skipSpace();
    if (atEnd())
      return outOfText();
    if (t_[p_] != ':')
      return S::Malformed;
    ++p_;
    out_ += ':';
    return S::Ok;
  }

  // `open` at the cursor, then items separated by ',' up to `close`.
  template <typename Item> S sequence(char open, char close, Item item) {
    ++p_;
    out_ += open;
    skipSpace();
    if (atEnd())
      return outOfText();
    if (t_[p_] == close) {
      ++p_;
      out_ += close;
      return S::Ok;
    }
    for (;;) {
      if (S s = item(); s != S::Ok)
        return s;
      skipSpace();
      if (atEnd())
        return outOfText();
      if (t_[p_] == close) {
        ++p_;
        out_ += close;
        return S::Ok;
      }
      if (t_[p_] != ',')
        return S::Malformed;
      ++p_;
      out_ += ',';
    }
  }

  S object(int depth) {
    if (depth > kMaxDepth)
      return S::Malformed;
    return sequence('{', '}', [&] {
      S s = key();
      return s == S::Ok ? value(depth) : s;
    });
  }

  S array(int depth) {
    if (depth > kMaxDepth)
      return S::Malformed;
    return sequence('[', ']', [&] { return value(depth); });
  }

  std::string_view t_;
  bool final_;
  bool closeOptional_;
  size_t p_ = 0;
  std::string out_;
  size_t waitQuoteFrom_ = std::string_view::npos;
};

} // namespace

CallParse parseGemma4Call(std::string_view text, bool final,
                          bool closeOptional) {
  return CallParser(text, final, closeOptional).parse();
}

void appendJsonEscaped(std::string &out, std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  for (char c : s) {
    switch (c) {
    case '"': out += "\\\""; break;
    case '\\': out += "\\\\"; break;
    case '\b': out += "\\b"; break;
    case '\f': out += "\\f"; break;
    case '\n': out += "\\n"; break;
    case '\r': out += "\\r"; break;
    case '\t': out += "\\t"; break;
    default:
      if (static_cast<unsigned char>(c) < 0x20) {
        out += "\\u00";
        out += kHex[(c >> 4) & 0xf];
        out += kHex[c & 0xf];
      } else {
        out += c;
      }
    }
  }
}

size_t sanitizeUtf8(std::string_view in, bool final, std::string &out) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  size_t i = 0;
  while (i < in.size()) {
    unsigned char b = static_cast<unsigned char>(in[i]);
    if (b < 0x80) {
      out += static_cast<char>(b);
      ++i;
      continue;
    }
    // Length and the allowed range of the second byte (Unicode Table 3-7).
    size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) len = 2;
    else if (b == 0xE0) len = 3, lo = 0xA0;
    else if (b == 0xED) len = 3, hi = 0x9F;
    else if (b >= 0xE1 && b <= 0xEF) len = 3;
    else if (b == 0xF0) len = 4, lo = 0x90;
    else if (b == 0xF4) len = 4, hi = 0x8F;
    else if (b >= 0xF1 && b <= 0xF3) len = 4;
    if (len == 0) {
      out += kReplacement;
      ++i;
      continue;
    }
    size_t k = 1; // bytes of the sequence that are valid so far
    while (k < len && i + k < in.size()) {
      unsigned char c = static_cast<unsigned char>(in[i + k]);
      if (c < (k == 1 ? lo : 0x80) || c > (k == 1 ? hi : 0xBF))
        break;
      ++k;
    }
    if (k == len) {
      out.append(in.substr(i, len));
    } else if (i + k == in.size() && !final) {
      return i; // incomplete character: wait for the rest
    } else {
      out += kReplacement;
    }
    i += k;
  }
  return i;
}

} // namespace gemmac::chat::detail
