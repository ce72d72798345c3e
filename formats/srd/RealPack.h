//===- RealPack.h - the .axm "real-pack" residual trio ----------*- C++ -*-===//
//
// Orivael's --real-pack writes, under weights/:
//   srd_index.json  {packed, scheme: "srd", alpha, group_size, top_k_pct,
//                    n_quantized, layers[]}
//   srd_packed.pt   torch.save({layer: {w4_packed U8 [out, in/2] (value+8,
//                    even column in the low nibble), orig_cols, d8_mask U8
//                    [ceil(out*in/8)] (1 bit per element of the row-major
//                    D8, LSB first), d8_vals I8 [nnz], d8_shape (out, in),
//                    s4 F32 [out, in/64], s8 F32 [out, in/64], group_size,
//                    top_k_pct, original_dtype}})
//   srd_dense.pt    the unquantized parameters (FP16); read only to check it
//                   is a safe, well-formed checkpoint: the dense weights come
//                   from the base GGUF.
// Every structural rule is checked on load (shapes, sizes, mask population
// against the number of values, index against the pickle).
//
//===----------------------------------------------------------------------===//
#pragma once

#include "support/FileTree.h"
#include "formats/srd/SRDSupport.h"
#include "formats/srd/ResidualSource.h"
#include "formats/srd/TorchCheckpoint.h"

namespace gemmac::srd {

class RealPackResiduals : public ResidualSource {
public:
  static constexpr llvm::StringLiteral kIndexFile = "srd_index.json";
  static constexpr llvm::StringLiteral kPackedFile = "srd_packed.pt";
  static constexpr llvm::StringLiteral kDenseFile = "srd_dense.pt";

  /// Reads the trio from `dir` ("weights") of `tree`.
  static llvm::Expected<std::unique_ptr<RealPackResiduals>>
  load(const FileTree &tree, llvm::StringRef dir);

  llvm::Error readRow(size_t index, int64_t row,
                      llvm::MutableArrayRef<SRDGroup> out) const override;

private:
  RealPackResiduals() = default;
  llvm::Error loadLayer(const std::string &layer, const PickleValue &entry);

  struct Layer {
    TorchTensor w4, mask, vals, s4, s8;
    std::vector<int64_t> rowValueStart; // index of each row's first value
  };
  std::unique_ptr<TorchCheckpoint> packed_;
  std::vector<Layer> layers_;
};

} // namespace gemmac::srd
