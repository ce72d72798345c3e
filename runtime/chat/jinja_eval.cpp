// runtime/chat/jinja_eval.cpp - Statements: output, if, for, set, macros
#include "runtime/chat/jinja_eval.h"

namespace gemmac::jinja::detail {

bool Renderer::fail(int line, const std::string &what) {
  if (error.empty())
    error = "line " + std::to_string(line) + ": " + what;
  return false;
}

bool Renderer::undefinedError(int line, const Value &undef) {
  const std::string &hint = undef.stringValue();
  return fail(line, hint.empty() ? "undefined value" : hint);
}

bool Renderer::write(const Value &v, int line, std::string *out) {
  if (v.isString())
    out->append(v.stringValue());
  else if (!toStr(v, line, out))
    return false;
  if (out->size() > kMaxOutputBytes)
    return fail(line, "output larger than 64 MiB");
  return true;
}

Flow Renderer::execList(const NodeList &nodes, Scope *scope, std::string *out) {
  for (const NodePtr &n : nodes) {
    Flow f = exec(*n, scope, out);
    if (f != Flow::Normal)
      return f;
  }
  return Flow::Normal;
}

bool Renderer::checkDepth(const Value &v, int line) {
  if (v.nestingDepth() <= kMaxValueDepth)
    return true;
  return fail(line, "value nested deeper than " + std::to_string(kMaxValueDepth));
}

// Binds a value to a for/set target (tuples unpack like Python).
bool Renderer::assign(const Target &t, const Value &v, Scope *scope, int line) {
  if (!checkDepth(v, line))
    return false;
  if (!t.attr.empty()) {
    const Value *ns = scope->find(t.names[0]);
    if (!ns || ns->kind() != Value::Kind::Namespace || ns->flavor() == Value::Flavor::Loop)
      return fail(line, "can only assign attributes of a namespace ('" + t.names[0] +
                            "' is not one)");
    Value copy = *ns; // shares the namespace's entries
    copy.set(t.attr, v);
    return true;
  }
  if (!t.tuple) {
    scope->set(t.names[0], v);
    return true;
  }
  std::vector<Value> items;
  if (!iterate(v, line, &items))
    return false;
  if (items.size() != t.names.size())
    return fail(line, items.size() < t.names.size()
                          ? "not enough values to unpack (expected " +
                                std::to_string(t.names.size()) + ", got " +
                                std::to_string(items.size()) + ")"
                          : "too many values to unpack (expected " +
                                std::to_string(t.names.size()) + ")");
  for (size_t i = 0; i < items.size(); ++i)
    scope->set(t.names[i], items[i]);
  return true;
}

Flow Renderer::exec(const Node &n, Scope *scope, std::string *out) {
  struct Guard {
    int &d;
    ~Guard() { --d; }
  } guard{++evalDepth};
  if (evalDepth > kMaxEvalDepth)
    return fail(n.line, "template evaluation nested too deeply"), Flow::Error;
  switch (n.kind) {
  case NodeKind::Text:
    out->append(n.text);
    if (out->size() > kMaxOutputBytes)
      return fail(n.line, "output larger than 64 MiB"), Flow::Error;
    return Flow::Normal;
  case NodeKind::Output: {
    Value v;
    if (!eval(*n.expr, scope, &v) || !write(v, n.line, out))
      return Flow::Error;
    return Flow::Normal;
  }
  case NodeKind::If:
    for (const auto &[test, body] : n.branches) {
      Value v;
      if (!eval(*test, scope, &v))
        return Flow::Error;
      if (v.truthy())
        return execList(body, scope, out);
    }
    return execList(n.elseBody, scope, out);
  case NodeKind::For:
    return execFor(n, scope, out);
  case NodeKind::Set: {
    Value v;
    if (!eval(*n.expr, scope, &v) || !assign(n.target, v, scope, n.line))
      return Flow::Error;
    return Flow::Normal;
  }
  case NodeKind::SetBlock: {
    std::string body;
    Flow f = execList(n.body, scope, &body);
    if (f != Flow::Normal)
      return f;
    scope->set(n.target.names[0], Value(std::move(body)));
    return Flow::Normal;
  }
  case NodeKind::Macro: {
    auto m = std::make_shared<CallableData>();
    m->type = CallableData::Type::Macro;
    m->name = n.text;
    m->node = &n;
    scope->set(n.text, Value::callable(std::move(m)));
    return Flow::Normal;
  }
  case NodeKind::CallBlock: {
    auto c = std::make_shared<CallableData>();
    c->type = CallableData::Type::Caller;
    c->name = "caller";
    c->node = &n;
    c->scope = scope;
    Value caller = Value::callable(std::move(c));
    const Expr &call = *n.expr;
    Value callee;
    Args args;
    if (!eval(*call.args[0], scope, &callee) || !evalArgs(call, 1, scope, &args))
      return Flow::Error;
    const CallableData *m = callee.callableData();
    if (!m || m->type != CallableData::Type::Macro)
      return fail(n.line, "a call block must call a macro"), Flow::Error;
    Value result;
    if (!callMacro(*m, args, &caller, n.line, &result) || !write(result, n.line, out))
      return Flow::Error;
    return Flow::Normal;
  }
  case NodeKind::Break:
    return Flow::Break;
  case NodeKind::Continue:
    return Flow::Continue;
  case NodeKind::With: {
    Scope inner{scope, {}};
    for (const auto &[name, expr] : n.assigns) {
      Value v;
      if (!eval(*expr, scope, &v))
        return Flow::Error;
      inner.set(name, std::move(v));
    }
    return execList(n.body, &inner, out);
  }
  case NodeKind::Scope:
    return execList(n.body, scope, out);
  }
  return Flow::Normal;
}

Flow Renderer::execFor(const Node &n, Scope *scope, std::string *out) {
  Value iterable;
  std::vector<Value> all;
  if (!eval(*n.expr, scope, &iterable) || !iterate(iterable, n.line, &all))
    return Flow::Error;
  // A loop filter runs first: loop.index and loop.length count what passes.
  std::vector<Value> items;
  for (Value &item : all) {
    if (n.cond) {
      Scope probe{scope, {}};
      if (!assign(n.target, item, &probe, n.line))
        return Flow::Error;
      Value keep;
      if (!eval(*n.cond, &probe, &keep))
        return Flow::Error;
      if (!keep.truthy())
        continue;
    }
    items.push_back(std::move(item));
  }
  if (items.empty())
    return execList(n.elseBody, scope, out);
  auto shared = std::make_shared<const std::vector<Value>>(std::move(items));
  const std::vector<Value> &loopItems = *shared;
  const int64_t len = static_cast<int64_t>(loopItems.size());
  for (int64_t i = 0; i < len; ++i) {
    if (++iterations > kMaxIterations)
      return fail(n.line, "more than 2000000 loop iterations"), Flow::Error;
    auto loopData = std::make_shared<LoopData>();
    loopData->items = shared;
    loopData->index = i;
    Scope body{scope, {}};
    body.set("loop", Value::loop(std::move(loopData)));
    if (!assign(n.target, loopItems[i], &body, n.line))
      return Flow::Error;
    Flow f = execList(n.body, &body, out);
    if (f == Flow::Error)
      return f;
    if (f == Flow::Break)
      break;
  }
  return Flow::Normal;
}

bool Renderer::callMacro(const CallableData &m, const Args &args, const Value *caller,
                         int line, Value *out) {
  const Node &n = *m.node;
  if (macroDepth >= kMaxMacroDepth)
    return fail(line, "maximum macro recursion depth (256) exceeded");
  struct Guard {
    int &d;
    ~Guard() { --d; }
  } guard{++macroDepth};
  // Macros see the template's top-level variables; a caller sees the
  // variables where its call block is.
  Scope s{m.type == CallableData::Type::Caller
              ? static_cast<Scope *>(const_cast<void *>(m.scope))
              : root,
          {}};
  const std::string what = m.type == CallableData::Type::Caller ? "caller" : "macro '" + n.text + "'";
  if (args.pos.size() > n.params.size() && !n.usesVarargs)
    return fail(line, what + " takes not more than " + std::to_string(n.params.size()) +
                          " argument(s)");
  Value kwargs = Value::dict();
  for (const auto &[key, value] : args.kw) {
    bool known = false;
    for (size_t i = 0; i < n.params.size(); ++i)
      if (n.params[i] == key) {
        if (i < args.pos.size())
          return fail(line, what + " got multiple values for argument '" + key + "'");
        known = true;
      }
    if (!known && !n.usesKwargs)
      return fail(line, what + " takes no keyword argument '" + key + "'");
    if (!known)
      kwargs.set(key, value);
  }
  for (size_t i = 0; i < n.params.size(); ++i) {
    const Value *given = args.get(i, n.params[i].c_str());
    if (given && !checkDepth(*given, line))
      return false;
    if (given) {
      s.set(n.params[i], *given);
    } else if (n.defaults[i]) {
      Value d;
      if (!eval(*n.defaults[i], &s, &d))
        return false;
      s.set(n.params[i], std::move(d));
    } else {
      s.set(n.params[i], Value::undefined("parameter '" + n.params[i] + "' was not provided"));
    }
  }
  if (n.usesVarargs) {
    Value varargs = Value::list(Value::Flavor::Tuple);
    for (size_t i = n.params.size(); i < args.pos.size(); ++i)
      varargs.push(args.pos[i]);
    s.set("varargs", std::move(varargs));
  }
  if (n.usesKwargs)
    s.set("kwargs", std::move(kwargs));
  if (caller)
    s.set("caller", *caller);
  else if (n.usesCaller && m.type == CallableData::Type::Macro)
    s.set("caller", Value::undefined("No caller defined"));
  std::string body;
  if (execList(n.body, &s, &body) == Flow::Error)
    return false;
  *out = Value(std::move(body));
  return true;
}

} // namespace gemmac::jinja::detail
