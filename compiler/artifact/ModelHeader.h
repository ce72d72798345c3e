//===- ModelHeader.h - NAME.h of a model library ---------------*- C++ -*-===//
#pragma once

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

namespace gemmac {

/// What NAME.h records about the compile, in its comment and macros.
struct ModelHeaderFacts {
  std::string name, source, target, weightsName;
  bool embeddedWeights = false;
};

/// Writes NAME.h: the declaration of NAME_program() (including gemmac.h)
/// and macros naming the model's weight file.
llvm::Error writeModelHeader(llvm::StringRef path, const ModelHeaderFacts &facts);

} // namespace gemmac
