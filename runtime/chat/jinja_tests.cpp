// runtime/chat/jinja_tests.cpp - `is` tests (jinja2/tests.py) and the
// lists of filter and test names the parser accepts.
#include "runtime/chat/jinja_eval.h"
#include "runtime/chat/jinja_parser.h"
#include "runtime/chat/jinja_utf8.h"

#include <initializer_list>

namespace gemmac::jinja::detail {

using K = Value::Kind;
using F = Value::Flavor;

static bool inList(const std::string &s, std::initializer_list<const char *> names) {
  for (const char *n : names)
    if (s == n)
      return true;
  return false;
}

static const std::initializer_list<const char *> kFilters = {
    "abs", "attr", "capitalize", "count", "d", "default", "dictsort", "e", "escape",
    "first", "float", "indent", "int", "items", "join", "last", "length", "list",
    "lower", "map", "max", "min", "reject", "rejectattr", "replace", "reverse", "round",
    "safe", "select", "selectattr", "sort", "string", "sum", "title", "tojson", "trim",
    "unique", "upper", "wordcount"};

static const std::initializer_list<const char *> kTests = {
    "boolean", "callable", "defined", "divisibleby", "eq", "equalto", "escaped", "even",
    "false", "filter", "float", "ge", "gt", "greaterthan", "in", "integer", "iterable",
    "le", "lessthan", "lower", "lt", "mapping", "ne", "none", "number", "odd", "sameas",
    "sequence", "string", "test", "true", "undefined", "upper", "==", "!=", "<", "<=",
    ">", ">="};

bool isKnownFilter(const std::string &name) { return inList(name, kFilters); }
bool isKnownTest(const std::string &name) { return inList(name, kTests); }

bool Renderer::test(const std::string &name, const Value &v, const Args &a, int line,
                    bool *r) {
  const Value *arg = a.get(0, "other");
  auto needArg = [&]() {
    if (arg)
      return true;
    return fail(line, "test '" + name + "' needs an argument");
  };
  const bool isGenLike = v.isList() && (v.flavor() == F::Generator);
  if (name == "defined") *r = !v.isUndefined();
  else if (name == "undefined") *r = v.isUndefined();
  else if (name == "none") *r = v.isNone();
  else if (name == "boolean") *r = v.kind() == K::Bool;
  else if (name == "false") *r = v.kind() == K::Bool && !v.boolValue();
  else if (name == "true") *r = v.kind() == K::Bool && v.boolValue();
  else if (name == "integer") *r = v.kind() == K::Int;
  else if (name == "float") *r = v.kind() == K::Float;
  else if (name == "number") *r = v.isNumber();
  else if (name == "string") *r = v.isString();
  else if (name == "mapping") *r = v.isDict();
  else if (name == "sequence")
    *r = v.isString() || v.isDict() || v.isUndefined() ||
         (v.isList() && (v.flavor() == F::Plain || v.flavor() == F::Tuple ||
                         v.flavor() == F::Range));
  else if (name == "iterable")
    *r = v.isString() || v.isDict() || v.isUndefined() || v.isList();
  else if (name == "callable")
    *r = v.kind() == K::Callable || v.isUndefined() ||
         (v.kind() == K::Namespace && v.flavor() == F::Loop);
  else if (name == "escaped") *r = false;
  else if (name == "odd" || name == "even" || name == "divisibleby") {
    // value % 2 == 1 etc., with Python's modulo on ints and floats.
    Value divisor(2);
    if (name == "divisibleby") {
      if (!needArg())
        return false;
      divisor = *arg;
    }
    Value m;
    if (!binary("%", v, divisor, line, &m))
      return false;
    *r = pyEquals(m, Value(name == "odd" ? 1 : 0));
  } else if (inList(name, {"eq", "equalto", "=="})) {
    if (!needArg())
      return false;
    *r = pyEquals(v, *arg);
  } else if (inList(name, {"ne", "!="})) {
    if (!needArg())
      return false;
    *r = !pyEquals(v, *arg);
  } else if (inList(name, {"lt", "lessthan", "<", "le", "<=", "gt", "greaterthan", ">",
                           "ge", ">="})) {
    if (!needArg())
      return false;
    std::string op = inList(name, {"lt", "lessthan", "<"}) ? "<"
                     : inList(name, {"le", "<="})          ? "<="
                     : inList(name, {"gt", "greaterthan", ">"}) ? ">" : ">=";
    return compare(op, v, *arg, line, r);
  } else if (name == "in") {
    if (!needArg())
      return false;
    return contains(*arg, v, line, r);
  } else if (name == "sameas") {
    if (!needArg())
      return false;
    *r = (v.isNone() && arg->isNone()) ||
         (v.kind() == K::Bool && arg->kind() == K::Bool && v.boolValue() == arg->boolValue());
  } else if (name == "lower" || name == "upper") {
    std::string s;
    if (!toStr(v, line, &s))
      return false;
    std::string lo = pyLower(s), up = pyUpper(s);
    bool cased = lo != up;
    *r = cased && (name == "lower" ? s == lo : s == up);
  } else if (name == "filter" || name == "test") {
    *r = v.isString() && (name == "filter" ? isKnownFilter(v.stringValue())
                                           : isKnownTest(v.stringValue()));
  } else {
    return fail(line, "unsupported test '" + name + "'");
  }
  (void)isGenLike;
  return true;
}

} // namespace gemmac::jinja::detail
