// runtime/chat/jinja_utf8.h - Python str semantics on UTF-8 bytes -*- C++ -*-
//
// Python strings count, slice and strip code points; these helpers do the
// same on UTF-8 (an invalid byte counts as one code point).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gemmac::jinja::detail {

std::vector<uint32_t> decodeUtf8(std::string_view s);
void appendUtf8(std::string *out, uint32_t cp);
std::string encodeUtf8(const std::vector<uint32_t> &cps);
size_t codepointCount(std::string_view s);
bool validUtf8(std::string_view s, size_t *badOffset);

// str.isspace() for one code point.
bool isPyWhitespace(uint32_t cp);
// str.strip/lstrip/rstrip with chars == nullptr meaning whitespace.
std::string pyStrip(std::string_view s, const std::string *chars, bool left,
                    bool right);
// str.upper / str.lower (ASCII, Latin-1, Greek and Cyrillic mappings).
std::string pyUpper(std::string_view s);
std::string pyLower(std::string_view s);
// str.splitlines() without keepends.
std::vector<std::string> pySplitLines(std::string_view s);
// repr(str) with Python's quote choice and escapes.
std::string pyStringRepr(std::string_view s);

} // namespace gemmac::jinja::detail
