// runtime/chat/jinja_parser_postfix.cpp - Literals, subscripts, calls,
// filters and tests; parseTemplate.
#include "runtime/chat/jinja_parser_impl.h"
#include "runtime/chat/jinja_utf8.h"

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

ExprPtr Parser::parseList() {
  ExprPtr e = makeExpr(ExprKind::ListLit, cur().line);
  ++pos;
  while (!isOp(cur(), "]")) {
    if (!e->args.empty() && !expectOp(","))
      return nullptr;
    if (isOp(cur(), "]"))
      break;
    ExprPtr item = parseExpression(true);
    if (!item)
      return nullptr;
    e->args.push_back(std::move(item));
  }
  ++pos;
  return e;
}

ExprPtr Parser::parseDict() {
  ExprPtr e = makeExpr(ExprKind::DictLit, cur().line);
  ++pos;
  while (!isOp(cur(), "}")) {
    if (!e->args.empty() && !expectOp(","))
      return nullptr;
    if (isOp(cur(), "}"))
      break;
    ExprPtr key = parseExpression(true);
    if (!key || !expectOp(":"))
      return nullptr;
    ExprPtr value = parseExpression(true);
    if (!value)
      return nullptr;
    e->args.push_back(std::move(key));
    e->args.push_back(std::move(value));
  }
  ++pos;
  return e;
}

// `node(args)`: a call of what `node` evaluates to.
ExprPtr Parser::parseCall(ExprPtr node) {
  ExprPtr call = makeExpr(ExprKind::Call, cur().line);
  call->args.push_back(std::move(node));
  if (!parseCallArgs(call.get()))
    return nullptr;
  return call;
}

ExprPtr Parser::parsePostfix(ExprPtr node) {
  ChainGuard chain(this);
  while (node) {
    if ((isOp(cur(), ".") || isOp(cur(), "[") || isOp(cur(), "(")) && !chain.step())
      return nullptr;
    if (isOp(cur(), ".") || isOp(cur(), "["))
      node = parseSubscript(std::move(node));
    else if (isOp(cur(), "("))
      node = parseCall(std::move(node));
    else
      break;
  }
  return node;
}

ExprPtr Parser::parseFilterExpr(ExprPtr node) {
  ChainGuard chain(this);
  while (node) {
    if ((isOp(cur(), "|") || isOp(cur(), "(") ||
         (cur().type == Tok::Name && cur().text == "is")) &&
        !chain.step())
      return nullptr;
    if (isOp(cur(), "|"))
      node = parseFilter(std::move(node));
    else if (cur().type == Tok::Name && cur().text == "is")
      node = parseTest(std::move(node));
    else if (isOp(cur(), "("))
      node = parseCall(std::move(node));
    else
      break;
  }
  return node;
}

ExprPtr Parser::parseSubscript(ExprPtr node) {
  int line = cur().line;
  if (isOp(cur(), ".")) {
    ++pos;
    const Token &t = cur();
    if (t.type == Tok::Name) {
      ExprPtr e = makeExpr(ExprKind::GetAttr, line);
      e->name = t.text;
      e->args.push_back(std::move(node));
      ++pos;
      return e;
    }
    if (t.type != Tok::Int)
      return failExpr(t.line, "expected name or number after '.'");
    ExprPtr e = makeExpr(ExprKind::GetItem, line);
    e->args.push_back(std::move(node));
    ExprPtr index = makeExpr(ExprKind::Literal, t.line);
    index->literal = Value(static_cast<long long>(t.ival));
    e->args.push_back(std::move(index));
    ++pos;
    return e;
  }
  ++pos; // [
  ExprPtr sub = parseSubscribed();
  if (!sub)
    return nullptr;
  if (isOp(cur(), ","))
    return failExpr(cur().line, "unsupported: tuple subscripts");
  if (!expectOp("]"))
    return nullptr;
  if (sub->kind == ExprKind::Slice) {
    sub->args.insert(sub->args.begin(), std::move(node));
    return sub;
  }
  ExprPtr e = makeExpr(ExprKind::GetItem, line);
  e->args.push_back(std::move(node));
  e->args.push_back(std::move(sub));
  return e;
}

// An index or a start:stop:step slice (the object is inserted later).
ExprPtr Parser::parseSubscribed() {
  int line = cur().line;
  ExprPtr start;
  if (isOp(cur(), ":")) {
    ++pos;
  } else {
    start = parseExpression(true);
    if (!start || !isOp(cur(), ":"))
      return start;
    ++pos;
  }
  ExprPtr slice = makeExpr(ExprKind::Slice, line);
  auto atSliceEnd = [&] { return isOp(cur(), "]") || isOp(cur(), ","); };
  ExprPtr stop, step;
  if (!isOp(cur(), ":") && !atSliceEnd() && !(stop = parseExpression(true)))
    return nullptr;
  if (isOp(cur(), ":")) {
    ++pos;
    if (!atSliceEnd() && !(step = parseExpression(true)))
      return nullptr;
  }
  slice->args.push_back(std::move(start));
  slice->args.push_back(std::move(stop));
  slice->args.push_back(std::move(step));
  return slice;
}

