//===- SRD4Writer.h - writes .srd4 sidecars ---------------------*- C++ -*-===//
#pragma once

#include "formats/srd/ResidualSource.h"

#include <vector>

namespace gemmac::srd {

struct SRD4WriteOptions {
  std::string fingerprint; // upstream records the .axm's
  double topKPct = 0.0;    // recorded only
};

/// The sidecar's bytes: header JSON as upstream's json.dumps(indent=2), then
/// every tensor's blocks in order.
llvm::Expected<std::vector<uint8_t>>
writeSRD4Bytes(const ResidualSource &source,
               const SRD4WriteOptions &options = {});
llvm::Error writeSRD4(const ResidualSource &source, llvm::StringRef path,
                      const SRD4WriteOptions &options = {});

} // namespace gemmac::srd
