//===- FileOutput.cpp - the one way the tools write a file ----------------===//

#include "support/FileOutput.h"
#include "support/BinaryReader.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

using namespace gemmac::support;

llvm::Error gemmac::support::writeFileWith(
    llvm::StringRef path,
    llvm::function_ref<llvm::Error(llvm::raw_fd_ostream &)> write) {
  llvm::StringRef parent = llvm::sys::path::parent_path(path);
  if (!parent.empty())
    if (std::error_code ec = llvm::sys::fs::create_directories(parent))
      return fileError(parent, std::nullopt,
                       "cannot create directory: " + ec.message());
  std::error_code ec;
  llvm::raw_fd_ostream os(path, ec);
  if (ec)
    return fileError(path, std::nullopt, "cannot write: " + ec.message());
  if (llvm::Error e = write(os))
    return e;
  os.close();
  if (os.has_error())
    return fileError(path, std::nullopt,
                     "write failed: " + os.error().message());
  return llvm::Error::success();
}

llvm::Error gemmac::support::writeFileBytes(llvm::StringRef path,
                                            llvm::ArrayRef<uint8_t> data) {
  return writeFileWith(path, [&](llvm::raw_fd_ostream &os) {
    os.write(reinterpret_cast<const char *>(data.data()), data.size());
    return llvm::Error::success();
  });
}
