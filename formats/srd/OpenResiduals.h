//===- OpenResiduals.h - one entry point for every residual format --------===//
//
// What `compile-model --srd PATH` needs: recognise the file (an .axm
// directory or ZIP, a .srd4 sidecar, a sealed container), verify its
// provenance with the configured keys before anything is folded, and hand
// back the corrections with the fingerprint to record. Verification
// failures are errors; --allow-partial turns damaged sealed shards into
// warnings naming the rows that stay uncorrected.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "formats/srd/AxiomKeys.h"
#include "formats/srd/ResidualSource.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace gemmac::srd {

enum class ResidualFormat { SRD4, AXM, Sealed };

struct ResidualOpenOptions {
  /// The environment variable holding the master secret (--srd-key-env).
  std::string keyEnv = AxiomKeys::kDefaultEnv.str();
  /// The master secret itself; overrides keyEnv (tests).
  std::optional<std::string> master;
  /// A trusted Ed25519 key for sealed containers (public verification).
  std::optional<Ed25519PublicKey> publicKey;
  bool allowPartial = false;
  KeyDerivation derivation = KeyDerivation::HmacLabel;
};

struct OpenedResiduals {
  ResidualFormat format = ResidualFormat::SRD4;
  std::unique_ptr<ResidualSource> source;
  /// .axm: first 8 hex of HMAC(K_container, header signature); sealed: first
  /// 16 hex of SHA-256 of its authenticated bytes; .srd4: empty (unsigned).
  std::string fingerprint;
  /// Things the user should see that do not stop the compile.
  std::vector<std::string> warnings;
};

llvm::Expected<ResidualFormat> detectResidualFormat(llvm::StringRef path);
llvm::Expected<OpenedResiduals>
openResiduals(llvm::StringRef path, const ResidualOpenOptions &options);

} // namespace gemmac::srd
