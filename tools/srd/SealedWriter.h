//===- SealedWriter.h - writes the sealed SRD container ---------*- C++ -*-===//
#pragma once

#include "formats/srd/ResidualSource.h"
#include "formats/srd/SealedFormat.h"

#include <optional>
#include <string>
#include <vector>

namespace gemmac::srd {

struct SealOptions {
  std::string master;                     // the HMAC master secret
  std::optional<Ed25519Seed> signingSeed; // adds an Ed25519 signature
  uint64_t shardBytes = 4u << 20;         // target shard size (whole rows)
  std::string sourceName;                 // recorded in the header
  std::string sourceFingerprint;          // e.g. the .axm fingerprint
  std::optional<Digest> baseDigest;       // SHA-256 of the base GGUF
};

/// Seals every tensor of `source`; refuses a source with unusable rows.
llvm::Expected<std::vector<uint8_t>> sealResiduals(const ResidualSource &source,
                                                   const SealOptions &options);
llvm::Error writeSealed(const ResidualSource &source,
                        const SealOptions &options, llvm::StringRef path);

} // namespace gemmac::srd
