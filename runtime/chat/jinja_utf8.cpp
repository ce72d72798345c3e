// runtime/chat/jinja_utf8.cpp - Python str semantics on UTF-8 bytes
#include "runtime/chat/jinja_utf8.h"

#include <cstdio>

namespace gemmac::jinja::detail {

// Decodes one code point at s[i]; an invalid sequence is one byte.
static uint32_t decodeOne(std::string_view s, size_t *i) {
  unsigned char c = static_cast<unsigned char>(s[*i]);
  int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3
            : (c >> 3) == 30 ? 4 : 0;
  if (len <= 1 || *i + len > s.size()) {
    ++*i;
    return c;
  }
  uint32_t cp = c & (0x7f >> len);
  for (int k = 1; k < len; ++k) {
    unsigned char d = static_cast<unsigned char>(s[*i + k]);
    if ((d & 0xc0) != 0x80) {
      ++*i;
      return c;
    }
    cp = (cp << 6) | (d & 0x3f);
  }
  *i += len;
  return cp;
}

std::vector<uint32_t> decodeUtf8(std::string_view s) {
  std::vector<uint32_t> out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();)
    out.push_back(decodeOne(s, &i));
  return out;
}

void appendUtf8(std::string *out, uint32_t cp) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xc0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xe0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  } else {
    out->push_back(static_cast<char>(0xf0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
  }
}

std::string encodeUtf8(const std::vector<uint32_t> &cps) {
  std::string out;
  out.reserve(cps.size());
  for (uint32_t cp : cps)
    appendUtf8(&out, cp);
  return out;
}

size_t codepointCount(std::string_view s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size(); ++n)
    decodeOne(s, &i);
  return n;
}

bool validUtf8(std::string_view s, size_t *badOffset) {
  for (size_t i = 0; i < s.size();) {
    size_t start = i;
    uint32_t cp = decodeOne(s, &i);
    size_t len = i - start;
    bool bad = (len == 1 && cp >= 0x80) || (len == 2 && cp < 0x80) ||
               (len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp < 0xe000))) ||
               (len == 4 && (cp < 0x10000 || cp > 0x10ffff));
    if (bad) {
      *badOffset = start;
      return false;
    }
  }
  return true;
}

bool isPyWhitespace(uint32_t cp) {
  return (cp >= 9 && cp <= 13) || (cp >= 0x1c && cp <= 0x20) || cp == 0x85 ||
         cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) ||
         cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f ||
         cp == 0x3000;
}

std::string pyStrip(std::string_view s, const std::string *chars, bool left,
                    bool right) {
  std::vector<uint32_t> cps = decodeUtf8(s);
  std::vector<uint32_t> set;
  if (chars)
    set = decodeUtf8(*chars);
  auto strip = [&](uint32_t cp) {
    if (!chars)
      return isPyWhitespace(cp);
    for (uint32_t c : set)
      if (c == cp)
        return true;
    return false;
  };
  size_t b = 0, e = cps.size();
  if (left)
    while (b < e && strip(cps[b]))
      ++b;
  if (right)
    while (e > b && strip(cps[e - 1]))
      --e;
  return encodeUtf8(std::vector<uint32_t>(cps.begin() + b, cps.begin() + e));
}

// Simple case pairs: Latin-1, Latin Extended-A, Greek, Cyrillic.
static uint32_t toUpper(uint32_t c) {
  if (c >= 'a' && c <= 'z')
    return c - 32;
  if (c < 0x80)
    return c;
  if ((c >= 0xe0 && c <= 0xfe && c != 0xf7))
    return c - 32;
  if (c == 0xff)
    return 0x178;
  if (c == 0xb5)
    return 0x39c;
  if (c >= 0x100 && c <= 0x17f) {
    bool oddLower = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e);
    if (c == 0x131 || c == 0x138 || c == 0x149 || c == 0x17f)
      return c == 0x131 ? 'I' : c == 0x17f ? 'S' : c;
    if (oddLower ? (c % 2 == 0) : (c % 2 == 1))
      return c - 1;
    return c;
  }
  if (c >= 0x3b1 && c <= 0x3c9 && c != 0x3c2)
    return c - 32;
  if (c == 0x3c2)
    return 0x3a3;
  if (c >= 0x430 && c <= 0x44f)
    return c - 32;
  if (c >= 0x450 && c <= 0x45f)
    return c - 80;
  return c;
}

