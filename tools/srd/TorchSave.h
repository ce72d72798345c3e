//===- TorchSave.h - writes PyTorch zip checkpoints -------------*- C++ -*-===//
//
// What torch.save writes for a nested dict of tensors and scalars: a ZIP
// with PREFIX/data.pkl (protocol 2, tensors through _rebuild_tensor_v2 and
// BINPERSID storages), PREFIX/data/<n> (64-byte aligned, stored),
// PREFIX/byteorder and PREFIX/version. For the generator and the tests.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace gemmac::srd {

struct TorchValue {
  enum class Kind { Int, Float, String, Bool, Tuple, Dict, Tensor };
  Kind kind = Kind::Int;
  int64_t integer = 0;
  double number = 0;
  bool boolean = false;
  std::string text;
  std::vector<TorchValue> items; // Tuple
  // Dict, in order (two vectors: a pair of an incomplete type cannot be
  // stored in the type itself).
  std::vector<std::string> keys;
  std::vector<TorchValue> values;
  // Tensor: torch storage type ("FloatStorage", ...), shape, raw bytes.
  std::string storageType;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;

  static TorchValue integerValue(int64_t v);
  static TorchValue floatValue(double v);
  static TorchValue stringValue(std::string s);
  static TorchValue tuple(std::vector<TorchValue> items);
  static TorchValue dict();
  static TorchValue tensor(std::string storageType, std::vector<int64_t> shape,
                           std::vector<uint8_t> bytes);
  TorchValue &add(std::string key, TorchValue v);
};

/// The checkpoint file's bytes.
std::vector<uint8_t> torchSave(const TorchValue &root,
                               llvm::StringRef prefix = "archive");
/// A checkpoint around an arbitrary pickle (for hostile-pickle tests).
std::vector<uint8_t> torchSaveRawPickle(const std::vector<uint8_t> &pickle,
                                        llvm::StringRef prefix = "archive");

} // namespace gemmac::srd
