//===- SRDQuantizer.cpp - SRD quantization, for generating test data ------===//

#include "tools/srd/SRDQuantizer.h"

#include <algorithm>
#include <cmath>

using namespace gemmac::srd;

SRDTensor gemmac::srd::quantizeSRD(llvm::StringRef name, int64_t rows,
                                   int64_t cols, llvm::ArrayRef<float> w,
                                   double topKPct) {
  SRDTensor t;
  t.info = {name.str(), rows, cols};
  int64_t gpr = cols / kGroupSize;
  t.groups.resize(rows * gpr);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t g = 0; g < gpr; ++g) {
      const float *x = w.data() + r * cols + g * kGroupSize;
      SRDGroup &G = t.groups[r * gpr + g];
      float absMax = 0;
      for (int k = 0; k < kGroupSize; ++k)
        absMax = std::max(absMax, std::fabs(x[k]));
      G.s4 = std::max(absMax / 7.0f, 1e-12f);
      float resid[kGroupSize];
      float rMax = 0;
      for (int k = 0; k < kGroupSize; ++k) {
        float q = std::nearbyint(x[k] / G.s4);
        G.w4[k] = static_cast<int8_t>(std::clamp(q, -8.0f, 7.0f));
        float base = static_cast<float>(G.w4[k]) * G.s4;
        resid[k] = x[k] - base;
        rMax = std::max(rMax, std::fabs(resid[k]));
      }
      G.s8 = std::max(rMax / 127.0f, 1e-12f);
      for (int k = 0; k < kGroupSize; ++k)
        G.d8[k] = static_cast<int8_t>(
            std::clamp(std::nearbyint(resid[k] / G.s8), -127.0f, 127.0f));
    }
  if (topKPct < 1.0) {
    std::vector<int> mags;
    mags.reserve(t.groups.size() * kGroupSize);
    for (const SRDGroup &G : t.groups)
      for (int k = 0; k < kGroupSize; ++k)
        mags.push_back(std::abs(int(G.d8[k])));
    int64_t n = static_cast<int64_t>(mags.size());
    int64_t keep = std::max<int64_t>(
        1, static_cast<int64_t>(std::nearbyint(double(n) * topKPct)));
    keep = std::min(keep, n);
    std::nth_element(mags.begin(), mags.begin() + (keep - 1), mags.end(),
                     std::greater<int>());
    int threshold = mags[keep - 1];
    for (SRDGroup &G : t.groups)
      for (int k = 0; k < kGroupSize; ++k)
        if (std::abs(int(G.d8[k])) < threshold)
          G.d8[k] = 0;
  }
  return t;
}

SRDTensorSet::SRDTensorSet(std::vector<SRDTensor> tensors, float alpha,
                           std::string name)
    : data_(std::move(tensors)) {
  alpha_ = alpha;
  name_ = std::move(name);
  for (auto &t : data_)
    tensors_.push_back(t.info);
}

llvm::Error SRDTensorSet::readRow(size_t index, int64_t row,
                                  llvm::MutableArrayRef<SRDGroup> out) const {
  const SRDTensor &t = data_[index];
  int64_t gpr = t.info.groupsPerRow();
  if (row < 0 || row >= t.info.rows || out.size() != size_t(gpr))
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "%s: tensor %s: bad row request",
                                   name_.c_str(), t.info.name.c_str());
  std::copy_n(t.groups.begin() + row * gpr, gpr, out.begin());
  return llvm::Error::success();
}
