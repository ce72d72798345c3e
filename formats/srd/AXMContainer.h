//===- AXMContainer.h - Orivael .axm containers: verify, then read --------===//
//
// The container (quant-formats.md §5.2) is a ZIP or a directory:
//   header.json            signed with K_container
//   core/core.json         covered by the ledger
//   delegates/<n>/skill.json signed with K_delegate, covered by the ledger
//   trajectories/*.jsonl, vertices.json   records signed with K_proof
//   weights/...            residuals: one .srd4 file or the real-pack trio
//   weights/manifest.json  relative path -> SHA-256, covered by the ledger
//   proofs/ledger.jsonl    {subject, claim, file_sha, signature (K_proof)}
// verify() checks all of it and, unlike upstream's single boolean, reports
// every failure: the file, the check, and for a changed weight file the
// tensors it can be narrowed to. A wrong key is told apart from tampering:
// when no MAC verifies yet every file still matches its recorded SHA-256,
// the content is intact and the key is what differs.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "formats/srd/AxiomKeys.h"
#include "support/FileTree.h"
#include "formats/srd/SRDSupport.h"
#include "formats/srd/ResidualSource.h"

#include <memory>
#include <string>
#include <vector>

namespace gemmac::srd {

struct AXMFinding {
  std::string file;  // as FileTree::displayName
  std::string check; // "header MAC", "ledger SHA-256", "manifest SHA-256", ...
  std::string detail;
  /// Damaged tensors, when the change could be narrowed down.
  std::vector<std::string> tensors;
  std::string str() const;
};

struct AXMVerification {
  /// No MAC verified with the key. `findings` then holds only what the key
  /// cannot explain (files that differ from their recorded hashes).
  bool wrongKey = false;
  size_t macsChecked = 0;
  size_t macsValid = 0;
  std::vector<AXMFinding> findings;
  /// First 8 hex of HMAC(K_container, header signature); empty when the
  /// header cannot be read.
  std::string fingerprint;

  bool ok() const { return !wrongKey && findings.empty(); }
  /// Every failure in one error ("CONTAINER: ..." then one line each).
  llvm::Error toError(llvm::StringRef container) const;
};

class AXMContainer {
public:
  static llvm::Expected<std::unique_ptr<AXMContainer>>
  open(llvm::StringRef path);
  explicit AXMContainer(std::unique_ptr<FileTree> tree)
      : tree_(std::move(tree)) {}

  const FileTree &tree() const { return *tree_; }
  llvm::StringRef path() const { return tree_->rootName(); }

  AXMVerification verify(const AxiomKeys &keys) const;
  /// The residuals under weights/, unverified: a single *.srd4 file or the
  /// real-pack trio (srd_index.json, srd_packed.pt, srd_dense.pt).
  llvm::Expected<std::unique_ptr<ResidualSource>> residuals() const;
  /// verify(), and residuals() only when it passed; `fingerprint` receives
  /// the container's fingerprint.
  llvm::Expected<std::unique_ptr<ResidualSource>>
  verifiedResiduals(const AxiomKeys &keys,
                    std::string *fingerprint = nullptr) const;

private:
  std::unique_ptr<FileTree> tree_;
};

} // namespace gemmac::srd
