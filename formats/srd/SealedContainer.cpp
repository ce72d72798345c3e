//===- SealedContainer.cpp - reads and verifies the sealed container ------===//

#include "formats/srd/SealedContainer.h"
#include "formats/srd/SRDSupport.h"
#include "support/BinaryReader.h"
#include "support/PyJSON.h"

#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FormatVariadic.h"

#include <algorithm>
#include <cmath>

using namespace gemmac::srd;
using namespace gemmac::srd::sealed;
using llvm::Error;
using llvm::Expected;
using llvm::StringRef;

std::string DamagedShard::str() const {
  return llvm::formatv("tensor {0} rows [{1}, {2}): shard {3} at offset {4} "
                       "({5} bytes): {6}",
                       tensor, rows.begin, rows.end, shard, fileOffset, length,
                       reason)
      .str();
}

Expected<std::unique_ptr<SealedContainer>>
SealedContainer::open(StringRef path, const SealedKeys &keys) {
  return openAs<SealedContainer>(path, keys);
}

Expected<std::unique_ptr<SealedContainer>>
SealedContainer::parse(std::unique_ptr<llvm::MemoryBuffer> buffer,
                       StringRef name, const SealedKeys &keys) {
  return parseAs<SealedContainer>(std::move(buffer), name, keys);
}

StringRef SealedContainer::header() const {
  return StringRef(reinterpret_cast<const char *>(base() + preamble_.headerOff),
                   preamble_.headerLen);
}

Error SealedContainer::parseAll(const SealedKeys &keys) {
  name_ = fileName().str();
  const uint64_t size = fileSize();
  const uint8_t *b = base();
  support::BinaryReader in = reader();
  if (size < kPreambleBytes)
    return error("truncated: " + llvm::Twine(size) +
                     " bytes, shorter than the 128-byte preamble",
                 0);
  if (std::memcmp(b, kMagic, 8) != 0)
    return error("bad magic: not a sealed SRD container", 0);
  Preamble &p = preamble_;
  decodePreamble(b, p);
  if (p.version != kVersion)
    return error("version " + llvm::Twine(p.version) + " is not supported", 8);

  // Sections in order, aligned, inside the file, the trailer last.
  struct Section {
    const char *what;
    uint64_t off, len;
  } sections[] = {{"header", p.headerOff, p.headerLen},
                  {"manifest", p.manifestOff, p.manifestLen},
                  {"shards", p.shardsOff, p.shardsLen},
                  {"trailer", p.trailerOff, p.trailerLen}};
  uint64_t prevEnd = kPreambleBytes;
  for (const Section &s : sections) {
    if (s.off % kAlign || s.off < prevEnd || !in.contains(s.off, s.len))
      return error(llvm::formatv("preamble: {0} section [{1}, +{2}) is "
                                 "misplaced (file size {3}): the file is "
                                 "truncated or its preamble was changed",
                                 s.what, s.off, s.len, size)
                       .str(),
                   16);
    prevEnd = s.off + s.len;
  }
  bool isSigned = p.flags & kFlagSigned;
  if (p.trailerLen != (isSigned ? kSignedTrailerBytes : kMacBytes) ||
      p.trailerOff + p.trailerLen != size)
    return error(
        "preamble: the trailer is not the file's last " +
            llvm::Twine(isSigned ? kSignedTrailerBytes : kMacBytes) +
            " bytes: the file is truncated or its preamble was changed",
        64);

  auto k = authenticate(keys);
  if (!k)
    return k.takeError();
  if (Error e = readHeader())
    return e;
  return readManifest(*k);
}

/// Checks the trailer over preamble || header || manifest (the HMAC with the
/// master key, the Ed25519 signature with a trusted public key) before any
/// of it is read; the derived keys verify the shard tags afterwards.
Expected<std::optional<Keys>>
SealedContainer::authenticate(const SealedKeys &keys) {
  const uint8_t *b = base();
  const Preamble &p = preamble_;
  bool isSigned = p.flags & kFlagSigned;
  std::vector<uint8_t> message(b, b + kPreambleBytes);
  message.insert(message.end(), b + p.headerOff, b + p.headerOff + p.headerLen);
  message.insert(message.end(), b + p.manifestOff,
                 b + p.manifestOff + p.manifestLen);
  const uint8_t *trailer = b + p.trailerOff;
  if (!keys.master && !keys.publicKey)
    return error("no key to verify with: give the master key or a trusted "
                 "Ed25519 public key");
  std::optional<Keys> k;
  if (keys.master) {
    k = Keys::derive(*keys.master);
    if (!constantTimeEqual(llvm::ArrayRef<uint8_t>(k->keyId, 16),
                           llvm::ArrayRef<uint8_t>(p.keyId, 16)))
      return error("wrong key: the master key's key id " +
                       toHex(llvm::ArrayRef<uint8_t>(k->keyId, 16)) +
                       " is not the container's " +
                       toHex(llvm::ArrayRef<uint8_t>(p.keyId, 16)) +
                       " (the container was sealed with another key, or its "
                       "key id was altered)",
                   80);
    Digest mac = hmacSha256(k->header, message);
    if (!constantTimeEqual(mac, llvm::ArrayRef<uint8_t>(trailer, kMacBytes)))
      return error("trailer MAC mismatch: the preamble, header or manifest "
                   "(with the shard table) changed after sealing; nothing in "
                   "the file can be trusted, so damage cannot be located",
                   p.trailerOff);
  }
  if (keys.publicKey) {
    if (!isSigned)
      return error("the container is not signed, so a public key cannot "
                   "verify it");
    Ed25519PublicKey embedded;
    std::memcpy(embedded.data(), trailer + kMacBytes, 32);
    if (embedded != *keys.publicKey)
      return error("signed by a different key (" + toHex(embedded) +
                       ") than the trusted one (" + toHex(*keys.publicKey) +
                       ")",
                   p.trailerOff + kMacBytes);
    Ed25519Signature sig;
    std::memcpy(sig.data(), trailer + kMacBytes + 32, 64);
    if (!ed25519Verify(*keys.publicKey, message, sig))
      return error("Ed25519 signature does not verify: the preamble, header "
                   "or manifest changed after signing; nothing in the file can "
                   "be trusted, so damage cannot be located",
                   p.trailerOff + kMacBytes + 32);
  }
  fingerprint_ = toHex(sha256(message)).substr(0, 16);
  return k;
}

