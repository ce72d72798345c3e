//===- FoldSRD.h - gemma-fold-srd with an opened residual source -*- C++ -*-===//
#pragma once

#include "passes/Passes.h"

#include <memory>

namespace gemmac {
namespace srd {
class ResidualSource;
}

/// gemma-fold-srd with residuals compile-model opened and verified already
/// (`options.path` must be empty).
std::unique_ptr<mlir::Pass>
createFoldSRD(std::shared_ptr<const srd::ResidualSource> source,
              FoldSRDOptions options);

} // namespace gemmac
