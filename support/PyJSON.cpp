//===- PyJSON.cpp - JSON as Python's json module reads and writes it ------===//

#include "support/PyJSON.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

using namespace gemmac::support;
using llvm::Error;
using llvm::Expected;
using llvm::StringRef;

PyJSON PyJSON::boolean(bool b) {
  PyJSON v;
  v.kind_ = Kind::Bool;
  v.bool_ = b;
  return v;
}

PyJSON PyJSON::integer(int64_t i) { return integerText(std::to_string(i)); }

PyJSON PyJSON::integerText(std::string digits) {
  PyJSON v;
  v.kind_ = Kind::Int;
  if (digits == "-0")
    digits = "0";
  v.text_ = std::move(digits);
  return v;
}

PyJSON PyJSON::number(double d) {
  PyJSON v;
  v.kind_ = Kind::Float;
  v.float_ = d;
  return v;
}

PyJSON PyJSON::string(std::string s) {
  PyJSON v;
  v.kind_ = Kind::String;
  v.text_ = std::move(s);
  return v;
}

PyJSON PyJSON::array(std::vector<PyJSON> items) {
  PyJSON v;
  v.kind_ = Kind::Array;
  v.items_ = std::move(items);
  return v;
}

PyJSON PyJSON::object() {
  PyJSON v;
  v.kind_ = Kind::Object;
  return v;
}

PyJSON &PyJSON::set(StringRef key, PyJSON value) {
  for (auto &m : members_)
    if (m.first == key) {
      m.second = std::move(value);
      return *this;
    }
  members_.emplace_back(key.str(), std::move(value));
  return *this;
}

const PyJSON *PyJSON::get(StringRef key) const {
  for (auto &m : members_)
    if (m.first == key)
      return &m.second;
  return nullptr;
}

PyJSON PyJSON::without(StringRef key) const {
  PyJSON copy = *this;
  llvm::erase_if(copy.members_, [&](auto &m) { return m.first == key; });
  return copy;
}

//===----------------------------------------------------------------------===//
// Writing
//===----------------------------------------------------------------------===//

std::string gemmac::support::pythonFloatRepr(double v) {
  if (std::isnan(v))
    return "NaN";
  if (std::isinf(v))
    return v < 0 ? "-Infinity" : "Infinity";
  // Shortest round-trip digits in scientific form: "-d.ddde[+-]x".
  char buf[64];
  auto res =
      std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  std::string sign;
  size_t i = 0;
  if (sci[0] == '-') {
    sign = "-";
    i = 1;
  }
  size_t e = sci.find('e');
  std::string digits;
  for (size_t k = i; k < e; ++k)
    if (sci[k] != '.')
      digits.push_back(sci[k]);
  int exp10 = std::atoi(sci.c_str() + e + 1);
  // Python's repr uses the exponent form when decpt <= -4 or decpt > 16,
  // where the value is 0.DIGITS x 10^decpt.
  int decpt = exp10 + 1;
  int n = static_cast<int>(digits.size());
  if (decpt <= -4 || decpt > 16) {
    std::string out = sign + digits.substr(0, 1);
    if (n > 1)
      out += "." + digits.substr(1);
    char b[16];
    std::snprintf(b, sizeof b, "e%c%02d", exp10 < 0 ? '-' : '+',
                  std::abs(exp10));
    out += b;
    return out;
  }
  if (decpt <= 0)
    return sign + "0." + std::string(-decpt, '0') + digits;
  if (decpt >= n)
    return sign + digits + std::string(decpt - n, '0') + ".0";
  return sign + digits.substr(0, decpt) + "." + digits.substr(decpt);
}

