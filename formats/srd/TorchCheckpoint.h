//===- TorchCheckpoint.h - PyTorch zip checkpoints, read without Python ---===//
//
// torch.save writes a ZIP holding PREFIX/data.pkl (the pickled object),
// PREFIX/data/<key> (one member per storage), PREFIX/version and
// PREFIX/byteorder. This reads the pickle with the restricted unpickler and
// resolves each tensor to its storage bytes, checking dtype, byte order,
// shape, strides and bounds. Only contiguous little-endian tensors are
// accepted (what torch.save writes for the SRD packs).
//
//===----------------------------------------------------------------------===//
#pragma once

#include "formats/srd/Unpickler.h"
#include "support/ZipArchive.h"
#include "formats/srd/SRDSupport.h"

#include "llvm/ADT/StringMap.h"

#include <memory>

namespace gemmac::srd {

struct TorchTensor {
  std::string dtype; // "float32", "float16", "bfloat16", "uint8", "int8", ...
  unsigned elementSize = 0;
  std::vector<int64_t> shape;
  std::string storageMember;     // the ZIP member holding the storage
  llvm::ArrayRef<uint8_t> bytes; // exactly the tensor's elements
  int64_t numel() const;
};

class TorchCheckpoint {
public:
  /// `zipBytes` is the checkpoint file; `name` stands for it in errors.
  static llvm::Expected<std::unique_ptr<TorchCheckpoint>>
  parse(std::unique_ptr<llvm::MemoryBuffer> zipBytes, llvm::StringRef name);

  llvm::StringRef name() const { return name_; }
  const PickleValue &root() const { return *root_; }
  const ZipArchive &archive() const { return *zip_; }
  /// Resolves a Tensor value; errors name `what` (e.g. "layer.s4").
  llvm::Expected<TorchTensor> tensor(const PickleValue &value,
                                     llvm::StringRef what) const;
  /// Members whose CRC-32 does not match their bytes (changed storages).
  std::vector<std::string> changedMembers() const;
  /// The tensors (as "key.key" paths through the pickled dicts) whose
  /// storage changed since torch.save wrote its CRC-32, and "(pickle)" when
  /// the pickle did: the per-tensor digest a checkpoint carries.
  std::vector<std::string> changedTensors() const;
  llvm::StringRef prefix() const { return prefix_; }

private:
  TorchCheckpoint() = default;
  llvm::Error load();

  std::string name_;
  std::unique_ptr<ZipArchive> zip_;
  std::string prefix_; // "archive/" or the saved file's stem
  PickleRef root_;
  // Storage members, read once (inflated ones owned here).
  mutable llvm::StringMap<std::unique_ptr<llvm::MemoryBuffer>> storages_;
};

} // namespace gemmac::srd
