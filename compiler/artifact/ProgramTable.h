//===- ProgramTable.h - one exported entry point per compiled model -*- C++ -*-===//
//
// Every function and global the model's LLVM module defines becomes local
// to its object, and one table (abi/program_table.h) points at them: two
// models linked into one process no longer collide on gemmac_forward, and
// the runtime reaches a model only through the table it is given.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "llvm/IR/Module.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>

namespace gemmac {

struct ProgramTableSpec {
  /// NAME of the exported `NAME_program()`; empty for a program, which
  /// exports `gemmac_builtin_program()` instead.
  std::string name;
  /// The weight file written with this code.
  uint64_t weightsChecksum = 0, weightsFileBytes = 0;
  /// --embed-weights: the symbol of the weight file's bytes, defined by the
  /// object compiler/artifact/EmbeddedWeights.cpp assembles.
  std::string embeddedWeightsSymbol;
  /// Libraries: the weight file's name beside the library, and where
  /// compile-model wrote it.
  std::string weightsName, weightsPath;
};

/// Whether `name` can be NAME: a C identifier that the generated symbols'
/// prefix and file names can carry.
bool isValidModelName(llvm::StringRef name);

/// Makes every definition of `module` local and adds the table and its
/// exported function. Fails if the module lacks the model's symbols.
llvm::Error addProgramTable(llvm::Module &module, const ProgramTableSpec &spec);

} // namespace gemmac
