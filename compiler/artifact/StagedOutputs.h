//===- StagedOutputs.h - a compile's files appear whole or not at all -----===//
//
// A compile writes its files (program or library, header, object, weight
// file) under temporary names beside their final ones (same directory, so
// same file system) and renames them into place only when all are complete,
// in the order given: the weight file first, the file that loads it last, so
// an interrupted or failed compile never leaves code next to weights it was
// not compiled with, nor half a file a program would load. Whatever was
// staged is removed when the compile does not commit.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <string>
#include <vector>

namespace gemmac {

class StagedOutputs {
public:
  /// Stages each output as `DIR/.NAME.gemmac-XXXXXX`, in commit order.
  static llvm::Expected<StagedOutputs> create(llvm::ArrayRef<std::string> outputs);
  StagedOutputs(StagedOutputs &&other);
  StagedOutputs &operator=(StagedOutputs &&) = delete;
  ~StagedOutputs();

  /// Where output `i` is written until the commit.
  const std::string &staged(size_t i) const { return files_[i].staged; }
  /// Output `i` is not kept: its staged file is removed at the commit.
  void drop(size_t i) { files_[i].keep = false; }

  /// Renames the kept outputs into place, in order; returns them.
  llvm::Expected<std::vector<std::string>> commit();
  /// `e` with every staging name replaced by its output's, so that messages
  /// never name a temporary the user cannot find.
  llvm::Error rename(llvm::Error e) const;

private:
  struct File {
    std::string output, staged;
    bool keep = true;
  };
  explicit StagedOutputs(std::vector<File> files) : files_(std::move(files)) {}
  void removeStaged() const;

  std::vector<File> files_;
  bool committed_ = false;
};

} // namespace gemmac