/// Decodes one UTF-8 sequence (surrogates encoded as 3 bytes allowed, as the
/// parser stores lone \uD800 escapes that way). Invalid bytes decode as
/// themselves (U+0080..U+00FF) so that nothing is dropped.
static uint32_t decodeUTF8(StringRef s, size_t &i) {
  auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  uint8_t c = b(i);
  auto cont = [&](size_t k) { return k < s.size() && (b(k) & 0xC0) == 0x80; };
  if (c < 0x80) {
    ++i;
    return c;
  }
  if ((c & 0xE0) == 0xC0 && cont(i + 1)) {
    uint32_t cp = ((c & 0x1F) << 6) | (b(i + 1) & 0x3F);
    i += 2;
    return cp;
  }
  if ((c & 0xF0) == 0xE0 && cont(i + 1) && cont(i + 2)) {
    uint32_t cp =
        ((c & 0x0F) << 12) | ((b(i + 1) & 0x3F) << 6) | (b(i + 2) & 0x3F);
    i += 3;
    return cp;
  }
  if ((c & 0xF8) == 0xF0 && cont(i + 1) && cont(i + 2) && cont(i + 3)) {
    uint32_t cp = ((c & 0x07) << 18) | ((b(i + 1) & 0x3F) << 12) |
                  ((b(i + 2) & 0x3F) << 6) | (b(i + 3) & 0x3F);
    i += 4;
    return cp;
  }
  ++i;
  return c;
}

std::string gemmac::support::pythonJSONQuote(StringRef s) {
  std::string out = "\"";
  auto u = [&](uint32_t unit) {
    char b[8];
    std::snprintf(b, sizeof b, "\\u%04x", unit);
    out += b;
  };
  for (size_t i = 0; i < s.size();) {
    uint32_t cp = decodeUTF8(s, i);
    switch (cp) {
    case '"':
      out += "\\\"";
      continue;
    case '\\':
      out += "\\\\";
      continue;
    case '\n':
      out += "\\n";
      continue;
    case '\r':
      out += "\\r";
      continue;
    case '\t':
      out += "\\t";
      continue;
    case '\b':
      out += "\\b";
      continue;
    case '\f':
      out += "\\f";
      continue;
    default:
      break;
    }
    if (cp >= 0x20 && cp < 0x7F) {
      out.push_back(static_cast<char>(cp));
    } else if (cp >= 0x10000) {
      cp -= 0x10000;
      u(0xD800 | (cp >> 10));
      u(0xDC00 | (cp & 0x3FF));
    } else {
      u(cp);
    }
  }
  out += "\"";
  return out;
}

void PyJSON::write(std::string &out, bool sortKeys, int indent, int depth,
                   const char *itemSep, const char *keySep) const {
  auto newline = [&](int d) {
    if (indent < 0)
      return;
    out.push_back('\n');
    out.append(static_cast<size_t>(indent * d), ' ');
  };
  switch (kind_) {
  case Kind::Null:
    out += "null";
    return;
  case Kind::Bool:
    out += bool_ ? "true" : "false";
    return;
  case Kind::Int:
    out += text_;
    return;
  case Kind::Float:
    out += pythonFloatRepr(float_);
    return;
  case Kind::String:
    out += pythonJSONQuote(text_);
    return;
  case Kind::Array:
    if (items_.empty()) {
      out += "[]";
      return;
    }
    out.push_back('[');
    for (size_t i = 0; i < items_.size(); ++i) {
      if (i)
        out += itemSep;
      newline(depth + 1);
      items_[i].write(out, sortKeys, indent, depth + 1, itemSep, keySep);
    }
    newline(depth);
    out.push_back(']');
    return;
  case Kind::Object: {
    if (members_.empty()) {
      out += "{}";
      return;
    }
    std::vector<const std::pair<std::string, PyJSON> *> order;
    for (auto &m : members_)
      order.push_back(&m);
    // Python sorts str keys by code point; UTF-8 byte order is the same.
    // Keys are unique (set() replaces), so an unstable sort is enough.
    if (sortKeys)
      std::sort(order.begin(), order.end(),
                [](auto *a, auto *b) { return a->first < b->first; });
    out.push_back('{');
    for (size_t i = 0; i < order.size(); ++i) {
      if (i)
        out += itemSep;
      newline(depth + 1);
      out += pythonJSONQuote(order[i]->first);
      out += keySep;
      order[i]->second.write(out, sortKeys, indent, depth + 1, itemSep, keySep);
    }
    newline(depth);
    out.push_back('}');
    return;
  }
  }
}

