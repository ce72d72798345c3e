//===- BinaryReader.cpp - bounds-checked reading with offset-tagged errors ===//

#include "support/BinaryReader.h"

#include "llvm/Support/FileSystem.h"

using namespace gemmac::support;

llvm::Error gemmac::support::fileError(const llvm::Twine &file,
                                       std::optional<uint64_t> offset,
                                       const llvm::Twine &message) {
  std::string text = file.str();
  if (offset)
    text += ": offset " + std::to_string(*offset);
  text += ": " + message.str();
  return llvm::createStringError(llvm::inconvertibleErrorCode(), text);
}

llvm::Expected<std::unique_ptr<llvm::MemoryBuffer>>
gemmac::support::mapFile(llvm::StringRef path) {
  // A device or a pipe has no size to check reads against, and reading one
  // whole (/dev/zero) never ends: only regular files are inputs.
  llvm::sys::fs::file_status status;
  if (std::error_code ec = llvm::sys::fs::status(path, status))
    return fileError(path, std::nullopt, "cannot open: " + ec.message());
  if (llvm::sys::fs::is_directory(status))
    return fileError(path, std::nullopt, "is a directory, not a file");
  if (!llvm::sys::fs::is_regular_file(status))
    return fileError(path, std::nullopt,
                     "is not a regular file (a device, pipe or socket): "
                     "copy it to a file first");
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/false);
  if (!buffer)
    return fileError(path, std::nullopt,
                     "cannot open: " + buffer.getError().message());
  return std::move(*buffer);
}

llvm::Error BinaryReader::need(uint64_t n, const llvm::Twine &what) const {
  if (n > remaining())
    return error("truncated: " + what + " needs " + llvm::Twine(n) +
                     " bytes but the file ends " + llvm::Twine(remaining()) +
                     " bytes later",
                 pos_);
  return llvm::Error::success();
}

llvm::Expected<llvm::StringRef>
BinaryReader::readBytes(uint64_t n, const llvm::Twine &what) {
  if (llvm::Error e = need(n, what))
    return std::move(e);
  llvm::StringRef bytes = data_.getData().substr(pos_, n);
  pos_ += n;
  return bytes;
}
