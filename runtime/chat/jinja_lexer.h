// runtime/chat/jinja_lexer.h - Jinja2 template tokenizer -*- C++ -*-
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace gemmac::jinja::detail {

enum class Tok : uint8_t {
  Text, VarBegin, VarEnd, BlockBegin, BlockEnd,
  Name, String, Int, Float, Op, End,
};

struct Token {
  Tok type;
  int line;
  std::string text; // Text data, name, operator, decoded string
  int64_t ival = 0;
  double fval = 0;
};

// Splits source into text and tag tokens the way jinja2's lexer does,
// applying trim_blocks, lstrip_blocks and -/+ whitespace control; comments
// are dropped and raw blocks become text. false + "line N: what" on error.
bool tokenize(std::string_view source, bool trimBlocks, bool lstripBlocks,
              std::vector<Token> *out, std::string *error);

} // namespace gemmac::jinja::detail
