//===- AXMWriter.h - writes .axm containers as upstream packs them --------===//
//
// Mirrors axiom_axm.AXMContainer.pack(): core.json, an optional delegate,
// optional vertices and trajectories, weights/ with manifest.json, the
// signed header.json and the ledger, as a directory or a deflated ZIP. The
// residuals go in as a .srd4 file or as the real-pack trio (PyTorch
// checkpoints written by TorchSave). Files are kept in memory first so
// tests can alter one before writing.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "formats/srd/AxiomKeys.h"
#include "formats/srd/ResidualSource.h"

#include <functional>
#include <map>
#include <string>
#include <vector>

namespace gemmac::srd {

enum class ResidualLayout { SRD4File, RealPack };

struct AXMWriteOptions {
  std::string master; // the master secret
  KeyDerivation derivation = KeyDerivation::HmacLabel;
  ResidualLayout layout = ResidualLayout::SRD4File;
  std::string srd4Name = "model.srd4"; // under weights/ (SRD4File layout)
  double topKPct = 0.0;
  bool withDelegate = true; // delegates/summarize/skill.json
  bool withRecords = true;  // vertices.json, trajectories/history.jsonl
  std::string coreLogic = "gemma4_srd4";
};

/// Relative path -> bytes, in the order upstream writes them.
using AXMFiles = std::vector<std::pair<std::string, std::vector<uint8_t>>>;

/// Changes weights/ before the manifest is hashed and signed: a hostile pack
/// signed with the right key (tests of the readers behind the MACs).
using AlterWeights = std::function<void(AXMFiles &weights)>;

/// The container's files, signed. `fingerprint` receives its fingerprint.
llvm::Expected<AXMFiles> buildAXM(const ResidualSource &source,
                                  const AXMWriteOptions &options,
                                  std::string *fingerprint = nullptr,
                                  const AlterWeights &alterWeights = {});
/// The real-pack trio (plus config.json) for `weights/`.
llvm::Expected<AXMFiles> buildRealPack(const ResidualSource &source,
                                       double topKPct);

llvm::Error writeAXMDirectory(const AXMFiles &files, llvm::StringRef dir);
llvm::Error writeAXMZip(const AXMFiles &files, llvm::StringRef path);

} // namespace gemmac::srd
