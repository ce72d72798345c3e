// runtime/chat/jinja_parser_impl.h - The recursive-descent parser -*- C++ -*-
//
// Follows jinja2/parser.py: statements in jinja_parser_stmt.cpp,
// expressions (with jinja2's precedence) in jinja_parser_expr.cpp.
#pragma once

#include "runtime/chat/jinja_parser.h"

#include <initializer_list>

namespace gemmac::jinja::detail {

struct Parser {
  const std::vector<Token> &toks;
  std::string *error;
  size_t pos = 0;
  int depth = 0;
  int loopDepth = 0;
  std::vector<Node *> macros; // enclosing macro / call blocks

  struct DepthGuard {
    Parser *p;
    explicit DepthGuard(Parser *p) : p(p) { ++p->depth; }
    ~DepthGuard() { --p->depth; }
    bool ok() {
      if (p->depth <= kMaxParseDepth)
        return true;
      p->fail(p->cur().line, "template nested too deeply");
      return false;
    }
  };

  // Left-nested chains (a + b + c, x.y.z, x|f|g) are as deep as they are
  // long, so each link counts as one level of nesting.
  struct ChainGuard {
    Parser *p;
    int saved;
    explicit ChainGuard(Parser *p) : p(p), saved(p->depth) {}
    ~ChainGuard() { p->depth = saved; }
    bool step() {
      if (++p->depth <= kMaxParseDepth)
        return true;
      p->fail(p->cur().line, "template nested too deeply");
      return false;
    }
  };

  const Token &cur() const { return toks[pos]; }
  const Token &peek(size_t k) const {
    return toks[pos + k < toks.size() ? pos + k : toks.size() - 1];
  }
  bool fail(int line, const std::string &what) {
    if (error->empty())
      *error = "line " + std::to_string(line) + ": " + what;
    return false;
  }
  std::nullptr_t failExpr(int line, const std::string &what) {
    fail(line, what);
    return nullptr;
  }
  bool expect(Tok type, const char *what);
  bool expectOp(const char *op);
  bool expectName(const char *name);

  // Statements.
  bool subparse(std::initializer_list<const char *> endTags, NodeList *out,
                std::string *endTag);
  bool parseStatement(NodePtr *out);
  bool endTagClose();
  bool parseIf(Node *n);
  bool parseFor(Node *n);
  bool parseSet(Node *n);
  bool parseSignature(Node *n);
  bool parseMacro(Node *n);
  bool parseCallBlock(Node *n);
  bool parseWith(Node *n);
  bool parseAssignTarget(Target *t, bool withNamespace, const char *endName);

  // Expressions.
  ExprPtr parseTuple(bool simplified, bool withCondexpr,
                     std::initializer_list<const char *> extraEnd,
                     bool explicitParens);
  ExprPtr parseExpression(bool withCondexpr);
  ExprPtr parseCondexpr();
  ExprPtr parseOr();
  ExprPtr parseAnd();
  ExprPtr parseNot();
  ExprPtr parseCompare();
  ExprPtr parseMath1();
  ExprPtr parseConcat();
  ExprPtr parseMath2();
  ExprPtr parsePow();
  ExprPtr parseUnary(bool withFilter);
  ExprPtr parsePrimary();
  ExprPtr parseList();
  ExprPtr parseDict();
  ExprPtr parsePostfix(ExprPtr node);
  ExprPtr parseCall(ExprPtr node);
  ExprPtr parseFilterExpr(ExprPtr node);
  ExprPtr parseSubscript(ExprPtr node);
  ExprPtr parseSubscribed();
  bool parseCallArgs(Expr *call);
  ExprPtr parseFilter(ExprPtr node);
  ExprPtr parseTest(ExprPtr node);
};

} // namespace gemmac::jinja::detail