static uint32_t toLower(uint32_t c) {
  if (c >= 'A' && c <= 'Z')
    return c + 32;
  if (c < 0x80)
    return c;
  if (c >= 0xc0 && c <= 0xde && c != 0xd7)
    return c + 32;
  if (c == 0x178)
    return 0xff;
  if (c >= 0x100 && c <= 0x17f) {
    bool oddLower = (c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e);
    if (c == 0x130 || c == 0x138 || c == 0x149 || c == 0x17f)
      return c;
    if (oddLower ? (c % 2 == 1) : (c % 2 == 0))
      return c + 1;
    return c;
  }
  if (c >= 0x391 && c <= 0x3a9 && c != 0x3a2)
    return c + 32;
  if (c >= 0x410 && c <= 0x42f)
    return c + 32;
  if (c >= 0x400 && c <= 0x40f)
    return c + 80;
  return c;
}

std::string pyUpper(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (uint32_t cp : decodeUtf8(s)) {
    if (cp == 0xdf) { // sharp s upper-cases to two letters
      out += "SS";
      continue;
    }
    appendUtf8(&out, toUpper(cp));
  }
  return out;
}

std::string pyLower(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (uint32_t cp : decodeUtf8(s))
    appendUtf8(&out, toLower(cp));
  return out;
}

static bool isLineBreak(uint32_t c) {
  return c == '\n' || c == '\r' || c == 0x0b || c == 0x0c || c == 0x1c ||
         c == 0x1d || c == 0x1e || c == 0x85 || c == 0x2028 || c == 0x2029;
}

std::vector<std::string> pySplitLines(std::string_view s) {
  std::vector<std::string> lines;
  std::vector<uint32_t> cps = decodeUtf8(s);
  std::string cur;
  for (size_t i = 0; i < cps.size(); ++i) {
    if (!isLineBreak(cps[i])) {
      appendUtf8(&cur, cps[i]);
      continue;
    }
    if (cps[i] == '\r' && i + 1 < cps.size() && cps[i + 1] == '\n')
      ++i;
    lines.push_back(std::move(cur));
    cur.clear();
  }
  if (!cur.empty())
    lines.push_back(std::move(cur));
  return lines;
}

// Python's str.isprintable() for one code point, approximately: the
// categories Cc, Cf, Co, Zl, Zp and Zs (but space) in the common ranges.
static bool isPrintable(uint32_t c) {
  if (c < 0x20 || (c >= 0x7f && c <= 0xa0) || c == 0xad)
    return false;
  if (c == 0x1680 || (c >= 0x2000 && c <= 0x200f) ||
      (c >= 0x2028 && c <= 0x202f) || (c >= 0x205f && c <= 0x206f) ||
      c == 0x3000 || c == 0xfeff || (c >= 0xfff9 && c <= 0xfffb) ||
      (c >= 0xe000 && c <= 0xf8ff) || (c >= 0xd800 && c <= 0xdfff) ||
      c == 0x61c || c == 0x180e || c > 0x10ffff)
    return false;
  return true;
}

std::string pyStringRepr(std::string_view s) {
  bool hasSingle = s.find('\'') != std::string_view::npos;
  bool hasDouble = s.find('"') != std::string_view::npos;
  char quote = hasSingle && !hasDouble ? '"' : '\'';
  std::string out(1, quote);
  for (uint32_t cp : decodeUtf8(s)) {
    char buf[16];
    if (cp == static_cast<uint32_t>(quote) || cp == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(cp));
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp == '\t') {
      out += "\\t";
    } else if (isPrintable(cp)) {
      appendUtf8(&out, cp);
    } else {
      if (cp < 0x100)
        snprintf(buf, sizeof buf, "\\x%02x", cp);
      else if (cp < 0x10000)
        snprintf(buf, sizeof buf, "\\u%04x", cp);
      else
        snprintf(buf, sizeof buf, "\\U%08x", cp);
      out += buf;
    }
  }
  out.push_back(quote);
  return out;
}

} // namespace gemmac::jinja::detail
