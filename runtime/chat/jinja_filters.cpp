// runtime/chat/jinja_filters.cpp - Scalar and string filters (jinja2/filters.py);
// sequence filters are in jinja_filters_seq.cpp.
#include "runtime/chat/jinja_filters.h"

#include "runtime/chat/jinja_parser.h"
#include "runtime/chat/jinja_utf8.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace gemmac::jinja::detail {

using K = Value::Kind;

// Python's float(str): whitespace, underscores between digits, inf/nan.
static bool parsePyFloat(std::string s, double *out) {
  s = pyStrip(s, nullptr, true, true);
  std::string clean;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '_') {
      if (i == 0 || i + 1 >= s.size() || !isdigit(static_cast<unsigned char>(s[i - 1])) ||
          !isdigit(static_cast<unsigned char>(s[i + 1])))
        return false;
      continue;
    }
    clean.push_back(s[i]);
  }
  if (clean.empty())
    return false;
  std::string low = pyLower(clean);
  size_t sign = (low[0] == '+' || low[0] == '-') ? 1 : 0;
  std::string body = low.substr(sign);
  if (body == "inf" || body == "infinity" || body == "nan") {
    double v = body == "nan" ? NAN : INFINITY;
    *out = low[0] == '-' ? -v : v;
    return true;
  }
  for (char c : body)
    if (!isdigit(static_cast<unsigned char>(c)) && c != '.' && c != 'e' && c != '+' && c != '-')
      return false;
  char *end = nullptr;
  *out = strtod(clean.c_str(), &end);
  return end && *end == 0;
}

