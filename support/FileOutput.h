//===- FileOutput.h - the one way the tools write a file --------*- C++ -*-===//
#pragma once

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>

namespace gemmac::support {

/// Creates `path` (and its parent directories), lets `write` fill it, and
/// reports any failure with the file's name ("FILE: write failed: ...").
llvm::Error
writeFileWith(llvm::StringRef path,
              llvm::function_ref<llvm::Error(llvm::raw_fd_ostream &)> write);

/// Writes bytes to a file, creating parent directories.
llvm::Error writeFileBytes(llvm::StringRef path, llvm::ArrayRef<uint8_t> data);

} // namespace gemmac::support
