//===- ResidualSource.cpp - SRD corrections, whatever file holds them -----===//

#include "formats/srd/ResidualSource.h"

using namespace gemmac::srd;

ResidualSource::~ResidualSource() = default;

std::optional<size_t> ResidualSource::find(llvm::StringRef name) const {
  auto ts = tensors();
  for (size_t i = 0; i < ts.size(); ++i)
    if (ts[i].name == name)
      return i;
  return std::nullopt;
}

bool ResidualSource::rowUsable(size_t index, int64_t row) const {
  for (const RowRange &r : unusableRows(index))
    if (row >= r.begin && row < r.end)
      return false;
  return true;
}

llvm::Error
ResidualSource::correctedRow(size_t index, int64_t row,
                             std::optional<float> alpha,
                             llvm::MutableArrayRef<float> out) const {
  const ResidualTensorInfo &t = tensors()[index];
  if (out.size() != static_cast<size_t>(t.cols))
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        "%s: tensor %s: row buffer holds %zu floats, the row has %lld",
        sourceName().str().c_str(), t.name.c_str(), out.size(),
        static_cast<long long>(t.cols));
  std::vector<SRDGroup> groups(t.groupsPerRow());
  if (llvm::Error e = readRow(index, row, groups))
    return e;
  float a = alpha ? *alpha : this->alpha();
  for (size_t g = 0; g < groups.size(); ++g)
    applyGroup(groups[g], a, out.data() + g * kGroupSize);
  return llvm::Error::success();
}

llvm::Expected<std::vector<float>>
ResidualSource::correctedTensor(size_t index,
                                std::optional<float> alpha) const {
  const ResidualTensorInfo &t = tensors()[index];
  std::vector<float> w(static_cast<size_t>(t.rows * t.cols));
  for (int64_t r = 0; r < t.rows; ++r)
    if (llvm::Error e = correctedRow(
            index, r, alpha,
            llvm::MutableArrayRef<float>(w.data() + r * t.cols, t.cols)))
      return std::move(e);
  return w;
}
