// runtime/chat/jinja_eval.h - The renderer: statements, expressions, calls -*- C++ -*-
#pragma once

#include "runtime/chat/jinja_ast.h"

#include <string>
#include <utility>
#include <vector>

namespace gemmac::jinja::detail {

// Bounds that keep hostile templates from crashing or hanging a program.
constexpr int kMaxMacroDepth = 256;
constexpr int kMaxEvalDepth = 1000; // under 1 MiB of stack
constexpr size_t kMaxOutputBytes = 64u << 20;
constexpr uint64_t kMaxIterations = 2'000'000;
constexpr int64_t kMaxRange = 100000; // jinja2.sandbox.MAX_RANGE

// Variables of one block: a for iteration, a macro call, the template.
struct Scope {
  Scope *parent = nullptr;
  std::vector<std::pair<std::string, Value>> vars;

  const Value *find(const std::string &name) const {
    for (const Scope *s = this; s; s = s->parent)
      for (const auto &v : s->vars)
        if (v.first == name)
          return &v.second;
    return nullptr;
  }
  void set(const std::string &name, Value v) {
    for (auto &e : vars)
      if (e.first == name) {
        e.second = std::move(v);
        return;
      }
    vars.emplace_back(name, std::move(v));
  }
};

struct Args {
  std::vector<Value> pos;
  std::vector<std::pair<std::string, Value>> kw;
  const Value *kwarg(const char *name) const {
    for (const auto &e : kw)
      if (e.first == name)
        return &e.second;
    return nullptr;
  }
  // Positional i, else keyword name, else nullptr.
  const Value *get(size_t i, const char *name) const {
    return i < pos.size() ? &pos[i] : kwarg(name);
  }
};

enum class Flow : uint8_t { Normal, Break, Continue, Error };

// Python semantics shared by operators, filters and tests.
bool pyEquals(const Value &a, const Value &b, int level = 0);
const char *pyTypeName(const Value &v);
// markupsafe.escape of a str: & < > " ' as entities.
std::string htmlEscape(const std::string &s);

class Renderer {
public:
  Renderer(const Value &context) : context(context) {}

  const Value &context;
  Scope *root = nullptr;
  std::string error; // "line N: what"
  int evalDepth = 0, macroDepth = 0;
  uint64_t iterations = 0;
  // Namespaces made by this render: emptied at its end, so one that holds
  // itself (set ns.me = ns) is not leaked.
  std::vector<std::weak_ptr<Object>> namespaces;
  void track(const Value &ns);
  void releaseNamespaces();

  bool fail(int line, const std::string &what);
  bool undefinedError(int line, const Value &undef);

  // jinja_eval.cpp: statements.
  Flow execList(const NodeList &nodes, Scope *scope, std::string *out);
  Flow exec(const Node &n, Scope *scope, std::string *out);
  Flow execFor(const Node &n, Scope *scope, std::string *out);
  bool assign(const Target &t, const Value &v, Scope *scope, int line);
  bool checkDepth(const Value &v, int line);
  bool callMacro(const CallableData &m, const Args &args, const Value *caller,
                 int line, Value *out);
  bool write(const Value &v, int line, std::string *out);

  // jinja_expr.cpp: expressions and calls.
  bool eval(const Expr &e, Scope *scope, Value *out);
  bool evalArgs(const Expr &e, size_t first, Scope *scope, Args *args);
  bool lookup(const std::string &name, Scope *scope, Value *out);
  bool call(const Value &callee, const Args &args, int line, Scope *scope, Value *out);
  bool compare(const std::string &op, const Value &a, const Value &b, int line,
               bool *result);

  // jinja_ops.cpp: operators, attributes, items, iteration.
  bool binary(const std::string &op, const Value &a, const Value &b, int line,
              Value *out);
  bool less(const Value &a, const Value &b, int line, bool *result, int level = 0);
  bool contains(const Value &container, const Value &item, int line, bool *result);
  bool getAttr(const Value &obj, const std::string &name, int line, Value *out);
  bool getItem(const Value &obj, const Value &key, int line, Value *out);
  bool slice(const Value &obj, const Value &start, const Value &stop,
             const Value &step, int line, Value *out);
  bool iterate(const Value &v, int line, std::vector<Value> *out);
  bool toStr(const Value &v, int line, std::string *out);
  bool length(const Value &v, int line, int64_t *out);

  // jinja_methods.cpp: bound methods and globals.
  bool callMethod(const CallableData &m, const Args &args, int line, Value *out);
  bool callGlobal(const CallableData &g, const Args &args, int line, Value *out);

  // jinja_filters.cpp / jinja_tests.cpp.
  bool filter(const std::string &name, const Value &v, const Args &args, int line,
              Scope *scope, Value *out);
  bool test(const std::string &name, const Value &v, const Args &args, int line,
            bool *result);
};

Value makeGlobal(const std::string &name); // undefined when not a global
Value makeMethod(const Value &self, const std::string &name); // undefined if none

} // namespace gemmac::jinja::detail
