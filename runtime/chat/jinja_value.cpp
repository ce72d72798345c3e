// runtime/chat/jinja_value.cpp - Values and their Python str() / repr()
#include "runtime/chat/jinja_ast.h"
#include "runtime/chat/jinja_utf8.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace gemmac::jinja {

using detail::CallableData;
using detail::DictData;
using detail::ListData;

static const std::string kEmptyString;
static const std::vector<Value> kNoItems;
static const std::vector<std::pair<std::string, Value>> kNoEntries;

Value::Value(std::string s)
    : kind_(Kind::String), s_(std::make_shared<const std::string>(std::move(s))) {}

Value Value::undefined(std::string hint) {
  Value v;
  if (!hint.empty())
    v.s_ = std::make_shared<const std::string>(std::move(hint));
  return v;
}

Value Value::list(Flavor flavor) {
  Value v;
  v.kind_ = Kind::List;
  v.flavor_ = flavor;
  v.o_ = std::make_shared<ListData>();
  return v;
}

Value Value::list(std::vector<Value> items, Flavor flavor) {
  Value v = list(flavor);
  auto *l = static_cast<ListData *>(v.o_.get());
  for (const Value &item : items)
    l->depth = std::max(l->depth, item.nestingDepth() + 1);
  l->items = std::move(items);
  return v;
}

uint32_t Value::nestingDepth() const {
  if (kind_ == Kind::List)
    return static_cast<ListData *>(o_.get())->depth;
  if ((kind_ == Kind::Dict || kind_ == Kind::Namespace) && flavor_ != Flavor::Loop)
    return static_cast<DictData *>(o_.get())->depth;
  return kind_ == Kind::Namespace ? 1 : 0;
}

Value Value::dict() {
  Value v;
  v.kind_ = Kind::Dict;
  v.o_ = std::make_shared<DictData>();
  return v;
}

Value Value::makeNamespace(Flavor flavor) {
  Value v = dict();
  v.kind_ = Kind::Namespace;
  v.flavor_ = flavor;
  return v;
}

Value Value::loop(std::shared_ptr<detail::LoopData> data) {
  Value v;
  v.kind_ = Kind::Namespace;
  v.flavor_ = Flavor::Loop;
  v.o_ = std::move(data);
  return v;
}

const detail::LoopData *Value::loopData() const {
  return kind_ == Kind::Namespace && flavor_ == Flavor::Loop
             ? static_cast<detail::LoopData *>(o_.get())
             : nullptr;
}

Value Value::callable(std::shared_ptr<CallableData> data) {
  Value v;
  v.kind_ = Kind::Callable;
  v.o_ = std::move(data);
  return v;
}

double Value::floatValue() const {
  return kind_ == Kind::Float ? f_ : static_cast<double>(i_);
}

const std::string &Value::stringValue() const { return s_ ? *s_ : kEmptyString; }

void Value::push(Value v) {
  if (kind_ != Kind::List)
    return;
  if (o_.use_count() > 1) // copy on write: other holders keep their items
    o_ = std::make_shared<ListData>(*static_cast<ListData *>(o_.get()));
  auto *l = static_cast<ListData *>(o_.get());
  l->depth = std::max(l->depth, v.nestingDepth() + 1);
  l->items.push_back(std::move(v));
}

size_t Value::size() const {
  if (kind_ == Kind::List)
    return static_cast<ListData *>(o_.get())->items.size();
  if ((kind_ == Kind::Dict || kind_ == Kind::Namespace) && flavor_ != Flavor::Loop)
    return static_cast<DictData *>(o_.get())->entries.size();
  return 0;
}

const std::vector<Value> &Value::items() const {
  return kind_ == Kind::List ? static_cast<ListData *>(o_.get())->items : kNoItems;
}

void Value::set(const std::string &key, Value v) {
  if ((kind_ != Kind::Dict && kind_ != Kind::Namespace) || flavor_ == Flavor::Loop)
    return;
  if (kind_ == Kind::Dict && o_.use_count() > 1)
    o_ = std::make_shared<DictData>(*static_cast<DictData *>(o_.get()));
  auto *d = static_cast<DictData *>(o_.get());
  d->depth = std::max(d->depth, v.nestingDepth() + 1);
  auto it = d->index.find(key);
  if (it != d->index.end()) {
    d->entries[it->second].second = std::move(v);
    return;
  }
  d->index.emplace(key, d->entries.size());
  d->entries.emplace_back(key, std::move(v));
}

const Value *Value::find(std::string_view key) const {
  if ((kind_ != Kind::Dict && kind_ != Kind::Namespace) || flavor_ == Flavor::Loop)
    return nullptr;
  auto *d = static_cast<DictData *>(o_.get());
  auto it = d->index.find(std::string(key));
  return it == d->index.end() ? nullptr : &d->entries[it->second].second;
}

const std::vector<std::pair<std::string, Value>> &Value::entries() const {
  if ((kind_ != Kind::Dict && kind_ != Kind::Namespace) || flavor_ == Flavor::Loop)
    return kNoEntries;
  return static_cast<DictData *>(o_.get())->entries;
}

const CallableData *Value::callableData() const {
  return kind_ == Kind::Callable ? static_cast<CallableData *>(o_.get()) : nullptr;
}

