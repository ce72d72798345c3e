//===- SealedWriter.cpp - writes the sealed SRD container -----------------===//
//
// The layout is computed from the shapes first, so the shards can be
// streamed one at a time (a 12B model's SRD blocks are ~20 GB); the
// manifest, which holds every shard's digest, and the trailer are written
// last, into the places the layout reserved for them.
//
//===----------------------------------------------------------------------===//

#include "tools/srd/SealedWriter.h"
#include "formats/srd/SRDSupport.h"
#include "support/BinaryReader.h"
#include "support/PyJSON.h"
#include "tools/srd/ZipWriter.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

using namespace gemmac::srd;
using namespace gemmac::srd::sealed;
using llvm::Error;
using llvm::Expected;

namespace {

/// Where the sealed bytes go: positioned writes.
class Sink {
public:
  virtual ~Sink() = default;
  virtual void write(uint64_t offset, llvm::ArrayRef<uint8_t> bytes) = 0;
};

class VectorSink : public Sink {
public:
  explicit VectorSink(uint64_t size) : bytes(size, 0) {}
  void write(uint64_t offset, llvm::ArrayRef<uint8_t> b) override {
    std::memcpy(bytes.data() + offset, b.data(), b.size());
  }
  std::vector<uint8_t> bytes;
};

class FileSink : public Sink {
public:
  explicit FileSink(llvm::raw_fd_ostream &os) : os(os) {}
  void write(uint64_t offset, llvm::ArrayRef<uint8_t> b) override {
    os.seek(offset);
    os.write(reinterpret_cast<const char *>(b.data()), b.size());
  }
  llvm::raw_fd_ostream &os;
};

std::string headerText(const ResidualSource &source, const SealOptions &o) {
  PyJSON residual = PyJSON::object();
  residual.set("encoding", PyJSON::string("SRD4"))
      .set("block_bytes", PyJSON::integer(kBlockBytes))
      .set("group_size", PyJSON::integer(kGroupSize))
      .set("alpha", PyJSON::number(source.alpha()))
      .set("apply", PyJSON::string("replace"))
      .set("formula", PyJSON::string("W' = S4*W4 + alpha*(S8*D8)"));
  PyJSON src = PyJSON::object();
  src.set("name", PyJSON::string(o.sourceName))
      .set("fingerprint", PyJSON::string(o.sourceFingerprint));
  PyJSON header = PyJSON::object();
  header.set("format", PyJSON::string("qrc"))
      .set("version", PyJSON::integer(kVersion))
      .set("residual", residual)
      .set("source", src)
      .set("shard_bytes", PyJSON::integer(static_cast<int64_t>(o.shardBytes)))
      .set("mac", PyJSON::string("HMAC-SHA256"))
      .set("kdf", PyJSON::string("HKDF-SHA256"))
      .set("signature", PyJSON::string(o.signingSeed ? "Ed25519" : "none"));
  // Canonical, so the bytes are reproducible.
  return header.canonical();
}

/// Everything but the shard digests, from the shapes alone.
struct Layout {
  Preamble preamble;
  std::string header;
  std::vector<TensorRecord> records;
  std::vector<ShardRecord> shards; // digests filled while streaming
  uint64_t fileSize = 0;
};

Expected<Layout> plan(const ResidualSource &source, const SealOptions &o) {
  Layout L;
  auto tensors = source.tensors();
  uint64_t payload = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const ResidualTensorInfo &t = tensors[i];
    if (!source.unusableRows(i).empty())
      return fileError(source.sourceName(), std::nullopt,
                       "tensor " + t.name +
                           " has damaged rows: refusing to seal them");
    if (t.name.size() >= kNameBytes)
      return fileError(source.sourceName(), std::nullopt,
                       "tensor name " + t.name +
                           " is longer than the 127 bytes a record holds");
    TensorRecord rec;
    std::memcpy(rec.name, t.name.data(), t.name.size());
    rec.ne[0] = t.cols;
    rec.ne[1] = t.rows;
    rec.alpha = source.alpha();
    rec.payloadOff = payload;
    rec.firstShard = static_cast<uint32_t>(L.shards.size());
    // Shards of whole rows, at most shardBytes (one row when a row is
    // larger) and below 4 GiB (the record's u32 length).
    uint64_t rowBytes = uint64_t(t.groupsPerRow()) * kBlockBytes;
    uint64_t rowsPerShard = std::max<uint64_t>(1, o.shardBytes / rowBytes);
    rowsPerShard = std::min<uint64_t>(
        rowsPerShard, std::max<uint64_t>(1, 0xFFFFFFFFull / rowBytes));
    if (rowBytes > 0xFFFFFFFFull)
      return fileError(source.sourceName(), std::nullopt,
                       "tensor " + t.name + ": one row exceeds 4 GiB");
    for (uint64_t r0 = 0; r0 < uint64_t(t.rows); r0 += rowsPerShard) {
      ShardRecord sh;
      sh.offset = payload;
      sh.tensor = static_cast<uint32_t>(i);
      sh.rowBegin = r0;
      sh.rowEnd = std::min<uint64_t>(t.rows, r0 + rowsPerShard);
      sh.length = static_cast<uint32_t>((sh.rowEnd - sh.rowBegin) * rowBytes);
      payload += sh.length;
      L.shards.push_back(sh);
    }
    rec.payloadLen = payload - rec.payloadOff;
    rec.nShards = static_cast<uint32_t>(L.shards.size()) - rec.firstShard;
    L.records.push_back(rec);
    if (i + 1 < tensors.size())
      payload = alignUp(payload);
  }
  L.header = headerText(source, o);
  Preamble &p = L.preamble;
  p.flags = o.signingSeed ? kFlagSigned : 0;
  p.headerOff = kPreambleBytes;
  p.headerLen = L.header.size();
  p.manifestOff = alignUp(p.headerOff + p.headerLen);
  p.manifestLen =
      8 + L.records.size() * kEntryBytes + L.shards.size() * kShardBytes;
  p.shardsOff = alignUp(p.manifestOff + p.manifestLen);
  p.shardsLen = payload;
  p.trailerOff = alignUp(p.shardsOff + p.shardsLen);
  p.trailerLen = o.signingSeed ? kSignedTrailerBytes : kMacBytes;
  if (o.baseDigest)
    std::memcpy(p.baseDigest, o.baseDigest->data(), 32);
  L.fileSize = p.trailerOff + p.trailerLen;
  return L;
}

