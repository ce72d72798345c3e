// runtime/chat/jinja_ast.h - Parsed templates and the heap parts of values -*- C++ -*-
#pragma once

#include "runtime/chat/jinja.h"

#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace gemmac::jinja::detail {

// depth: levels of containers in this one, itself included; values
// deeper than kMaxValueDepth are refused, so printing, comparing and
// freeing them cannot exhaust the stack.
constexpr uint32_t kMaxValueDepth = 1000;

struct ListData : Object {
  std::vector<Value> items;
  uint32_t depth = 1;
};

struct DictData : Object {
  uint32_t depth = 1;
  std::vector<std::pair<std::string, Value>> entries;
  std::unordered_map<std::string, size_t> index;
};

// The loop variable: its attributes are computed when read, so a loop
// costs no allocation per iteration beyond this object.
struct LoopData : Object {
  std::shared_ptr<const std::vector<Value>> items;
  int64_t index = 0;
};

enum class ExprKind : uint8_t {
  Literal, Name, GetAttr, GetItem, Slice, Call, Filter, Test,
  Neg, Pos, Not, Binary, Concat, Compare, And, Or, CondExpr,
  ListLit, TupleLit, DictLit,
};

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;

struct Expr {
  ExprKind kind;
  int line;
  Value literal;
  // Name, attribute, filter or test name, binary operator.
  std::string name;
  // Operands: Call/Filter/Test: [subject or callee, args...]; Slice:
  // [object, start, stop, step] (null when absent); CondExpr: [then, cond,
  // else or null]; DictLit: [key, value, key, value...]; Compare: operands.
  std::vector<ExprPtr> args;
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  std::vector<std::string> ops; // Compare: ==, !=, <, <=, >, >=, in, notin
  bool negated = false;         // Test: is not
};

enum class NodeKind : uint8_t {
  Text, Output, If, For, Set, SetBlock, Macro, CallBlock, Break, Continue,
  With, Scope,
};

struct Node;
using NodePtr = std::unique_ptr<Node>;
using NodeList = std::vector<NodePtr>;

// Assignment target: name, (a, b) unpacking, or ns.attr.
struct Target {
  std::vector<std::string> names;
  std::string attr; // set ns.attr = ...: names[0] is ns
  bool tuple = false;
};

struct Node {
  NodeKind kind;
  int line;
  std::string text;  // Text; Macro name
  ExprPtr expr;      // Output; Set value; For iterable; CallBlock call
  ExprPtr cond;      // For ... if cond
  std::vector<std::pair<ExprPtr, NodeList>> branches; // If / elif
  NodeList body, elseBody;
  Target target;
  // Macros and call blocks.
  std::vector<std::string> params;
  std::vector<ExprPtr> defaults; // one per param, null when none
  bool usesVarargs = false, usesKwargs = false, usesCaller = false;
  // With: name = value pairs.
  std::vector<std::pair<std::string, ExprPtr>> assigns;
};

struct TemplateBody {
  NodeList nodes;
};

// Callables: macros, call-block callers, globals and bound methods.
struct CallableData : Object {
  enum class Type : uint8_t { Macro, Caller, Global, Method };
  Type type;
  std::string name;
  Value self;                      // Method: the object; Global: bound state
  const Node *node = nullptr;      // Macro / Caller
  const void *scope = nullptr;     // Caller: the scope of the call block
};

} // namespace gemmac::jinja::detail
