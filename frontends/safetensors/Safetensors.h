//===- Safetensors.h - Hugging Face checkpoint files, validated -*- C++ -*-===//
//
// A Hugging Face checkpoint as compile-model reads it: the .safetensors
// shards (one file, or an index and its shards) mapped read-only into one
// contiguous address range, so that every tensor has a single byte offset
// that the weight writer reads from as it does from a GGUF, and the small
// JSON files beside them (config.json, tokenizer.json, ...).
//
// Every header is checked whole before any tensor is used: the 100 MB header
// cap, JSON, known dtypes, shapes whose element count times the dtype size
// is the tensor's byte range, and ranges that tile the data region exactly
// (no overlap, no gap, nothing past the end). Errors say "FILE: offset N:
// MESSAGE" and name the tensor.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/JSON.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace gemmac::st {

/// The element types of the safetensors format.
enum class DType : uint8_t {
  BOOL, U8, I8, F8_E4M3, F8_E5M2, I16, U16, F16, BF16, I32, U32, F32,
  I64, U64, F64
};
llvm::StringRef dtypeName(DType t);
unsigned dtypeBytes(DType t);

/// The largest header the format allows (the reference reader's limit).
constexpr uint64_t kMaxHeaderBytes = 100'000'000;

struct Tensor {
  std::string name;
  DType dtype = DType::U8;
  std::vector<int64_t> shape; // PyTorch order: [out, in] for a linear
  uint64_t elements = 0;
  uint64_t bytes = 0;
  uint64_t fileOffset = 0; // of the data in its shard file
  uint64_t offset = 0;     // of the data in the checkpoint's mapping
  unsigned shard = 0;
};

/// One validated .safetensors header: its tensors (in data order) and the
/// `__metadata__` strings.
struct Header {
  std::vector<Tensor> tensors;
  std::map<std::string, std::string> metadata;
};

/// Deeper JSON than any checkpoint file has: llvm::json recurses per level
/// (parsing and destroying), so a hostile file could exhaust the stack.
constexpr int kMaxJSONDepth = 64;

/// llvm::json::parse, after checking that `text` nests at most
/// kMaxJSONDepth levels; errors name `fileName` and the offset (`text`
/// starts at `offset` in the file).
llvm::Expected<llvm::json::Value> parseJSON(llvm::StringRef fileName,
                                            llvm::StringRef text,
                                            uint64_t offset = 0);

/// Parses and checks the header of the safetensors file `bytes` (the whole
/// file); `fileName` names it in errors.
llvm::Expected<Header> parseHeader(llvm::StringRef fileName,
                                   llvm::ArrayRef<uint8_t> bytes);

/// A checkpoint directory: config.json, the weights (model.safetensors, or
/// model.safetensors.index.json and its shards), the tokenizer files.
class Checkpoint {
public:
  /// `path` is the directory, its config.json, or one .safetensors file
  /// (config.json and the tokenizer are looked for beside it).
  static llvm::Expected<std::unique_ptr<Checkpoint>> open(llvm::StringRef path);
  /// The same from memory (the fuzz harness): file name -> contents. The
  /// weights are "model.safetensors" or the index and the shards it names.
  static llvm::Expected<std::unique_ptr<Checkpoint>>
  fromMemory(std::map<std::string, std::string> files);
  ~Checkpoint();

  /// The directory, as the user named it (errors and provenance).
  llvm::StringRef directory() const { return dir_; }
  /// DIR/NAME, as errors name a file of the checkpoint.
  std::string pathOf(llvm::StringRef name) const;
  /// Every file compile-model reads (the outputs must be none of them).
  std::vector<std::string> inputFiles() const;

  const Tensor *find(llvm::StringRef name) const;
  const std::vector<Tensor> &tensors() const { return tensors_; }
  /// The mapping every Tensor::offset is relative to.
  const uint8_t *base() const { return base_; }
  uint64_t size() const { return size_; }
  const uint8_t *data(const Tensor &t) const { return base_ + t.offset; }
  /// The shard file a tensor lives in (errors).
  std::string shardPath(const Tensor &t) const {
    return pathOf(shards_[t.shard].name);
  }

  /// A JSON or text file of the checkpoint: nullopt when it does not exist;
  /// an error when it is larger than `maxBytes`.
  llvm::Expected<std::optional<std::string>>
  readText(llvm::StringRef name, uint64_t maxBytes = 16ull << 20) const;

private:
  struct Shard {
    std::string name;
    uint64_t start = 0, size = 0; // in the mapping
  };
  Checkpoint() = default;
  llvm::Error loadShards(std::vector<std::string> names);
  llvm::Error mapShards();
  llvm::Error indexShards(llvm::StringRef indexText);

  std::string dir_;
  bool inMemory_ = false;
  std::map<std::string, std::string> memFiles_;
  std::string memData_; // the shards, concatenated (fromMemory)
  std::vector<Shard> shards_;
  std::vector<Tensor> tensors_;
  llvm::StringMap<size_t> byName_;
  const uint8_t *base_ = nullptr;
  uint64_t size_ = 0;
  void *mapping_ = nullptr;
  uint64_t mappingBytes_ = 0;
  std::string indexFile_;
};

} // namespace gemmac::st
