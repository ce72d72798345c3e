//===- PickleWriter.h - emits protocol-2 pickle opcodes ---------*- C++ -*-===//
//
// The opcode-level writer behind the generator's PyTorch checkpoints, and
// behind the tests' hostile pickles (it does not judge what it writes).
//
//===----------------------------------------------------------------------===//
#pragma once

#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <vector>

namespace gemmac::srd {

class PickleWriter {
public:
  PickleWriter(); // PROTO 2

  void none();
  void boolean(bool b);
  void integer(int64_t v);
  void number(double v); // BINFLOAT
  void string(llvm::StringRef s);
  void mark();
  void emptyTuple();
  /// Closes a tuple of `n` items (TUPLE1..3, or MARK ... TUPLE: call mark()
  /// before the items when n > 3 or n == 0 is not wanted as EMPTY_TUPLE).
  void tuple(size_t n);
  void emptyDict();
  void setItems(); // after mark() and key, value pairs
  void global(llvm::StringRef module, llvm::StringRef name);
  void reduce();
  void binPersId();
  void opcode(uint8_t op);       // anything, for hostile test pickles
  std::vector<uint8_t> finish(); // STOP

  size_t size() const { return out_.size(); }

private:
  std::vector<uint8_t> out_;
};

} // namespace gemmac::srd
