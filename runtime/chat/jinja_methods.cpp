// runtime/chat/jinja_methods.cpp - str/dict/list methods and the globals
// (range, namespace, dict, raise_exception, strftime_now).
#include "runtime/chat/jinja_eval.h"
#include "runtime/chat/jinja_utf8.h"

#include <algorithm>
#include <ctime>
#include <initializer_list>

namespace gemmac::jinja::detail {

using K = Value::Kind;
using F = Value::Flavor;

static bool oneOf(const std::string &s, std::initializer_list<const char *> names) {
  for (const char *n : names)
    if (s == n)
      return true;
  return false;
}

static Value makeCallable(CallableData::Type type, const std::string &name, Value self) {
  auto c = std::make_shared<CallableData>();
  c->type = type;
  c->name = name;
  c->self = std::move(self);
  return Value::callable(std::move(c));
}

// Every method Python has on the type gets a callable (so `is defined`
// and truth tests agree with Python); calling an unimplemented one fails.
Value makeMethod(const Value &self, const std::string &name) {
  static const std::initializer_list<const char *> strMethods = {
      "capitalize", "casefold", "center", "count", "encode", "endswith", "expandtabs",
      "find", "format", "format_map", "index", "isalnum", "isalpha", "isascii",
      "isdecimal", "isdigit", "isidentifier", "islower", "isnumeric", "isprintable",
      "isspace", "istitle", "isupper", "join", "ljust", "lower", "lstrip", "maketrans",
      "partition", "removeprefix", "removesuffix", "replace", "rfind", "rindex", "rjust",
      "rpartition", "rsplit", "rstrip", "split", "splitlines", "startswith", "strip",
      "swapcase", "title", "translate", "upper", "zfill"};
  static const std::initializer_list<const char *> dictMethods = {
      "clear", "copy", "fromkeys", "get", "items", "keys", "pop", "popitem",
      "setdefault", "update", "values"};
  static const std::initializer_list<const char *> listMethods = {
      "append", "clear", "copy", "count", "extend", "index", "insert", "pop",
      "remove", "reverse", "sort"};
  bool found = false;
  if (self.isString())
    found = oneOf(name, strMethods);
  else if (self.isDict())
    found = oneOf(name, dictMethods);
  else if (self.isList() && self.flavor() == F::Plain)
    found = oneOf(name, listMethods);
  else if (self.isList() && (self.flavor() == F::Tuple || self.flavor() == F::Range))
    found = oneOf(name, {"count", "index"});
  if (!found)
    return Value();
  return makeCallable(CallableData::Type::Method, name, self);
}

Value makeGlobal(const std::string &name) {
  if (!oneOf(name, {"range", "namespace", "dict", "raise_exception", "strftime_now",
                    "cycler", "joiner", "lipsum"}))
    return Value();
  return makeCallable(CallableData::Type::Global, name, Value());
}

static std::vector<std::string> splitString(const std::string &s, const Value *sep,
                                            int64_t maxsplit) {
  std::vector<std::string> parts;
  if (!sep || sep->isNone()) { // runs of whitespace; no empty parts
    std::vector<uint32_t> cps = decodeUtf8(s);
    size_t i = 0;
    while (i < cps.size()) {
      while (i < cps.size() && isPyWhitespace(cps[i]))
        ++i;
      if (i >= cps.size())
        break;
      if (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit) {
        std::vector<uint32_t> rest(cps.begin() + i, cps.end());
        std::string r = encodeUtf8(rest);
        parts.push_back(pyStrip(r, nullptr, false, true));
        break;
      }
      std::string word;
      while (i < cps.size() && !isPyWhitespace(cps[i]))
        appendUtf8(&word, cps[i++]);
      parts.push_back(std::move(word));
    }
    return parts;
  }
  const std::string &d = sep->stringValue();
  size_t start = 0;
  for (;;) {
    size_t at = s.find(d, start);
    if (at == std::string::npos ||
        (maxsplit >= 0 && static_cast<int64_t>(parts.size()) == maxsplit))
      break;
    parts.push_back(s.substr(start, at - start));
    start = at + d.size();
  }
  parts.push_back(s.substr(start));
  return parts;
}

static Value stringList(std::vector<std::string> parts) {
  Value list = Value::list();
  for (std::string &p : parts)
    list.push(Value(std::move(p)));
  return list;
}

static std::string titleCase(const std::string &s, bool capitalizeOnly) {
  std::string out;
  bool prevCased = false, first = true;
  for (uint32_t cp : decodeUtf8(s)) {
    std::string ch;
    appendUtf8(&ch, cp);
    std::string up = pyUpper(ch), low = pyLower(ch);
    bool cased = up != low || cp == 0xaa || cp == 0xba; // ª º are lowercase letters
    bool upper = capitalizeOnly ? first : !prevCased;
    out += upper ? up : low;
    prevCased = cased;
    first = false;
  }
  return out;
}

// str.format with plain fields only: {}, {0}, {name}; {{ and }} escape.
static bool formatString(Renderer *r, const std::string &f, const Args &a, int line,
                         Value *out) {
  std::string res;
  size_t autoIndex = 0;
  for (size_t i = 0; i < f.size(); ++i) {
    char c = f[i];
    if ((c == '{' || c == '}') && i + 1 < f.size() && f[i + 1] == c) {
      res.push_back(c);
      ++i;
      continue;
    }
    if (c == '}')
      return r->fail(line, "Single '}' encountered in format string");
    if (c != '{') {
      res.push_back(c);
      continue;
    }
    size_t end = f.find('}', i);
    if (end == std::string::npos)
      return r->fail(line, "Single '{' encountered in format string");
    std::string field = f.substr(i + 1, end - i - 1);
    const Value *v = nullptr;
    if (field.empty()) {
      if (autoIndex >= a.pos.size())
        return r->fail(line, "Replacement index " + std::to_string(autoIndex) +
                                 " out of range for positional args tuple");
      v = &a.pos[autoIndex++];
    } else if (std::all_of(field.begin(), field.end(), ::isdigit) && field.size() < 6) {
      size_t k = std::stoul(field);
      if (k >= a.pos.size())
        return r->fail(line, "Replacement index " + field + " out of range for positional args tuple");
      v = &a.pos[k];
    } else if (std::all_of(field.begin(), field.end(),
                           [](char ch) { return isalnum(static_cast<unsigned char>(ch)) || ch == '_'; })) {
      v = a.kwarg(field.c_str());
      if (!v)
        return r->fail(line, "KeyError: '" + field + "'");
    } else {
      return r->fail(line, "unsupported: str.format field '{" + field + "}'");
    }
    if (!r->toStr(*v, line, &res))
      return false;
    i = end;
  }
  *out = Value(std::move(res));
  return true;
}

static bool strMethod(Renderer *r, const std::string &name, const std::string &s,
                      const Args &a, int line, Value *out) {
  auto strArg = [&](size_t i, const char *kw, const Value **v) {
    *v = a.get(i, kw);
    if (*v && !(*v)->isString() && !(*v)->isNone())
      return r->fail(line, name + "() argument must be str or None, not " + pyTypeName(**v));
    return true;
  };
  const Value *x = nullptr;
  if (name == "upper") *out = Value(pyUpper(s));
  else if (name == "lower") *out = Value(pyLower(s));
  else if (name == "title") *out = Value(titleCase(s, false));
  else if (name == "capitalize") *out = Value(titleCase(s, true));
  else if (name == "strip" || name == "lstrip" || name == "rstrip") {
    if (!strArg(0, "chars", &x))
      return false;
    const std::string *chars = x && x->isString() ? &x->stringValue() : nullptr;
    *out = Value(pyStrip(s, chars, name != "rstrip", name != "lstrip"));
  } else if (name == "split") {
    if (!strArg(0, "sep", &x))
      return false;
    if (x && x->isString() && x->stringValue().empty())
      return r->fail(line, "empty separator");
    const Value *m = a.get(1, "maxsplit");
    *out = stringList(splitString(s, x, m && m->kind() == K::Int ? m->intValue() : -1));
  } else if (name == "startswith" || name == "endswith") {
    const Value *p = a.get(0, "prefix");
    if (!p)
      return r->fail(line, name + "() takes at least 1 argument (0 given)");
    std::vector<Value> options = p->isList() ? p->items() : std::vector<Value>{*p};
    bool hit = false;
    for (const Value &o : options) {
      if (!o.isString())
        return r->fail(line, name + " first arg must be str or a tuple of str");
      const std::string &t = o.stringValue();
      hit |= t.size() <= s.size() &&
             (name == "startswith" ? s.compare(0, t.size(), t) == 0
                                   : s.compare(s.size() - t.size(), t.size(), t) == 0);
    }
    *out = Value(hit);
  } else if (name == "replace") {
    return r->filter("replace", Value(s), a, line, nullptr, out);
  } else if (name == "find" || name == "count") {
    const Value *t = a.get(0, "sub");
    if (!t || !t->isString())
      return r->fail(line, "must be str");
    const std::string &sub = t->stringValue();
    if (name == "find") {
      size_t at = s.find(sub);
      *out = Value(at == std::string::npos ? -1LL
                                           : static_cast<long long>(codepointCount(s.substr(0, at))));
    } else {
      long long n = 0;
      if (sub.empty())
        n = static_cast<long long>(codepointCount(s)) + 1;
      else
        for (size_t at = s.find(sub); at != std::string::npos; at = s.find(sub, at + sub.size()))
          ++n;
      *out = Value(n);
    }
  } else if (name == "join") {
    const Value *items = a.get(0, "iterable");
    std::vector<Value> parts;
    if (!items || !r->iterate(*items, line, &parts))
      return r->fail(line, "join() takes exactly one argument");
    std::string j;
    for (size_t i = 0; i < parts.size(); ++i) {
      if (!parts[i].isString())
        return r->fail(line, "sequence item " + std::to_string(i) + ": expected str instance, " +
                                 pyTypeName(parts[i]) + " found");
      if (i)
        j += s;
      j += parts[i].stringValue();
    }
    *out = Value(std::move(j));
  } else if (name == "format") {
    return formatString(r, s, a, line, out);
  } else if (name == "splitlines") {
    *out = stringList(pySplitLines(s));
  } else if (name == "removeprefix" || name == "removesuffix") {
    const Value *t = a.get(0, "prefix");
    if (!t || !t->isString())
      return r->fail(line, name + "() argument must be str");
    const std::string &p = t->stringValue();
    bool pre = name == "removeprefix";
    bool has = p.size() <= s.size() && (pre ? s.compare(0, p.size(), p) == 0
                                            : s.compare(s.size() - p.size(), p.size(), p) == 0);
    *out = Value(!has ? s : pre ? s.substr(p.size()) : s.substr(0, s.size() - p.size()));
  } else if (oneOf(name, {"isdigit", "isalpha", "isalnum", "isspace", "isupper", "islower"})) {
    std::vector<uint32_t> cps = decodeUtf8(s);
    bool all = !cps.empty(), anyCased = false;
    for (uint32_t c : cps) {
      bool ascii = c < 0x80;
      bool digit = c >= '0' && c <= '9', alpha = ascii && isalpha(static_cast<int>(c));
      if (!ascii && name != "isspace")
        return r->fail(line, "unsupported: str." + name + "() on non-ASCII text");
      if (name == "isdigit") all &= digit;
      else if (name == "isalpha") all &= alpha;
      else if (name == "isalnum") all &= digit || alpha;
      else if (name == "isspace") all &= isPyWhitespace(c);
      else if (alpha) {
        anyCased = true;
        all &= name == "isupper" ? (c >= 'A' && c <= 'Z') : (c >= 'a' && c <= 'z');
      }
    }
    *out = Value(name == "isupper" || name == "islower" ? all && anyCased : all);
  } else {
    return r->fail(line, "unsupported: str." + name + "()");
  }
  return true;
}

// Python's argument counts for the methods we implement (keywords only
// where CPython 3.11 accepts them: split's sep/maxsplit).
static bool checkMethodArgs(Renderer *r, const Value &self, const std::string &name,
                            const Args &a, int line) {
  size_t lo = 0, hi = 0;
  if (self.isDict())
    name == "get" ? (lo = 1, hi = 2) : (lo = hi = 0);
  else if (self.isList())
    lo = hi = 1; // count, index
  else if (name == "format")
    return true;
  else if (oneOf(name, {"strip", "lstrip", "rstrip"}))
    hi = 1;
  else if (name == "split")
    hi = 2;
  else if (oneOf(name, {"startswith", "endswith", "find", "count", "join", "removeprefix",
                        "removesuffix"}))
    lo = hi = 1;
  else if (name == "replace")
    lo = 2, hi = 3;
  size_t n = a.pos.size() + a.kw.size();
  for (const auto &kw : a.kw)
    if (!(name == "split" && (kw.first == "sep" || kw.first == "maxsplit")))
      return r->fail(line, name + "() takes no keyword argument '" + kw.first + "'");
  if (n < lo || n > hi)
    return r->fail(line, std::string(pyTypeName(self)) + "." + name + "() takes " +
                             std::to_string(lo) + (hi != lo ? std::string("-").append(std::to_string(hi)) : std::string()) +
                             " argument(s) (" + std::to_string(n) + " given)");
  return true;
}

bool Renderer::callMethod(const CallableData &m, const Args &a, int line, Value *out) {
  const Value &self = m.self;
  const std::string &name = m.name;
  bool implemented =
      self.isString()
          ? oneOf(name, {"upper", "lower", "title", "capitalize", "strip", "lstrip", "rstrip",
                         "split", "startswith", "endswith", "replace", "find", "count",
                         "join", "splitlines", "removeprefix", "removesuffix", "isdigit",
                         "isalpha", "isalnum", "isspace", "isupper", "islower", "format"})
          : self.isDict() ? oneOf(name, {"get", "items", "keys", "values"})
                          : oneOf(name, {"count", "index"});
  if (implemented && !checkMethodArgs(this, self, name, a, line))
    return false;
  if (self.isString())
    return strMethod(this, name, self.stringValue(), a, line, out);
  if (self.isDict()) {
    if (name == "get") {
      const Value *k = a.get(0, "key");
      const Value *d = a.get(1, "default");
      if (!k)
        return fail(line, "get expected at least 1 argument, got 0");
      const Value *v = k->isString() ? self.find(k->stringValue()) : nullptr;
      *out = v ? *v : d ? *d : Value::none();
      return true;
    }
    if (name == "items" || name == "keys" || name == "values") {
      Value list = Value::list(name == "items" ? F::ItemsView
                               : name == "keys" ? F::KeysView : F::ValuesView);
      for (const auto &[key, value] : self.entries()) {
        if (name == "items")
          list.push(Value::list({Value(key), value}, F::Tuple));
        else
          list.push(name == "keys" ? Value(key) : value);
      }
      *out = std::move(list);
      return true;
    }
    if (oneOf(name, {"clear", "pop", "popitem", "setdefault", "update"}))
      return fail(line, "access to attribute '" + name + "' of 'dict' object is unsafe.");
  }
  if (self.isList()) {
    if (name == "count" || name == "index") {
      const Value *x = a.get(0, "value");
      if (!x)
        return fail(line, name + "() takes exactly one argument (0 given)");
      long long n = 0;
      for (size_t i = 0; i < self.size(); ++i)
        if (pyEquals(self.items()[i], *x)) {
          if (name == "index") {
            *out = Value(static_cast<long long>(i));
            return true;
          }
          ++n;
        }
      if (name == "index")
        return fail(line, "value is not in list");
      *out = Value(n);
      return true;
    }
    if (name != "copy")
      return fail(line, "access to attribute '" + name + "' of '" + pyTypeName(self) +
                            "' object is unsafe.");
  }
  return fail(line, "unsupported: method " + std::string(pyTypeName(self)) + "." + name + "()");
}

} // namespace gemmac::jinja::detail
