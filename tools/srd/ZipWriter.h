//===- ZipWriter.h - writes small ZIP archives ------------------*- C++ -*-===//
//
// Stored or deflated members, with optional data alignment for stored ones
// (PyTorch aligns its storages to 64 bytes through a padding extra field).
// No ZIP64: the generator writes test-sized archives. It does not validate
// names, so tests can write hostile archives too.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "support/FileOutput.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace gemmac::srd {

class ZipWriter {
public:
  enum class Method { Stored, Deflate };

  /// Appends a member; `align` (stored only) aligns its data offset.
  void add(llvm::StringRef name, llvm::ArrayRef<uint8_t> data,
           Method method = Method::Deflate, unsigned align = 0, int level = 1);
  /// The archive image (central directory and end record appended).
  std::vector<uint8_t> finish() const;
  llvm::Error writeTo(llvm::StringRef path) const;
  /// Writes ZIP64 records for every member and the end of the directory, as
  /// archives over 4 GiB need (for testing the reader's ZIP64 path). Call
  /// before add().
  void forceZip64() { zip64_ = true; }

private:
  struct Entry {
    std::string name;
    uint16_t method;
    uint32_t crc;
    uint32_t compressedSize;
    uint32_t size;
    uint32_t localOffset;
  };
  std::vector<uint8_t> body_;
  std::vector<Entry> entries_;
  bool zip64_ = false;
};

} // namespace gemmac::srd