bool Parser::parseCallArgs(Expr *call) {
  if (!expectOp("("))
    return false;
  bool first = true;
  while (!isOp(cur(), ")")) {
    if (!first && !expectOp(","))
      return false;
    first = false;
    if (isOp(cur(), ")"))
      break;
    if (isOp(cur(), "*") || isOp(cur(), "**"))
      return fail(cur().line, "unsupported: *args and **kwargs in calls");
    if (cur().type == Tok::Name && isOp(peek(1), "=")) {
      std::string key = cur().text;
      for (const auto &kw : call->kwargs)
        if (kw.first == key)
          return fail(cur().line, "keyword argument repeated: " + key);
      pos += 2;
      ExprPtr value = parseExpression(true);
      if (!value)
        return false;
      call->kwargs.emplace_back(key, std::move(value));
      continue;
    }
    if (!call->kwargs.empty())
      return fail(cur().line, "positional argument follows keyword argument");
    ExprPtr arg = parseExpression(true);
    if (!arg)
      return false;
    call->args.push_back(std::move(arg));
  }
  ++pos;
  return true;
}

// Dotted names (jinja2 allows them for filters and tests).
static bool parseDottedName(Parser *p, std::string *name) {
  if (p->cur().type != Tok::Name)
    return p->fail(p->cur().line, "expected a filter or test name");
  *name = p->cur().text;
  ++p->pos;
  while (isOp(p->cur(), ".") && p->peek(1).type == Tok::Name) {
    *name += "." + p->peek(1).text;
    p->pos += 2;
  }
  return true;
}

ExprPtr Parser::parseFilter(ExprPtr node) {
  ExprPtr f = makeExpr(ExprKind::Filter, cur().line);
  ++pos; // |
  int line = cur().line;
  if (!parseDottedName(this, &f->name))
    return nullptr;
  (void)line; // unknown filters fail when applied, as in jinja2 3.x
  f->args.push_back(std::move(node));
  if (isOp(cur(), "(") && !parseCallArgs(f.get()))
    return nullptr;
  return f;
}

ExprPtr Parser::parseTest(ExprPtr node) {
  ExprPtr t = makeExpr(ExprKind::Test, cur().line);
  ++pos; // is
  if (cur().type == Tok::Name && cur().text == "not") {
    t->negated = true;
    ++pos;
  }
  int line = cur().line;
  if (!parseDottedName(this, &t->name))
    return nullptr;
  (void)line; // unknown tests fail when applied, as in jinja2 3.x
  t->args.push_back(std::move(node));
  const Token &c = cur();
  if (isOp(c, "(")) {
    if (!parseCallArgs(t.get()))
      return nullptr;
  } else if ((c.type == Tok::Name || c.type == Tok::String || c.type == Tok::Int ||
              c.type == Tok::Float || isOp(c, "[") || isOp(c, "{")) &&
             !(c.type == Tok::Name &&
               (c.text == "else" || c.text == "or" || c.text == "and"))) {
    if (c.type == Tok::Name && c.text == "is")
      return failExpr(c.line, "you cannot chain multiple tests with is");
    ExprPtr arg = parsePrimary();
    if (!arg || !(arg = parsePostfix(std::move(arg))))
      return nullptr;
    t->args.push_back(std::move(arg));
  }
  return t;
}

} // namespace gemmac::jinja::detail

namespace gemmac::jinja {

Template::Template() = default;
Template::~Template() = default;

std::unique_ptr<Template> parseTemplate(std::string_view source, std::string *error,
                                        ParseOptions options) {
  std::string err;
  size_t bad = 0;
  if (!detail::validUtf8(source, &bad)) {
    int line = 1;
    for (size_t i = 0; i < bad; ++i)
      line += source[i] == '\n';
    *error = "chat template line " + std::to_string(line) + ": invalid UTF-8";
    return nullptr;
  }
  std::vector<detail::Token> tokens;
  auto t = std::make_unique<Template>();
  t->body = std::make_unique<detail::TemplateBody>();
  if (!detail::tokenize(source, options.trimBlocks, options.lstripBlocks, &tokens, &err) ||
      !detail::parseTokens(tokens, t->body.get(), &err)) {
    *error = "chat template " + err;
    return nullptr;
  }
  return t;
}

} // namespace gemmac::jinja
