// runtime/chat/jinja_parser_expr.cpp - Expressions, with jinja2's precedence
//
// condexpr < or < and < not < compare < + - < ~ < * / // % < ** < unary;
// filters, tests (is) and calls bind at the unary level, as in jinja2.
#include "runtime/chat/jinja_parser_impl.h"

namespace gemmac::jinja::detail {

static ExprPtr makeExpr(ExprKind kind, int line) {
  auto e = std::make_unique<Expr>();
  e->kind = kind;
  e->line = line;
  return e;
}

static bool isOp(const Token &t, const char *op) {
  return t.type == Tok::Op && t.text == op;
}
static bool isName(const Token &t, const char *name) {
  return t.type == Tok::Name && t.text == name;
}

bool Parser::expect(Tok type, const char *what) {
  if (cur().type == type) {
    ++pos;
    return true;
  }
  const char *name = type == Tok::BlockEnd ? "end of statement block"
                     : type == Tok::VarEnd ? "end of print statement"
                                           : what;
  std::string got = cur().type == Tok::End ? "end of template"
                    : cur().text.empty()   ? "tag end or text"
                                           : "'" + cur().text + "'";
  return fail(cur().line, std::string("expected ") + name + ", got " + got);
}

bool Parser::expectOp(const char *op) {
  if (isOp(cur(), op)) {
    ++pos;
    return true;
  }
  return fail(cur().line, std::string("expected '") + op + "'");
}

bool Parser::expectName(const char *name) {
  if (isName(cur(), name)) {
    ++pos;
    return true;
  }
  return fail(cur().line, std::string("expected '") + name + "'");
}

ExprPtr Parser::parseTuple(bool simplified, bool withCondexpr,
                           std::initializer_list<const char *> extraEnd,
                           bool explicitParens) {
  int line = cur().line;
  std::vector<ExprPtr> args;
  bool isTuple = false;
  auto atEnd = [&] {
    const Token &t = cur();
    if (t.type == Tok::VarEnd || t.type == Tok::BlockEnd || isOp(t, ")"))
      return true;
    for (const char *e : extraEnd)
      if (isName(t, e))
        return true;
    return false;
  };
  for (;;) {
    if (!args.empty() && !expectOp(","))
      return nullptr;
    if (atEnd())
      break;
    ExprPtr e = simplified ? parsePrimary() : parseExpression(withCondexpr);
    if (!e)
      return nullptr;
    args.push_back(std::move(e));
    if (!isOp(cur(), ","))
      break;
    isTuple = true;
  }
  if (!isTuple) {
    if (!args.empty())
      return std::move(args[0]);
    if (!explicitParens)
      return failExpr(cur().line, "expected an expression");
  }
  ExprPtr t = makeExpr(ExprKind::TupleLit, line);
  t->args = std::move(args);
  return t;
}

ExprPtr Parser::parseExpression(bool withCondexpr) {
  DepthGuard guard(this);
  if (!guard.ok())
    return nullptr;
  return withCondexpr ? parseCondexpr() : parseOr();
}

ExprPtr Parser::parseCondexpr() {
  ChainGuard chain(this);
  ExprPtr e = parseOr();
  while (e && isName(cur(), "if")) {
    if (!chain.step())
      return nullptr;
    int line = cur().line;
    ++pos;
    ExprPtr cond = parseOr();
    if (!cond)
      return nullptr;
    ExprPtr otherwise;
    if (isName(cur(), "else")) {
      ++pos;
      if (!(otherwise = parseCondexpr()))
        return nullptr;
    }
    ExprPtr c = makeExpr(ExprKind::CondExpr, line);
    c->args.push_back(std::move(e));
    c->args.push_back(std::move(cond));
    c->args.push_back(std::move(otherwise));
    e = std::move(c);
  }
  return e;
}

// Every left-associative level is one loop: next (op next)*. Binary
// operators are symbols (the node records which); `or` and `and` are names
// with node kinds of their own.
template <class Next>
static ExprPtr leftAssoc(Parser *p, Next next, ExprKind kind,
                         std::initializer_list<const char *> ops) {
  Parser::ChainGuard chain(p);
  ExprPtr e = next();
  while (e) {
    const char *found = nullptr;
    for (const char *op : ops)
      if (kind == ExprKind::Binary ? isOp(p->cur(), op) : isName(p->cur(), op))
        found = op;
    if (!found)
      break;
    if (!chain.step())
      return nullptr;
    ExprPtr b = makeExpr(kind, p->cur().line);
    if (kind == ExprKind::Binary)
      b->name = found;
    ++p->pos;
    ExprPtr r = next();
    if (!r)
      return nullptr;
    b->args.push_back(std::move(e));
    b->args.push_back(std::move(r));
    e = std::move(b);
  }
  return e;
}

ExprPtr Parser::parseOr() {
  return leftAssoc(this, [this] { return parseAnd(); }, ExprKind::Or, {"or"});
}

ExprPtr Parser::parseAnd() {
  return leftAssoc(this, [this] { return parseNot(); }, ExprKind::And, {"and"});
}

ExprPtr Parser::parseNot() {
  if (isName(cur(), "not")) {
    DepthGuard guard(this);
    if (!guard.ok())
      return nullptr;
    ExprPtr n = makeExpr(ExprKind::Not, cur().line);
    ++pos;
    ExprPtr operand = parseNot();
    if (!operand)
      return nullptr;
    n->args.push_back(std::move(operand));
    return n;
  }
  return parseCompare();
}

ExprPtr Parser::parseCompare() {
  int line = cur().line;
  ExprPtr first = parseMath1();
  if (!first)
    return nullptr;
  ExprPtr cmp;
  for (;;) {
    std::string op;
    const Token &t = cur();
    if (t.type == Tok::Op && (t.text == "==" || t.text == "!=" || t.text == "<" ||
                              t.text == "<=" || t.text == ">" || t.text == ">=")) {
      op = t.text;
      ++pos;
    } else if (isName(t, "in")) {
      op = "in";
      ++pos;
    } else if (isName(t, "not") && isName(peek(1), "in")) {
      op = "notin";
      pos += 2;
    } else {
      break;
    }
    ExprPtr operand = parseMath1();
    if (!operand)
      return nullptr;
    if (!cmp) {
      cmp = makeExpr(ExprKind::Compare, line);
      cmp->args.push_back(std::move(first));
    }
    cmp->ops.push_back(op);
    cmp->args.push_back(std::move(operand));
  }
  return cmp ? std::move(cmp) : std::move(first);
}

ExprPtr Parser::parseMath1() {
  return leftAssoc(this, [this] { return parseConcat(); }, ExprKind::Binary, {"+", "-"});
}
ExprPtr Parser::parseMath2() {
  return leftAssoc(this, [this] { return parsePow(); }, ExprKind::Binary, {"*", "/", "//", "%"});
}
ExprPtr Parser::parsePow() {
  return leftAssoc(this, [this] { return parseUnary(true); }, ExprKind::Binary, {"**"});
}

ExprPtr Parser::parseConcat() {
  int line = cur().line;
  ExprPtr e = parseMath2();
  if (!e || !isOp(cur(), "~"))
    return e;
  ExprPtr c = makeExpr(ExprKind::Concat, line);
  c->args.push_back(std::move(e));
  while (isOp(cur(), "~")) {
    ++pos;
    ExprPtr r = parseMath2();
    if (!r)
      return nullptr;
    c->args.push_back(std::move(r));
  }
  return c;
}

ExprPtr Parser::parseUnary(bool withFilter) {
  DepthGuard guard(this);
  if (!guard.ok())
    return nullptr;
  ExprPtr node;
  if (isOp(cur(), "-") || isOp(cur(), "+")) {
    node = makeExpr(isOp(cur(), "-") ? ExprKind::Neg : ExprKind::Pos, cur().line);
    ++pos;
    ExprPtr operand = parseUnary(false);
    if (!operand)
      return nullptr;
    node->args.push_back(std::move(operand));
  } else {
    node = parsePrimary();
  }
  if (node)
    node = parsePostfix(std::move(node));
  if (node && withFilter)
    node = parseFilterExpr(std::move(node));
  return node;
}

ExprPtr Parser::parsePrimary() {
  const Token &t = cur();
  if (t.type == Tok::Name) {
    ExprPtr e = makeExpr(ExprKind::Literal, t.line);
    if (t.text == "true" || t.text == "True")
      e->literal = Value(true);
    else if (t.text == "false" || t.text == "False")
      e->literal = Value(false);
    else if (t.text == "none" || t.text == "None")
      e->literal = Value::none();
    else {
      e->kind = ExprKind::Name;
      e->name = t.text;
      if (!macros.empty()) {
        Node *m = macros.back();
        m->usesVarargs |= t.text == "varargs";
        m->usesKwargs |= t.text == "kwargs";
        m->usesCaller |= t.text == "caller";
      }
    }
    ++pos;
    return e;
  }
  if (t.type == Tok::String) {
    ExprPtr e = makeExpr(ExprKind::Literal, t.line);
    std::string s;
    while (cur().type == Tok::String) // adjacent literals concatenate
      s += toks[pos++].text;
    e->literal = Value(std::move(s));
    return e;
  }
  if (t.type == Tok::Int || t.type == Tok::Float) {
    ExprPtr e = makeExpr(ExprKind::Literal, t.line);
    e->literal = t.type == Tok::Int ? Value(static_cast<long long>(t.ival)) : Value(t.fval);
    ++pos;
    return e;
  }
  if (isOp(t, "(")) {
    ++pos;
    ExprPtr e = parseTuple(false, true, {}, true);
    if (!e || !expectOp(")"))
      return nullptr;
    return e;
  }
  if (isOp(t, "["))
    return parseList();
  if (isOp(t, "{"))
    return parseDict();
  if (t.type == Tok::End)
    return failExpr(t.line, "unexpected end of template");
  return failExpr(t.line, "unexpected '" + (t.text.empty() ? std::string("end of tag") : t.text) + "'");
}

} // namespace gemmac::jinja::detail
