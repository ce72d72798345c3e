//===- Unpickler.h - a restricted unpickler for PyTorch checkpoints -------===//
//
// A pickle is a program for a stack machine whose GLOBAL and REDUCE opcodes
// import and call arbitrary Python. This reader runs nothing: it interprets
// only the opcodes a dict-of-tensors checkpoint needs (protocol 2-5 scalars,
// strings, tuples, lists, dicts, memo, BINPERSID) and accepts only these
// globals, whose effect it reproduces itself:
//   torch._utils._rebuild_tensor_v2   -> a Tensor value
//   collections.OrderedDict           -> a Dict value
//   torch.<T>Storage                  -> a storage type (in persistent ids)
// Any other opcode or global is an error naming the file, the opcode or the
// global, and its byte offset.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace gemmac::srd {

struct PickleValue;
using PickleRef = std::shared_ptr<PickleValue>;

/// A tensor as _rebuild_tensor_v2 describes it; the storage is named by its
/// key in the checkpoint's data/ directory.
struct PickledTensor {
  std::string storageType; // "FloatStorage", "ByteStorage", ...
  std::string storageKey;  // "0", "1", ...
  std::string location;    // "cpu"
  int64_t storageNumel = 0;
  int64_t storageOffset = 0; // in elements
  std::vector<int64_t> shape;
  std::vector<int64_t> strides;
};

struct PickleValue {
  enum class Kind {
    None,
    Bool,
    Int,
    Float,
    String,
    Bytes,
    Tuple,
    List,
    Dict,
    Global,     // an allowed callable or storage type, not yet applied
    StorageRef, // a persistent id resolved to a storage
    Tensor,
  };
  Kind kind = Kind::None;
  bool boolean = false;
  int64_t integer = 0;
  double number = 0;
  std::string text;             // String/Bytes payload; Global: "module.name"
  std::vector<PickleRef> items; // Tuple, List
  std::vector<std::pair<PickleRef, PickleRef>> entries; // Dict, in order
  PickledTensor tensor;                                 // StorageRef, Tensor
  bool fromOrderedDict = false;

  const char *kindName() const;
  /// Dict lookup by string key.
  const PickleValue *get(llvm::StringRef key) const;
};

/// Interprets `data` (a data.pkl); `name` stands for it in errors.
llvm::Expected<PickleRef> unpickle(llvm::ArrayRef<uint8_t> data,
                                   llvm::StringRef name);

} // namespace gemmac::srd
