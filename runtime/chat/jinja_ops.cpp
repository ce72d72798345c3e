// runtime/chat/jinja_ops.cpp - Operators, attributes, items and iteration
// with Python's semantics (and jinja2's getattr/getitem fallbacks).
#include "runtime/chat/jinja_eval.h"
#include "runtime/chat/jinja_utf8.h"

#include <algorithm>
#include <cmath>

namespace gemmac::jinja::detail {

using K = Value::Kind;
using F = Value::Flavor;

const char *pyTypeName(const Value &v) {
  switch (v.kind()) {
  case K::Undefined: return "Undefined";
  case K::None: return "NoneType";
  case K::Bool: return "bool";
  case K::Int: return "int";
  case K::Float: return "float";
  case K::String: return "str";
  case K::List:
    switch (v.flavor()) {
    case F::Tuple: return "tuple";
    case F::Generator: return "generator";
    case F::Range: return "range";
    case F::ItemsView: return "dict_items";
    case F::KeysView: return "dict_keys";
    case F::ValuesView: return "dict_values";
    default: return "list";
    }
  case K::Dict: return "dict";
  case K::Namespace: return v.flavor() == F::Loop ? "LoopContext" : "Namespace";
  case K::Callable: return "function";
  }
  return "object";
}

static bool isIntLike(const Value &v) { return v.kind() == K::Int || v.kind() == K::Bool; }

bool pyEquals(const Value &a, const Value &b, int level) {
  if (level > static_cast<int>(kMaxValueDepth) + 8) // namespaces can form cycles
    return false;
  if (a.isNumber() && b.isNumber()) {
    if (isIntLike(a) && isIntLike(b))
      return a.intValue() == b.intValue();
    return a.floatValue() == b.floatValue();
  }
  if (a.kind() != b.kind())
    return false;
  switch (a.kind()) {
  case K::Undefined:
  case K::None:
    return true;
  case K::String:
    return a.stringValue() == b.stringValue();
  case K::List: {
    bool seqA = a.flavor() == F::Plain || a.flavor() == F::Tuple || a.flavor() == F::Range;
    if (a.flavor() != b.flavor() || !seqA || a.size() != b.size())
      return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (!pyEquals(a.items()[i], b.items()[i], level + 1))
        return false;
    return true;
  }
  case K::Dict: {
    if (a.size() != b.size())
      return false;
    for (const auto &[key, value] : a.entries()) {
      const Value *other = b.find(key);
      if (!other || !pyEquals(value, *other, level + 1))
        return false;
    }
    return true;
  }
  default:
    return false;
  }
}

bool Renderer::toStr(const Value &v, int line, std::string *out) {
  std::string why;
  if (!pyStr(v, out, &why))
    return fail(line, why);
  return true;
}

bool Renderer::length(const Value &v, int line, int64_t *out) {
  if (v.isString())
    *out = static_cast<int64_t>(codepointCount(v.stringValue()));
  else if ((v.isList() && v.flavor() != F::Generator) || v.isDict())
    *out = static_cast<int64_t>(v.size());
  else if (v.isUndefined())
    *out = 0;
  else
    return fail(line, std::string("object of type '") + pyTypeName(v) + "' has no len()");
  return true;
}

bool Renderer::iterate(const Value &v, int line, std::vector<Value> *out) {
  out->clear();
  switch (v.kind()) {
  case K::List:
    *out = v.items();
    return true;
  case K::Dict:
    for (const auto &e : v.entries())
      out->push_back(Value(e.first));
    return true;
  case K::String: {
    std::string ch;
    for (uint32_t cp : decodeUtf8(v.stringValue())) {
      ch.clear();
      appendUtf8(&ch, cp);
      out->push_back(Value(ch));
    }
    return true;
  }
  case K::Undefined:
    return true;
  default:
    return fail(line, std::string("'") + pyTypeName(v) + "' object is not iterable");
  }
}

static bool mulOverflow(int64_t a, int64_t b, int64_t *r) { return __builtin_mul_overflow(a, b, r); }

// CPython's float floor division and modulo.
static double pyFloorDiv(double vx, double wx) {
  double mod = std::fmod(vx, wx);
  double div = (vx - mod) / wx;
  if (mod) {
    if ((wx < 0) != (mod < 0))
      div -= 1.0;
  }
  if (div) {
    double floordiv = std::floor(div);
    if (div - floordiv > 0.5)
      floordiv += 1.0;
    return floordiv;
  }
  return std::copysign(0.0, vx / wx);
}
static double pyFloatMod(double vx, double wx) {
  double mod = std::fmod(vx, wx);
  if (mod) {
    if ((wx < 0) != (mod < 0))
      mod += wx;
  } else {
    mod = std::copysign(0.0, wx);
  }
  return mod;
}

static bool repeat(Renderer *r, const Value &seq, int64_t n, int line, Value *out) {
  if (n < 0)
    n = 0;
  // An empty sequence repeats to itself: no loop of n steps ([] * 89**8
  // would spin for 4e15 of them; found by the jinja fuzz campaign).
  if (seq.isString() ? seq.stringValue().empty() : seq.items().empty())
    n = std::min<int64_t>(n, 1);
  if (seq.isString()) {
    const std::string &s = seq.stringValue();
    if (!s.empty() && static_cast<uint64_t>(n) > kMaxOutputBytes / s.size())
      return r->fail(line, "string larger than 64 MiB");
    std::string rep;
    for (int64_t i = 0; i < n; ++i)
      rep += s;
    *out = Value(std::move(rep));
    return true;
  }
  if (!seq.items().empty() && static_cast<uint64_t>(n) > 1000000 / seq.items().size())
    return r->fail(line, "list too large");
  Value list = Value::list(seq.flavor());
  for (int64_t i = 0; i < n; ++i)
    for (const Value &v : seq.items())
      list.push(v);
  *out = std::move(list);
  return true;
}

static bool intArith(Renderer *r, const std::string &op, int64_t a, int64_t b, int line,
                     Value *out) {
  int64_t res = 0;
  bool overflow = false;
  if (op == "+")
    overflow = __builtin_add_overflow(a, b, &res);
  else if (op == "-")
    overflow = __builtin_sub_overflow(a, b, &res);
  else if (op == "*")
    overflow = mulOverflow(a, b, &res);
  else if (op == "//" || op == "%") {
    if (b == 0)
      return r->fail(line, "integer division or modulo by zero");
    if (a == INT64_MIN && b == -1)
      return r->fail(line, "integer overflow");
    int64_t q = a / b, m = a % b;
    if (m != 0 && ((m < 0) != (b < 0))) {
      q -= 1;
      m += b;
    }
    res = op == "//" ? q : m;
  } else if (op == "**") {
    if (b < 0) {
      if (a == 0)
        return r->fail(line, "0.0 cannot be raised to a negative power");
      *out = Value(std::pow(static_cast<double>(a), static_cast<double>(b)));
      return true;
    }
    if (a == 0 || a == 1)
      res = b == 0 ? 1 : a;
    else if (a == -1)
      res = (b % 2) ? -1 : 1;
    else {
      res = 1; // |a| >= 2 overflows within 64 steps
      for (int64_t i = 0; i < b && !overflow; ++i)
        overflow = mulOverflow(res, a, &res);
    }
  }
  if (overflow)
    return r->fail(line, "integer overflow (Python integers are unbounded; ours are 64-bit)");
  *out = Value(static_cast<long long>(res));
  return true;
}

bool Renderer::binary(const std::string &op, const Value &a, const Value &b, int line,
                      Value *out) {
  if (a.isUndefined())
    return undefinedError(line, a);
  if (b.isUndefined())
    return undefinedError(line, b);
  if (a.isNumber() && b.isNumber()) {
    if (isIntLike(a) && isIntLike(b) && op != "/")
      return intArith(this, op, a.intValue(), b.intValue(), line, out);
    double x = a.floatValue(), y = b.floatValue();
    if ((op == "/" || op == "//" || op == "%") && y == 0)
      return fail(line, "float division by zero");
    if (op == "+") *out = Value(x + y);
    else if (op == "-") *out = Value(x - y);
    else if (op == "*") *out = Value(x * y);
    else if (op == "/") *out = Value(x / y);
    else if (op == "//") *out = Value(pyFloorDiv(x, y));
    else if (op == "%") *out = Value(pyFloatMod(x, y));
    else if (op == "**") {
      if (x == 0 && y < 0)
        return fail(line, "0.0 cannot be raised to a negative power");
      double p = std::pow(x, y);
      if (std::isinf(p) && std::isfinite(x) && std::isfinite(y))
        return fail(line, "(34, 'Numerical result out of range')"); // OverflowError
      if (std::isnan(p) && !std::isnan(x) && !std::isnan(y))
        return fail(line, "negative number cannot be raised to a fractional power");
      *out = Value(p);
    }
    return true;
  }
  if (op == "+" && a.isString() && b.isString()) {
    if (a.stringValue().size() + b.stringValue().size() > kMaxOutputBytes)
      return fail(line, "string larger than 64 MiB");
    if (a.isMarkup() || b.isMarkup()) { // Markup + str escapes the str
      *out = Value::markup((a.isMarkup() ? a.stringValue() : htmlEscape(a.stringValue())) +
                           (b.isMarkup() ? b.stringValue() : htmlEscape(b.stringValue())));
      return true;
    }
    *out = Value(a.stringValue() + b.stringValue());
    return true;
  }
  if (op == "+" && a.isList() && b.isList() && a.flavor() == b.flavor() &&
      (a.flavor() == F::Plain || a.flavor() == F::Tuple)) {
    std::vector<Value> items = a.items();
    items.insert(items.end(), b.items().begin(), b.items().end());
    *out = Value::list(std::move(items), a.flavor());
    return true;
  }
  if (op == "*") {
    auto seq = [](const Value &v) {
      return v.isString() || (v.isList() && (v.flavor() == F::Plain || v.flavor() == F::Tuple));
    };
    if (seq(a) && isIntLike(b))
      return repeat(this, a, b.intValue(), line, out);
    if (isIntLike(a) && seq(b))
      return repeat(this, b, a.intValue(), line, out);
  }
  if (op == "%" && a.isString())
    return fail(line, "unsupported: printf-style string formatting (%)");
  return fail(line, "unsupported operand type(s) for " + op + ": '" + pyTypeName(a) +
                        "' and '" + pyTypeName(b) + "'");
}

bool Renderer::less(const Value &a, const Value &b, int line, bool *result, int level) {
  if (level > static_cast<int>(kMaxValueDepth) + 8)
    return fail(line, "values nested too deeply to compare");
  if (a.isUndefined())
    return undefinedError(line, a);
  if (b.isUndefined())
    return undefinedError(line, b);
  if (a.isNumber() && b.isNumber()) {
    *result = isIntLike(a) && isIntLike(b) ? a.intValue() < b.intValue()
                                           : a.floatValue() < b.floatValue();
    return true;
  }
  if (a.isString() && b.isString()) {
    *result = a.stringValue() < b.stringValue(); // UTF-8 bytes sort as code points
    return true;
  }
  if (a.isList() && b.isList() && a.flavor() == b.flavor() &&
      (a.flavor() == F::Plain || a.flavor() == F::Tuple)) {
    const auto &x = a.items(), &y = b.items();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (pyEquals(x[i], y[i]))
        continue;
      return less(x[i], y[i], line, result, level + 1);
    }
    *result = x.size() < y.size();
    return true;
  }
  return fail(line, std::string("'<' not supported between instances of '") +
                        pyTypeName(a) + "' and '" + pyTypeName(b) + "'");
}

bool Renderer::contains(const Value &container, const Value &item, int line, bool *result) {
  *result = false;
  switch (container.kind()) {
  case K::String:
    if (!item.isString())
      return fail(line, std::string("'in <string>' requires string as left operand, not ") +
                            pyTypeName(item));
    *result = container.stringValue().find(item.stringValue()) != std::string::npos;
    return true;
  case K::List:
    for (const Value &v : container.items())
      if (pyEquals(v, item)) {
        *result = true;
        break;
      }
    return true;
  case K::Dict:
    if (item.isList() && item.flavor() != F::Tuple)
      return fail(line, "unhashable type: 'list'");
    *result = item.isString() && container.find(item.stringValue()) != nullptr;
    return true;
  case K::Undefined:
    return true;
  default:
    return fail(line, std::string("argument of type '") + pyTypeName(container) +
                          "' is not iterable");
  }
}

} // namespace gemmac::jinja::detail
