// Shared by the SRD harnesses: what compile-model reads from an opened
// residual source, bounded so that one input stays cheap: the first and
// last row of (at most) 64 tensors, decoded and applied as W'.
#pragma once

#include "formats/srd/ResidualSource.h"

#include <algorithm>
#include <vector>

namespace gemmac::fuzz {

inline void readResiduals(const srd::ResidualSource &source) {
  auto tensors = source.tensors();
  for (size_t i = 0; i < tensors.size() && i < 64; ++i) {
    const srd::ResidualTensorInfo &t = tensors[i];
    if (t.rows <= 0 || t.cols <= 0 || t.cols > (1 << 20))
      continue;
    std::vector<srd::SRDGroup> groups(t.groupsPerRow());
    std::vector<float> row(t.cols);
    for (int64_t r : {int64_t(0), t.rows - 1}) {
      if (auto e = source.readRow(i, r, groups))
        llvm::consumeError(std::move(e));
      if (auto e = source.correctedRow(i, r, std::nullopt, row))
        llvm::consumeError(std::move(e));
    }
    (void)source.unusableRows(i);
  }
}

} // namespace gemmac::fuzz
