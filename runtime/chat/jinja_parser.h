// runtime/chat/jinja_parser.h - Tokens to AST -*- C++ -*-
#pragma once

#include "runtime/chat/jinja_ast.h"
#include "runtime/chat/jinja_lexer.h"

#include <string>
#include <vector>

namespace gemmac::jinja::detail {

// Deepest nesting of blocks or expressions a template may have.
constexpr int kMaxParseDepth = 200;

bool parseTokens(const std::vector<Token> &tokens, TemplateBody *out,
                 std::string *error);

// Names the evaluator implements; the parser rejects others, as jinja2
// rejects unknown filters and tests when it compiles a template.
bool isKnownFilter(const std::string &name);
bool isKnownTest(const std::string &name);

} // namespace gemmac::jinja::detail
