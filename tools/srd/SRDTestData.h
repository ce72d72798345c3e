//===- SRDTestData.h - writes every residual format from float weights ----===//
//
// Given tensors (HF name, [out, in], float rows), quantizes them with SRD and
// writes the .srd4 sidecar, the .axm container (ZIP and directory, with the
// .srd4 inside and with the real-pack trio) and the sealed container, all
// signed with one master key. The reference W' of each tensor is what
// SRDTensorSet::correctedTensor returns; every reader must reproduce it
// bit for bit.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "support/Crypto.h"
#include "formats/srd/SRDSupport.h"
#include "tools/srd/SRDQuantizer.h"

#include <optional>
#include <string>
#include <vector>

namespace gemmac::srd {

struct GenTensor {
  std::string name; // HF module name
  int64_t rows = 0;
  int64_t cols = 0;           // a multiple of 64
  std::vector<float> weights; // rows * cols, row-major
};

/// Deterministic pseudo-random Gaussian-ish weights (an LCG, so every
/// platform writes the same files).
GenTensor randomTensor(std::string name, int64_t rows, int64_t cols,
                       uint64_t seed, float scale = 0.05f);

struct TestDataOptions {
  std::string master = "gemmac-test-master-key";
  float alpha = 1.0f;
  double topKPct = 0.0; // 0 = "SRD-4"
  std::optional<Ed25519Seed> signingSeed;
  uint64_t shardBytes = 4u << 20;
};

struct TestDataPaths {
  std::string srd4;                   // model.srd4
  std::string axmSrd4Zip;             // model-srd4.axm
  std::string axmSrd4Dir;             // model-srd4.axm.d/
  std::string axmRealPackZip;         // model-realpack.axm
  std::string axmRealPackDir;         // model-realpack.axm.d/
  std::string sealed;                 // model.qrc
  std::string axmSrd4Fingerprint;     // of model-srd4.axm(.d)
  std::string axmRealPackFingerprint; // of model-realpack.axm(.d)
};

/// Quantizes `tensors` once and writes every format under `dir`.
llvm::Expected<TestDataPaths>
writeTestData(llvm::StringRef dir, const std::vector<GenTensor> &tensors,
              const TestDataOptions &options);
/// The quantized set the files hold (the reference for W').
SRDTensorSet quantizeAll(const std::vector<GenTensor> &tensors,
                         const TestDataOptions &options);

} // namespace gemmac::srd
