//===- WeightsFile.h - the weight file beside a compiled program --*- C++ -*-===//
#pragma once

#include "frontends/common/TokenizerData.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace gemmac {
namespace srd {
class ResidualSource;
}

/// Where one weight comes from and where it goes.
struct WeightPlacement {
  std::string name;
  uint64_t sourceOffset = 0;
  uint64_t blobOffset = 0;
  uint64_t bytes = 0;
  /// Rows interleaved eight at a time (formats/repack.h): the ggml
  /// type and row length the repacking needs.
  bool interleaved = false;
  uint32_t ggmlType = 0;
  uint64_t rowElements = 0;
  /// Set by gemma-fold-srd: W' of this residual tensor replaces the
  /// checkpoint's rows, which are stored as `baseGgmlType`.
  std::optional<size_t> residual;
  uint32_t baseGgmlType = 0;
  float alpha = 1.0f;
};

/// The weight blob of a module after the quant phase (gemma-layout-weights).
struct WeightBlobLayout {
  std::vector<WeightPlacement> weights; // in blob order
  uint64_t totalBytes = 0;
  uint64_t fingerprint = 0;
};

llvm::Expected<WeightBlobLayout> collectBlobLayout(mlir::ModuleOp module);

struct WeightsSource {
  const uint8_t *data = nullptr; // the mapped checkpoint
  uint64_t size = 0;
  std::string name;
  /// The corrections gemma-fold-srd attached (--srd), and what the header
  /// records of them (e.g. "axm 1a2b3c4d").
  const srd::ResidualSource *residuals = nullptr;
  std::string residualProvenance;
};

/// Writes OUT.weights (abi/artifact_format.h): the header, every
/// weight copied from the checkpoint in blob order (streamed, never all in
/// memory; interleaved weights repacked eight rows at a time; corrected
/// weights computed row by row from the residuals and quantized), then the
/// tokenizer.
llvm::Error writeWeightsFile(llvm::StringRef path, const WeightBlobLayout &layout,
                             const WeightsSource &source,
                             const TokenizerData &tokenizer,
                             llvm::StringRef target, bool progress);

} // namespace gemmac
