//===- GGUFFile.h - a defensive GGUF v2/v3 reader ---------------*- C++ -*-===//
//
// Maps a GGUF file and validates all of it before anything else looks at it:
// every metadata value is bounds-checked, keys and tensor names are unique,
// every tensor's type is known and its bytes lie inside the file. Errors name
// the file, the key or tensor and the byte offset. Tensor data is never
// copied: TensorInfo::data points into the mapping.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "support/BinaryReader.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace gemmac::gguf {

enum class ValueType : uint32_t {
  UInt8 = 0,
  Int8 = 1,
  UInt16 = 2,
  Int16 = 3,
  UInt32 = 4,
  Int32 = 5,
  Float32 = 6,
  Bool = 7,
  String = 8,
  Array = 9,
  UInt64 = 10,
  Int64 = 11,
  Float64 = 12,
};

const char *valueTypeName(ValueType type);
/// Bytes of one scalar of `type` (0 for String and Array).
size_t valueTypeSize(ValueType type);

/// One metadata value. Scalars are decoded; arrays keep a view of their packed
/// little-endian payload (numbers) or a list of string views.
struct MetadataValue {
  ValueType type = ValueType::UInt8;
  uint64_t keyOffset = 0;  // where the entry (its key) starts
  uint64_t fileOffset = 0; // where the value starts, for error messages
  uint64_t endOffset = 0;  // one past the value's last byte
  uint64_t uintValue = 0;  // unsigned and bool scalars
  int64_t intValue = 0;    // signed scalars
  double floatValue = 0;   // float scalars
  llvm::StringRef stringValue;
  ValueType elemType = ValueType::UInt8; // arrays
  uint64_t count = 0;                    // arrays: number of elements
  const uint8_t *arrayData = nullptr;    // arrays of numbers
  std::vector<llvm::StringRef> strings;  // arrays of strings

  bool isInteger() const;
  bool isFloat() const {
    return type == ValueType::Float32 || type == ValueType::Float64;
  }
  /// Element `i` of a numeric array as an integer / a double.
  int64_t arrayInt(uint64_t i) const;
  double arrayFloat(uint64_t i) const;
  bool arrayIsInteger() const;
};

struct TensorInfo {
  std::string name;
  uint32_t nDims = 0;
  int64_t ne[4] = {1, 1, 1, 1}; // ne[0] is the contiguous dimension
  uint32_t type = 0;            // ggml type id
  uint64_t offset = 0;          // relative to the data section
  uint64_t nbytes = 0;
  uint64_t infoOffset = 0; // file offset of the tensor-info entry
  const uint8_t *data = nullptr;

  uint64_t fileOffset(uint64_t dataOffset) const { return dataOffset + offset; }
  int64_t numElements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
};

class GGUFFile : public support::MappedFile {
public:
  static llvm::Expected<std::unique_ptr<GGUFFile>> open(llvm::StringRef path);
  /// Parses an in-memory image (tests); `name` stands for the file in errors.
  static llvm::Expected<std::unique_ptr<GGUFFile>>
  parse(std::unique_ptr<llvm::MemoryBuffer> buffer, llvm::StringRef name);

  llvm::StringRef path() const { return fileName(); }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t dataOffset() const { return dataOffset_; }

  llvm::ArrayRef<std::string> keys() const { return keyOrder_; }
  const MetadataValue *find(llvm::StringRef key) const;
  llvm::ArrayRef<TensorInfo> tensors() const { return tensors_; }
  const TensorInfo *findTensor(llvm::StringRef name) const;

  // Typed accessors: an error names the file, the key and the offset.
  llvm::Expected<std::string> getString(llvm::StringRef key) const;
  llvm::Expected<uint64_t> getUInt(llvm::StringRef key) const;
  llvm::Expected<double> getFloat(llvm::StringRef key) const;
  /// A key that is either one integer or an array of `n` integers.
  llvm::Expected<std::vector<int64_t>> getIntOrArray(llvm::StringRef key,
                                                     size_t n) const;

  // error(MESSAGE, OFFSET) (from MappedFile) says "FILE: offset N: MESSAGE".

private:
  friend class support::MappedFile;
  GGUFFile() = default;
  llvm::Error parseAll();
  llvm::Error parseMetadata(support::BinaryReader &c, uint64_t count);
  llvm::Error parseTensorInfos(support::BinaryReader &c, uint64_t count);
  llvm::Error placeTensorData(uint64_t infoEnd);

  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t dataOffset_ = 0;
  llvm::StringMap<MetadataValue> metadata_;
  std::vector<std::string> keyOrder_;
  std::vector<TensorInfo> tensors_;
  llvm::StringMap<size_t> tensorIndex_;
};

} // namespace gemmac::gguf
