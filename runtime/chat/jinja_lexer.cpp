// runtime/chat/jinja_lexer.cpp - Jinja2 template tokenizer
//
// Mirrors jinja2/lexer.py (3.1): the root state finds the next {{ {% {#,
// applies -/+ and lstrip_blocks to the text before it; tags are tokenized
// until their end marker at bracket depth 0; trim_blocks eats one newline
// after %} and #}.
#include "runtime/chat/jinja_lexer.h"

#include "runtime/chat/jinja_utf8.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <cctype>

namespace gemmac::jinja::detail {
namespace {

bool isSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' ||
         c == '\v';
}

// Byte length of the Python whitespace code point at s[i], else 0.
size_t whitespaceLen(const std::string &s, size_t i) {
  if (i >= s.size())
    return 0;
  std::vector<uint32_t> one =
      decodeUtf8(std::string_view(s).substr(i, std::min<size_t>(4, s.size() - i)));
  if (one.empty() || !isPyWhitespace(one[0]))
    return 0;
  std::string enc;
  appendUtf8(&enc, one[0]);
  return enc.size();
}

struct Lexer {
  std::string src;
  bool trimBlocks, lstripBlocks;
  std::vector<Token> *out;
  std::string *error;
  size_t pos = 0;
  int line = 1;
  bool lineStarting = true;

  bool fail(int atLine, const std::string &what) {
    *error = "line " + std::to_string(atLine) + ": " + what;
    return false;
  }
  void advanceTo(size_t end) {
    for (size_t i = pos; i < end; ++i)
      line += src[i] == '\n';
    pos = end;
  }
  // Skips whitespace (Python's \s) from pos, counting lines.
  void skipWhitespace() {
    size_t i = pos;
    while (size_t n = whitespaceLen(src, i))
      i += n;
    advanceTo(i);
  }
  // The text before a tag, with the tag's whitespace control applied.
  void emitText(std::string text, char sign, bool isVariable, int textLine) {
    if (sign == '-') {
      text = pyStrip(text, nullptr, false, true);
    } else if (sign != '+' && lstripBlocks && !isVariable) {
      size_t lpos = text.rfind('\n');
      lpos = lpos == std::string::npos ? 0 : lpos + 1;
      if (lpos > 0 || lineStarting) {
        std::string tail = text.substr(lpos);
        if (!tail.empty() && pyStrip(tail, nullptr, true, true).empty())
          text.resize(lpos);
      }
    }
    if (!text.empty())
      out->push_back(Token{Tok::Text, textLine, std::move(text)});
  }
  // After %} or #}: one newline goes with trim_blocks.
  void afterBlockEnd() {
    if (trimBlocks && pos < src.size() && src[pos] == '\n') {
      advanceTo(pos + 1);
      lineStarting = true;
      return;
    }
    lineStarting = false;
  }
  bool endMarker(const char *marker, bool block) {
    size_t n = 2;
    bool minus = src[pos] == '-' && src.compare(pos + 1, n, marker) == 0;
    bool plus = block && src[pos] == '+' && src.compare(pos + 1, n, marker) == 0;
    if (minus) {
      advanceTo(pos + 3);
      size_t before = pos;
      skipWhitespace();
      lineStarting = pos > before ? src[pos - 1] == '\n' : false;
      return true;
    }
    if (plus) {
      advanceTo(pos + 3);
      lineStarting = false;
      return true;
    }
    if (src.compare(pos, n, marker) == 0) {
      advanceTo(pos + 2);
      if (block)
        afterBlockEnd();
      else
        lineStarting = false;
      return true;
    }
    return false;
  }

