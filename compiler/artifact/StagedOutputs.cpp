//===- StagedOutputs.cpp - OUT and OUT.weights appear whole or not at all -===//

#include "compiler/artifact/StagedOutputs.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

using namespace gemmac;

llvm::Expected<StagedOutputs>
StagedOutputs::create(llvm::StringRef outputPath) {
  llvm::SmallString<256> model(llvm::sys::path::parent_path(outputPath));
  llvm::sys::path::append(model, "." + llvm::sys::path::filename(outputPath) +
                                     ".gemmac-%%%%%%");
  llvm::SmallString<256> staged;
  int fd = -1;
  // Created (empty, private) so that no other process picks the same name.
  if (std::error_code ec = llvm::sys::fs::createUniqueFile(model, fd, staged))
    return llvm::createStringError(
        ec, outputPath + ": cannot create a file in its directory: " +
                ec.message());
  llvm::sys::fs::closeFile(fd);
  return StagedOutputs(outputPath.str(), staged.str().str());
}

StagedOutputs::StagedOutputs(StagedOutputs &&other)
    : output_(std::move(other.output_)), staged_(std::move(other.staged_)),
      committed_(other.committed_) {
  other.committed_ = true; // the moved-from object owns nothing
}

StagedOutputs::~StagedOutputs() {
  if (!committed_)
    removeStaged();
}

void StagedOutputs::removeStaged() const {
  for (const std::string &path :
       {staged_, staged_ + ".o", weightsPath()})
    llvm::sys::fs::remove(path);
}

llvm::Error StagedOutputs::commit(bool keepObject) {
  struct Step {
    std::string from, to;
  };
  std::vector<Step> steps = {{weightsPath(), output_ + ".weights"}};
  if (keepObject)
    steps.push_back({staged_ + ".o", output_ + ".o"});
  steps.push_back({staged_, output_});
  for (const Step &step : steps)
    if (std::error_code ec = llvm::sys::fs::rename(step.from, step.to))
      return llvm::createStringError(ec, "cannot write " + step.to + ": " +
                                             ec.message());
  committed_ = true;
  removeStaged(); // the object, when it was not kept
  return llvm::Error::success();
}

llvm::Error StagedOutputs::rename(llvm::Error e) const {
  if (!e)
    return e;
  std::string message = llvm::toString(std::move(e));
  for (size_t at; (at = message.find(staged_)) != std::string::npos;)
    message.replace(at, staged_.size(), output_);
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}
