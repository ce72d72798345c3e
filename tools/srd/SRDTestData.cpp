//===- SRDTestData.cpp - writes every residual format from float weights --===//

#include "tools/srd/SRDTestData.h"
#include "tools/srd/AXMWriter.h"
#include "tools/srd/SRD4Writer.h"
#include "tools/srd/SealedWriter.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <cmath>

using namespace gemmac::srd;

GenTensor gemmac::srd::randomTensor(std::string name, int64_t rows,
                                    int64_t cols, uint64_t seed, float scale) {
  GenTensor t{std::move(name), rows, cols, {}};
  t.weights.resize(rows * cols);
  uint64_t s = seed * 6364136223846793005ull + 1442695040888963407ull;
  auto next = [&] {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return static_cast<double>(s >> 11) / 9007199254740992.0; // [0, 1)
  };
  for (float &w : t.weights) {
    // Sum of four uniforms: roughly Gaussian, with the occasional outlier
    // groups real weights have.
    double g = next() + next() + next() + next() - 2.0;
    w = static_cast<float>(g * scale * (next() < 0.01 ? 8.0 : 1.0));
  }
  return t;
}

SRDTensorSet gemmac::srd::quantizeAll(const std::vector<GenTensor> &tensors,
                                      const TestDataOptions &options) {
  std::vector<SRDTensor> q;
  for (const GenTensor &t : tensors)
    q.push_back(
        quantizeSRD(t.name, t.rows, t.cols, t.weights, options.topKPct));
  return SRDTensorSet(std::move(q), options.alpha, "generated");
}

llvm::Expected<TestDataPaths>
gemmac::srd::writeTestData(llvm::StringRef dir,
                           const std::vector<GenTensor> &tensors,
                           const TestDataOptions &options) {
  for (const GenTensor &t : tensors)
    if (t.cols % kGroupSize || t.rows <= 0 ||
        t.weights.size() != size_t(t.rows * t.cols))
      return llvm::createStringError(
          llvm::inconvertibleErrorCode(),
          "tensor %s: shape [%lld, %lld] is not a positive multiple of 64 "
          "columns with rows*cols weights",
          t.name.c_str(), (long long)t.rows, (long long)t.cols);
  SRDTensorSet set = quantizeAll(tensors, options);
  auto path = [&](llvm::StringRef name) {
    llvm::SmallString<256> p(dir);
    llvm::sys::path::append(p, name);
    return std::string(p);
  };
  TestDataPaths out;
  out.srd4 = path("model.srd4");
  if (llvm::Error e = writeSRD4(set, out.srd4, {"", options.topKPct}))
    return std::move(e);

  AXMWriteOptions ao;
  ao.master = options.master;
  ao.topKPct = options.topKPct;
  for (ResidualLayout layout :
       {ResidualLayout::SRD4File, ResidualLayout::RealPack}) {
    ao.layout = layout;
    bool srd4 = layout == ResidualLayout::SRD4File;
    auto files = buildAXM(
        set, ao, srd4 ? &out.axmSrd4Fingerprint : &out.axmRealPackFingerprint);
    if (!files)
      return files.takeError();
    std::string zip = path(srd4 ? "model-srd4.axm" : "model-realpack.axm");
    std::string d = zip + ".d";
    if (llvm::Error e = writeAXMZip(*files, zip))
      return std::move(e);
    if (llvm::Error e = writeAXMDirectory(*files, d))
      return std::move(e);
    (srd4 ? out.axmSrd4Zip : out.axmRealPackZip) = zip;
    (srd4 ? out.axmSrd4Dir : out.axmRealPackDir) = d;
  }

  SealOptions so;
  so.master = options.master;
  so.signingSeed = options.signingSeed;
  so.shardBytes = options.shardBytes;
  so.sourceName = "generated";
  out.sealed = path("model.qrc");
  if (llvm::Error e = writeSealed(set, so, out.sealed))
    return std::move(e);
  return out;
}
