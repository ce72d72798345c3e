//===- CpuTarget.h - LLVM dialect -> native object -> executable --*- C++ -*-===//
#pragma once

#include "compiler/targets/Target.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"

#include <string>

namespace gemmac {

/// A native program for a CPU: kernel selection for its features, the
/// lowering to calls of the runtime's kernels, LLVM, an object linked with
/// the runtime.
class CpuTarget : public Target {
public:
  std::string triple;   // empty: the host's; else cross-compiled (aarch64)
  std::string cpu;      // e.g. "znver3", "haswell"; empty: the host's
  std::string features; // e.g. "+avx2,+fma"; empty with an empty cpu: host's
  /// cpu:x86-64-multi: code for x86-64-v3, and the kernel set (AVX2 or
  /// AVX-512) chosen when the program starts, from the CPU it runs on.
  bool multi = false;

  std::string describe() const override;
  std::string crossTriple() const override { return triple; }
  bool kernelsAtStartup() const override { return multi; }
  std::string targetFeatures() const override { return features; }
  uint64_t cpuFeatureBits() const override;
  llvm::Error checkOptions(const EmitOptions &options) const override;
  void addPhasePasses(mlir::OpPassManager &pm, Phase phase,
                      const PipelineOptions &options) const override;
  llvm::Error emitModelObject(mlir::ModuleOp module,
                              const ProgramTableSpec &table,
                              llvm::StringRef objectPath) const override;
};

/// Parses "cpu", "cpu:<cpu name>", "cpu:<+feature,...>" (host by default),
/// "cpu:x86-64-multi", or "cpu:aarch64[:<Arm cpu>][,<+feature,...>]" (64-bit
/// Arm Linux).
llvm::Expected<CpuTarget> parseCpuTarget(llvm::StringRef spec);

/// Translates an LLVM-dialect module to LLVM IR, adds the program table
/// (compiler/artifact/ProgramTable.h), optimizes it at O3 for the target and
/// writes a relocatable object file.
llvm::Error emitObject(mlir::ModuleOp module, const CpuTarget &target,
                       const ProgramTableSpec &table, llvm::StringRef objectPath);

} // namespace gemmac
