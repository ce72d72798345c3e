//===- ZipArchive.h - a defensive ZIP reader --------------------*- C++ -*-===//
//
// Reads the central directory (ZIP64 included), checks every member before
// anything looks at it: its local header and data lie inside the archive
// and before the central directory, the method is stored or deflate, it is
// not encrypted, names are unique and none escapes the root (absolute
// paths, drive letters, backslashes, "." or ".." components). Members are
// read whole, inflated through zlib and checked against their CRC-32.
// Errors name the archive, the member and the byte offset.
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
#include <string>
#include <vector>

namespace gemmac::support {

/// CRC-32 (the ZIP polynomial), through zlib.
uint32_t crc32(llvm::ArrayRef<uint8_t> data);

struct ZipMember {
  std::string name;
  uint16_t method = 0; // 0 stored, 8 deflate
  uint32_t crc32 = 0;
  uint64_t compressedSize = 0;
  uint64_t size = 0;
  uint64_t localHeaderOffset = 0;
  uint64_t dataOffset = 0;    // first byte of the (compressed) data
  uint64_t centralOffset = 0; // its central directory entry
};

class ZipArchive : public MappedFile {
public:
  static llvm::Expected<std::unique_ptr<ZipArchive>> open(llvm::StringRef path);
  static llvm::Expected<std::unique_ptr<ZipArchive>>
  parse(std::unique_ptr<llvm::MemoryBuffer> buffer, llvm::StringRef name);

  /// Files only (directory entries are dropped), in central directory order.
  llvm::ArrayRef<ZipMember> members() const { return members_; }
  const ZipMember *find(llvm::StringRef name) const;
  /// The member's bytes; a stored member is a view into the archive.
  /// `checkCRC` = false still inflates fully but leaves the CRC to the caller
  /// (verification reports a changed member through its own hashes).
  llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>>
  read(const ZipMember &member, bool checkCRC = true) const;

  /// Why a member name would escape the root, or "" when it is safe.
  static std::string unsafeNameReason(llvm::StringRef name);

private:
  friend class MappedFile;
  ZipArchive() = default;
  llvm::Error parseAll();

  std::vector<ZipMember> members_;
  llvm::StringMap<size_t> index_;
};

} // namespace gemmac::support
