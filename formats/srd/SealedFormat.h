//===- SealedFormat.h - byte layout of gemmac's sealed SRD container ------===//
//
// The sealed container ("QRC", quant-formats.md §5.5, adapted to SRD; the
// full layout is in docs/srd.md). Little-endian, every section 64-aligned:
//
//   preamble   128 bytes (below)
//   header     canonical JSON
//   manifest   u32 n_entries, u32 n_shards,
//              n_entries x 208-byte tensor records, n_shards x 96-byte shard
//              records
//   shards     each tensor's SRD blocks (104 bytes per 64 weights, row-major
//              over (row, group)), cut into shards of whole rows
//   trailer    HMAC-SHA256(K_hdr, preamble || header || manifest) [32]
//              + optional Ed25519 public key [32] and signature [64] over the
//              same bytes
//
// Each shard record carries the SHA-256 of its bytes and a tag
// HMAC-SHA256(K_shard, "QRC1" || u64 index || u64 offset || u32 length ||
// u32 tensor || u64 row_begin || u64 row_end || sha256). The trailer
// authenticates the table; the table locates damage to a tensor's rows.
//
// Keys from the master secret M: key_id = HMAC-SHA256("qrc/v1/key-id", M)
// [0..16), K_hdr = HKDF-SHA256(M, salt = key_id, info = "qrc/v1/header"),
// K_shard = HKDF-SHA256(M, salt = key_id, info = "qrc/v1/shard").
//
//===----------------------------------------------------------------------===//
#pragma once

#include "support/Crypto.h"
#include "formats/srd/SRDSupport.h"

#include <cstdint>
#include <cstring>

namespace gemmac::srd::sealed {

constexpr uint8_t kMagic[8] = {'Q', 'R', 'C', 0, 1, 0, 0, 0};
constexpr uint32_t kVersion = 1;
constexpr uint32_t kFlagSigned = 1;
constexpr uint64_t kAlign = 64;
constexpr uint64_t kPreambleBytes = 128;
constexpr uint64_t kNameBytes = 128;
constexpr uint64_t kEntryBytes = 208;
constexpr uint64_t kShardBytes = 96;
constexpr uint64_t kMacBytes = 32;
constexpr uint64_t kSignedTrailerBytes = 32 + 32 + 64;
constexpr uint32_t kEncodingSRD4 = 1; // 104-byte SRD blocks

struct Preamble {
  uint32_t version = kVersion;
  uint32_t flags = 0;
  uint64_t headerOff = 0, headerLen = 0;
  uint64_t manifestOff = 0, manifestLen = 0;
  uint64_t shardsOff = 0, shardsLen = 0;
  uint64_t trailerOff = 0, trailerLen = 0;
  uint8_t keyId[16] = {};
  uint8_t baseDigest[32] = {}; // zero: not bound to a base GGUF
};

struct TensorRecord {
  char name[kNameBytes] = {};
  uint32_t encoding = kEncodingSRD4;
  uint32_t nDims = 2;
  uint64_t ne[4] = {1, 1, 1, 1}; // ne[0] = in features, ne[1] = out features
  uint64_t payloadOff = 0;       // relative to shardsOff
  uint64_t payloadLen = 0;
  uint32_t firstShard = 0;
  uint32_t nShards = 0;
  float alpha = 1.0f;
};

struct ShardRecord {
  uint64_t offset = 0; // relative to shardsOff
  uint32_t length = 0;
  uint32_t tensor = 0;
  uint64_t rowBegin = 0;
  uint64_t rowEnd = 0;
  Digest sha256{};
  Digest tag{};
};

inline uint64_t alignUp(uint64_t v) {
  return (v + kAlign - 1) / kAlign * kAlign;
}

struct Keys {
  uint8_t keyId[16];
  Digest header;
  Digest shard;
  static Keys derive(llvm::StringRef master) {
    Keys k;
    Digest id = hmacSha256(bytesOf("qrc/v1/key-id"), bytesOf(master));
    std::memcpy(k.keyId, id.data(), 16);
    llvm::ArrayRef<uint8_t> salt(k.keyId, 16);
    k.header = hkdfSha256(bytesOf(master), salt, "qrc/v1/header");
    k.shard = hkdfSha256(bytesOf(master), salt, "qrc/v1/shard");
    return k;
  }
};

// Little-endian field codecs shared by the reader and the writer.
void encodePreamble(const Preamble &p, uint8_t *out);
void decodePreamble(const uint8_t *in, Preamble &p);
void encodeTensor(const TensorRecord &t, uint8_t *out);
void decodeTensor(const uint8_t *in, TensorRecord &t);
void encodeShard(const ShardRecord &s, uint8_t *out);
void decodeShard(const uint8_t *in, ShardRecord &s);
/// The tag of shard `index` under K_shard.
Digest shardTag(const Digest &shardKey, uint64_t index, const ShardRecord &s);

} // namespace gemmac::srd::sealed
