//===- Toolchain.h - from the model's object to programs and libraries -*- C++ -*-===//
//
// The steps after code generation that use the system's C++ driver
// ($GEMMAC_CXX, else the first of clang++-22, clang++, c++ and g++ on PATH)
// or LLVM's archive writer: linking a program, a shared model library, a
// static model library, and assembling a weight file into an object
// (--embed-weights). The runtime libraries are found in one directory
// (RuntimeDir), next to compile-model by default.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <string>

namespace gemmac {

/// The directory holding libgemmac_runtime.{a,so} and libgemmac_cli.a; for
/// another architecture's programs (`triple` set, e.g.
/// aarch64-unknown-linux-gnu) its subdirectory <arch>-linux-gnu holds that
/// architecture's, and the driver links for the triple.
struct RuntimeDir {
  std::string path;
  std::string triple;
  std::string libraries() const;
  std::string runtimeArchive() const {
    return libraries() + "/libgemmac_runtime.a";
  }
  std::string runtimeShared() const {
    return libraries() + "/libgemmac_runtime.so";
  }
  std::string cliArchive() const { return libraries() + "/libgemmac_cli.a"; }
};

/// A program: the objects, the CLI and the runtime, depending on nothing
/// but libc, libm, pthreads and libdl.
llvm::Error linkProgram(llvm::ArrayRef<std::string> objects,
                        const RuntimeDir &runtime, llvm::StringRef outputPath);

/// libNAME.so: the objects, exporting NAME_program only, needing
/// libgemmac_runtime.so (found beside it, then in the runtime directory).
llvm::Error linkSharedLibrary(llvm::ArrayRef<std::string> objects,
                              llvm::StringRef name, const RuntimeDir &runtime,
                              llvm::StringRef outputPath);

/// libNAME.a: the objects as members named `memberNames`.
llvm::Error writeStaticLibrary(llvm::ArrayRef<std::string> objects,
                               llvm::ArrayRef<std::string> memberNames,
                               llvm::StringRef outputPath);

/// An object defining `symbol` (hidden, page aligned, in a large read-only
/// section, so that gigabytes of it never overflow 32-bit references) as
/// the bytes of `weightsPath`.
llvm::Error assembleWeights(llvm::StringRef weightsPath, llvm::StringRef symbol,
                            llvm::StringRef objectPath,
                            llvm::StringRef triple = "");

} // namespace gemmac