// Python's int(str, 10): whitespace, sign, underscores between digits.
static bool parsePyInt(std::string s, int64_t *out, bool *overflow) {
  s = pyStrip(s, nullptr, true, true);
  size_t i = (!s.empty() && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
  if (i >= s.size())
    return false;
  std::string digits = s.substr(0, i);
  for (; i < s.size(); ++i) {
    // A leading '_' has no digit before it: i > 0 guards s[i - 1].
    if (s[i] == '_' && i > 0 && i + 1 < s.size() &&
        isdigit(static_cast<unsigned char>(s[i + 1])) &&
        isdigit(static_cast<unsigned char>(s[i - 1])))
      continue;
    if (!isdigit(static_cast<unsigned char>(s[i])))
      return false;
    digits.push_back(s[i]);
  }
  errno = 0;
  long long v = strtoll(digits.c_str(), nullptr, 10);
  *overflow = errno == ERANGE;
  *out = v;
  return true;
}

static bool intFilter(Renderer *r, const Value &v, const Args &a, int line, Value *out) {
  Value def = a.get(0, "default") ? *a.get(0, "default") : Value(0);
  const Value *base = a.get(1, "base");
  if (base && !(base->kind() == K::Int && base->intValue() == 10))
    return r->fail(line, "unsupported: int filter with a base other than 10");
  if (v.kind() == K::Int || v.kind() == K::Bool) {
    *out = Value(static_cast<long long>(v.intValue()));
    return true;
  }
  double d = 0;
  bool isNum = v.kind() == K::Float;
  if (isNum)
    d = v.floatValue();
  if (v.isString()) {
    int64_t i;
    bool overflow = false;
    if (parsePyInt(v.stringValue(), &i, &overflow)) {
      if (overflow)
        return r->fail(line, "integer out of range");
      *out = Value(static_cast<long long>(i));
      return true;
    }
    isNum = parsePyFloat(v.stringValue(), &d);
  }
  if (!isNum) {
    *out = def;
    return true;
  }
  if (std::isnan(d) || std::isinf(d))
    return r->fail(line, "cannot convert float infinity or NaN to integer");
  if (std::fabs(d) >= 9.2e18)
    return r->fail(line, "integer out of range");
  *out = Value(static_cast<long long>(std::trunc(d)));
  return true;
}

static bool roundFilter(Renderer *r, const Value &v, const Args &a, int line, Value *out) {
  const Value *p = a.get(0, "precision");
  const Value *m = a.get(1, "method");
  int64_t precision = p && p->kind() == K::Int ? p->intValue() : 0;
  std::string method = m && m->isString() ? m->stringValue() : "common";
  if (!v.isNumber())
    return r->fail(line, std::string("type ") + pyTypeName(v) + " doesn't define __round__ method");
  if (method != "common" && method != "ceil" && method != "floor")
    return r->fail(line, "method must be common, ceil or floor");
  if (precision < 0 || precision > 15)
    return r->fail(line, "unsupported: round precision outside 0..15");
  if (method == "common" && v.kind() != K::Float) {
    *out = Value(static_cast<long long>(v.intValue()));
    return true;
  }
  double x = v.floatValue();
  if (method == "common") {
    char buf[400];
    snprintf(buf, sizeof buf, "%.*f", static_cast<int>(precision), x); // round-half-even on the exact value
    *out = Value(strtod(buf, nullptr));
    return true;
  }
  double scale = std::pow(10.0, static_cast<double>(precision));
  double y = method == "ceil" ? std::ceil(x * scale) : std::floor(x * scale);
  *out = Value(y / scale);
  return true;
}

std::string htmlEscape(const std::string &s) {
  std::string out;
  for (char c : s) {
    switch (c) {
    case '&': out += "&amp;"; break;
    case '<': out += "&lt;"; break;
    case '>': out += "&gt;"; break;
    case '"': out += "&#34;"; break;
    case '\'': out += "&#39;"; break;
    default: out.push_back(c);
    }
  }
  return out;
}

static std::string indent(const std::string &text, const std::string &ind, bool first,
                          bool blank) {
  std::vector<std::string> lines = pySplitLines(text + "\n");
  std::string rv;
  if (blank) {
    for (size_t i = 0; i < lines.size(); ++i)
      rv += (i ? "\n" + ind : std::string()) + lines[i];
  } else if (!lines.empty()) {
    rv = lines[0];
    for (size_t i = 1; i < lines.size(); ++i)
      rv.append("\n").append(lines[i].empty() ? std::string() : ind).append(lines[i]);
  }
  return first ? ind + rv : rv;
}

// The string filters; *handled is false for the others.
static bool textFilter(Renderer *rd, const std::string &name, const Value &v, const Args &a,
                       int line, Value *out, bool *handled) {
  *handled = false;
  std::string s; // str(value) for the string filters
  auto str = [&]() { return rd->toStr(v, line, &s); };
  if (name == "default" || name == "d") {
    const Value *def = a.get(0, "default_value");
    const Value *boolean = a.get(1, "boolean");
    bool useDefault = v.isUndefined() || (boolean && boolean->truthy() && !v.truthy());
    *out = useDefault ? (def ? *def : Value("")) : v;
    return *handled = true;
  }
  if (name == "title") {
    // jinja2's do_title: words split at runs of -, whitespace, ( { [ <;
    // each word's first letter upper-cased, the rest lower-cased.
    if (!str())
      return false;
    std::string r;
    bool wordStart = true;
    for (uint32_t cp : decodeUtf8(s)) {
      std::string ch;
      appendUtf8(&ch, cp);
      bool sep = cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<' || isPyWhitespace(cp);
      r += sep ? ch : wordStart ? pyUpper(ch) : pyLower(ch);
      wordStart = sep;
    }
    *out = Value(std::move(r));
    return *handled = true;
  }
  if (name == "upper" || name == "lower" || name == "capitalize") {
    if (!str())
      return false;
    Args none;
    auto m = std::make_shared<CallableData>();
    m->type = CallableData::Type::Method;
    m->name = name;
    m->self = Value(s);
    if (!rd->callMethod(*m, none, line, out))
      return false;
    if (v.isMarkup()) // Markup's methods return Markup
      *out = Value::markup(out->stringValue());
    return *handled = true;
  }
  if (name == "trim") {
    const Value *chars = a.get(0, "chars");
    if (!str())
      return false;
    if (chars && !chars->isString() && !chars->isNone())
      return rd->fail(line, "strip arg must be None or str");
    const std::string *set = chars && chars->isString() ? &chars->stringValue() : nullptr;
    std::string r = pyStrip(s, set, true, true);
    *out = v.isMarkup() ? Value::markup(std::move(r)) : Value(std::move(r));
    return *handled = true;
  }
  if (name == "string") {
    if (v.isString()) {
      *out = v;
      return *handled = true;
    }
    if (!str())
      return false;
    *out = Value(std::move(s));
    return *handled = true;
  }
  if (name == "safe" || name == "escape" || name == "e") {
    if (v.isMarkup()) {
      *out = v;
      return *handled = true;
    }
    if (!str())
      return false;
    *out = Value::markup(name == "safe" ? s : htmlEscape(s));
    return *handled = true;
  }
  if (name == "replace") {
    const Value *oldV = a.get(0, "old"), *newV = a.get(1, "new"), *count = a.get(2, "count");
    if (!oldV || !newV)
      return rd->fail(line, "replace needs the old and new strings");
    std::string o, n;
    if (!str() || !rd->toStr(*oldV, line, &o) || !rd->toStr(*newV, line, &n))
      return false;
    if (count && !count->isNone() && count->kind() != K::Int && count->kind() != K::Bool)
      return rd->fail(line, std::string("'") + pyTypeName(*count) +
                                "' object cannot be interpreted as an integer");
    int64_t limit = count && !count->isNone() ? count->intValue() : -1;
    std::string r;
    if (o.empty()) { // inserts between code points, like Python
      std::vector<uint32_t> cps = decodeUtf8(s);
      int64_t done = 0;
      for (size_t i = 0; i <= cps.size(); ++i) {
        if (limit < 0 || done < limit) {
          r += n;
          ++done;
        }
        if (i < cps.size())
          appendUtf8(&r, cps[i]);
      }
    } else {
      size_t start = 0;
      int64_t done = 0;
      for (size_t at; (limit < 0 || done < limit) && (at = s.find(o, start)) != std::string::npos;
           ++done) {
        r += s.substr(start, at - start) + n;
        start = at + o.size();
        if (r.size() > kMaxOutputBytes)
          return rd->fail(line, "string larger than 64 MiB");
      }
      r += s.substr(start);
    }
    *out = Value(std::move(r));
    return *handled = true;
  }
  if (name == "indent") {
    const Value *w = a.get(0, "width"), *first = a.get(1, "first"), *blank = a.get(2, "blank");
    std::string ind = w && w->isString() ? w->stringValue()
                                         : std::string(w && w->kind() == K::Int && w->intValue() > 0
                                                           ? std::min<int64_t>(w->intValue(), 4096)
                                                           : (w ? 0 : 4), ' ');
    if (!str())
      return false;
    std::string r = indent(s, ind, first && first->truthy(), blank && blank->truthy());
    *out = v.isMarkup() ? Value::markup(std::move(r)) : Value(std::move(r));
    return *handled = true;
  }
  if (name == "wordcount") {
    if (!str())
      return false;
    long long n = 0;
    bool in = false;
    for (char c : s) {
      bool w = isalnum(static_cast<unsigned char>(c)) || c == '_' || (c & 0x80);
      n += w && !in;
      in = w;
    }
    *out = Value(n);
    return *handled = true;
  }
  return true;
}

bool Renderer::filter(const std::string &name, const Value &v, const Args &a, int line,
                      Scope *scope, Value *out) {
  if (!isKnownFilter(name))
    return fail(line, "unsupported filter '" + name + "' (not implemented or not a jinja2 filter)");
  if (!checkFilterArgs(this, name, a, line))
    return false;
  bool handled;
  if (!textFilter(this, name, v, a, line, out, &handled))
    return false;
  if (handled)
    return true;
  if ((name == "int" || name == "float") && v.isUndefined())
    return undefinedError(line, v); // Undefined.__int__/__float__ raise
  if (name == "int")
    return intFilter(this, v, a, line, out);
  if (name == "float") {
    Value def = a.get(0, "default") ? *a.get(0, "default") : Value(0.0);
    double d;
    if (v.isNumber())
      *out = Value(v.floatValue());
    else if (v.isString() && parsePyFloat(v.stringValue(), &d))
      *out = Value(d);
    else
      *out = def;
    return true;
  }
  if (name == "abs") {
    if (v.kind() == K::Float)
      *out = Value(std::fabs(v.floatValue()));
    else if (v.kind() == K::Int || v.kind() == K::Bool)
      *out = Value(static_cast<long long>(v.intValue() < 0 ? -v.intValue() : v.intValue()));
    else
      return fail(line, std::string("bad operand type for abs(): '") + pyTypeName(v) + "'");
    return true;
  }
  if (name == "round")
    return roundFilter(this, v, a, line, out);
  if (name == "tojson") {
    const Value *ind = a.get(1, "indent"), *sep = a.get(2, "separators");
    const Value *sortKeys = a.get(3, "sort_keys");
    if (sep && !sep->isNone())
      return fail(line, "unsupported: tojson with custom separators");
    if (ind && !ind->isNone() && ind->kind() != K::Int)
      return fail(line, "unsupported: tojson indent that is not an integer");
    std::string json, why;
    int indentWidth = ind && ind->kind() == K::Int
                          ? static_cast<int>(std::max<int64_t>(0, std::min<int64_t>(ind->intValue(), 64)))
                          : -1;
    if (!valueToJson(v, &json, &why, indentWidth, sortKeys && sortKeys->truthy()))
      return fail(line, why);
    *out = Value(std::move(json));
    return true;
  }
  return sequenceFilter(this, name, v, a, line, scope, out);
}

} // namespace gemmac::jinja::detail
