//===- SRDQuantizer.h - SRD quantization, for generating test data --------===//
//
// The reference algorithm (Orivael's axiom_quant.srd_quantize), in f32, per
// row and group of 64 columns:
//   S4 = max(max|W|/7, 1e-12)      W4 = clamp(round(W/S4), -8, 7)
//   R  = W - W4*S4
//   S8 = max(max|R|/127, 1e-12)    D8 = clamp(round(R/S8), -127, 127)
// then, when top_k_pct < 1, every D8 below the k-th largest |D8| of the
// tensor (k = max(1, round(n*top_k_pct))) is zeroed; "SRD-4" is top_k_pct 0.
// round() is round-half-to-even, as torch.round.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "formats/srd/ResidualSource.h"

namespace gemmac::srd {

struct SRDTensor {
  ResidualTensorInfo info;
  std::vector<SRDGroup> groups; // row-major over (row, group)
};

/// Quantizes W [rows, cols] (row-major); cols must be a multiple of 64.
SRDTensor quantizeSRD(llvm::StringRef name, int64_t rows, int64_t cols,
                      llvm::ArrayRef<float> weights, double topKPct = 0.0);

/// Quantized tensors held in memory, as a ResidualSource.
class SRDTensorSet : public ResidualSource {
public:
  SRDTensorSet(std::vector<SRDTensor> tensors, float alpha,
               std::string name = "(memory)");
  llvm::Error readRow(size_t index, int64_t row,
                      llvm::MutableArrayRef<SRDGroup> out) const override;
  const SRDTensor &tensor(size_t i) const { return data_[i]; }

private:
  std::vector<SRDTensor> data_;
};

} // namespace gemmac::srd
