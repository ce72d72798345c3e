//===- WeightsFile.h - the weight file beside a compiled program --*- C++ -*-===//
#pragma once

#include "frontends/common/TokenizerData.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace gemmac {

/// Where one weight comes from and where it goes.
struct WeightPlacement {
  std::string name;
  uint64_t sourceOffset = 0;
  uint64_t blobOffset = 0;
  uint64_t bytes = 0;
  /// Rows interleaved eight at a time (runtime/formats/repack.h): the ggml
  /// type and row length the repacking needs.
  bool interleaved = false;
  uint32_t ggmlType = 0;
  uint64_t rowElements = 0;
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
};

/// Writes OUT.weights (runtime/src/artifact_format.h): the header, every
/// weight copied from the checkpoint in blob order (streamed, never all in
/// memory; interleaved weights repacked eight rows at a time), then the
/// tokenizer.
llvm::Error writeWeightsFile(llvm::StringRef path, const WeightBlobLayout &layout,
                             const WeightsSource &source,
                             const TokenizerData &tokenizer,
                             llvm::StringRef target, bool progress);

} // namespace gemmac
