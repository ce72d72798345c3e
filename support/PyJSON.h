//===- PyJSON.h - JSON as Python's json module reads and writes it --------===//
//
// The .axm signatures are HMACs over `json.dumps(obj, sort_keys=True,
// ensure_ascii=True, separators=(",", ":"))`. Reproducing those bytes needs
// what llvm::json does not keep: whether a number was an int or a float
// (1 and 1.0 print differently in Python) and Python's float repr. This is a
// small DOM that keeps both, a strict parser, and the two writers the
// containers use: canonical (the signed form) and `indent=2` (the files).
// Everything else reads JSON through llvm::json.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace gemmac::support {

class PyJSON {
public:
  enum class Kind { Null, Bool, Int, Float, String, Array, Object };

  PyJSON() = default;
  static PyJSON null() { return PyJSON(); }
  static PyJSON boolean(bool b);
  static PyJSON integer(int64_t v);
  /// An integer of any size, as its decimal digits (optional '-').
  static PyJSON integerText(std::string digits);
  static PyJSON number(double v);
  static PyJSON string(std::string s);
  static PyJSON array(std::vector<PyJSON> items = {});
  static PyJSON object();

  Kind kind() const { return kind_; }
  bool asBool() const { return bool_; }
  double asFloat() const { return float_; }
  /// Int: decimal digits; String: the UTF-8 text.
  const std::string &text() const { return text_; }
  const std::vector<PyJSON> &items() const { return items_; }
  std::vector<PyJSON> &items() { return items_; }
  /// Members in insertion order (duplicates resolved: the last one wins, at
  /// the first one's position, as in a Python dict).
  const std::vector<std::pair<std::string, PyJSON>> &members() const {
    return members_;
  }

  /// Object: sets or replaces `key`. Returns *this for chaining.
  PyJSON &set(llvm::StringRef key, PyJSON value);
  const PyJSON *get(llvm::StringRef key) const;
  /// Object: a copy without the given key.
  PyJSON without(llvm::StringRef key) const;

  /// json.dumps(self, sort_keys=True, ensure_ascii=True, separators=(",",":")).
  std::string canonical() const;
  /// json.dumps(self, indent=2, ensure_ascii=True[, sort_keys]).
  std::string indented(bool sortKeys = false) const;
  /// json.dumps(self, ensure_ascii=True): one line, ", " and ": ".
  std::string oneLine() const;

  /// Strict RFC 8259 parser (plus Python's NaN/Infinity); errors carry the
  /// byte offset relative to `text`.
  static llvm::Expected<PyJSON> parse(llvm::StringRef text);

private:
  void write(std::string &out, bool sortKeys, int indent, int depth,
             const char *itemSep, const char *keySep) const;

  Kind kind_ = Kind::Null;
  bool bool_ = false;
  double float_ = 0;
  std::string text_;
  std::vector<PyJSON> items_;
  std::vector<std::pair<std::string, PyJSON>> members_;
};

/// Python's repr(float): shortest round-trip digits, "1.0" for integral
/// values, exponent form outside [1e-4, 1e16).
std::string pythonFloatRepr(double v);
/// A JSON string literal with everything outside printable ASCII escaped,
/// as ensure_ascii=True does (\uXXXX with surrogate pairs).
std::string pythonJSONQuote(llvm::StringRef utf8);

} // namespace gemmac::support