Error seal(const ResidualSource &source, const SealOptions &o, Layout &L,
           Sink &sink) {
  Keys keys = Keys::derive(o.master);
  Preamble &p = L.preamble;
  std::memcpy(p.keyId, keys.keyId, 16);
  auto tensors = source.tensors();

  // Shards, streamed.
  std::vector<uint8_t> buf;
  std::vector<SRDGroup> groups;
  for (uint32_t s = 0; s < L.shards.size(); ++s) {
    ShardRecord &sh = L.shards[s];
    const ResidualTensorInfo &t = tensors[sh.tensor];
    groups.resize(t.groupsPerRow());
    buf.resize(sh.length);
    uint64_t rowBytes = uint64_t(t.groupsPerRow()) * kBlockBytes;
    for (uint64_t r = sh.rowBegin; r < sh.rowEnd; ++r) {
      if (Error e = source.readRow(sh.tensor, r, groups))
        return e;
      uint8_t *dst = buf.data() + (r - sh.rowBegin) * rowBytes;
      for (size_t g = 0; g < groups.size(); ++g)
        encodeBlock(groups[g], dst + g * kBlockBytes);
    }
    sh.sha256 = sha256(buf);
    sh.tag = shardTag(keys.shard, s, sh);
    sink.write(p.shardsOff + sh.offset, buf);
  }

  // Preamble, header and manifest, then the trailer over them.
  std::vector<uint8_t> message(kPreambleBytes);
  encodePreamble(p, message.data());
  message.insert(message.end(), L.header.begin(), L.header.end());
  std::vector<uint8_t> manifest(p.manifestLen);
  uint32_t counts[2] = {static_cast<uint32_t>(L.records.size()),
                        static_cast<uint32_t>(L.shards.size())};
  std::memcpy(manifest.data(), counts, 8);
  for (size_t i = 0; i < L.records.size(); ++i)
    encodeTensor(L.records[i], manifest.data() + 8 + i * kEntryBytes);
  uint8_t *table = manifest.data() + 8 + L.records.size() * kEntryBytes;
  for (size_t i = 0; i < L.shards.size(); ++i)
    encodeShard(L.shards[i], table + i * kShardBytes);
  message.insert(message.end(), manifest.begin(), manifest.end());

  sink.write(0, llvm::ArrayRef<uint8_t>(message).take_front(kPreambleBytes +
                                                            p.headerLen));
  sink.write(p.manifestOff, manifest);
  std::vector<uint8_t> trailer(p.trailerLen);
  Digest mac = hmacSha256(keys.header, message);
  std::memcpy(trailer.data(), mac.data(), 32);
  if (o.signingSeed) {
    Ed25519PublicKey pub = ed25519PublicKey(*o.signingSeed);
    Ed25519Signature sig = ed25519Sign(*o.signingSeed, message);
    std::memcpy(trailer.data() + 32, pub.data(), 32);
    std::memcpy(trailer.data() + 64, sig.data(), 64);
  }
  sink.write(p.trailerOff, trailer);
  return Error::success();
}

} // namespace

Expected<std::vector<uint8_t>>
gemmac::srd::sealResiduals(const ResidualSource &source,
                           const SealOptions &options) {
  auto layout = plan(source, options);
  if (!layout)
    return layout.takeError();
  VectorSink sink(layout->fileSize);
  if (Error e = seal(source, options, *layout, sink))
    return std::move(e);
  return std::move(sink.bytes);
}

Error gemmac::srd::writeSealed(const ResidualSource &source,
                               const SealOptions &options,
                               llvm::StringRef path) {
  auto layout = plan(source, options);
  if (!layout)
    return layout.takeError();
  return writeFileWith(path, [&](llvm::raw_fd_ostream &os) {
    // The file is truncated on open; bytes never written (the padding) read
    // as zero, and the trailer written last sets the size.
    FileSink sink(os);
    return seal(source, options, *layout, sink);
  });
}
