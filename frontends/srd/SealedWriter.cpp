//===- SealedWriter.cpp - writes the sealed SRD container -----------------===//

#include "frontends/srd/SealedWriter.h"
#include "frontends/srd/PyJSON.h"
#include "frontends/srd/SRDError.h"
#include "frontends/srd/ZipWriter.h"

using namespace gemmac::srd;
using namespace gemmac::srd::sealed;
using llvm::Expected;

Expected<std::vector<uint8_t>>
gemmac::srd::sealResiduals(const ResidualSource &source,
                           const SealOptions &options) {
  auto tensors = source.tensors();
  for (size_t i = 0; i < tensors.size(); ++i) {
    if (!source.unusableRows(i).empty())
      return fileError(source.sourceName(), std::nullopt,
                       "tensor " + tensors[i].name +
                           " has damaged rows: refusing to seal them");
    if (tensors[i].name.size() >= kNameBytes)
      return fileError(source.sourceName(), std::nullopt,
                       "tensor name " + tensors[i].name +
                           " is longer than the 127 bytes a record holds");
  }
  Keys keys = Keys::derive(options.master);

  // Header: canonical JSON, so its bytes are reproducible.
  PyJSON residual = PyJSON::object();
  residual.set("encoding", PyJSON::string("SRD4"))
      .set("block_bytes", PyJSON::integer(kBlockBytes))
      .set("group_size", PyJSON::integer(kGroupSize))
      .set("alpha", PyJSON::number(source.alpha()))
      .set("apply", PyJSON::string("replace"))
      .set("formula", PyJSON::string("W' = S4*W4 + alpha*(S8*D8)"));
  PyJSON src = PyJSON::object();
  src.set("name", PyJSON::string(options.sourceName))
      .set("fingerprint", PyJSON::string(options.sourceFingerprint));
  PyJSON header = PyJSON::object();
  header.set("format", PyJSON::string("qrc"))
      .set("version", PyJSON::integer(kVersion))
      .set("residual", residual)
      .set("source", src)
      .set("shard_bytes",
           PyJSON::integer(static_cast<int64_t>(options.shardBytes)))
      .set("mac", PyJSON::string("HMAC-SHA256"))
      .set("kdf", PyJSON::string("HKDF-SHA256"))
      .set("signature",
           PyJSON::string(options.signingSeed ? "Ed25519" : "none"));
  std::string headerText = header.canonical();

  // Shards: whole rows, at most shardBytes (one row when a row is larger).
  std::vector<TensorRecord> records;
  std::vector<ShardRecord> shards;
  std::vector<uint8_t> payload;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const ResidualTensorInfo &t = tensors[i];
    TensorRecord rec;
    std::memcpy(rec.name, t.name.data(), t.name.size());
    rec.ne[0] = t.cols;
    rec.ne[1] = t.rows;
    rec.alpha = source.alpha();
    rec.payloadOff = payload.size();
    rec.firstShard = static_cast<uint32_t>(shards.size());
    uint64_t rowBytes = uint64_t(t.groupsPerRow()) * kBlockBytes;
    int64_t rowsPerShard = std::max<int64_t>(
        1, static_cast<int64_t>(options.shardBytes / rowBytes));
    if (uint64_t(rowsPerShard) * rowBytes > 0xFFFFFFFFull)
      rowsPerShard = std::max<int64_t>(1, 0xFFFFFFFFll / rowBytes);
    std::vector<SRDGroup> groups(t.groupsPerRow());
    for (int64_t r0 = 0; r0 < t.rows; r0 += rowsPerShard) {
      int64_t r1 = std::min(t.rows, r0 + rowsPerShard);
      ShardRecord sh;
      sh.offset = payload.size();
      sh.tensor = static_cast<uint32_t>(i);
      sh.rowBegin = r0;
      sh.rowEnd = r1;
      for (int64_t r = r0; r < r1; ++r) {
        if (llvm::Error e = source.readRow(i, r, groups))
          return std::move(e);
        size_t at = payload.size();
        payload.resize(at + rowBytes);
        for (size_t g = 0; g < groups.size(); ++g)
          encodeBlock(groups[g], payload.data() + at + g * kBlockBytes);
      }
      sh.length = static_cast<uint32_t>(payload.size() - sh.offset);
      sh.sha256 = sha256(
          llvm::ArrayRef<uint8_t>(payload.data() + sh.offset, sh.length));
      sh.tag = shardTag(keys.shard, shards.size(), sh);
      shards.push_back(sh);
    }
    rec.payloadLen = payload.size() - rec.payloadOff;
    rec.nShards = static_cast<uint32_t>(shards.size()) - rec.firstShard;
    records.push_back(rec);
    if (i + 1 < tensors.size())
      payload.resize(alignUp(payload.size()), 0);
  }

  Preamble p;
  p.flags = options.signingSeed ? kFlagSigned : 0;
  p.headerOff = kPreambleBytes;
  p.headerLen = headerText.size();
  p.manifestOff = alignUp(p.headerOff + p.headerLen);
  p.manifestLen =
      8 + records.size() * kEntryBytes + shards.size() * kShardBytes;
  p.shardsOff = alignUp(p.manifestOff + p.manifestLen);
  p.shardsLen = payload.size();
  p.trailerOff = alignUp(p.shardsOff + p.shardsLen);
  p.trailerLen = options.signingSeed ? kSignedTrailerBytes : kMacBytes;
  std::memcpy(p.keyId, keys.keyId, 16);
  if (options.baseDigest)
    std::memcpy(p.baseDigest, options.baseDigest->data(), 32);

  std::vector<uint8_t> out(p.trailerOff + p.trailerLen, 0);
  encodePreamble(p, out.data());
  std::memcpy(out.data() + p.headerOff, headerText.data(), headerText.size());
  uint8_t *m = out.data() + p.manifestOff;
  uint32_t counts[2] = {static_cast<uint32_t>(records.size()),
                        static_cast<uint32_t>(shards.size())};
  std::memcpy(m, counts, 8);
  for (size_t i = 0; i < records.size(); ++i)
    encodeTensor(records[i], m + 8 + i * kEntryBytes);
  for (size_t i = 0; i < shards.size(); ++i)
    encodeShard(shards[i],
                m + 8 + records.size() * kEntryBytes + i * kShardBytes);
  std::memcpy(out.data() + p.shardsOff, payload.data(), payload.size());

  std::vector<uint8_t> message(out.begin(), out.begin() + kPreambleBytes);
  message.insert(message.end(), out.begin() + p.headerOff,
                 out.begin() + p.headerOff + p.headerLen);
  message.insert(message.end(), out.begin() + p.manifestOff,
                 out.begin() + p.manifestOff + p.manifestLen);
  Digest mac = hmacSha256(keys.header, message);
  std::memcpy(out.data() + p.trailerOff, mac.data(), 32);
  if (options.signingSeed) {
    Ed25519PublicKey pub = ed25519PublicKey(*options.signingSeed);
    Ed25519Signature sig = ed25519Sign(*options.signingSeed, message);
    std::memcpy(out.data() + p.trailerOff + 32, pub.data(), 32);
    std::memcpy(out.data() + p.trailerOff + 64, sig.data(), 64);
  }
  return out;
}

llvm::Error gemmac::srd::writeSealed(const ResidualSource &source,
                                     const SealOptions &options,
                                     llvm::StringRef path) {
  auto bytes = sealResiduals(source, options);
  if (!bytes)
    return bytes.takeError();
  return writeFileBytes(path, *bytes);
}
