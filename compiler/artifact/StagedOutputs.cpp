//===- StagedOutputs.cpp - a compile's files appear whole or not at all ---===//

#include "compiler/artifact/StagedOutputs.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

using namespace gemmac;

llvm::Expected<StagedOutputs>
StagedOutputs::create(llvm::ArrayRef<std::string> outputs) {
  std::vector<File> files;
  for (const std::string &output : outputs) {
    llvm::SmallString<256> model(llvm::sys::path::parent_path(output));
    llvm::sys::path::append(model, "." + llvm::sys::path::filename(output) +
                                       ".gemmac-%%%%%%");
    llvm::SmallString<256> staged;
    int fd = -1;
    // Created (empty, private) so that no other process picks the same name.
    if (std::error_code ec = llvm::sys::fs::createUniqueFile(model, fd, staged)) {
      StagedOutputs partial(std::move(files)); // removes what was created
      return llvm::createStringError(
          ec, output + ": cannot create a file in its directory: " + ec.message());
    }
    llvm::sys::fs::closeFile(fd);
    files.push_back({output, staged.str().str()});
  }
  return StagedOutputs(std::move(files));
}

StagedOutputs::StagedOutputs(StagedOutputs &&other)
    : files_(std::move(other.files_)), committed_(other.committed_) {
  other.files_.clear(); // the moved-from object owns nothing
}

StagedOutputs::~StagedOutputs() {
  if (!committed_)
    removeStaged();
}

void StagedOutputs::removeStaged() const {
  for (const File &f : files_)
    llvm::sys::fs::remove(f.staged);
}

llvm::Expected<std::vector<std::string>> StagedOutputs::commit() {
  std::vector<std::string> written;
  for (const File &f : files_) {
    if (!f.keep)
      continue;
    if (std::error_code ec = llvm::sys::fs::rename(f.staged, f.output))
      return llvm::createStringError(ec, "cannot write " + f.output + ": " +
                                             ec.message());
    written.push_back(f.output);
  }
  committed_ = true;
  removeStaged(); // the outputs that were dropped
  return written;
}

llvm::Error StagedOutputs::rename(llvm::Error e) const {
  if (!e)
    return e;
  std::string message = llvm::toString(std::move(e));
  for (const File &f : files_)
    for (size_t at; (at = message.find(f.staged)) != std::string::npos;)
      message.replace(at, f.staged.size(), f.output);
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}
