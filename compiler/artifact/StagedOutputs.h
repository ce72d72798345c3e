//===- StagedOutputs.h - OUT and OUT.weights appear whole or not at all ---===//
//
// A compile writes its program, object and weight file under temporary names
// beside OUT (same directory, so same file system) and renames them into
// place only when all are complete: weights first, the program last, so an
// interrupted or failed compile never leaves a program next to weights it
// was not compiled with, nor half a file a program would load. Whatever was
// staged is removed when the compile does not commit.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <string>

namespace gemmac {

class StagedOutputs {
public:
  /// Stages OUT (and OUT.o, OUT.weights) as `DIR/.NAME.gemmac-XXXXXX`.
  static llvm::Expected<StagedOutputs> create(llvm::StringRef outputPath);
  StagedOutputs(StagedOutputs &&other);
  StagedOutputs &operator=(StagedOutputs &&) = delete;
  ~StagedOutputs();

  /// Where the target writes the program (the object is this + ".o").
  const std::string &programPath() const { return staged_; }
  std::string weightsPath() const { return staged_ + ".weights"; }

  /// Renames OUT.weights, then OUT.o (when kept), then OUT into place.
  llvm::Error commit(bool keepObject);
  /// `e` with the staging name replaced by OUT's, so that messages never
  /// name a temporary the user cannot find.
  llvm::Error rename(llvm::Error e) const;

private:
  StagedOutputs(std::string output, std::string staged)
      : output_(std::move(output)), staged_(std::move(staged)) {}
  void removeStaged() const;

  std::string output_;
  std::string staged_;
  bool committed_ = false;
};

} // namespace gemmac