std::string PyJSON::canonical() const {
  std::string out;
  write(out, /*sortKeys=*/true, /*indent=*/-1, 0, ",", ":");
  return out;
}

std::string PyJSON::indented(bool sortKeys) const {
  std::string out;
  // With an indent Python's item separator drops its trailing space.
  write(out, sortKeys, 2, 0, ",", ": ");
  return out;
}

std::string PyJSON::oneLine() const {
  std::string out;
  write(out, /*sortKeys=*/false, -1, 0, ", ", ": ");
  return out;
}

//===----------------------------------------------------------------------===//
// Parsing
//===----------------------------------------------------------------------===//

namespace {
class Parser {
public:
  explicit Parser(StringRef text) : s(text) {}

  Expected<PyJSON> parseDocument() {
    // Python decodes the bytes before parsing: invalid UTF-8 is an error,
    // never a string that later compares or prints differently.
    size_t bad = 0;
    if (!llvm::json::isUTF8(s, &bad)) {
      pos = bad;
      return error("invalid UTF-8");
    }
    auto v = parseValue(0);
    if (!v)
      return v.takeError();
    skipSpace();
    if (pos != s.size())
      return error("unexpected data after the JSON value");
    return v;
  }

private:
  StringRef s;
  size_t pos = 0;

  Error error(const llvm::Twine &msg) const {
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "byte " + llvm::Twine(pos) + ": " + msg);
  }

  void skipSpace() {
    while (pos < s.size() && (s[pos] == ' ' || s[pos] == '\t' ||
                              s[pos] == '\n' || s[pos] == '\r'))
      ++pos;
  }

  bool consume(StringRef word) {
    if (s.substr(pos).starts_with(word)) {
      pos += word.size();
      return true;
    }
    return false;
  }

  Expected<PyJSON> parseValue(int depth) {
    // Nesting is bounded so a hostile file cannot exhaust the stack.
    if (depth > 512)
      return error("nesting deeper than 512 levels");
    skipSpace();
    if (pos >= s.size())
      return error("unexpected end of JSON");
    char c = s[pos];
    if (c == '{')
      return parseObject(depth);
    if (c == '[')
      return parseArray(depth);
    if (c == '"') {
      auto str = parseString();
      if (!str)
        return str.takeError();
      return PyJSON::string(std::move(*str));
    }
    if (consume("true"))
      return PyJSON::boolean(true);
    if (consume("false"))
      return PyJSON::boolean(false);
    if (consume("null"))
      return PyJSON::null();
    if (consume("NaN"))
      return PyJSON::number(std::nan(""));
    if (consume("Infinity"))
      return PyJSON::number(INFINITY);
    if (consume("-Infinity"))
      return PyJSON::number(-INFINITY);
    if (c == '-' || (c >= '0' && c <= '9'))
      return parseNumber();
    return error(llvm::formatv("unexpected character '{0}'", c).str());
  }

  Expected<PyJSON> parseNumber() {
    size_t start = pos;
    auto digit = [&] {
      return pos < s.size() && s[pos] >= '0' && s[pos] <= '9';
    };
    if (s[pos] == '-')
      ++pos;
    if (!digit())
      return error("malformed number");
    if (s[pos] == '0')
      ++pos;
    else
      while (digit())
        ++pos;
    bool isFloat = false;
    if (pos < s.size() && s[pos] == '.') {
      isFloat = true;
      ++pos;
      if (!digit())
        return error("malformed number: no digits after '.'");
      while (digit())
        ++pos;
    }
    if (pos < s.size() && (s[pos] == 'e' || s[pos] == 'E')) {
      isFloat = true;
      ++pos;
      if (pos < s.size() && (s[pos] == '+' || s[pos] == '-'))
        ++pos;
      if (!digit())
        return error("malformed number: no exponent digits");
      while (digit())
        ++pos;
    }
    StringRef lexeme = s.slice(start, pos);
    if (!isFloat)
      return PyJSON::integerText(lexeme.str());
    double d = 0;
    auto r = std::from_chars(lexeme.begin(), lexeme.end(), d);
    if (r.ec == std::errc::result_out_of_range)
      d = lexeme.starts_with("-") ? -INFINITY : INFINITY; // as Python does
    else if (r.ec != std::errc())
      return error("malformed number");
    return PyJSON::number(d);
  }

