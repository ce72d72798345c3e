//===- Gemma4Builder.h - Gemma 4 config + weights -> gemma IR -----*- C++ -*-===//
//
// Builds the `gemma` dialect module of a Gemma 4 text model from a config and
// a source of weight handles. Shared by every checkpoint frontend: each one
// only reads its own config keys and tensor table.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "dialects/gemma/GemmaDialect.h"
#include "frontends/common/Gemma4Config.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/Support/Error.h"

#include <optional>
#include <string>
#include <vector>

namespace gemmac {

/// Where a GPTQ-quantized linear's other tensors lie (#gemma.gptq).
struct GPTQRef {
  int64_t qzeros = 0, scales = 0, gIdx = -1; // checkpoint offsets
  int64_t group = 128, zeroOffset = 1;
  bool symmetric = false, blockUniform = false;
};

/// A weight as a checkpoint stores it: never its data, only where it is.
struct WeightRef {
  gemma::WeightFormat format;
  std::vector<int64_t> shape; // [rows, cols] (out, in) or [n]
  int64_t offset = 0;         // byte offset of the data in the checkpoint
  std::optional<float> scalar; // the value of a one-element f32 weight
  /// An f32 vector the importer computed (no checkpoint tensor holds it:
  /// per-expert NVFP4 output scales), written from these values.
  std::vector<float> values;
  std::optional<GPTQRef> gptq;  // GPTQ tensors (offset: the qweight's)
  std::optional<int64_t> fp8Scales; // FP8 blocks: the scales' offset
  int64_t fp8Block = 128;
  std::optional<int64_t> nvfp4Scales; // ModelOpt NVFP4: the scales' offset
  std::optional<float> inputScale;    // NVFP4: the calibrated input_scale
  /// Stored as `format` (f32) from the checkpoint's f16/bf16 values.
  std::optional<gemma::WeightFormat> widenFrom;
  /// A weight the checkpoint stores as several tensors (per-expert 2-D
  /// tensors of a quantized MoE export): its rows are theirs in order, each
  /// a 2-D weight of the same format (offset: the first one's).
  std::vector<WeightRef> parts;
};

class WeightSource {
public:
  virtual ~WeightSource() = default;
  virtual bool has(llvm::StringRef name) const = 0;
  /// Looks a weight up and checks it has `shape`; errors name the tensor.
  virtual llvm::Expected<WeightRef> get(llvm::StringRef name,
                                        llvm::ArrayRef<int64_t> shape) const = 0;
};

/// `sourcePath` names the checkpoint in locations and provenance attributes.
llvm::Expected<mlir::OwningOpRef<mlir::ModuleOp>>
buildGemma4Module(mlir::MLIRContext &context, const Gemma4Config &config,
                  const WeightSource &weights, llvm::StringRef sourcePath);

/// Adds the MTP drafter `draft` (paired with pairGemma4Drafter) to a
/// module buildGemma4Module built: a function marked gemma.draft taking
/// (tokens, the target's final-normed hidden rows, pos0, num_outputs) and
/// returning (logits, the next step's hidden rows). Its weights are read
/// from `draftPath` (source_file 1) under symbols prefixed "draft."; it
/// embeds with the target's table.
llvm::Error addGemma4Drafter(mlir::ModuleOp module, const Gemma4Config &target,
                             const Gemma4Config &draft,
                             const WeightSource &draftWeights,
                             llvm::StringRef draftPath);

} // namespace gemmac
