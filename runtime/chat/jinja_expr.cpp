// runtime/chat/jinja_expr.cpp - Expressions, calls, renderTemplate
#include "runtime/chat/jinja_eval.h"

namespace gemmac::jinja::detail {

bool Renderer::lookup(const std::string &name, Scope *scope, Value *out) {
  if (const Value *v = scope->find(name)) {
    *out = *v;
    return true;
  }
  if (const Value *v = context.find(name)) {
    *out = *v;
    return true;
  }
  *out = makeGlobal(name);
  if (out->isUndefined())
    *out = Value::undefined("'" + name + "' is undefined");
  return true;
}

bool Renderer::evalArgs(const Expr &e, size_t first, Scope *scope, Args *args) {
  for (size_t i = first; i < e.args.size(); ++i) {
    Value v;
    if (!eval(*e.args[i], scope, &v))
      return false;
    args->pos.push_back(std::move(v));
  }
  for (const auto &[key, expr] : e.kwargs) {
    Value v;
    if (!eval(*expr, scope, &v))
      return false;
    args->kw.emplace_back(key, std::move(v));
  }
  return true;
}

bool Renderer::call(const Value &callee, const Args &args, int line, Scope *scope,
                    Value *out) {
  const CallableData *c = callee.callableData();
  if (!c) {
    if (callee.isUndefined())
      return undefinedError(line, callee);
    return fail(line, std::string("'") + pyTypeName(callee) + "' object is not callable");
  }
  switch (c->type) {
  case CallableData::Type::Macro:
  case CallableData::Type::Caller:
    return callMacro(*c, args, nullptr, line, out);
  case CallableData::Type::Global:
    return callGlobal(*c, args, line, out);
  case CallableData::Type::Method:
    return callMethod(*c, args, line, out);
  }
  return false;
}

bool Renderer::compare(const std::string &op, const Value &a, const Value &b, int line,
                       bool *result) {
  if (op == "==" || op == "!=") {
    *result = pyEquals(a, b) == (op == "==");
    return true;
  }
  if (op == "in" || op == "notin") {
    if (!contains(b, a, line, result))
      return false;
    if (op == "notin")
      *result = !*result;
    return true;
  }
  if (op == "<")
    return less(a, b, line, result);
  if (op == ">")
    return less(b, a, line, result);
  bool r;
  if (!less(op == "<=" ? b : a, op == "<=" ? a : b, line, &r))
    return false;
  *result = !r;
  return true;
}

static bool evalNumberSign(Renderer *r, const Expr &e, const Value &v, Value *out) {
  if (v.kind() == Value::Kind::Float) {
    *out = Value(e.kind == ExprKind::Neg ? -v.floatValue() : v.floatValue());
    return true;
  }
  if (v.kind() == Value::Kind::Int || v.kind() == Value::Kind::Bool) {
    if (e.kind == ExprKind::Neg && v.intValue() == INT64_MIN)
      return r->fail(e.line, "integer overflow");
    *out = Value(static_cast<long long>(e.kind == ExprKind::Neg ? -v.intValue()
                                                                : v.intValue()));
    return true;
  }
  if (v.isUndefined())
    return r->undefinedError(e.line, v);
  return r->fail(e.line, std::string("bad operand type for unary ") +
                             (e.kind == ExprKind::Neg ? "-" : "+") + ": '" +
                             pyTypeName(v) + "'");
}

bool Renderer::eval(const Expr &e, Scope *scope, Value *out) {
  struct Guard {
    int &d;
    ~Guard() { --d; }
  } guard{++evalDepth};
  if (evalDepth > kMaxEvalDepth)
    return fail(e.line, "template evaluation nested too deeply");
  switch (e.kind) {
  case ExprKind::Literal:
    *out = e.literal;
    return true;
  case ExprKind::Name:
    return lookup(e.name, scope, out);
  case ExprKind::GetAttr: {
    Value obj;
    return eval(*e.args[0], scope, &obj) && getAttr(obj, e.name, e.line, out);
  }
  case ExprKind::GetItem: {
    Value obj, key;
    return eval(*e.args[0], scope, &obj) && eval(*e.args[1], scope, &key) &&
           getItem(obj, key, e.line, out);
  }
  case ExprKind::Slice: {
    Value parts[4];
    for (int i = 0; i < 4; ++i) {
      parts[i] = Value::none();
      if (e.args[i] && !eval(*e.args[i], scope, &parts[i]))
        return false;
    }
    return slice(parts[0], parts[1], parts[2], parts[3], e.line, out);
  }
  case ExprKind::Call: {
    Value callee;
    Args args;
    return eval(*e.args[0], scope, &callee) && evalArgs(e, 1, scope, &args) &&
           call(callee, args, e.line, scope, out);
  }
  case ExprKind::Filter: {
    Value subject;
    Args args;
    return eval(*e.args[0], scope, &subject) && evalArgs(e, 1, scope, &args) &&
           filter(e.name, subject, args, e.line, scope, out);
  }
  case ExprKind::Test: {
    Value subject;
    Args args;
    bool r;
    if (!eval(*e.args[0], scope, &subject) || !evalArgs(e, 1, scope, &args) ||
        !test(e.name, subject, args, e.line, &r))
      return false;
    *out = Value(r != e.negated);
    return true;
  }
  case ExprKind::Neg:
  case ExprKind::Pos: {
    Value v;
    return eval(*e.args[0], scope, &v) && evalNumberSign(this, e, v, out);
  }
  case ExprKind::Not: {
    Value v;
    if (!eval(*e.args[0], scope, &v))
      return false;
    *out = Value(!v.truthy());
    return true;
  }
  case ExprKind::Binary: {
    Value a, b;
    return eval(*e.args[0], scope, &a) && eval(*e.args[1], scope, &b) &&
           binary(e.name, a, b, e.line, out);
  }
  case ExprKind::Concat: {
    std::string s;
    for (const ExprPtr &arg : e.args) {
      Value v;
      if (!eval(*arg, scope, &v) || !toStr(v, e.line, &s))
        return false;
      if (s.size() > kMaxOutputBytes)
        return fail(e.line, "string larger than 64 MiB");
    }
    *out = Value(std::move(s));
    return true;
  }
  case ExprKind::Compare: {
    Value left;
    if (!eval(*e.args[0], scope, &left))
      return false;
    for (size_t i = 0; i < e.ops.size(); ++i) {
      Value right;
      bool r;
      if (!eval(*e.args[i + 1], scope, &right) || !compare(e.ops[i], left, right, e.line, &r))
        return false;
      if (!r) {
        *out = Value(false);
        return true;
      }
      left = std::move(right);
    }
    *out = Value(true);
    return true;
  }
  case ExprKind::And:
  case ExprKind::Or: {
    if (!eval(*e.args[0], scope, out))
      return false;
    if (out->truthy() == (e.kind == ExprKind::Or))
      return true;
    return eval(*e.args[1], scope, out);
  }
  case ExprKind::CondExpr: {
    Value c;
    if (!eval(*e.args[1], scope, &c))
      return false;
    if (c.truthy())
      return eval(*e.args[0], scope, out);
    if (e.args[2])
      return eval(*e.args[2], scope, out);
    *out = Value::undefined("the inline if-expression on line " + std::to_string(e.line) +
                            " evaluated to false and no else section was defined.");
    return true;
  }
  case ExprKind::ListLit:
  case ExprKind::TupleLit: {
    Value list = Value::list(e.kind == ExprKind::TupleLit ? Value::Flavor::Tuple
                                                          : Value::Flavor::Plain);
    for (const ExprPtr &item : e.args) {
      Value v;
      if (!eval(*item, scope, &v))
        return false;
      list.push(std::move(v));
    }
    *out = std::move(list);
    return true;
  }
  case ExprKind::DictLit: {
    Value dict = Value::dict();
    for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
      Value k, v;
      if (!eval(*e.args[i], scope, &k) || !eval(*e.args[i + 1], scope, &v))
        return false;
      if (!k.isString())
        return fail(e.line, "unsupported: dict keys that are not strings");
      dict.set(k.stringValue(), std::move(v));
    }
    *out = std::move(dict);
    return true;
  }
  }
  return fail(e.line, "unsupported expression");
}

} // namespace gemmac::jinja::detail

namespace gemmac::jinja {

bool renderTemplate(const Template &t, const Value &context, std::string *out,
                    std::string *error) {
  if (!context.isDict()) {
    *error = "chat template line 1: the context must be a dict";
    return false;
  }
  detail::Renderer r(context);
  detail::Scope root;
  r.root = &root;
  std::string result;
  bool ok = r.execList(t.body->nodes, &root, &result) != detail::Flow::Error;
  root.vars.clear();
  r.releaseNamespaces();
  if (!ok) {
    *error = "chat template " + r.error;
    return false;
  }
  *out = std::move(result);
  return true;
}

} // namespace gemmac::jinja
