//===- WeightsFile.h - the weight file beside a compiled program --*- C++ -*-===//
#pragma once

#include "compiler/artifact/WeightTransform.h"
#include "frontends/common/TokenizerData.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <string>
#include <vector>

namespace gemmac {
namespace srd {
class ResidualSource;
}

/// Where one weight comes from, where it goes and how its bytes are made.
struct WeightPlacement {
  uint64_t sourceOffset = 0;
  int64_t sourceFile = 0; // 0: the checkpoint; 1: the drafter's (--draft)
  uint64_t blobOffset = 0;
  weights::WeightSpec spec;
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
  /// compile-model --draft: the MTP drafter's mapped checkpoint.
  const uint8_t *draftData = nullptr;
  uint64_t draftSize = 0;
  std::string draftName;
};

/// What identifies a written weight file (its header's checksum and size).
struct WeightsIdentity {
  uint64_t checksum = 0, fileBytes = 0;
};

/// Writes OUT.weights (abi/artifact_format.h): the header, every
/// weight made from the checkpoint in blob order by weights::transformWeight
/// (streamed, never all in memory), then the tokenizer.
llvm::Expected<WeightsIdentity>
writeWeightsFile(llvm::StringRef path, const WeightBlobLayout &layout,
                 const WeightsSource &source, const TokenizerData &tokenizer,
                 llvm::StringRef target, bool progress);


} // namespace gemmac
