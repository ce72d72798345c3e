// runtime/chat/jinja_access.cpp - obj.attr, obj[key] and slices
//
// jinja2's sandboxed getattr tries the Python attribute (a method) first,
// then the item; getitem tries the item first, then the attribute. A miss
// is an undefined value; only an undefined object raises.
#include "runtime/chat/jinja_eval.h"
#include "runtime/chat/jinja_utf8.h"

namespace gemmac::jinja::detail {

using K = Value::Kind;
using F = Value::Flavor;

static Value missing(const Value &obj, const std::string &what) {
  std::string type = pyTypeName(obj);
  if (obj.kind() == K::Namespace)
    type = obj.flavor() == F::Loop ? "jinja2.runtime.LoopContext" : "jinja2.utils.Namespace";
  if (obj.isNone())
    return Value::undefined("'None' has no attribute '" + what + "'");
  return Value::undefined("'" + type + " object' has no attribute '" + what + "'");
}

bool Renderer::getAttr(const Value &obj, const std::string &name, int line, Value *out) {
  if (obj.isUndefined())
    return undefinedError(line, obj);
  if (const LoopData *loop = obj.loopData()) {
    const int64_t i = loop->index, len = static_cast<int64_t>(loop->items->size());
    auto num = [](int64_t x) { return Value(static_cast<long long>(x)); };
    if (name == "index0") *out = num(i);
    else if (name == "index") *out = num(i + 1);
    else if (name == "revindex0") *out = num(len - i - 1);
    else if (name == "revindex") *out = num(len - i);
    else if (name == "first") *out = Value(i == 0);
    else if (name == "last") *out = Value(i == len - 1);
    else if (name == "length") *out = num(len);
    else if (name == "depth") *out = num(1);
    else if (name == "depth0") *out = num(0);
    else if (name == "previtem")
      *out = i > 0 ? (*loop->items)[i - 1] : Value::undefined("there is no previous item");
    else if (name == "nextitem")
      *out = i + 1 < len ? (*loop->items)[i + 1] : Value::undefined("there is no next item");
    else if (name == "cycle") {
      auto cycle = std::make_shared<CallableData>();
      cycle->type = CallableData::Type::Global;
      cycle->name = "loop.cycle";
      cycle->self = num(i);
      *out = Value::callable(std::move(cycle));
    } else
      *out = missing(obj, name);
    return true;
  }
  if (obj.kind() == K::Namespace) {
    const Value *v = obj.find(name);
    *out = v ? *v : missing(obj, name);
    return true;
  }
  *out = makeMethod(obj, name);
  if (!out->isUndefined())
    return true;
  if (obj.isDict())
    if (const Value *v = obj.find(name)) {
      *out = *v;
      return true;
    }
  *out = missing(obj, name);
  return true;
}

// Python index normalisation; false when out of range.
static bool normIndex(int64_t i, size_t size, size_t *out) {
  int64_t n = static_cast<int64_t>(size);
  if (i < 0)
    i += n;
  if (i < 0 || i >= n)
    return false;
  *out = static_cast<size_t>(i);
  return true;
}

bool Renderer::getItem(const Value &obj, const Value &key, int line, Value *out) {
  if (obj.isUndefined())
    return undefinedError(line, obj);
  bool intKey = key.kind() == K::Int || key.kind() == K::Bool;
  std::string keyText;
  if (!key.isString())
    pyRepr(key, &keyText, &error);
  switch (obj.kind()) {
  case K::Dict:
    if (key.isString()) {
      if (const Value *v = obj.find(key.stringValue())) {
        *out = *v;
        return true;
      }
    }
    break;
  case K::List:
    if (intKey && obj.flavor() != F::Generator && obj.flavor() != F::ItemsView &&
        obj.flavor() != F::KeysView && obj.flavor() != F::ValuesView) {
      size_t i;
      if (normIndex(key.intValue(), obj.size(), &i)) {
        *out = obj.items()[i];
        return true;
      }
    }
    break;
  case K::String:
    if (intKey) {
      std::vector<uint32_t> cps = decodeUtf8(obj.stringValue());
      size_t i;
      if (normIndex(key.intValue(), cps.size(), &i)) {
        std::string ch;
        appendUtf8(&ch, cps[i]);
        *out = Value(std::move(ch));
        return true;
      }
    }
    break;
  default:
    break;
  }
  if (key.isString())
    return getAttr(obj, key.stringValue(), line, out);
  std::string hint = "'";
  hint.append(pyTypeName(obj)).append(" object' has no element ").append(keyText);
  *out = Value::undefined(std::move(hint));
  return true;
}

// Python slice indices for a sequence of n items.
static bool sliceIndices(Renderer *r, const Value &start, const Value &stop,
                         const Value &step, int64_t n, int line, int64_t *b, int64_t *e,
                         int64_t *s, bool *typeError) {
  auto ok = [](const Value &v) {
    return v.isNone() || v.kind() == K::Int || v.kind() == K::Bool;
  };
  if (!ok(start) || !ok(stop) || !ok(step)) {
    *typeError = true;
    return true;
  }
  *s = step.isNone() ? 1 : step.intValue();
  if (*s == 0)
    return r->fail(line, "slice step cannot be zero");
  auto clamp = [&](const Value &v, int64_t def, bool isStart) {
    if (v.isNone())
      return def;
    int64_t i = v.intValue();
    if (i < 0) {
      i += n;
      if (i < 0)
        i = *s < 0 ? -1 : 0;
    } else if (i >= n) {
      i = *s < 0 ? n - 1 : n;
    }
    (void)isStart;
    return i;
  };
  *b = clamp(start, *s < 0 ? n - 1 : 0, true);
  *e = clamp(stop, *s < 0 ? -1 : n, false);
  return true;
}

bool Renderer::slice(const Value &obj, const Value &start, const Value &stop,
                     const Value &step, int line, Value *out) {
  if (obj.isUndefined())
    return undefinedError(line, obj);
  bool isSeq = obj.isString() ||
               (obj.isList() && (obj.flavor() == F::Plain || obj.flavor() == F::Tuple ||
                                 obj.flavor() == F::Range));
  // jinja2 compiles x[a:b] to a plain Python subscript: errors raise.
  if (!isSeq)
    return fail(line, std::string("'") + pyTypeName(obj) + "' object is not sliceable");
  std::vector<uint32_t> cps;
  if (obj.isString())
    cps = decodeUtf8(obj.stringValue());
  int64_t n = static_cast<int64_t>(obj.isString() ? cps.size() : obj.size());
  int64_t b = 0, e = 0, s = 1;
  bool typeError = false;
  if (!sliceIndices(this, start, stop, step, n, line, &b, &e, &s, &typeError))
    return false;
  if (typeError)
    return fail(line, "slice indices must be integers or None or have an __index__ method");
  std::vector<size_t> picked;
  for (int64_t i = b; s > 0 ? i < e : i > e; i += s)
    picked.push_back(static_cast<size_t>(i));
  if (obj.isString()) {
    std::string r;
    for (size_t i : picked)
      appendUtf8(&r, cps[i]);
    *out = Value(std::move(r));
    return true;
  }
  std::vector<Value> items;
  for (size_t i : picked)
    items.push_back(obj.items()[i]);
  *out = Value::list(std::move(items),
                     obj.flavor() == F::Range ? F::Range : obj.flavor());
  return true;
}

} // namespace gemmac::jinja::detail
