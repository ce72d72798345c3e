//===- SRDError.h - errors that say which file and where -----------*- C++
//-*-===//
#pragma once

#include "llvm/ADT/Twine.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <optional>
#include <string>

namespace gemmac::srd {

/// "FILE: offset N: message", the project's error shape (as GGUFFile).
inline llvm::Error fileError(const llvm::Twine &file,
                             std::optional<uint64_t> offset,
                             const llvm::Twine &message) {
  std::string text = file.str();
  if (offset)
    text += ": offset " + std::to_string(*offset);
  text += ": " + message.str();
  return llvm::createStringError(llvm::inconvertibleErrorCode(), text);
}

} // namespace gemmac::srd
