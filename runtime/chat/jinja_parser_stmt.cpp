// runtime/chat/jinja_parser_stmt.cpp - Statements: if, for, set, macro...
#include "runtime/chat/jinja_parser_impl.h"

namespace gemmac::jinja::detail {

static bool isOneOf(const std::string &s, std::initializer_list<const char *> set) {
  for (const char *x : set)
    if (s == x)
      return true;
  return false;
}

bool Parser::subparse(std::initializer_list<const char *> endTags, NodeList *out,
                      std::string *endTag) {
  DepthGuard guard(this);
  if (!guard.ok())
    return false;
  for (;;) {
    const Token &t = cur();
    if (t.type == Tok::End) {
      if (endTags.size() == 0)
        return true;
      std::string want;
      for (const char *e : endTags)
        want += std::string(want.empty() ? "" : " or ") + "'" + e + "'";
      return fail(t.line, "unexpected end of template, expected " + want);
    }
    if (t.type == Tok::Text) {
      auto n = std::make_unique<Node>();
      n->kind = NodeKind::Text;
      n->line = t.line;
      n->text = t.text;
      out->push_back(std::move(n));
      ++pos;
      continue;
    }
    if (t.type == Tok::VarBegin) {
      auto n = std::make_unique<Node>();
      n->kind = NodeKind::Output;
      n->line = t.line;
      ++pos;
      if (!(n->expr = parseTuple(false, true, {}, false)) || !expect(Tok::VarEnd, ""))
        return false;
      out->push_back(std::move(n));
      continue;
    }
    if (t.type != Tok::BlockBegin)
      return fail(t.line, "unexpected token");
    const Token &name = peek(1);
    if (name.type != Tok::Name)
      return fail(name.line, "tag name expected");
    if (isOneOf(name.text, endTags)) {
      ++pos; // leave the position at the end tag's name
      *endTag = name.text;
      return true;
    }
    ++pos;
    NodePtr n;
    if (!parseStatement(&n))
      return false;
    if (n)
      out->push_back(std::move(n));
  }
}

bool Parser::parseStatement(NodePtr *out) {
  const Token &t = cur();
  const std::string tag = t.text;
  auto n = std::make_unique<Node>();
  n->line = t.line;
  ++pos;
  bool ok;
  if (tag == "if")
    ok = parseIf(n.get());
  else if (tag == "for")
    ok = parseFor(n.get());
  else if (tag == "set")
    ok = parseSet(n.get());
  else if (tag == "macro")
    ok = parseMacro(n.get());
  else if (tag == "call")
    ok = parseCallBlock(n.get());
  else if (tag == "with")
    ok = parseWith(n.get());
  else if (tag == "generation") {
    // transformers' AssistantTracker: renders its body unchanged.
    n->kind = NodeKind::Scope;
    std::string end;
    ok = expect(Tok::BlockEnd, "") && subparse({"endgeneration"}, &n->body, &end) &&
         endTagClose();
  } else if (tag == "break" || tag == "continue") {
    if (loopDepth == 0)
      return fail(t.line, "'" + tag + "' outside of a loop");
    n->kind = tag == "break" ? NodeKind::Break : NodeKind::Continue;
    ok = expect(Tok::BlockEnd, "");
  } else if (isOneOf(tag, {"filter", "include", "import", "from", "extends", "block",
                           "autoescape", "do", "trans", "pluralize"})) {
    return fail(t.line, "unsupported tag '" + tag + "'");
  } else if (tag.compare(0, 3, "end") == 0 || tag == "else" || tag == "elif") {
    return fail(t.line, "unexpected '" + tag + "'");
  } else {
    return fail(t.line, "unknown tag '" + tag + "'");
  }
  if (!ok)
    return false;
  *out = std::move(n);
  return true;
}

// After subparse stopped at an end tag's name: the name, then %}.
bool Parser::endTagClose() {
  ++pos;
  return expect(Tok::BlockEnd, "");
}

bool Parser::parseIf(Node *n) {
  n->kind = NodeKind::If;
  for (;;) {
    ExprPtr test = parseTuple(false, false, {}, false);
    if (!test || !expect(Tok::BlockEnd, ""))
      return false;
    NodeList body;
    std::string end;
    if (!subparse({"elif", "else", "endif"}, &body, &end))
      return false;
    n->branches.emplace_back(std::move(test), std::move(body));
    ++pos;
    if (end == "elif")
      continue;
    if (end == "else") {
      if (!expect(Tok::BlockEnd, "") || !subparse({"endif"}, &n->elseBody, &end))
        return false;
      ++pos;
    }
    return expect(Tok::BlockEnd, "");
  }
}

bool Parser::parseFor(Node *n) {
  n->kind = NodeKind::For;
  if (!parseAssignTarget(&n->target, false, "in") || !expectName("in"))
    return false;
  if (!(n->expr = parseTuple(false, false, {"recursive"}, false)))
    return false;
  if (cur().type == Tok::Name && cur().text == "if") {
    ++pos;
    if (!(n->cond = parseExpression(true)))
      return false;
  }
  if (cur().type == Tok::Name && cur().text == "recursive")
    return fail(cur().line, "unsupported: recursive loops");
  if (!expect(Tok::BlockEnd, ""))
    return false;
  ++loopDepth;
  std::string end;
  bool ok = subparse({"endfor", "else"}, &n->body, &end);
  --loopDepth;
  if (!ok)
    return false;
  ++pos;
  if (end == "else") {
    if (!expect(Tok::BlockEnd, "") || !subparse({"endfor"}, &n->elseBody, &end))
      return false;
    ++pos;
  }
  return expect(Tok::BlockEnd, "");
}

bool Parser::parseSet(Node *n) {
  if (!parseAssignTarget(&n->target, true, ""))
    return false;
  if (cur().type == Tok::Op && cur().text == "=") {
    n->kind = NodeKind::Set;
    ++pos;
    return (n->expr = parseTuple(false, true, {}, false)) && expect(Tok::BlockEnd, "");
  }
  if (n->target.tuple || !n->target.attr.empty())
    return fail(n->line, "a set block assigns to one name");
  if (cur().type == Tok::Op && cur().text == "|")
    return fail(cur().line, "unsupported: filters on set blocks");
  n->kind = NodeKind::SetBlock;
  std::string end;
  return expect(Tok::BlockEnd, "") && subparse({"endset"}, &n->body, &end) &&
         endTagClose();
}

// (name, name=default, ...) of a macro or a call block.
bool Parser::parseSignature(Node *n) {
  if (!expectOp("("))
    return false;
  while (!(cur().type == Tok::Op && cur().text == ")")) {
    if (!n->params.empty() && !expectOp(","))
      return false;
    if (cur().type == Tok::Op && cur().text == ")")
      break;
    if (cur().type != Tok::Name)
      return fail(cur().line, "expected a parameter name");
    n->params.push_back(cur().text);
    ++pos;
    ExprPtr def;
    if (cur().type == Tok::Op && cur().text == "=") {
      ++pos;
      if (!(def = parseExpression(true)))
        return false;
    }
    n->defaults.push_back(std::move(def));
  }
  ++pos;
  return true;
}

bool Parser::parseMacro(Node *n) {
  n->kind = NodeKind::Macro;
  if (cur().type != Tok::Name)
    return fail(cur().line, "expected a macro name");
  n->text = cur().text;
  ++pos;
  if (!parseSignature(n) || !expect(Tok::BlockEnd, ""))
    return false;
  macros.push_back(n);
  int savedLoops = loopDepth;
  loopDepth = 0;
  std::string end;
  bool ok = subparse({"endmacro"}, &n->body, &end);
  loopDepth = savedLoops;
  macros.pop_back();
  return ok && endTagClose();
}

bool Parser::parseCallBlock(Node *n) {
  n->kind = NodeKind::CallBlock;
  if (cur().type == Tok::Op && cur().text == "(" && !parseSignature(n))
    return false;
  if (!(n->expr = parseExpression(true)))
    return false;
  if (n->expr->kind != ExprKind::Call)
    return fail(n->line, "expected a call");
  if (!expect(Tok::BlockEnd, ""))
    return false;
  macros.push_back(n);
  std::string end;
  bool ok = subparse({"endcall"}, &n->body, &end);
  macros.pop_back();
  return ok && endTagClose();
}

bool Parser::parseWith(Node *n) {
  n->kind = NodeKind::With;
  while (cur().type != Tok::BlockEnd) {
    if (!n->assigns.empty() && !expectOp(","))
      return false;
    if (cur().type != Tok::Name)
      return fail(cur().line, "expected a name");
    std::string name = cur().text;
    ++pos;
    ExprPtr value;
    if (!expectOp("=") || !(value = parseExpression(true)))
      return false;
    n->assigns.emplace_back(name, std::move(value));
  }
  std::string end;
  return expect(Tok::BlockEnd, "") && subparse({"endwith"}, &n->body, &end) &&
         endTagClose();
}

// for/set targets: a name, names separated by commas, or ns.attr (set).
bool Parser::parseAssignTarget(Target *t, bool withNamespace, const char *endName) {
  if (withNamespace && cur().type == Tok::Name && peek(1).type == Tok::Op &&
      peek(1).text == ".") {
    t->names.push_back(cur().text);
    pos += 2;
    if (cur().type != Tok::Name)
      return fail(cur().line, "expected an attribute name");
    t->attr = cur().text;
    ++pos;
    return true;
  }
  bool paren = cur().type == Tok::Op && cur().text == "(";
  if (paren)
    ++pos;
  for (;;) {
    if (cur().type != Tok::Name)
      return fail(cur().line, "can't assign to this target");
    const std::string &name = cur().text;
    if (isOneOf(name, {"true", "false", "none", "True", "False", "None"}))
      return fail(cur().line, "can't assign to '" + name + "'");
    t->names.push_back(name);
    ++pos;
    if (!(cur().type == Tok::Op && cur().text == ","))
      break;
    t->tuple = true;
    ++pos;
    // jinja2 allows a trailing comma only before the target's end.
    if ((cur().type == Tok::Name && cur().text == endName) ||
        (paren && cur().type == Tok::Op && cur().text == ")") || cur().type == Tok::BlockEnd)
      break;
  }
  if (paren && !expectOp(")"))
    return false;
  return true;
}

bool parseTokens(const std::vector<Token> &tokens, TemplateBody *out,
                 std::string *error) {
  Parser p{tokens, error, 0, 0, 0, {}};
  std::string end;
  return p.subparse({}, &out->nodes, &end);
}

} // namespace gemmac::jinja::detail
