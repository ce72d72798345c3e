//===- Target.h - what a compile target owns --------------------*- C++ -*-===//
//
// compile-model runs the same phases for every target; a Target supplies the
// target-dependent parts: its --target spec, the passes of the quant, kernel
// and target phases, and what is written after them (an object linked into a
// program, or device code, a launch plan and a GPU program). The spec is
// recorded on the module at import (gemma.target), so that gemmac-opt can
// continue any --compile-to dump with the same pipeline.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "compiler/artifact/ProgramTable.h"
#include "compiler/pipeline/Pipeline.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "llvm/Support/Error.h"

#include <memory>
#include <string>
#include <vector>

namespace gemmac {

/// compile-model's output flags.
struct EmitOptions {
  std::string outputPath; // -o
  std::string deviceCode; // --emit ptx|spirv (GPU targets): the device code alone
  bool library = false;   // --emit lib: -o DIR/NAME is a model library
  bool embedWeights = false;
  bool printLaunchPlan = false;
  bool keepObject = false;
  std::string runtimeDir; // holds libgemmac_runtime.{a,so} and libgemmac_cli.a
};

/// What was written.
struct Emitted {
  std::vector<std::string> files; // empty when a report was printed instead
};

class Target {
public:
  virtual ~Target();

  /// The spec as gemma.target records it: cpu:<cpu>, cuda:<sm> or vulkan.
  virtual std::string describe() const = 0;
  /// The CPU features kernel selection uses (empty for GPU targets).
  virtual std::string targetFeatures() const { return ""; }
  /// The abi/cpu_features.h bits the host code may use (0: unchecked).
  virtual uint64_t cpuFeatureBits() const { return 0; }
  /// Whether the program picks its kernel set from the CPU it starts on.
  virtual bool kernelsAtStartup() const { return false; }
  /// The LLVM triple of another architecture's program (linked against the
  /// runtime built for it); empty for this machine's.
  virtual std::string crossTriple() const { return ""; }

  /// Rejects output flags that do not fit the target.
  virtual llvm::Error checkOptions(const EmitOptions &options) const = 0;

  /// Adds the target's passes of `phase` (Quant, Kernel or Target).
  virtual void addPhasePasses(mlir::OpPassManager &pm, Phase phase,
                              const PipelineOptions &options) const = 0;

  /// After the target phase, for programs and libraries: the model's
  /// object, holding the program table `table` describes.
  virtual llvm::Error emitModelObject(mlir::ModuleOp module,
                                      const ProgramTableSpec &table,
                                      llvm::StringRef objectPath) const = 0;

  /// After the target phase, for --emit ptx|spirv and --print-launch-plan
  /// (GPU targets; checkOptions refuses them elsewhere).
  virtual llvm::Expected<Emitted> emitDeviceCode(mlir::ModuleOp module,
                                                 const EmitOptions &options) const;
};

/// Parses --target: cpu[:<cpu name>|:<+feature,...>], cuda[:sm_XX] or vulkan.
llvm::Expected<std::unique_ptr<Target>> parseTarget(llvm::StringRef spec);

/// Records `target` on the module (gemma.target and gemma.target_features).
void recordTarget(mlir::ModuleOp module, const Target &target);

/// The target recorded on the module; a module without one (hand-written IR)
/// gets the CPU target with no features, as the phases always assumed.
llvm::Expected<std::unique_ptr<Target>> recordedTarget(mlir::ModuleOp module);

/// Dialects and interfaces every target's pipelines need.
void registerTargetDialects(mlir::DialectRegistry &registry);

} // namespace gemmac
