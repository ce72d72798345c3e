//===- SealedFormat.cpp - byte layout of gemmac's sealed SRD container ----===//

#include "frontends/srd/SealedFormat.h"

#include <vector>

using namespace gemmac::srd;
using namespace gemmac::srd::sealed;

namespace {
struct Writer {
  uint8_t *p;
  template <typename T> void put(T v) {
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
  template <typename T> void get(T &v) {
    std::memcpy(&v, p, sizeof(T));
    p += sizeof(T);
  }
  void bytes(void *dst, size_t n) {
    std::memcpy(dst, p, n);
    p += n;
  }
};
} // namespace

void sealed::encodePreamble(const Preamble &p, uint8_t *out) {
  Writer w{out};
  w.bytes(kMagic, 8);
  w.put(p.version);
  w.put(p.flags);
  for (uint64_t v : {p.headerOff, p.headerLen, p.manifestOff, p.manifestLen,
                     p.shardsOff, p.shardsLen, p.trailerOff, p.trailerLen})
    w.put(v);
  w.bytes(p.keyId, 16);
  w.bytes(p.baseDigest, 32);
}

void sealed::decodePreamble(const uint8_t *in, Preamble &p) {
  Reader r{in + 8};
  r.get(p.version);
  r.get(p.flags);
  for (uint64_t *v :
       {&p.headerOff, &p.headerLen, &p.manifestOff, &p.manifestLen,
        &p.shardsOff, &p.shardsLen, &p.trailerOff, &p.trailerLen})
    r.get(*v);
  r.bytes(p.keyId, 16);
  r.bytes(p.baseDigest, 32);
}

void sealed::encodeTensor(const TensorRecord &t, uint8_t *out) {
  Writer w{out};
  w.bytes(t.name, kNameBytes);
  w.put(t.encoding);
  w.put(t.nDims);
  for (uint64_t v : t.ne)
    w.put(v);
  w.put(t.payloadOff);
  w.put(t.payloadLen);
  w.put(t.firstShard);
  w.put(t.nShards);
  w.put(t.alpha);
  std::memset(w.p, 0, 12); // reserved
}

void sealed::decodeTensor(const uint8_t *in, TensorRecord &t) {
  Reader r{in};
  r.bytes(t.name, kNameBytes);
  r.get(t.encoding);
  r.get(t.nDims);
  for (uint64_t &v : t.ne)
    r.get(v);
  r.get(t.payloadOff);
  r.get(t.payloadLen);
  r.get(t.firstShard);
  r.get(t.nShards);
  r.get(t.alpha);
}

void sealed::encodeShard(const ShardRecord &s, uint8_t *out) {
  Writer w{out};
  w.put(s.offset);
  w.put(s.length);
  w.put(s.tensor);
  w.put(s.rowBegin);
  w.put(s.rowEnd);
  w.bytes(s.sha256.data(), 32);
  w.bytes(s.tag.data(), 32);
}

void sealed::decodeShard(const uint8_t *in, ShardRecord &s) {
  Reader r{in};
  r.get(s.offset);
  r.get(s.length);
  r.get(s.tensor);
  r.get(s.rowBegin);
  r.get(s.rowEnd);
  r.bytes(s.sha256.data(), 32);
  r.bytes(s.tag.data(), 32);
}

Digest sealed::shardTag(const Digest &shardKey, uint64_t index,
                        const ShardRecord &s) {
  std::vector<uint8_t> msg(4 + 8 + 8 + 4 + 4 + 8 + 8 + 32);
  Writer w{msg.data()};
  w.bytes("QRC1", 4);
  w.put(index);
  w.put(s.offset);
  w.put(s.length);
  w.put(s.tensor);
  w.put(s.rowBegin);
  w.put(s.rowEnd);
  w.bytes(s.sha256.data(), 32);
  return hmacSha256(shardKey, msg);
}