bool Value::truthy() const {
  switch (kind_) {
  case Kind::Undefined:
  case Kind::None:
    return false;
  case Kind::Bool:
  case Kind::Int:
    return i_ != 0;
  case Kind::Float:
    return f_ != 0;
  case Kind::String:
    return !stringValue().empty();
  case Kind::List:
    return flavor_ == Flavor::Generator || !items().empty();
  case Kind::Dict:
    return !entries().empty();
  default:
    return true;
  }
}

// Python's repr(float): the shortest digits that round-trip, in fixed
// notation for exponents -4..15 and scientific otherwise.
std::string pyFloatRepr(double d) {
  if (std::isnan(d))
    return "nan";
  if (std::isinf(d))
    return d < 0 ? "-inf" : "inf";
  if (d == 0)
    return std::signbit(d) ? "-0.0" : "0.0";
  char buf[40];
  for (int prec = 1; prec <= 17; ++prec) {
    snprintf(buf, sizeof buf, "%.*e", prec - 1, d);
    if (strtod(buf, nullptr) == d)
      break;
  }
  // buf: [-]D[.DDD]e[+-]XX
  std::string s(buf);
  bool neg = s[0] == '-';
  if (neg)
    s.erase(0, 1);
  size_t e = s.find('e');
  int exp = atoi(s.c_str() + e + 1);
  std::string digits;
  for (size_t i = 0; i < e; ++i)
    if (s[i] != '.')
      digits.push_back(s[i]);
  std::string out = neg ? "-" : "";
  if (exp < -4 || exp >= 16) {
    out += digits.substr(0, 1);
    if (digits.size() > 1)
      out.append(".").append(digits, 1, std::string::npos);
    char eb[16];
    snprintf(eb, sizeof eb, "e%c%02d", exp < 0 ? '-' : '+', exp < 0 ? -exp : exp);
    return out + eb;
  }
  if (exp < 0) {
    out += "0." + std::string(-exp - 1, '0') + digits;
  } else if (static_cast<size_t>(exp) + 1 >= digits.size()) {
    out += digits + std::string(exp + 1 - digits.size(), '0') + ".0";
  } else {
    out += digits.substr(0, exp + 1) + "." + digits.substr(exp + 1);
  }
  return out;
}

static bool reprInto(const Value &v, std::string *out, std::string *error, bool topStr,
                     int level);

static bool reprSeq(const std::vector<Value> &items, const char *open, const char *close,
                    bool oneTuple, std::string *out, std::string *error, int level) {
  *out += open;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i)
      *out += ", ";
    if (!reprInto(items[i], out, error, false, level + 1))
      return false;
  }
  if (oneTuple && items.size() == 1)
    *out += ",";
  *out += close;
  return true;
}

static bool reprInto(const Value &v, std::string *out, std::string *error, bool topStr,
                     int level) {
  using K = Value::Kind;
  if (level > static_cast<int>(detail::kMaxValueDepth) + 8) { // namespaces can form cycles
    *error = "value nested too deeply to print";
    return false;
  }
  using F = Value::Flavor;
  switch (v.kind()) {
  case K::Undefined:
    if (!topStr)
      *out += "Undefined";
    return true;
  case K::None:
    *out += "None";
    return true;
  case K::Bool:
    *out += v.boolValue() ? "True" : "False";
    return true;
  case K::Int:
    *out += std::to_string(v.intValue());
    return true;
  case K::Float:
    *out += pyFloatRepr(v.floatValue());
    return true;
  case K::String:
    if (topStr)
      *out += v.stringValue();
    else if (v.isMarkup())
      *out += "Markup(" + detail::pyStringRepr(v.stringValue()) + ")";
    else
      *out += detail::pyStringRepr(v.stringValue());
    return true;
  case K::List:
    switch (v.flavor()) {
    case F::Plain:
      return reprSeq(v.items(), "[", "]", false, out, error, level);
    case F::Tuple:
      return reprSeq(v.items(), "(", ")", true, out, error, level);
    case F::ItemsView:
      return reprSeq(v.items(), "dict_items([", "])", false, out, error, level);
    case F::KeysView:
      return reprSeq(v.items(), "dict_keys([", "])", false, out, error, level);
    case F::ValuesView:
      return reprSeq(v.items(), "dict_values([", "])", false, out, error, level);
    default:
      *error = "unsupported: printing a generator or range object";
      return false;
    }
  case K::Dict:
  case K::Namespace: {
    bool ns = v.kind() == K::Namespace;
    if (ns && v.flavor() == F::Loop) {
      *error = "unsupported: printing the loop object";
      return false;
    }
    *out += ns ? "<Namespace {" : "{";
    bool first = true;
    for (const auto &[key, value] : v.entries()) {
      if (!first)
        *out += ", ";
      first = false;
      *out += detail::pyStringRepr(key) + ": ";
      if (!reprInto(value, out, error, false, level + 1))
        return false;
    }
    *out += ns ? "}>" : "}";
    return true;
  }
  case K::Callable:
    *error = "unsupported: printing a function or macro";
    return false;
  }
  return true;
}

bool pyStr(const Value &v, std::string *out, std::string *error) {
  return reprInto(v, out, error, true, 0);
}

bool pyRepr(const Value &v, std::string *out, std::string *error) {
  return reprInto(v, out, error, false, 0);
}

} // namespace gemmac::jinja
