//===- AxiomKeys.cpp - the .axm signing keys ------------------------------===//

#include "formats/srd/AxiomKeys.h"

#include <cstdlib>

using namespace gemmac::srd;

static Digest deriveOne(llvm::StringRef master, llvm::StringRef label,
                        KeyDerivation how) {
  if (how == KeyDerivation::HmacLabel)
    return hmacSha256(bytesOf(label), bytesOf(master));
  std::string joined = (master + ":" + label).str();
  return sha256(bytesOf(joined));
}

AxiomKeys AxiomKeys::derive(llvm::StringRef master, KeyDerivation how) {
  AxiomKeys k;
  k.container = deriveOne(master, kContainerLabel, how);
  k.delegate = deriveOne(master, kDelegateLabel, how);
  k.proof = deriveOne(master, kProofLabel, how);
  return k;
}

llvm::Expected<AxiomKeys> AxiomKeys::fromEnvironment(llvm::StringRef envName,
                                                     KeyDerivation how) {
  const char *v = std::getenv(envName.str().c_str());
  if (!v || !*v)
    return llvm::createStringError(
        llvm::inconvertibleErrorCode(),
        "the .axm master key is not set: export " + envName.str() +
            " (the secret the container was signed with)");
  return derive(v, how);
}
