// runtime/chat/jinja_json.cpp - JSON to Value (nlohmann SAX, no exceptions)
// and Value to JSON like Python's json.dumps(ensure_ascii=False).
#include "runtime/chat/jinja_ast.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace gemmac::jinja {
namespace {

constexpr size_t kMaxJsonDepth = 512;

// Builds Values directly: keeps key order and the integer/float
// distinction, bounds nesting, and never throws.
struct ValueSax : nlohmann::json_sax<nlohmann::json> {
  std::vector<Value> stack;    // open containers
  std::vector<std::string> keys; // pending key per open dict
  Value root;
  bool done = false;
  std::string error;

  bool add(Value v) {
    if (stack.empty()) {
      root = std::move(v);
      done = true;
      return true;
    }
    Value &top = stack.back();
    if (top.isList())
      top.push(std::move(v));
    else
      top.set(keys.back(), std::move(v));
    return true;
  }
  bool open(Value v) {
    if (stack.size() >= kMaxJsonDepth) {
      error = "JSON nested deeper than " + std::to_string(kMaxJsonDepth);
      return false;
    }
    stack.push_back(std::move(v));
    keys.emplace_back();
    return true;
  }
  bool close() {
    Value v = std::move(stack.back());
    stack.pop_back();
    keys.pop_back();
    return add(std::move(v));
  }
  bool null() override { return add(Value::none()); }
  bool boolean(bool b) override { return add(Value(b)); }
  bool number_integer(number_integer_t i) override {
    return add(Value(static_cast<long long>(i)));
  }
  bool number_unsigned(number_unsigned_t u) override {
    if (u > static_cast<uint64_t>(INT64_MAX)) {
      error = "JSON integer out of range: " + std::to_string(u);
      return false;
    }
    return add(Value(static_cast<long long>(u)));
  }
  bool number_float(number_float_t f, const string_t &text) override {
    // Python keeps huge integers exact; we cannot, so refuse them.
    if (text.find_first_of(".eE") == std::string::npos) {
      error = "JSON integer out of range: " + text;
      return false;
    }
    return add(Value(static_cast<double>(f)));
  }
  bool string(string_t &s) override { return add(Value(std::move(s))); }
  bool binary(binary_t &) override {
    error = "binary JSON values are not supported";
    return false;
  }
  bool start_object(std::size_t) override { return open(Value::dict()); }
  bool key(string_t &k) override {
    keys.back() = std::move(k);
    return true;
  }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(Value::list()); }
  bool end_array() override { return close(); }
  bool parse_error(std::size_t position, const std::string &,
                   const nlohmann::detail::exception &ex) override {
    error = "invalid JSON at byte " + std::to_string(position) + ": " + ex.what();
    return false;
  }
};

void jsonString(const std::string &s, std::string *out) {
  out->push_back('"');
  for (unsigned char c : s) {
    switch (c) {
    case '"': *out += "\\\""; break;
    case '\\': *out += "\\\\"; break;
    case '\n': *out += "\\n"; break;
    case '\r': *out += "\\r"; break;
    case '\t': *out += "\\t"; break;
    case '\b': *out += "\\b"; break;
    case '\f': *out += "\\f"; break;
    default:
      if (c < 0x20) {
        char buf[8];
        snprintf(buf, sizeof buf, "\\u%04x", c);
        *out += buf;
      } else {
        out->push_back(static_cast<char>(c));
      }
    }
  }
  out->push_back('"');
}

struct JsonWriter {
  int indent;
  bool sortKeys;
  std::string *out;
  std::string *error;

  void newline(int level) {
    if (indent < 0)
      return;
    out->push_back('\n');
    out->append(static_cast<size_t>(indent) * level, ' ');
  }
  bool write(const Value &v, int level) {
    using K = Value::Kind;
    using F = Value::Flavor;
    if (level > 1000) {
      *error = "tojson: value nested too deeply";
      return false;
    }
    switch (v.kind()) {
    case K::None: *out += "null"; return true;
    case K::Bool: *out += v.boolValue() ? "true" : "false"; return true;
    case K::Int: *out += std::to_string(v.intValue()); return true;
    case K::Float: {
      double d = v.floatValue();
      *out += std::isnan(d) ? "NaN" : std::isinf(d) ? (d < 0 ? "-Infinity" : "Infinity")
                                                     : pyFloatRepr(d);
      return true;
    }
    case K::String: jsonString(v.stringValue(), out); return true;
    case K::List:
      if (v.flavor() != F::Plain && v.flavor() != F::Tuple)
        break;
      return writeList(v, level);
    case K::Dict: return writeDict(v, level);
    default: break;
    }
    const char *type = v.kind() == K::Undefined ? "Undefined"
                       : v.kind() == K::List    ? "generator"
                       : v.kind() == K::Namespace ? "Namespace" : "function";
    *error = std::string("Object of type ") + type + " is not JSON serializable";
    return false;
  }
  bool writeList(const Value &v, int level) {
    if (v.items().empty()) {
      *out += "[]";
      return true;
    }
    out->push_back('[');
    bool first = true;
    for (const Value &item : v.items()) {
      if (!first)
        *out += indent < 0 ? ", " : ",";
      first = false;
      newline(level + 1);
      if (!write(item, level + 1))
        return false;
    }
    newline(level);
    out->push_back(']');
    return true;
  }
  bool writeDict(const Value &v, int level) {
    if (v.entries().empty()) {
      *out += "{}";
      return true;
    }
    std::vector<const std::pair<std::string, Value> *> entries;
    for (const auto &e : v.entries())
      entries.push_back(&e);
    if (sortKeys)
      std::sort(entries.begin(), entries.end(), // keys are unique
                [](auto *a, auto *b) { return a->first < b->first; });
    out->push_back('{');
    bool first = true;
    for (const auto *e : entries) {
      if (!first)
        *out += indent < 0 ? ", " : ",";
      first = false;
      newline(level + 1);
      jsonString(e->first, out);
      *out += ": ";
      if (!write(e->second, level + 1))
        return false;
    }
    newline(level);
    out->push_back('}');
    return true;
  }
};

} // namespace

bool valueFromJson(std::string_view json, Value *out, std::string *error) {
  ValueSax sax;
  bool ok = nlohmann::json::sax_parse(json.begin(), json.end(), &sax,
                                      nlohmann::json::input_format_t::json, true);
  if (!ok || !sax.done) {
    *error = sax.error.empty() ? "invalid JSON" : sax.error;
    return false;
  }
  *out = std::move(sax.root);
  return true;
}

bool valueToJson(const Value &v, std::string *out, std::string *error, int indent,
                 bool sortKeys) {
  JsonWriter w{indent, sortKeys, out, error};
  return w.write(v, 0);
}

std::string valueToJson(const Value &v) {
  std::string out, error;
  if (!valueToJson(v, &out, &error))
    return {};
  return out;
}

} // namespace gemmac::jinja
