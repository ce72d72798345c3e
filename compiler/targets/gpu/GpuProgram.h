//===- GpuProgram.h - the host half of a GPU program ---------------*- C++ -*-===//
//
// After the kernel phase of a GPU target the entry function holds every
// launch of a forward step as IR (gemma-lower-to-gpu, gemma-plan-gpu-arena):
// a straight line of gpu.launch_func over ranges of the program's buffers
// (weights, activation arena, KV caches, tokens, params, ...), every range
// fixed at compile time. The image (abi/gpu_program.h) serializes those
// launches with the device code into the executable, where the runtime's
// CUDA or Vulkan backend runs them.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "compiler/targets/cpu/CpuTarget.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/ArrayRef.h"
#include "llvm/Support/Error.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdint>
#include <vector>

namespace gemmac {

/// The program image for `module` (after the kernel phase of a GPU target)
/// and its device code (`ptx` true: PTX text, else SPIR-V words as bytes).
llvm::Expected<std::vector<uint8_t>>
buildGpuProgram(mlir::ModuleOp module, llvm::ArrayRef<uint8_t> code, bool ptx);

/// The launch plan of an image, one line per launch (--print-launch-plan).
void printGpuProgram(llvm::ArrayRef<uint8_t> image, llvm::raw_ostream &os);

/// A host object holding the model meta, the image and the program table
/// `table` describes, for linking with the runtime.
llvm::Error emitGpuProgramObject(mlir::ModuleOp module,
                                 llvm::ArrayRef<uint8_t> image,
                                 const CpuTarget &host,
                                 const ProgramTableSpec &table,
                                 llvm::StringRef objectPath);

} // namespace gemmac