  static void appendUTF8(std::string &out, uint32_t cp) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  }

  Expected<uint32_t> parseHex4() {
    if (pos + 4 > s.size())
      return error("truncated \\u escape");
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      unsigned digit = llvm::hexDigitValue(s[pos++]);
      if (digit == ~0U)
        return error("bad hex digit in \\u escape");
      v = (v << 4) | digit;
    }
    return v;
  }

  Expected<std::string> parseString() {
    ++pos; // opening quote
    std::string out;
    while (true) {
      if (pos >= s.size())
        return error("unterminated string");
      char c = s[pos];
      if (c == '"') {
        ++pos;
        return out;
      }
      if (static_cast<uint8_t>(c) < 0x20)
        return error("control character in string");
      if (c != '\\') {
        out.push_back(c);
        ++pos;
        continue;
      }
      ++pos;
      if (pos >= s.size())
        return error("unterminated escape");
      char e = s[pos++];
      switch (e) {
      case '"':
      case '\\':
      case '/':
        out.push_back(e);
        break;
      case 'b':
        out.push_back('\b');
        break;
      case 'f':
        out.push_back('\f');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'u': {
        auto hi = parseHex4();
        if (!hi)
          return hi.takeError();
        uint32_t cp = *hi;
        if (cp >= 0xD800 && cp < 0xDC00 && s.substr(pos).starts_with("\\u")) {
          size_t save = pos;
          pos += 2;
          auto lo = parseHex4();
          if (!lo)
            return lo.takeError();
          if (*lo >= 0xDC00 && *lo < 0xE000)
            cp = 0x10000 + ((cp - 0xD800) << 10) + (*lo - 0xDC00);
          else
            pos = save; // a lone high surrogate, kept as is
        }
        appendUTF8(out, cp);
        break;
      }
      default:
        return error(llvm::formatv("bad escape '\\{0}'", e).str());
      }
    }
  }

  Expected<PyJSON> parseArray(int depth) {
    ++pos;
    PyJSON arr = PyJSON::array();
    skipSpace();
    if (pos < s.size() && s[pos] == ']') {
      ++pos;
      return arr;
    }
    while (true) {
      auto v = parseValue(depth + 1);
      if (!v)
        return v.takeError();
      arr.items().push_back(std::move(*v));
      skipSpace();
      if (pos < s.size() && s[pos] == ',') {
        ++pos;
        continue;
      }
      if (pos < s.size() && s[pos] == ']') {
        ++pos;
        return arr;
      }
      return error("expected ',' or ']' in array");
    }
  }

  Expected<PyJSON> parseObject(int depth) {
    ++pos;
    PyJSON obj = PyJSON::object();
    skipSpace();
    if (pos < s.size() && s[pos] == '}') {
      ++pos;
      return obj;
    }
    while (true) {
      skipSpace();
      if (pos >= s.size() || s[pos] != '"')
        return error("expected a string key");
      auto key = parseString();
      if (!key)
        return key.takeError();
      skipSpace();
      if (pos >= s.size() || s[pos] != ':')
        return error("expected ':' after an object key");
      ++pos;
      auto v = parseValue(depth + 1);
      if (!v)
        return v.takeError();
      obj.set(*key, std::move(*v));
      skipSpace();
      if (pos < s.size() && s[pos] == ',') {
        ++pos;
        continue;
      }
      if (pos < s.size() && s[pos] == '}') {
        ++pos;
        return obj;
      }
      return error("expected ',' or '}' in object");
    }
  }
};
} // namespace

Expected<PyJSON> PyJSON::parse(StringRef text) {
  return Parser(text).parseDocument();
}
