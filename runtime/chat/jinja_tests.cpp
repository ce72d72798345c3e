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

// Parameters after the value, as jinja2 (and transformers' tojson) declare
// them; nullptr: any arguments (*args, **kwargs).
static const std::vector<const char *> *filterParams(const std::string &name) {
  static const std::vector<const char *> none, dflt = {"default_value", "boolean"},
      dictsort = {"case_sensitive", "by", "reverse"}, number = {"default"},
      indent = {"width", "first", "blank"}, integer = {"default", "base"},
      join = {"d", "attribute"}, minmax = {"case_sensitive", "attribute"},
      replace = {"old", "new", "count"}, round = {"precision", "method"},
      sort = {"reverse", "case_sensitive", "attribute"}, sum = {"attribute", "start"},
      tojson = {"ensure_ascii", "indent", "separators", "sort_keys"}, trim = {"chars"},
      attr = {"name"};
  if (inList(name, {"map", "select", "reject", "selectattr", "rejectattr"}))
    return nullptr;
  if (name == "default" || name == "d") return &dflt;
  if (name == "dictsort") return &dictsort;
  if (name == "float") return &number;
  if (name == "indent") return &indent;
  if (name == "int") return &integer;
  if (name == "join") return &join;
  if (name == "min" || name == "max" || name == "unique") return &minmax;
  if (name == "replace") return &replace;
  if (name == "round") return &round;
  if (name == "sort") return &sort;
  if (name == "sum") return &sum;
  if (name == "tojson") return &tojson;
  if (name == "trim") return &trim;
  if (name == "attr") return &attr;
  return &none;
}

// Python's call rules: not too many positionals, known keywords, no
// argument given twice.
bool checkFilterArgs(Renderer *r, const std::string &name, const Args &a, int line) {
  const std::vector<const char *> *params = filterParams(name);
  if (!params)
    return true;
  if (a.pos.size() > params->size())
    return r->fail(line, "filter '" + name + "' takes at most " +
                             std::to_string(params->size()) + " argument(s), got " +
                             std::to_string(a.pos.size()));
  for (const auto &[key, value] : a.kw) {
    size_t i = 0;
    while (i < params->size() && key != (*params)[i])
      ++i;
    if (i == params->size())
      return r->fail(line, "filter '" + name + "' got an unexpected keyword argument '" + key + "'");
    if (i < a.pos.size())
      return r->fail(line, "filter '" + name + "' got multiple values for argument '" + key + "'");
  }
  return true;
}

static size_t testArity(const std::string &name) {
  return inList(name, {"divisibleby", "eq", "equalto", "==", "ne", "!=", "lt", "lessthan", "<",
                       "le", "<=", "gt", "greaterthan", ">", "ge", ">=", "in", "sameas"})
             ? 1
             : 0;
}

bool Renderer::test(const std::string &name, const Value &v, const Args &a, int line,
                    bool *r) {
  if (!isKnownTest(name))
    return fail(line, "unsupported test '" + name + "' (not implemented or not a jinja2 test)");
  const size_t arity = testArity(name);
  if (a.pos.size() + a.kw.size() != arity)
    return fail(line, "test '" + name + "' takes " + std::to_string(arity) + " argument(s), got " +
                          std::to_string(a.pos.size() + a.kw.size()));
  const Value *arg = a.pos.empty() ? (a.kw.empty() ? nullptr : &a.kw[0].second) : &a.pos[0];
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