  bool lexComment(int startLine);
  bool lexRaw(size_t afterBegin, int startLine);
  bool lexTag(bool block, int startLine);
  bool lexString(Token *t);
  bool lexNumber(Token *t);
  bool run();
};

bool Lexer::lexComment(int startLine) {
  if (pos >= src.size()) // jinja2 ends quietly on a bare {# at the very end
    return true;
  size_t end = src.find("#}", pos);
  if (end == std::string::npos)
    return fail(startLine, "missing end of comment tag");
  char sign = end > pos ? src[end - 1] : 0;
  advanceTo(end + 2);
  if (sign == '-') {
    skipWhitespace();
    lineStarting = src[pos - 1] == '\n';
  } else if (sign == '+') {
    lineStarting = false;
  } else {
    afterBlockEnd();
  }
  return true;
}

// Raw block: text up to {% endraw %}, whose sign strips that text.
bool Lexer::lexRaw(size_t afterBegin, int startLine) {
  advanceTo(afterBegin);
  size_t search = pos;
  for (;;) {
    size_t tag = src.find("{%", search);
    if (tag == std::string::npos)
      return fail(startLine, "missing end of raw directive");
    size_t i = tag + 2;
    char sign = (i < src.size() && (src[i] == '-' || src[i] == '+')) ? src[i] : 0;
    if (sign)
      ++i;
    while (i < src.size() && isSpace(src[i]))
      ++i;
    if (src.compare(i, 6, "endraw") != 0) {
      search = tag + 2;
      continue;
    }
    i += 6;
    while (i < src.size() && isSpace(src[i]))
      ++i;
    bool endOk = src.compare(i, 2, "%}") == 0 ||
                 ((src[i] == '-' || src[i] == '+') && src.compare(i + 1, 2, "%}") == 0);
    if (!endOk) {
      search = tag + 2;
      continue;
    }
    int textLine = line;
    emitText(src.substr(pos, tag - pos), sign, false, textLine);
    advanceTo(i);
    endMarker("%}", true);
    return true;
  }
}

bool Lexer::run() {
  while (pos < src.size()) {
    size_t k = pos;
    for (;;) {
      k = src.find('{', k);
      if (k == std::string::npos || k + 1 >= src.size())
        break;
      char c = src[k + 1];
      if (c == '{' || c == '%' || c == '#')
        break;
      ++k;
    }
    if (k == std::string::npos || k + 1 >= src.size()) {
      out->push_back(Token{Tok::Text, line, src.substr(pos)});
      advanceTo(src.size());
      break;
    }
    char kind = src[k + 1];
    size_t i = k + 2;
    char sign = (i < src.size() && (src[i] == '-' || src[i] == '+')) ? src[i] : 0;
    if (sign)
      ++i;
    // {% raw %}: jinja2 matches it in the root state, without trim_blocks.
    size_t rawEnd = 0;
    if (kind == '%') {
      size_t j = i;
      while (j < src.size() && isSpace(src[j]))
        ++j;
      if (src.compare(j, 3, "raw") == 0) {
        j += 3;
        while (j < src.size() && isSpace(src[j]))
          ++j;
        if (src.compare(j, 2, "%}") == 0)
          rawEnd = j + 2;
        else if (src.compare(j, 3, "-%}") == 0) {
          rawEnd = j + 3;
          while (rawEnd < src.size() && isSpace(src[rawEnd]))
            ++rawEnd;
        }
      }
    }
    int textLine = line;
    emitText(src.substr(pos, k - pos), sign, kind == '{', textLine);
    advanceTo(k);
    int tagLine = line;
    if (rawEnd) {
      lineStarting = src[rawEnd - 1] == '\n';
      if (!lexRaw(rawEnd, tagLine))
        return false;
      continue;
    }
    advanceTo(i);
    lineStarting = false;
    if (kind == '#') {
      if (!lexComment(tagLine))
        return false;
      continue;
    }
    if (!lexTag(kind == '%', tagLine))
      return false;
  }
  out->push_back(Token{Tok::End, line, {}});
  return true;
}

// Digits with single underscores between them: (\d+_)*\d+.
static size_t digitRun(const std::string &s, size_t i) {
  size_t end = i;
  while (i < s.size() && isdigit(static_cast<unsigned char>(s[i]))) {
    while (i < s.size() && isdigit(static_cast<unsigned char>(s[i])))
      ++i;
    end = i;
    if (i + 1 < s.size() && s[i] == '_' && isdigit(static_cast<unsigned char>(s[i + 1])))
      ++i;
    else
      break;
  }
  return end;
}

static std::string withoutUnderscores(std::string_view s) {
  std::string out;
  for (char c : s)
    if (c != '_')
      out.push_back(c);
  return out;
}

bool Lexer::lexNumber(Token *t) {
  size_t start = pos;
  size_t intEnd = digitRun(src, pos);
  bool afterDot = start > 0 && src[start - 1] == '.';
  size_t floatEnd = 0;
  if (!afterDot) {
    size_t i = intEnd;
    size_t fracEnd = 0;
    if (i < src.size() && src[i] == '.') {
      size_t f = digitRun(src, i + 1);
      if (f > i + 1)
        fracEnd = f;
    }
    size_t e = fracEnd ? fracEnd : intEnd;
    if (e < src.size() && (src[e] == 'e' || src[e] == 'E')) {
      size_t x = e + 1;
      if (x < src.size() && (src[x] == '+' || src[x] == '-'))
        ++x;
      size_t xEnd = digitRun(src, x);
      if (xEnd > x)
        floatEnd = xEnd;
    }
    if (!floatEnd)
      floatEnd = fracEnd;
  }
  if (floatEnd) {
    std::string text = withoutUnderscores(std::string_view(src).substr(start, floatEnd - start));
    t->type = Tok::Float;
    t->fval = strtod(text.c_str(), nullptr);
    advanceTo(floatEnd);
    return true;
  }
  int base = 10;
  size_t digitsStart = start, end = intEnd;
  if (src[start] == '0' && start + 1 < src.size() &&
      strchr("bBoOxX", src[start + 1]) && src[start + 1] != 0) {
    char b = static_cast<char>(tolower(static_cast<unsigned char>(src[start + 1])));
    base = b == 'b' ? 2 : b == 'o' ? 8 : 16;
    size_t i = start + 2;
    auto isDigit = [&](char c) {
      int v = isdigit(static_cast<unsigned char>(c)) ? c - '0'
              : isalpha(static_cast<unsigned char>(c)) ? tolower(c) - 'a' + 10 : 99;
      return v < base;
    };
    while (i < src.size() && (isDigit(src[i]) || (src[i] == '_' && i + 1 < src.size() && isDigit(src[i + 1]))))
      ++i;
    if (i == start + 2)
      return fail(line, "invalid integer literal");
    digitsStart = start + 2;
    end = i;
  } else if (src[start] == '0') {
    end = start + 1;
    while (end < src.size() && (src[end] == '0' || (src[end] == '_' && end + 1 < src.size() && src[end + 1] == '0')))
      ++end;
  }
  std::string text = withoutUnderscores(std::string_view(src).substr(digitsStart, end - digitsStart));
  errno = 0;
  long long v = strtoll(text.c_str(), nullptr, base);
  if (errno == ERANGE)
    return fail(line, "integer literal too large");
  t->type = Tok::Int;
  t->ival = v;
  advanceTo(end);
  return true;
}

// Python's unicode-escape decoding of a string literal's body.
static bool unescape(std::string_view body, std::string *out, std::string *why) {
  for (size_t i = 0; i < body.size(); ++i) {
    char c = body[i];
    if (c != '\\' || i + 1 >= body.size()) {
      out->push_back(c);
      continue;
    }
    char e = body[++i];
    switch (e) {
    case '\n': break;
    case '\\': out->push_back('\\'); break;
    case '\'': out->push_back('\''); break;
    case '"': out->push_back('"'); break;
    case 'a': out->push_back('\a'); break;
    case 'b': out->push_back('\b'); break;
    case 'f': out->push_back('\f'); break;
    case 'n': out->push_back('\n'); break;
    case 'r': out->push_back('\r'); break;
    case 't': out->push_back('\t'); break;
    case 'v': out->push_back('\v'); break;
    case 'x': case 'u': case 'U': {
      size_t n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
      uint32_t cp = 0;
      for (size_t k = 1; k <= n; ++k) {
        char h = i + k < body.size() ? body[i + k] : 0;
        if (!isxdigit(static_cast<unsigned char>(h))) {
          *why = std::string("truncated \\") + e + " escape in string literal";
          return false;
        }
        cp = cp * 16 + (isdigit(static_cast<unsigned char>(h)) ? h - '0' : tolower(h) - 'a' + 10);
      }
      if (cp > 0x10ffff || (cp >= 0xd800 && cp < 0xe000)) {
        *why = "unsupported code point escape in string literal";
        return false;
      }
      appendUtf8(out, cp);
      i += n;
      break;
    }
    case 'N':
      *why = "unsupported \\N{...} escape in string literal";
      return false;
    default:
      if (e >= '0' && e <= '7') {
        uint32_t cp = e - '0';
        for (int k = 0; k < 2 && i + 1 < body.size() && body[i + 1] >= '0' && body[i + 1] <= '7'; ++k)
          cp = cp * 8 + (body[++i] - '0');
        appendUtf8(out, cp);
      } else {
        out->push_back('\\');
        out->push_back(e);
      }
    }
  }
  return true;
}

bool Lexer::lexString(Token *t) {
  char q = src[pos];
  size_t i = pos + 1;
  while (i < src.size() && src[i] != q)
    i += src[i] == '\\' ? 2 : 1;
  if (i >= src.size())
    return fail(line, "unterminated string literal");
  std::string why;
  t->type = Tok::String;
  if (!unescape(std::string_view(src).substr(pos + 1, i - pos - 1), &t->text, &why))
    return fail(line, why);
  advanceTo(i + 1);
  return true;
}

bool Lexer::lexTag(bool block, int startLine) {
  out->push_back(Token{block ? Tok::BlockBegin : Tok::VarBegin, startLine, {}});
  std::string stack; // expected closing brackets
  for (;;) {
    skipWhitespace();
    if (pos >= src.size())
      return fail(startLine, block ? "unexpected end of template, tag not closed "
                                     "with '%}'"
                                   : "unexpected end of template, expression not "
                                     "closed with '}}'");
    if (stack.empty() && endMarker(block ? "%}" : "}}", block)) {
      out->push_back(Token{block ? Tok::BlockEnd : Tok::VarEnd, line, {}});
      return true;
    }
    Token t{Tok::Op, line, {}};
    char c = src[pos];
    if (isdigit(static_cast<unsigned char>(c))) {
      if (!lexNumber(&t))
        return false;
    } else if (isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t i = pos;
      while (i < src.size() && (isalnum(static_cast<unsigned char>(src[i])) || src[i] == '_'))
        ++i;
      t.type = Tok::Name;
      t.text = src.substr(pos, i - pos);
      advanceTo(i);
    } else if (c == '\'' || c == '"') {
      if (!lexString(&t))
        return false;
    } else {
      static const char *const twoChar[] = {"//", "**", "==", "!=", "<=", ">="};
      for (const char *op : twoChar)
        if (src.compare(pos, 2, op) == 0)
          t.text = op;
      if (t.text.empty()) {
        if (!strchr("+-/*%~[](){}<>=.:|,;", c) || c == 0)
          return fail(line, std::string("unexpected char '") +
                                (static_cast<unsigned char>(c) < 0x80 ? std::string(1, c) : std::string("non-ASCII")) + "'");
        t.text = std::string(1, c);
      }
      if (c == '(' || c == '[' || c == '{')
        stack.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
      if (c == ')' || c == ']' || c == '}') {
        if (stack.empty())
          return fail(line, std::string("unexpected '") + c + "'");
        if (stack.back() != c)
          return fail(line, std::string("unexpected '") + c + "', expected '" + stack.back() + "'");
        stack.pop_back();
      }
      advanceTo(pos + t.text.size());
    }
    out->push_back(std::move(t));
  }
}

} // namespace

bool tokenize(std::string_view source, bool trimBlocks, bool lstripBlocks,
              std::vector<Token> *out, std::string *error) {
  // Newlines: \r\n and \r become \n; one trailing newline is dropped.
  std::string src;
  src.reserve(source.size());
  for (size_t i = 0; i < source.size(); ++i) {
    if (source[i] == '\r') {
      src.push_back('\n');
      if (i + 1 < source.size() && source[i + 1] == '\n')
        ++i;
    } else {
      src.push_back(source[i]);
    }
  }
  if (!src.empty() && src.back() == '\n')
    src.pop_back();
  Lexer lx{std::move(src), trimBlocks, lstripBlocks, out, error};
  return lx.run();
}

} // namespace gemmac::jinja::detail