/// The header JSON: its format and the alpha it asks for.
Error SealedContainer::readHeader() {
  const Preamble &p = preamble_;
  // From here on the bytes are authentic: a violation is a sealer bug.
  auto hdr = PyJSON::parse(header());
  if (!hdr)
    return error("header is not valid JSON: " + llvm::toString(hdr.takeError()),
                 p.headerOff);
  const PyJSON *fmt = hdr->get("format");
  if (!fmt || fmt->text() != "qrc")
    return error("header: \"format\" is not \"qrc\"", p.headerOff);
  if (const PyJSON *res = hdr->get("residual"))
    if (const PyJSON *a = res->get("alpha")) {
      if (a->kind() == PyJSON::Kind::Float)
        alpha_ = static_cast<float>(a->asFloat());
      else if (double d; a->kind() == PyJSON::Kind::Int &&
                         !StringRef(a->text()).getAsDouble(d))
        alpha_ = static_cast<float>(d);
    }
  return Error::success();
}

/// The manifest's tensor and shard records, each shard checked against them,
/// and the unauthenticated padding.
Error SealedContainer::readManifest(const std::optional<Keys> &k) {
  const uint8_t *b = base();
  const Preamble &p = preamble_;
  support::BinaryReader in = reader();
  if (p.manifestLen < 8)
    return error("manifest shorter than its 8-byte count", p.manifestOff);
  uint32_t nEntries = in.at<uint32_t>(p.manifestOff);
  uint32_t nShards = in.at<uint32_t>(p.manifestOff + 4);
  if (p.manifestLen !=
      8 + uint64_t(nEntries) * kEntryBytes + uint64_t(nShards) * kShardBytes)
    return error("manifest length does not match its counts", p.manifestOff);
  const uint8_t *entryAt = b + p.manifestOff + 8;
  const uint8_t *shardAt = entryAt + uint64_t(nEntries) * kEntryBytes;
  shards_.resize(nShards);
  for (uint32_t i = 0; i < nShards; ++i)
    decodeShard(shardAt + i * kShardBytes, shards_[i]);

  llvm::StringSet<> names;
  uint32_t nextShard = 0;
  uint64_t nextPayload = 0;
  std::vector<std::pair<uint64_t, uint64_t>> padding; // file ranges
  for (uint32_t i = 0; i < nEntries; ++i) {
    TensorRecord t;
    decodeTensor(entryAt + i * kEntryBytes, t);
    uint64_t recAt = p.manifestOff + 8 + uint64_t(i) * kEntryBytes;
    size_t len = strnlen(t.name, kNameBytes);
    if (len == 0 || len == kNameBytes)
      return error("tensor record " + llvm::Twine(i) + ": bad name", recAt);
    std::string name(t.name, len);
    if (!names.insert(name).second)
      return error("duplicate tensor " + name, recAt);
    int64_t cols = static_cast<int64_t>(t.ne[0]),
            rows = static_cast<int64_t>(t.ne[1]);
    if (t.encoding != kEncodingSRD4 || t.nDims != 2 || t.ne[0] == 0 ||
        t.ne[1] == 0 || t.ne[0] >= (1ull << 31) || t.ne[1] >= (1ull << 31) ||
        t.ne[0] % kGroupSize)
      return error("tensor " + name + ": unsupported encoding or shape", recAt);
    uint64_t rowBytes = uint64_t(cols / kGroupSize) * kBlockBytes;
    if (t.payloadLen != rowBytes * rows || t.payloadOff != nextPayload ||
        t.payloadOff + t.payloadLen > p.shardsLen)
      return error("tensor " + name + ": payload misplaced", recAt);
    if (t.firstShard != nextShard || t.nShards == 0 ||
        t.nShards > nShards - t.firstShard)
      return error("tensor " + name + ": shard range misplaced", recAt);
    uint64_t row = 0, off = t.payloadOff;
    for (uint32_t s = t.firstShard; s < t.firstShard + t.nShards; ++s) {
      const ShardRecord &sh = shards_[s];
      if (sh.tensor != i || sh.rowBegin != row || sh.rowEnd <= sh.rowBegin ||
          sh.rowEnd > uint64_t(rows) || sh.offset != off ||
          sh.length != (sh.rowEnd - sh.rowBegin) * rowBytes)
        return error("shard " + llvm::Twine(s) + " of tensor " + name +
                         " does not continue its rows",
                     recAt);
      row = sh.rowEnd;
      off += sh.length;
    }
    if (row != uint64_t(rows))
      return error("tensor " + name + ": shards do not cover every row", recAt);
    nextShard = t.firstShard + t.nShards;
    uint64_t end = t.payloadOff + t.payloadLen;
    nextPayload = alignUp(end);
    padding.push_back(
        {p.shardsOff + end, p.shardsOff + std::min(nextPayload, p.shardsLen)});
    tensors_.push_back({name, rows, cols});
    records_.push_back(t);
  }
  if (nextShard != nShards)
    return error("shard table holds shards no tensor owns", p.manifestOff);

  // Shards against the authenticated table.
  for (uint32_t s = 0; s < nShards; ++s) {
    const ShardRecord &sh = shards_[s];
    llvm::ArrayRef<uint8_t> bytes(b + p.shardsOff + sh.offset, sh.length);
    std::string reason;
    if (sha256(bytes) != sh.sha256)
      reason = "SHA-256 of its bytes differs from the table's";
    else if (k && !constantTimeEqual(shardTag(k->shard, s, sh), sh.tag))
      reason = "its tag does not verify";
    if (!reason.empty())
      damaged_.push_back({s,
                          sh.tensor,
                          tensors_[sh.tensor].name,
                          {int64_t(sh.rowBegin), int64_t(sh.rowEnd)},
                          p.shardsOff + sh.offset,
                          sh.length,
                          reason});
  }

  // Padding is unauthenticated; sealed files keep it zero.
  padding.push_back({p.headerOff + p.headerLen, p.manifestOff});
  padding.push_back({p.manifestOff + p.manifestLen, p.shardsOff});
  padding.push_back({p.shardsOff + p.shardsLen, p.trailerOff});
  for (auto [from, to] : padding)
    for (uint64_t i = from; i < to; ++i)
      if (b[i]) {
        notes_.push_back(llvm::formatv("padding byte at offset {0} is not zero "
                                       "(outside every shard: no correction "
                                       "is affected)",
                                       i)
                             .str());
        break;
      }
  return Error::success();
}

