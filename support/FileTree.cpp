//===- FileTree.cpp - a container's files, from a ZIP or a directory ------===//

#include "support/FileTree.h"
#include "support/BinaryReader.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <algorithm>

using namespace gemmac::support;
using llvm::Expected;
using llvm::StringRef;

FileTree::~FileTree() = default;

bool FileTree::contains(StringRef rel) const {
  const auto &f = files();
  return std::binary_search(f.begin(), f.end(), rel.str());
}

Expected<std::unique_ptr<FileTree>> FileTree::open(StringRef path) {
  if (llvm::sys::fs::is_directory(path)) {
    auto d = DirectoryTree::open(path);
    if (!d)
      return d.takeError();
    return std::unique_ptr<FileTree>(std::move(*d));
  }
  auto z = ZipTree::open(path);
  if (!z)
    return z.takeError();
  return std::unique_ptr<FileTree>(std::move(*z));
}

Expected<std::unique_ptr<ZipTree>> ZipTree::open(StringRef path) {
  auto zip = ZipArchive::open(path);
  if (!zip)
    return zip.takeError();
  return std::make_unique<ZipTree>(std::move(*zip));
}

ZipTree::ZipTree(std::unique_ptr<ZipArchive> zip) : zip_(std::move(zip)) {
  for (const ZipMember &m : zip_->members())
    files_.push_back(m.name);
  std::sort(files_.begin(), files_.end());
}

Expected<std::unique_ptr<llvm::MemoryBuffer>>
ZipTree::read(StringRef rel, bool checkCRC) const {
  const ZipMember *m = zip_->find(rel);
  if (!m)
    return fileError(displayName(rel), std::nullopt, "no such member");
  auto buf = zip_->read(*m, checkCRC);
  if (!buf || m->method != 0)
    return buf;
  // A stored member is a view into the archive: copy it, so what is read
  // outlives the tree (residual sources keep their buffers).
  return llvm::MemoryBuffer::getMemBufferCopy((*buf)->getBuffer(),
                                              displayName(rel));
}

std::string ZipTree::displayName(StringRef rel) const {
  return (zip_->fileName() + ":" + rel).str();
}

Expected<std::unique_ptr<DirectoryTree>> DirectoryTree::open(StringRef path) {
  std::unique_ptr<DirectoryTree> t(new DirectoryTree());
  t->root_ = path.str();
  while (t->root_.size() > 1 && t->root_.back() == '/')
    t->root_.pop_back();
  std::error_code ec;
  // Symbolic links are not followed and are refused: in a ZIP they do not
  // exist, and here one could point outside the container.
  for (llvm::sys::fs::recursive_directory_iterator
           it(t->root_, ec,
              /*follow_symlinks=*/false),
       end;
       it != end && !ec; it.increment(ec)) {
    StringRef full = it->path();
    StringRef rel = full.substr(t->root_.size() + 1);
    auto type = it->type();
    if (type == llvm::sys::fs::file_type::symlink_file)
      return fileError(full, std::nullopt,
                       "symbolic link inside the container: not allowed (it "
                       "could point outside the root)");
    if (type == llvm::sys::fs::file_type::directory_file)
      continue;
    if (type != llvm::sys::fs::file_type::regular_file)
      return fileError(full, std::nullopt,
                       "not a regular file inside the container");
    std::string r = rel.str();
    std::replace(r.begin(), r.end(), '\\', '/');
    t->files_.push_back(std::move(r));
  }
  if (ec)
    return fileError(path, std::nullopt, "cannot list: " + ec.message());
  std::sort(t->files_.begin(), t->files_.end());
  return std::move(t);
}

Expected<std::unique_ptr<llvm::MemoryBuffer>> DirectoryTree::read(StringRef rel,
                                                                  bool) const {
  std::string why = ZipArchive::unsafeNameReason(rel);
  if (!why.empty())
    return fileError(displayName(rel), std::nullopt,
                     "path escapes the container root: " + why);
  return mapFile(displayName(rel));
}

std::string DirectoryTree::displayName(StringRef rel) const {
  return root_ + "/" + rel.str();
}
