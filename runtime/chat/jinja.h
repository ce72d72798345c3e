// runtime/chat/jinja.h - A Jinja2 subset that renders chat templates -*- C++ -*-
//
// Renders a checkpoint's tokenizer.chat_template byte for byte like
// python3-jinja2 in Hugging Face's environment (ImmutableSandboxedEnvironment,
// trim_blocks, lstrip_blocks, loopcontrols, {% generation %},
// raise_exception, strftime_now). No exceptions: every failure is a return
// value with a message that names the template line. Values print like
// Python (None, True, 1.0, ['a', 1]).
//
// Refused with a clear error (never rendered differently): the tags filter,
// include, import, extends, block, autoescape, do, recursive loops, filters
// and tests not listed in jinja_tests.cpp (when applied, as jinja2 3.x does),
// printing generators, ranges, functions and the loop object (Python prints
// addresses), integers beyond 64 bits, dict literals with non-string keys,
// str % formatting and str.format specs, *args/**kwargs in calls.
// Approximations: upper/lower/title know ASCII, Latin-1, Latin Extended-A,
// Greek and Cyrillic; Python's isprintable (for repr) the common ranges.
// Bounds: 256 nested macro calls, 1000 evaluation levels (under 1 MiB of
// stack), 2000000 loop iterations and 64 MiB of output per render,
// range() of at most 100000 (the sandbox's), values nested 1000 deep.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace gemmac::jinja {

class Value;

namespace detail {
// Heap parts of a Value; the virtual destructor lets one pointer type hold all.
struct Object {
  virtual ~Object() = default;
};
struct ListData;
struct DictData;
struct CallableData;
struct LoopData;
} // namespace detail

class Value {
public:
  enum class Kind : uint8_t {
    Undefined, None, Bool, Int, Float, String, List, Dict,
    Namespace, // namespace() objects and the loop variable
    Callable,  // macros, globals, bound methods
  };
  // Python types that behave like lists but print or index differently.
  enum class Flavor : uint8_t {
    Plain, Tuple, Generator, Range, ItemsView, KeysView, ValuesView, Loop,
    Markup, // strings from |safe and |escape (markupsafe.Markup)
  };

  Value() = default; // undefined
  Value(std::nullptr_t) : kind_(Kind::None) {}
  Value(bool b) : kind_(Kind::Bool), i_(b) {}
  Value(int i) : kind_(Kind::Int), i_(i) {}
  Value(long i) : kind_(Kind::Int), i_(i) {}
  Value(long long i) : kind_(Kind::Int), i_(i) {}
  // Unsigned counts (sizes); values above INT64_MAX wrap.
  Value(unsigned i) : kind_(Kind::Int), i_(i) {}
  Value(unsigned long i) : kind_(Kind::Int), i_(static_cast<int64_t>(i)) {}
  Value(unsigned long long i) : kind_(Kind::Int), i_(static_cast<int64_t>(i)) {}
  Value(double f) : kind_(Kind::Float), f_(f) {}
  Value(const char *s) : Value(std::string(s)) {}
  Value(std::string_view s) : Value(std::string(s)) {}
  Value(std::string s);

  static Value none() { return Value(nullptr); }
  static Value markup(std::string s) {
    Value v(std::move(s));
    v.flavor_ = Flavor::Markup;
    return v;
  }
  bool isMarkup() const { return kind_ == Kind::String && flavor_ == Flavor::Markup; }
  // hint: why it is undefined ("'x' is undefined"), for error messages.
  static Value undefined(std::string hint = {});
  static Value list(Flavor flavor = Flavor::Plain);
  static Value list(std::vector<Value> items, Flavor flavor = Flavor::Plain);
  static Value dict();
  static Value makeNamespace(Flavor flavor = Flavor::Plain);
  static Value callable(std::shared_ptr<detail::CallableData> data);
  static Value loop(std::shared_ptr<detail::LoopData> data);

  Kind kind() const { return kind_; }
  Flavor flavor() const { return flavor_; }
  bool isUndefined() const { return kind_ == Kind::Undefined; }
  bool isNone() const { return kind_ == Kind::None; }
  bool isString() const { return kind_ == Kind::String; }
  bool isList() const { return kind_ == Kind::List; }
  bool isDict() const { return kind_ == Kind::Dict; }
  bool isNumber() const {
    return kind_ == Kind::Int || kind_ == Kind::Float || kind_ == Kind::Bool;
  }

  bool boolValue() const { return i_ != 0; }
  int64_t intValue() const { return i_; }         // Int and Bool
  double floatValue() const;                      // Int, Bool and Float
  const std::string &stringValue() const;         // String; hint of Undefined

  // Lists (any flavor). push copies the items first when they are shared.
  void push(Value v);
  size_t size() const; // list items or dict/namespace entries
  const std::vector<Value> &items() const;

  // Dicts and namespaces, insertion-ordered. set replaces an existing key in
  // place (keeps its position), like a Python dict. Dicts copy on write;
  // namespaces are shared (set ns.x is seen by every holder).
  void set(const std::string &key, Value v);
  const Value *find(std::string_view key) const;
  const std::vector<std::pair<std::string, Value>> &entries() const;

  const detail::CallableData *callableData() const;
  const detail::LoopData *loopData() const;
  // The heap part (engine internals: the renderer breaks namespace cycles).
  const std::shared_ptr<detail::Object> &object() const { return o_; }
  // Levels of nested lists/dicts/namespaces (0 for scalars).
  uint32_t nestingDepth() const;

  // Python truthiness (generators are always true, undefined is false).
  bool truthy() const;

private:
  Kind kind_ = Kind::Undefined;
  Flavor flavor_ = Flavor::Plain;
  int64_t i_ = 0;
  double f_ = 0;
  std::shared_ptr<const std::string> s_;
  std::shared_ptr<detail::Object> o_;
};

namespace detail {
struct TemplateBody;
}
// A parsed template: immutable, so renders may run on several threads.
struct Template {
  Template();
  ~Template();
  Template(const Template &) = delete;
  Template &operator=(const Template &) = delete;
  std::unique_ptr<detail::TemplateBody> body;
};
struct ParseOptions {
  bool trimBlocks = true, lstripBlocks = true;
};

// nullptr on error; *error = "chat template line N: <what>".
std::unique_ptr<Template> parseTemplate(std::string_view source,
                                        std::string *error,
                                        ParseOptions options = {});
// false on error; *error = "chat template line N: <what>"
// (raise_exception's message included verbatim). context is a dict.
bool renderTemplate(const Template &t, const Value &context, std::string *out,
                    std::string *error);

// JSON <-> Value. fromJson fails (false + error) on invalid JSON, integers
// outside int64 and nesting deeper than 512.
bool valueFromJson(std::string_view json, Value *out, std::string *error);
// What tojson prints: Python's json.dumps(x, ensure_ascii=False, indent,
// sort_keys) with its default separators. indent < 0: none. false when the
// value is not JSON serializable (undefined, callables, generators).
bool valueToJson(const Value &v, std::string *out, std::string *error,
                 int indent = -1, bool sortKeys = false);
std::string valueToJson(const Value &v);

// Python's str() and repr() of a value.
bool pyStr(const Value &v, std::string *out, std::string *error);
bool pyRepr(const Value &v, std::string *out, std::string *error);
std::string pyFloatRepr(double d);

} // namespace gemmac::jinja