std::optional<Digest> SealedContainer::baseDigest() const {
  Digest d;
  std::memcpy(d.data(), preamble_.baseDigest, 32);
  if (d == Digest{})
    return std::nullopt;
  return d;
}

Error SealedContainer::checkBase(StringRef ggufPath) const {
  std::optional<Digest> want = baseDigest();
  if (!want)
    return Error::success();
  auto got = sha256File(ggufPath);
  if (!got)
    return got.takeError();
  if (*got != *want)
    return error("sealed for the base GGUF with SHA-256 " + toHex(*want) +
                 ", but " + ggufPath + " has " + toHex(*got) +
                 ": its residuals must not be applied to another base");
  return Error::success();
}

std::vector<RowRange> SealedContainer::unusableRows(size_t index) const {
  std::vector<RowRange> out;
  for (const DamagedShard &d : damaged_)
    if (d.tensorIndex == index)
      out.push_back(d.rows);
  return out;
}

Error SealedContainer::readRow(size_t index, int64_t row,
                               llvm::MutableArrayRef<SRDGroup> out) const {
  const ResidualTensorInfo &t = tensors_[index];
  if (row < 0 || row >= t.rows)
    return error("tensor " + t.name + ": row " + llvm::Twine(row) +
                 " out of range");
  if (out.size() != static_cast<size_t>(t.groupsPerRow()))
    return error("tensor " + t.name + ": wrong group buffer size");
  for (const DamagedShard &d : damaged_)
    if (d.tensorIndex == index && row >= d.rows.begin && row < d.rows.end)
      return error("tensor " + t.name + " row " + llvm::Twine(row) +
                   " lies in a damaged shard: " + d.str());
  const uint8_t *p = base() + preamble_.shardsOff + records_[index].payloadOff +
                     uint64_t(row) * t.groupsPerRow() * kBlockBytes;
  for (int64_t g = 0; g < t.groupsPerRow(); ++g)
    decodeBlock(p + g * kBlockBytes, out[g]);
  return Error::success();
}

Error SealedContainer::damageError() const {
  if (damaged_.empty())
    return Error::success();
  std::string msg = name_ + ": " + std::to_string(damaged_.size()) +
                    " damaged shard(s); their rows would go uncorrected "
                    "(--allow-partial folds the rest):";
  for (const DamagedShard &d : damaged_)
    msg += "\n  " + d.str();
  return llvm::createStringError(llvm::inconvertibleErrorCode(), msg);
}
