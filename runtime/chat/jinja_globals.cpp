// runtime/chat/jinja_globals.cpp - range, namespace, dict, loop.cycle and
// transformers' raise_exception and strftime_now.
#include "runtime/chat/jinja_eval.h"

#include <ctime>

namespace gemmac::jinja::detail {

using K = Value::Kind;

static bool rangeGlobal(Renderer *r, const Args &a, int line, Value *out) {
  if (!a.kw.empty())
    return r->fail(line, "range() takes no keyword arguments");
  if (a.pos.empty() || a.pos.size() > 3)
    return r->fail(line, "range expected 1 to 3 arguments, got " + std::to_string(a.pos.size()));
  for (const Value &v : a.pos)
    if (v.kind() != K::Int && v.kind() != K::Bool) {
      if (v.isUndefined())
        return r->undefinedError(line, v);
      return r->fail(line, std::string("'") + pyTypeName(v) +
                               "' object cannot be interpreted as an integer");
    }
  int64_t start = 0, stop, step = 1;
  if (a.pos.size() == 1) {
    stop = a.pos[0].intValue();
  } else {
    start = a.pos[0].intValue();
    stop = a.pos[1].intValue();
    if (a.pos.size() == 3)
      step = a.pos[2].intValue();
  }
  if (step == 0)
    return r->fail(line, "range() arg 3 must not be zero");
  __int128 n = 0;
  if (step > 0 && start < stop)
    n = ((__int128)stop - start + step - 1) / step;
  else if (step < 0 && start > stop)
    n = ((__int128)start - stop - step - 1) / -step;
  if (n > kMaxRange)
    return r->fail(line, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
  Value list = Value::list(Value::Flavor::Range);
  for (int64_t i = 0; i < static_cast<int64_t>(n); ++i)
    list.push(Value(static_cast<long long>(start + i * step)));
  *out = std::move(list);
  return true;
}

void Renderer::track(const Value &ns) {
  if (namespaces.size() >= 1024 && (namespaces.size() & (namespaces.size() - 1)) == 0) {
    // Drop the ones already freed (their weak references pin memory).
    std::vector<std::weak_ptr<Object>> live;
    for (auto &w : namespaces)
      if (!w.expired())
        live.push_back(std::move(w));
    namespaces = std::move(live);
  }
  namespaces.push_back(ns.object());
}

void Renderer::releaseNamespaces() {
  for (auto &w : namespaces)
    if (std::shared_ptr<Object> o = w.lock()) {
      auto *d = static_cast<DictData *>(o.get());
      std::vector<std::pair<std::string, Value>> entries;
      entries.swap(d->entries); // freed after the namespace is consistent
      d->index.clear();
    }
  namespaces.clear();
}

bool Renderer::callGlobal(const CallableData &g, const Args &a, int line, Value *out) {
  const std::string &name = g.name;
  if (name == "range")
    return rangeGlobal(this, a, line, out);
  if (name == "namespace" || name == "dict") {
    Value v = name == "dict" ? Value::dict() : Value::makeNamespace();
    if (a.pos.size() > 1 || (a.pos.size() == 1 && !a.pos[0].isDict()))
      return fail(line, "unsupported: " + name + "() with positional arguments other "
                                               "than one dict");
    if (!a.pos.empty())
      for (const auto &[key, value] : a.pos[0].entries())
        v.set(key, value);
    for (const auto &[key, value] : a.kw)
      v.set(key, value);
    if (name == "namespace")
      track(v);
    *out = std::move(v);
    return true;
  }
  if (name == "raise_exception") {
    const Value *msg = a.get(0, "message");
    std::string text;
    if (msg && !toStr(*msg, line, &text))
      return false;
    return fail(line, text);
  }
  if (name == "strftime_now") {
    const Value *fmt = a.get(0, "format");
    if (!fmt || !fmt->isString())
      return fail(line, "strftime_now() needs a format string");
    time_t now = time(nullptr);
    struct tm local;
    localtime_r(&now, &local);
    char buf[512];
    size_t n = strftime(buf, sizeof buf, fmt->stringValue().c_str(), &local);
    if (n == 0 && !fmt->stringValue().empty())
      return fail(line, "strftime_now(): format too long or empty result");
    *out = Value(std::string(buf, n));
    return true;
  }
  if (name == "loop.cycle") {
    if (a.pos.empty())
      return fail(line, "no items for cycling given");
    *out = a.pos[static_cast<size_t>(g.self.intValue()) % a.pos.size()];
    return true;
  }
  return fail(line, "unsupported global function '" + name + "'");
}

} // namespace gemmac::jinja::detail
