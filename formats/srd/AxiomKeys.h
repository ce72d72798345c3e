//===- AxiomKeys.h - the .axm signing keys ----------------------*- C++ -*-===//
//
// Orivael derives one key per purpose from a master secret (a string, in
// AXIOM_MASTER_KEY): K_label = HMAC-SHA256(key = label, msg = master UTF-8)
// with the labels below. One stored upstream revision of axiom_signing.py
// used SHA-256(master ":" label) instead; it is selectable for containers
// made with that revision, the default is the HMAC form the issue and
// quant-formats.md §5.2 describe.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "support/Crypto.h"
#include "formats/srd/SRDSupport.h"

namespace gemmac::srd {

enum class KeyDerivation { HmacLabel, Sha256Concat };

struct AxiomKeys {
  static constexpr llvm::StringLiteral kContainerLabel =
      "axiom-axm-container-v1";
  static constexpr llvm::StringLiteral kDelegateLabel = "axiom-axm-delegate-v1";
  static constexpr llvm::StringLiteral kProofLabel = "axiom-axm-proof-v1";
  static constexpr llvm::StringLiteral kDefaultEnv = "AXIOM_MASTER_KEY";

  Digest container{}; // header.json, route results
  Digest delegate{};  // delegates/*/skill.json
  Digest proof{};     // ledger, trajectories, vertices

  static AxiomKeys derive(llvm::StringRef master,
                          KeyDerivation how = KeyDerivation::HmacLabel);
  /// Reads the master secret from the environment variable `envName`; an
  /// unset or empty variable is an error naming it.
  static llvm::Expected<AxiomKeys>
  fromEnvironment(llvm::StringRef envName = kDefaultEnv,
                  KeyDerivation how = KeyDerivation::HmacLabel);
};

} // namespace gemmac::srd
