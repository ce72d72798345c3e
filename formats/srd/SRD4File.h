//===- SRD4File.h - the .srd4 residual sidecar ------------------*- C++ -*-===//
//
// Layout (Orivael's axm_to_srd4_gguf.py):
//   "AXMSRD4\0" | u32 LE JSON length | JSON header | blocks
// The header holds alpha, group_size and tensors[] {hf_name, shape [out, in],
// n_blocks, offset (from the end of the header), n_bytes}; each tensor is
// n_blocks = out*in/64 blocks of 104 bytes, row-major over (row, group).
// Everything is validated on open: magic, header length, JSON keys and
// types, shapes divisible by 64, n_blocks/n_bytes against the shape, blocks
// inside the file and not overlapping. Blocks are read from the mapping.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "formats/srd/ResidualSource.h"
#include "support/BinaryReader.h"

#include <memory>

namespace gemmac::srd {

struct SRD4Entry {
  uint64_t offset = 0; // relative to the first block byte
  uint64_t nBytes = 0;
  uint64_t nBlocks = 0;
};

/// Where a byte of the file lies: the header, or a tensor's block.
struct SRD4Location {
  bool inHeader = false;
  size_t tensor = 0;
  int64_t row = 0;
  int64_t group = 0;
};

class SRD4File : public ResidualSource, public support::MappedFile {
public:
  static constexpr char kMagic[8] = {'A', 'X', 'M', 'S', 'R', 'D', '4', '\0'};

  static llvm::Expected<std::unique_ptr<SRD4File>> open(llvm::StringRef path);
  /// Parses an in-memory image; `name` stands for the file in errors.
  static llvm::Expected<std::unique_ptr<SRD4File>>
  parse(std::unique_ptr<llvm::MemoryBuffer> buffer, llvm::StringRef name);

  llvm::Error readRow(size_t index, int64_t row,
                      llvm::MutableArrayRef<SRDGroup> out) const override;

  /// File offset of the first block byte.
  uint64_t dataOffset() const { return dataOffset_; }
  llvm::ArrayRef<SRD4Entry> entries() const { return entries_; }
  const uint8_t *block(size_t index, int64_t row, int64_t group) const;
  /// File offset of a block.
  uint64_t blockOffset(size_t index, int64_t row, int64_t group) const;
  /// Which tensor, row and group a file offset falls in (nullopt: between
  /// tensors or past them).
  std::optional<SRD4Location> locate(uint64_t fileOffset) const;

private:
  friend class support::MappedFile;
  SRD4File() = default;
  llvm::Error parseAll();

  uint64_t dataOffset_ = 0;
  std::vector<SRD4Entry> entries_;
};

/// Where `changed` differs from `original`, located through the original's
/// layout: "TENSOR row R group G (offset O)" per differing block, "header
/// (offset O)" for the header, and a note when the sizes differ. For the case
/// an unaltered copy is at hand; without one see scanBlockInvariants.
std::vector<std::string> locateChangedBlocks(const SRD4File &original,
                                             llvm::ArrayRef<uint8_t> changed,
                                             size_t maxReports = 32);

/// SRD invariants a block written by the reference quantizer satisfies:
/// W4 never -8 (|W/S4| <= 7), some |W4| == 7 unless the group is all zero,
/// S4 and S8 finite and positive, D8 never -128, and S8*127 no larger than
/// S4 (a residual never exceeds one base step). A block that breaks one was
/// changed after quantization; one that keeps them may still have been.
struct BlockAnomaly {
  size_t tensor = 0;
  int64_t row = 0;
  int64_t group = 0;
  std::string what;
};
std::vector<BlockAnomaly> scanBlockInvariants(const ResidualSource &source,
                                              size_t maxReports = 16);

} // namespace gemmac::srd
