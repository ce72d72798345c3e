//===- SealedFormat.cpp - byte layout of gemmac's sealed SRD container ----===//

#include "formats/srd/SealedFormat.h"

#include <vector>

using namespace gemmac::srd;
using namespace gemmac::srd::sealed;

namespace {
// A record's fields go through one function per record (`*Fields`), called
// with a Writer to encode and a Reader to decode, so the two cannot drift.
struct Writer {
  uint8_t *p;
  template <typename T> void field(const T &v) {
    std::memcpy(p, &v, sizeof(T));
    p += sizeof(T);
  }
  void bytes(const void *src, size_t n) {
    std::memcpy(p, src, n);
    p += n;
  }
};
struct Reader {
  const uint8_t *p;
  template <typename T> void field(T &v) {
    std::memcpy(&v, p, sizeof(T));
    p += sizeof(T);
  }
  void bytes(void *dst, size_t n) {
    std::memcpy(dst, p, n);
    p += n;
  }
};

/// After the magic.
template <typename IO, typename P> void preambleFields(IO &io, P &p) {
  io.field(p.version);
  io.field(p.flags);
  for (auto *v : {&p.headerOff, &p.headerLen, &p.manifestOff, &p.manifestLen,
                  &p.shardsOff, &p.shardsLen, &p.trailerOff, &p.trailerLen})
    io.field(*v);
  io.bytes(p.keyId, 16);
  io.bytes(p.baseDigest, 32);
}

/// Before the 12 reserved bytes.
template <typename IO, typename T> void tensorFields(IO &io, T &t) {
  io.bytes(t.name, kNameBytes);
  io.field(t.encoding);
  io.field(t.nDims);
  for (auto &v : t.ne)
    io.field(v);
  io.field(t.payloadOff);
  io.field(t.payloadLen);
  io.field(t.firstShard);
  io.field(t.nShards);
  io.field(t.alpha);
}

/// A shard record's fields up to its tag (what the tag authenticates).
template <typename IO, typename S> void shardTagged(IO &io, S &s) {
  io.field(s.offset);
  io.field(s.length);
  io.field(s.tensor);
  io.field(s.rowBegin);
  io.field(s.rowEnd);
  io.bytes(s.sha256.data(), 32);
}

template <typename IO, typename S> void shardFields(IO &io, S &s) {
  shardTagged(io, s);
  io.bytes(s.tag.data(), 32);
}
} // namespace

void sealed::encodePreamble(const Preamble &p, uint8_t *out) {
  Writer w{out};
  w.bytes(kMagic, 8);
  preambleFields(w, p);
}

void sealed::decodePreamble(const uint8_t *in, Preamble &p) {
  Reader r{in + 8};
  preambleFields(r, p);
}

void sealed::encodeTensor(const TensorRecord &t, uint8_t *out) {
  Writer w{out};
  tensorFields(w, t);
  std::memset(w.p, 0, 12); // reserved
}

void sealed::decodeTensor(const uint8_t *in, TensorRecord &t) {
  Reader r{in};
  tensorFields(r, t);
}

void sealed::encodeShard(const ShardRecord &s, uint8_t *out) {
  Writer w{out};
  shardFields(w, s);
}

void sealed::decodeShard(const uint8_t *in, ShardRecord &s) {
  Reader r{in};
  shardFields(r, s);
}

Digest sealed::shardTag(const Digest &shardKey, uint64_t index,
                        const ShardRecord &s) {
  std::vector<uint8_t> msg(4 + 8 + 8 + 4 + 4 + 8 + 8 + 32);
  Writer w{msg.data()};
  w.bytes("QRC1", 4);
  w.field(index);
  shardTagged(w, s);
  return hmacSha256(shardKey, msg);
}
