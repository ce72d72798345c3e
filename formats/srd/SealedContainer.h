//===- SealedContainer.h - reads and verifies the sealed container --------===//
//
// Opening authenticates the preamble, header and manifest (the trailer's
// HMAC with the master key, or its Ed25519 signature with a trusted public
// key); if that fails nothing in the file is trusted and open() fails, with
// a wrong key told apart from a forged table. The shards are then checked
// one by one against the authenticated table: every damaged shard is
// reported with its tensor and row range, and its rows are marked unusable,
// so a caller may refuse (the default) or fold the undamaged corrections
// only (--allow-partial).
//
//===----------------------------------------------------------------------===//
#pragma once

#include "formats/srd/ResidualSource.h"
#include "formats/srd/SealedFormat.h"
#include "support/BinaryReader.h"

#include <memory>
#include <optional>

namespace gemmac::srd {

struct SealedKeys {
  /// The master secret (HMAC verification).
  std::optional<std::string> master;
  /// A trusted Ed25519 public key (public verification).
  std::optional<Ed25519PublicKey> publicKey;
};

struct DamagedShard {
  uint32_t shard = 0;
  size_t tensorIndex = 0;
  std::string tensor;
  RowRange rows;
  uint64_t fileOffset = 0;
  uint64_t length = 0;
  std::string reason;
  std::string str() const;
};

class SealedContainer : public ResidualSource, public support::MappedFile {
public:
  static llvm::Expected<std::unique_ptr<SealedContainer>>
  open(llvm::StringRef path, const SealedKeys &keys);
  static llvm::Expected<std::unique_ptr<SealedContainer>>
  parse(std::unique_ptr<llvm::MemoryBuffer> buffer, llvm::StringRef name,
        const SealedKeys &keys);

  llvm::Error readRow(size_t index, int64_t row,
                      llvm::MutableArrayRef<SRDGroup> out) const override;
  std::vector<RowRange> unusableRows(size_t index) const override;

  llvm::ArrayRef<DamagedShard> damagedShards() const { return damaged_; }
  /// Changed bytes outside every shard (alignment padding): harmless to the
  /// corrections, reported so nothing goes unnoticed.
  llvm::ArrayRef<std::string> notes() const { return notes_; }
  /// Succeeds when no shard is damaged; else one error listing each.
  llvm::Error damageError() const;
  /// First 16 hex of SHA-256 over the authenticated bytes (preamble, header,
  /// manifest): what the compiled artifact records.
  llvm::StringRef fingerprint() const { return fingerprint_; }
  bool isSigned() const { return preamble_.flags & sealed::kFlagSigned; }
  const sealed::Preamble &preamble() const { return preamble_; }
  /// The canonical header JSON.
  llvm::StringRef header() const;
  /// The SHA-256 of the base GGUF the residuals were sealed for, if bound.
  std::optional<Digest> baseDigest() const;
  /// Refuses a base GGUF other than the bound one (§5.5 step 3): residuals
  /// must never be applied to a different base. Succeeds when unbound.
  llvm::Error checkBase(llvm::StringRef ggufPath) const;

private:
  friend class support::MappedFile;
  SealedContainer() = default;
  llvm::Error parseAll(const SealedKeys &keys);
  llvm::Expected<std::optional<sealed::Keys>>
  authenticate(const SealedKeys &keys);
  llvm::Error readHeader();
  llvm::Error readManifest(const std::optional<sealed::Keys> &k);

  sealed::Preamble preamble_;
  std::vector<sealed::TensorRecord> records_;
  std::vector<sealed::ShardRecord> shards_;
  std::vector<DamagedShard> damaged_;
  std::vector<std::string> notes_;
  std::string fingerprint_;
};

} // namespace gemmac::srd
