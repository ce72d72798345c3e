// runtime/chat/jinja_filters_seq.cpp - Filters over sequences and mappings
#include "runtime/chat/jinja_filters.h"

#include "runtime/chat/jinja_parser.h"
#include "runtime/chat/jinja_utf8.h"

#include <algorithm>

namespace gemmac::jinja::detail {

using K = Value::Kind;
using F = Value::Flavor;

// jinja2's make_attrgetter: "a.b.0" looked up item-first at each step.
static bool getAttribute(Renderer *r, const Value &item, const std::string &path, int line,
                         Value *out) {
  *out = item;
  size_t start = 0;
  for (;;) {
    size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    bool digits = !part.empty() && std::all_of(part.begin(), part.end(), ::isdigit);
    Value key = digits && part.size() < 18 ? Value(std::stoll(part)) : Value(part);
    Value next;
    if (!r->getItem(*out, key, line, &next))
      return false;
    *out = std::move(next);
    if (dot == std::string::npos)
      return true;
    start = dot + 1;
  }
}

// Sort key: the (attribute of the) item, lower-cased when case-insensitive.
static bool sortKey(Renderer *r, const Value &item, const Value *attribute, bool caseSensitive,
                    int line, Value *out) {
  if (attribute && attribute->isString()) {
    if (!getAttribute(r, item, attribute->stringValue(), line, out))
      return false;
  } else {
    *out = item;
  }
  if (!caseSensitive && out->isString())
    *out = Value(pyLower(out->stringValue()));
  return true;
}

// A stable merge sort (like Python's sorted) that stops at the first
// comparison error: std::sort needs a comparator that cannot fail.
// listKeys: sort's keys are lists of attributes in jinja2, and comparing
// equal lists never calls < on their items (so equal undefined keys pass).
static bool sortValues(Renderer *r, std::vector<Value> *items, std::vector<Value> keys,
                       bool reverse, int line, bool listKeys = false) {
  size_t n = items->size();
  std::vector<size_t> order(n), tmp(n);
  for (size_t i = 0; i < n; ++i)
    order[i] = i;
  for (size_t width = 1; width < n; width *= 2) {
    for (size_t lo = 0; lo < n; lo += 2 * width) {
      size_t mid = std::min(lo + width, n), hi = std::min(lo + 2 * width, n);
      size_t a = lo, b = mid, k = lo;
      while (a < mid && b < hi) {
        // Take from the right only when it sorts strictly first.
        bool rightFirst = false;
        const Value &x = keys[order[a]], &y = keys[order[b]];
        if (!(listKeys && pyEquals(x, y)) &&
            !r->less(reverse ? x : y, reverse ? y : x, line, &rightFirst))
          return false;
        tmp[k++] = rightFirst ? order[b++] : order[a++];
      }
      while (a < mid)
        tmp[k++] = order[a++];
      while (b < hi)
        tmp[k++] = order[b++];
    }
    order.swap(tmp);
  }
  std::vector<Value> sorted;
  for (size_t i : order)
    sorted.push_back((*items)[i]);
  *items = std::move(sorted);
  return true;
}

static bool flag(const Args &a, size_t i, const char *name) {
  const Value *v = a.get(i, name);
  return v && v->truthy();
}

// sorted(reverse=...) takes an integer (bools are integers).
static bool reverseFlag(Renderer *r, const Args &a, size_t i, int line, bool *out) {
  const Value *v = a.get(i, "reverse");
  if (v && v->kind() != Value::Kind::Int && v->kind() != Value::Kind::Bool)
    return r->fail(line, std::string("'") + pyTypeName(*v) +
                             "' object cannot be interpreted as an integer");
  *out = v && v->truthy();
  return true;
}

// select/reject/selectattr/rejectattr: the test (or truthiness) per item.
static bool selectFilter(Renderer *r, const std::string &name, const std::vector<Value> &items,
                         const Args &a, int line, Value *out) {
  bool byAttr = name == "selectattr" || name == "rejectattr";
  bool keep = name == "select" || name == "selectattr";
  size_t next = 0;
  std::string attr;
  if (byAttr) {
    if (a.pos.empty() || !a.pos[0].isString())
      return r->fail(line, name + " needs an attribute name");
    attr = a.pos[0].stringValue();
    next = 1;
  }
  std::string testName;
  if (a.pos.size() > next) {
    if (!a.pos[next].isString() || !isKnownTest(a.pos[next].stringValue()))
      return r->fail(line, "unsupported test in " + name);
    testName = a.pos[next].stringValue();
  }
  Args testArgs;
  for (size_t i = next + 1; i < a.pos.size(); ++i)
    testArgs.pos.push_back(a.pos[i]);
  testArgs.kw = a.kw;
  Value list = Value::list(F::Generator);
  for (const Value &item : items) {
    Value subject = item;
    if (byAttr && !getAttribute(r, item, attr, line, &subject))
      return false;
    bool pass;
    if (testName.empty())
      pass = subject.truthy();
    else if (!r->test(testName, subject, testArgs, line, &pass))
      return false;
    if (pass == keep)
      list.push(item);
  }
  *out = std::move(list);
  return true;
}

static bool mapFilter(Renderer *r, const std::vector<Value> &items, const Args &a, int line,
                      Scope *scope, Value *out) {
  Value list = Value::list(F::Generator);
  if (const Value *attribute = a.kwarg("attribute")) {
    const Value *def = a.kwarg("default");
    if (!attribute->isString())
      return r->fail(line, "map: attribute must be a string");
    for (const Value &item : items) {
      Value v;
      if (!getAttribute(r, item, attribute->stringValue(), line, &v))
        return false;
      list.push(v.isUndefined() && def ? *def : v);
    }
    *out = std::move(list);
    return true;
  }
  if (a.pos.empty() || !a.pos[0].isString())
    return r->fail(line, "map needs a filter name or attribute=");
  const std::string &filterName = a.pos[0].stringValue();
  if (!isKnownFilter(filterName))
    return r->fail(line, "unsupported filter '" + filterName + "' in map");
  Args rest;
  rest.pos.assign(a.pos.begin() + 1, a.pos.end());
  rest.kw = a.kw;
  for (const Value &item : items) {
    Value v;
    if (!r->filter(filterName, item, rest, line, scope, &v))
      return false;
    list.push(std::move(v));
  }
  *out = std::move(list);
  return true;
}

static bool minMax(Renderer *r, bool isMax, const std::vector<Value> &items, const Args &a,
                   int line, Value *out) {
  bool caseSensitive = flag(a, 0, "case_sensitive");
  const Value *attribute = a.get(1, "attribute");
  if (items.empty()) {
    *out = Value::undefined("No aggregated item, sequence was empty.");
    return true;
  }
  size_t best = 0;
  Value bestKey;
  if (!sortKey(r, items[0], attribute, caseSensitive, line, &bestKey))
    return false;
  for (size_t i = 1; i < items.size(); ++i) {
    Value key;
    bool better;
    if (!sortKey(r, items[i], attribute, caseSensitive, line, &key) ||
        !r->less(isMax ? bestKey : key, isMax ? key : bestKey, line, &better))
      return false;
    if (better) {
      best = i;
      bestKey = key;
    }
  }
  *out = items[best];
  return true;
}

static bool dictsort(Renderer *r, const Value &v, const Args &a, int line, Value *out) {
  if (!v.isDict()) {
    if (v.isUndefined())
      return r->undefinedError(line, v);
    return r->fail(line, std::string("dictsort: '") + pyTypeName(v) + "' object has no attribute 'items'");
  }
  bool caseSensitive = flag(a, 0, "case_sensitive");
  const Value *by = a.get(1, "by");
  bool byValue = by && by->isString() && by->stringValue() == "value";
  if (by && !(by->isString() && (by->stringValue() == "key" || by->stringValue() == "value")))
    return r->fail(line, "You can only sort by either \"key\" or \"value\"");
  std::vector<Value> pairs, keys;
  for (const auto &[key, value] : v.entries()) {
    pairs.push_back(Value::list({Value(key), value}, F::Tuple));
    Value k;
    if (!sortKey(r, byValue ? value : Value(key), nullptr, caseSensitive, line, &k))
      return false;
    keys.push_back(std::move(k));
  }
  bool reverse;
  if (!reverseFlag(r, a, 2, line, &reverse) ||
      !sortValues(r, &pairs, std::move(keys), reverse, line))
    return false;
  *out = Value::list(std::move(pairs));
  return true;
}

bool sequenceFilter(Renderer *r, const std::string &name, const Value &v, const Args &a,
                    int line, Scope *scope, Value *out) {
  if (name == "length" || name == "count") {
    int64_t n;
    if (!r->length(v, line, &n))
      return false;
    *out = Value(static_cast<long long>(n));
    return true;
  }
  if (name == "dictsort")
    return dictsort(r, v, a, line, out);
  if (name == "items") {
    if (!v.isDict() && !v.isUndefined())
      return r->fail(line, "Can only get item pairs from a mapping.");
    Value list = Value::list(F::Generator);
    for (const auto &[key, value] : v.entries())
      list.push(Value::list({Value(key), value}, F::Tuple));
    *out = std::move(list);
    return true;
  }
  if (name == "attr") {
    const Value *n = a.get(0, "name");
    if (!n || !n->isString())
      return r->fail(line, "attr needs a name");
    if (v.isUndefined())
      return r->undefinedError(line, v);
    if (v.kind() == K::Namespace) {
      const Value *x = v.find(n->stringValue());
      *out = x ? *x : Value::undefined("no attribute '" + n->stringValue() + "'");
    } else {
      *out = makeMethod(v, n->stringValue());
    }
    return true;
  }
  // jinja2's map and select family yield nothing for a false value (None).
  if (!v.truthy() && (name == "map" || name == "select" || name == "reject" ||
                      name == "selectattr" || name == "rejectattr")) {
    *out = Value::list(F::Generator);
    return true;
  }
  std::vector<Value> items;
  if (name == "last" && v.isList() && v.flavor() == F::Generator)
    return r->fail(line, "'generator' object is not reversible");
  if (!r->iterate(v, line, &items))
    return false;
  if (name == "first" || name == "last") {
    if (items.empty())
      *out = Value::undefined(std::string("No ") + name + " item, sequence was empty.");
    else
      *out = name == "first" ? items.front() : items.back();
    return true;
  }
  if (name == "list") {
    *out = Value::list(std::move(items));
    return true;
  }
  if (name == "join") {
    const Value *sep = a.get(0, "d");
    const Value *attribute = a.get(1, "attribute");
    std::string d, s;
    if (sep && !r->toStr(*sep, line, &d))
      return false;
    for (size_t i = 0; i < items.size(); ++i) {
      Value item = items[i];
      if (attribute && !attribute->isNone() &&
          !getAttribute(r, items[i], attribute->isString() ? attribute->stringValue() : "", line, &item))
        return false;
      if (i)
        s += d;
      if (!r->toStr(item, line, &s))
        return false;
      if (s.size() > kMaxOutputBytes)
        return r->fail(line, "string larger than 64 MiB");
    }
    *out = Value(std::move(s));
    return true;
  }
  if (name == "reverse") {
    if (v.isString()) {
      std::vector<uint32_t> cps = decodeUtf8(v.stringValue());
      std::reverse(cps.begin(), cps.end());
      *out = Value(encodeUtf8(cps));
      return true;
    }
    std::reverse(items.begin(), items.end());
    bool generator = v.isList() && v.flavor() == F::Generator;
    *out = Value::list(std::move(items), generator ? F::Plain : F::Generator);
    return true;
  }
  if (name == "sort" || name == "unique") {
    bool sort = name == "sort";
    bool caseSensitive = flag(a, sort ? 1 : 0, "case_sensitive");
    const Value *attribute = a.get(sort ? 2 : 1, "attribute");
    std::vector<Value> keys;
    for (const Value &item : items) {
      Value k;
      if (!sortKey(r, item, attribute, caseSensitive, line, &k))
        return false;
      keys.push_back(std::move(k));
    }
    if (sort) {
      bool reverse;
      if (!reverseFlag(r, a, 0, line, &reverse) ||
          !sortValues(r, &items, std::move(keys), reverse, line, true))
        return false;
      *out = Value::list(std::move(items));
      return true;
    }
    Value list = Value::list(F::Generator);
    std::vector<Value> seen;
    for (size_t i = 0; i < items.size(); ++i) {
      bool dup = false;
      for (const Value &s : seen)
        dup |= pyEquals(s, keys[i]);
      if (!dup) {
        seen.push_back(keys[i]);
        list.push(items[i]);
      }
    }
    *out = std::move(list);
    return true;
  }
  if (name == "map")
    return mapFilter(r, items, a, line, scope, out);
  if (name == "select" || name == "reject" || name == "selectattr" || name == "rejectattr")
    return selectFilter(r, name, items, a, line, out);
  if (name == "min" || name == "max")
    return minMax(r, name == "max", items, a, line, out);
  if (name == "sum") {
    const Value *attribute = a.get(0, "attribute");
    Value total = a.get(1, "start") ? *a.get(1, "start") : Value(0);
    for (const Value &item : items) {
      Value x = item;
      if (attribute && attribute->isString() &&
          !getAttribute(r, item, attribute->stringValue(), line, &x))
        return false;
      Value next;
      if (!r->binary("+", total, x, line, &next))
        return false;
      total = std::move(next);
    }
    *out = std::move(total);
    return true;
  }
  return r->fail(line, "unsupported filter '" + name + "'");
}

} // namespace gemmac::jinja::detail
