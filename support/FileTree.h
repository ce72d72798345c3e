//===- FileTree.h - a container's files, from a ZIP or a directory --------===//
//
// An .axm container is a ZIP archive or the same tree unpacked. Both are
// read through this interface: '/'-separated relative paths, listed and read
// whole. The directory form applies the ZIP form's rules: no symbolic links
// and nothing outside the root.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "support/ZipArchive.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/MemoryBuffer.h"

#include <memory>
#include <string>
#include <vector>

namespace gemmac::support {

class FileTree {
public:
  virtual ~FileTree();
  /// The archive or directory path.
  virtual llvm::StringRef rootName() const = 0;
  /// Every file, sorted, as relative '/'-separated paths.
  virtual const std::vector<std::string> &files() const = 0;
  bool contains(llvm::StringRef rel) const;
  /// A file's bytes, owned by the caller. For a ZIP, `checkCRC` = false leaves
  /// a changed member to the caller's own hashes (the CRC would report it
  /// without saying more).
  virtual llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>>
  read(llvm::StringRef rel, bool checkCRC = true) const = 0;
  /// "ROOT/rel" for a directory, "ROOT:rel" for an archive: the name errors
  /// use for a file of the tree.
  virtual std::string displayName(llvm::StringRef rel) const = 0;

  /// A ZIP archive when `path` is a file, a directory tree when it is one.
  static llvm::Expected<std::unique_ptr<FileTree>> open(llvm::StringRef path);
};

class ZipTree : public FileTree {
public:
  static llvm::Expected<std::unique_ptr<ZipTree>> open(llvm::StringRef path);
  explicit ZipTree(std::unique_ptr<ZipArchive> zip);
  llvm::StringRef rootName() const override { return zip_->fileName(); }
  const std::vector<std::string> &files() const override { return files_; }
  llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>>
  read(llvm::StringRef rel, bool checkCRC = true) const override;
  std::string displayName(llvm::StringRef rel) const override;
  const ZipArchive &archive() const { return *zip_; }

private:
  std::unique_ptr<ZipArchive> zip_;
  std::vector<std::string> files_;
};

class DirectoryTree : public FileTree {
public:
  static llvm::Expected<std::unique_ptr<DirectoryTree>>
  open(llvm::StringRef path);
  llvm::StringRef rootName() const override { return root_; }
  const std::vector<std::string> &files() const override { return files_; }
  llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>>
  read(llvm::StringRef rel, bool checkCRC = true) const override;
  std::string displayName(llvm::StringRef rel) const override;

private:
  std::string root_;
  std::vector<std::string> files_;
};

} // namespace gemmac::support
