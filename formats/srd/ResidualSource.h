//===- ResidualSource.h - SRD corrections, whatever file holds them -------===//
//
// The .srd4 sidecar, the .axm real-pack trio and the sealed container all
// yield the same thing: for each weight (by its HF name), per row, the SRD
// groups from which W' is computed. Consumers (the fold pass, the sealer, the
// generator's checks) see only this interface.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "formats/srd/SRDBlock.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/StringRef.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace gemmac::srd {

struct ResidualTensorInfo {
  std::string name; // HF module name, e.g. "model.layers.0.mlp.down_proj"
  int64_t rows = 0; // out features
  int64_t cols = 0; // in features, a multiple of 64
  int64_t groupsPerRow() const { return cols / kGroupSize; }
};

/// Half-open row range [begin, end).
struct RowRange {
  int64_t begin = 0;
  int64_t end = 0;
};

class ResidualSource {
public:
  virtual ~ResidualSource();

  /// The file (or container member) the corrections come from, for messages.
  llvm::StringRef sourceName() const { return name_; }
  llvm::ArrayRef<ResidualTensorInfo> tensors() const { return tensors_; }
  /// The alpha the file asks for.
  float alpha() const { return alpha_; }
  /// Decodes the groups of `row` of tensor `index` into `out`
  /// (groupsPerRow() entries).
  virtual llvm::Error readRow(size_t index, int64_t row,
                              llvm::MutableArrayRef<SRDGroup> out) const = 0;
  /// Rows whose corrections must not be used (a damaged sealed shard); empty
  /// for every other source.
  virtual std::vector<RowRange> unusableRows(size_t index) const { return {}; }

  /// The index of the tensor named `name`, if any.
  std::optional<size_t> find(llvm::StringRef name) const;
  bool rowUsable(size_t index, int64_t row) const;

  /// W' for one row (cols floats), with `alpha` overriding the file's.
  llvm::Error correctedRow(size_t index, int64_t row,
                           std::optional<float> alpha,
                           llvm::MutableArrayRef<float> out) const;
  /// W' for a whole tensor, row-major.
  llvm::Expected<std::vector<float>>
  correctedTensor(size_t index,
                  std::optional<float> alpha = std::nullopt) const;

protected:
  // Each reader fills these when it opens its source.
  std::string name_;
  float alpha_ = 1.0f;
  std::vector<ResidualTensorInfo> tensors_;
};

} // namespace gemmac::srd
