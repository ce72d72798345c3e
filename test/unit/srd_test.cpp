// SRD residuals: the .srd4 sidecar, ZIP and restricted-pickle readers, the
// .axm container's verification (each tamper case reported precisely), and
// the sealed container's located tampering. Every container is written by
// the generator into a temporary directory, then damaged in one precise way.

#include "formats/srd/AXMContainer.h"
#include "tools/srd/AXMWriter.h"
#include "formats/srd/OpenResiduals.h"
#include "tools/srd/PickleWriter.h"
#include "support/PyJSON.h"
#include "formats/srd/RealPack.h"
#include "formats/srd/SRD4File.h"
#include "tools/srd/SRD4Writer.h"
#include "tools/srd/SRDTestData.h"
#include "formats/srd/SealedContainer.h"
#include "tools/srd/SealedWriter.h"
#include "formats/srd/TorchCheckpoint.h"
#include "tools/srd/TorchSave.h"
#include "formats/srd/Unpickler.h"
#include "support/ZipArchive.h"
#include "formats/srd/SRDSupport.h"
#include "tools/srd/ZipWriter.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

using namespace gemmac::srd;

namespace {

const char *kMaster = "test-master";
const char *kDown = "model.layers.0.mlp.down_proj";
const char *kQ = "model.layers.0.self_attn.q_proj";

std::string tempDir(const char *name) {
  llvm::SmallString<128> model, p;
  llvm::sys::path::system_temp_directory(/*ErasedOnReboot=*/true, model);
  llvm::sys::path::append(model, name);
  EXPECT_FALSE(llvm::sys::fs::createUniqueDirectory(model, p));
  return std::string(p);
}

std::string join(const std::string &a, const std::string &b) {
  llvm::SmallString<256> p(a);
  llvm::sys::path::append(p, b);
  return std::string(p);
}

std::vector<uint8_t> readBytes(const std::string &path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)),
                              std::istreambuf_iterator<char>());
}

void writeBytes(const std::string &path, const std::vector<uint8_t> &b) {
  ASSERT_FALSE(writeFileBytes(path, b));
}

void flipByte(const std::string &path, uint64_t offset, uint8_t mask = 0xFF) {
  auto b = readBytes(path);
  ASSERT_LT(offset, b.size());
  b[offset] ^= mask;
  writeBytes(path, b);
}

std::string errorText(llvm::Error e) { return llvm::toString(std::move(e)); }

template <typename T> std::string errorOf(llvm::Expected<T> v) {
  if (v)
    return "";
  return llvm::toString(v.takeError());
}

ResidualOpenOptions masterOptions() {
  ResidualOpenOptions o;
  o.master = kMaster;
  return o;
}

ResidualOpenOptions partialOptions() {
  ResidualOpenOptions o = masterOptions();
  o.allowPartial = true;
  return o;
}

SealedKeys masterKeys(const char *master = kMaster) {
  SealedKeys k;
  k.master = master;
  return k;
}

std::vector<GenTensor> testTensors() {
  return {randomTensor(kDown, 8, 256, 1), randomTensor(kQ, 4, 128, 2)};
}

TestDataOptions testOptions() {
  TestDataOptions o;
  o.master = kMaster;
  o.alpha = 0.75f;
  o.shardBytes = 2 * 4 * 104; // two rows of down_proj per shard
  return o;
}

/// W' computed here from the quantized groups, independently of the library.
std::vector<float> scalarReference(const SRDTensorSet &set, size_t index,
                                   float alpha) {
  const SRDTensor &t = set.tensor(index);
  std::vector<float> w;
  for (const SRDGroup &g : t.groups)
    for (int k = 0; k < 64; ++k) {
      float base = float(g.w4[k]) * g.s4;
      float res = float(g.d8[k]) * g.s8;
      float scaled = alpha * res;
      w.push_back(base + scaled);
    }
  return w;
}

/// Every tensor of `source` matches the scalar reference bit for bit.
void expectBitExact(const ResidualSource &source, const SRDTensorSet &ref,
                    std::optional<float> alpha = std::nullopt) {
  ASSERT_EQ(source.tensors().size(), ref.tensors().size());
  for (size_t i = 0; i < ref.tensors().size(); ++i) {
    auto idx = source.find(ref.tensors()[i].name);
    ASSERT_TRUE(idx) << ref.tensors()[i].name;
    EXPECT_EQ(source.tensors()[*idx].rows, ref.tensors()[i].rows);
    EXPECT_EQ(source.tensors()[*idx].cols, ref.tensors()[i].cols);
    auto w = source.correctedTensor(*idx, alpha);
    ASSERT_TRUE(bool(w)) << errorOf(std::move(w));
    auto expect = scalarReference(ref, i, alpha ? *alpha : ref.alpha());
    ASSERT_EQ(w->size(), expect.size());
    EXPECT_EQ(std::memcmp(w->data(), expect.data(), expect.size() * 4), 0)
        << ref.tensors()[i].name;
  }
}

struct SRDContainers : ::testing::Test {
  std::string dir;
  TestDataPaths paths;
  std::vector<GenTensor> tensors = testTensors();
  TestDataOptions options = testOptions();
  SRDTensorSet ref = quantizeAll(tensors, options);

  void SetUp() override {
    dir = tempDir("srd");
    auto p = writeTestData(dir, tensors, options);
    ASSERT_TRUE(bool(p)) << errorOf(std::move(p));
    paths = *p;
  }
  AXMVerification verify(const std::string &path,
                         const std::string &master = kMaster) {
    auto c = AXMContainer::open(path);
    EXPECT_TRUE(bool(c)) << errorOf(std::move(c));
    return (*c)->verify(AxiomKeys::derive(master));
  }
  std::string verifyError(const std::string &path,
                          const std::string &master = kMaster) {
    return errorText(verify(path, master).toError(path));
  }
};

//===----------------------------------------------------------------------===//
// Primitives
//===----------------------------------------------------------------------===//

TEST(SRDCrypto, KnownAnswers) {
  EXPECT_EQ(toHex(sha256(bytesOf("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(toHex(hmacSha256(bytesOf("Jefe"),
                             bytesOf("what do ya want for nothing?"))),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // RFC 5869 test case 1, first 32 bytes of the OKM.
  std::vector<uint8_t> ikm(22, 0x0b), salt;
  for (int i = 0; i <= 12; ++i)
    salt.push_back(i);
  std::string info;
  for (int i = 0xf0; i <= 0xf9; ++i)
    info.push_back(char(i));
  EXPECT_EQ(toHex(hkdfSha256(ikm, salt, info)),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf");
  // RFC 8032 test 1.
  auto seed = digestFromHex(
      "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
  ASSERT_TRUE(seed);
  Ed25519PublicKey pub = ed25519PublicKey(*seed);
  EXPECT_EQ(toHex(pub),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  Ed25519Signature sig = ed25519Sign(*seed, {});
  EXPECT_EQ(toHex(sig),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06"
            "5224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe"
            "24655141438e7a100b");
  EXPECT_TRUE(ed25519Verify(pub, {}, sig));
  sig[0] ^= 1;
  EXPECT_FALSE(ed25519Verify(pub, {}, sig));
}

// Found by fuzz.axm_json: a key holding the raw byte 0xBD and a key holding
// "\u00bd" printed alike, so a document's canonical form (what is signed)
// changed on a round trip. Python refuses such bytes before parsing; so do we.
TEST(SRDPyJSON, RefusesInvalidUtf8WithItsOffset) {
  auto v = PyJSON::parse("{\"a\xbd\": 1, \"a\u00bd\": 2}");
  ASSERT_FALSE(bool(v));
  EXPECT_EQ(errorOf(std::move(v)), "byte 3: invalid UTF-8");
}

// Golden values from CPython's json.dumps(sort_keys=True, ensure_ascii=True,
// separators=(",", ":")) and hmac, as Orivael's signer computes them.
TEST(SRDPyJSON, MatchesPythonCanonicalJSONAndHeaderMAC) {
  auto v = PyJSON::parse(
      R"({"format_version": "0.1-concept", "core_logic": "gemma4 \u00e9\ud83d\ude00",
          "quant_map": {"scheme": "srd", "group_size": 64, "top_k_pct": 0.0,
          "bpw": 5.0, "alpha": 1.0, "packed": true, "tiny": 1e-05, "big": 1e16,
          "x": 0.1, "neg": -2.5e-07}, "delegates": [], "safety_proofs": true,
          "hardware_map": "compile_on_load"})");
  ASSERT_TRUE(bool(v)) << errorOf(std::move(v));
  std::string canonical = v->canonical();
  EXPECT_EQ(
      canonical,
      R"({"core_logic":"gemma4 \u00e9\ud83d\ude00","delegates":[],)"
      R"("format_version":"0.1-concept","hardware_map":"compile_on_load",)"
      R"("quant_map":{"alpha":1.0,"big":1e+16,"bpw":5.0,"group_size":64,)"
      R"("neg":-2.5e-07,"packed":true,"scheme":"srd","tiny":1e-05,)"
      R"("top_k_pct":0.0,"x":0.1},"safety_proofs":true})");
  AxiomKeys keys = AxiomKeys::derive(kMaster);
  EXPECT_EQ(toHex(keys.container),
            "dfde15665adf77ccd3daae7b41e697529acf93750be458dba4963ce6786bb23b");
  std::string sig = toHex(hmacSha256(keys.container, bytesOf(canonical)));
  EXPECT_EQ(sig,
            "235830096cd67c958b5fa21137c9dde166b9f06a5a80a277f9d9af06c6127c11");
  EXPECT_EQ(toHex(hmacSha256(keys.container, bytesOf(sig))).substr(0, 8),
            "9d0ba95c");

  for (auto [d, text] : std::vector<std::pair<double, const char *>>{
           {1.0, "1.0"},
           {1e15, "1000000000000000.0"},
           {123456789.125, "123456789.125"},
           {-0.0, "-0.0"},
           {0.0001, "0.0001"},
           {1.5e-10, "1.5e-10"},
           {3.4028234663852886e+38, "3.4028234663852886e+38"},
           {5e-324, "5e-324"}})
    EXPECT_EQ(pythonFloatRepr(d), text);
  auto nested = PyJSON::parse(R"({"a":[1,2,{"b":null}],"c":{},"d":[]})");
  ASSERT_TRUE(bool(nested));
  EXPECT_EQ(nested->indented(),
            "{\n  \"a\": [\n    1,\n    2,\n    {\n      \"b\": null\n    }\n"
            "  ],\n  \"c\": {},\n  \"d\": []\n}");
  EXPECT_NE(errorOf(PyJSON::parse("{\"a\": 1,}")).find("byte 8"),
            std::string::npos);
}

//===----------------------------------------------------------------------===//
// .srd4
//===----------------------------------------------------------------------===//

TEST_F(SRDContainers, SRD4ReadsBackBitExactWithAlphaOverride) {
  auto f = SRD4File::open(paths.srd4);
  ASSERT_TRUE(bool(f)) << errorOf(std::move(f));
  EXPECT_EQ((*f)->alpha(), 0.75f);
  expectBitExact(**f, ref);
  expectBitExact(**f, ref, 0.25f);
  expectBitExact(**f, ref, 0.0f);
  EXPECT_TRUE(scanBlockInvariants(**f).empty());
  auto loc = (*f)->locate((*f)->blockOffset(1, 3, 1) + 50);
  ASSERT_TRUE(loc);
  EXPECT_EQ((*f)->tensors()[loc->tensor].name, kQ);
  EXPECT_EQ(loc->row, 3);
  EXPECT_EQ(loc->group, 1);
}

TEST_F(SRDContainers, SRD4ChangesAreLocatedAgainstAnOriginal) {
  auto f = SRD4File::open(paths.srd4);
  ASSERT_TRUE(bool(f));
  auto changed = readBytes(paths.srd4);
  size_t q = *(*f)->find(kQ);
  changed[(*f)->blockOffset(q, 2, 1) + 40] ^= 1; // a D8 byte
  changed[(*f)->blockOffset(q, 2, 1) + 41] ^= 1; // same block: one report
  changed[20] ^= 1;                              // the header
  auto where = locateChangedBlocks(**f, changed);
  ASSERT_EQ(where.size(), 2u);
  EXPECT_EQ(where[0], "header (offset 20)");
  EXPECT_EQ(where[1], std::string(kQ) + " row 2 group 1 (offset " +
                          std::to_string((*f)->blockOffset(q, 2, 1) + 40) +
                          ")");
}

/// An .srd4 image with `header` as its JSON and `dataBytes` zero bytes.
std::vector<uint8_t> srd4Image(const std::string &header, size_t dataBytes,
                               const char *magic = "AXMSRD4") {
  std::vector<uint8_t> b(magic, magic + 8);
  uint32_t n = header.size();
  for (int i = 0; i < 4; ++i)
    b.push_back(uint8_t(n >> (8 * i)));
  b.insert(b.end(), header.begin(), header.end());
  b.resize(b.size() + dataBytes, 0);
  return b;
}

std::string srd4Error(const std::vector<uint8_t> &bytes) {
  auto buf = llvm::MemoryBuffer::getMemBufferCopy(llvm::StringRef(
      reinterpret_cast<const char *>(bytes.data()), bytes.size()));
  return errorOf(SRD4File::parse(std::move(buf), "bad.srd4"));
}

std::string tensorHeader(const std::string &shape, int nBlocks, int offset,
                         int nBytes, const char *name = "\"hf_name\":\"t\",") {
  return std::string("{\"alpha\":1.0,\"group_size\":64,\"tensors\":[{") + name +
         "\"shape\":" + shape + ",\"n_blocks\":" + std::to_string(nBlocks) +
         ",\"offset\":" + std::to_string(offset) +
         ",\"n_bytes\":" + std::to_string(nBytes) + "}]}";
}

TEST(SRD4Reader, RejectsMalformedSidecars) {
  std::string good = tensorHeader("[2,128]", 4, 0, 416);
  EXPECT_EQ(srd4Error(srd4Image(good, 416)), "");

  std::string e = srd4Error(srd4Image(good, 416, "AXMSRD5"));
  EXPECT_NE(e.find("bad.srd4: offset 0: bad magic"), std::string::npos) << e;

  auto longLen = srd4Image(good, 416);
  longLen[8] = 0xFF, longLen[9] = 0xFF, longLen[10] = 0;
  e = srd4Error(longLen);
  EXPECT_NE(e.find("offset 8: JSON header length 65535 runs past the end"),
            std::string::npos)
      << e;

  e = srd4Error(srd4Image(good, 415));
  EXPECT_NE(e.find("tensor t: blocks ["), std::string::npos) << e;
  EXPECT_NE(e.find("run past the end of the file"), std::string::npos) << e;

  e = srd4Error(srd4Image(tensorHeader("[2,100]", 3, 0, 312), 312));
  // The offset is that of the entry's name: 12 + its position (51) in the JSON.
  EXPECT_NE(e.find("bad.srd4: offset 63: JSON header: tensors[0] (t): shape "
                   "[2, 100]: in-features not "
                   "divisible by the group size 64"),
            std::string::npos)
      << e;

  e = srd4Error(srd4Image(tensorHeader("[2,128]", 5, 0, 520), 520));
  EXPECT_NE(e.find("n_blocks 5 does not match the shape (4 blocks of 64)"),
            std::string::npos)
      << e;

  e = srd4Error(srd4Image(tensorHeader("[2,128]", 4, 0, 400), 416));
  EXPECT_NE(e.find("n_bytes 400 is not n_blocks * 104"), std::string::npos)
      << e;

  e = srd4Error(srd4Image(tensorHeader("[2,128]", 4, 0, 416, ""), 416));
  EXPECT_NE(e.find("tensors[0]: missing or empty \"hf_name\""),
            std::string::npos)
      << e;

  e = srd4Error(srd4Image("{\"alpha\":1.0,\"group_size\":64", 0));
  EXPECT_NE(e.find("offset 12: JSON header (at offset 12) is not valid JSON"),
            std::string::npos)
      << e;

  e = srd4Error(
      srd4Image("{\"alpha\":1.0,\"group_size\":32,\"tensors\":[]}", 0));
  EXPECT_NE(e.find("group_size 32 is not supported"), std::string::npos) << e;
}

//===----------------------------------------------------------------------===//
// ZIP
//===----------------------------------------------------------------------===//

std::string zipError(const std::vector<uint8_t> &bytes) {
  auto buf = llvm::MemoryBuffer::getMemBufferCopy(llvm::StringRef(
      reinterpret_cast<const char *>(bytes.data()), bytes.size()));
  return errorOf(ZipArchive::parse(std::move(buf), "t.zip"));
}

TEST(SRDZip, ReadsStoredAndDeflatedMembers) {
  std::vector<uint8_t> big(5000);
  for (size_t i = 0; i < big.size(); ++i)
    big[i] = uint8_t(i * 7 % 13);
  ZipWriter w;
  w.add("a/stored.bin", big, ZipWriter::Method::Stored, 64);
  w.add("b/deflated.bin", big, ZipWriter::Method::Deflate);
  auto bytes = w.finish();
  auto z = ZipArchive::parse(
      llvm::MemoryBuffer::getMemBufferCopy(llvm::StringRef(
          reinterpret_cast<const char *>(bytes.data()), bytes.size())),
      "t.zip");
  ASSERT_TRUE(bool(z)) << errorOf(std::move(z));
  ASSERT_EQ((*z)->members().size(), 2u);
  EXPECT_EQ((*z)->find("a/stored.bin")->dataOffset % 64, 0u);
  for (const ZipMember &m : (*z)->members()) {
    auto data = (*z)->read(m);
    ASSERT_TRUE(bool(data)) << errorOf(std::move(data));
    ASSERT_EQ((*data)->getBufferSize(), big.size());
    EXPECT_EQ(std::memcmp((*data)->getBufferStart(), big.data(), big.size()),
              0);
  }
  // A changed stored byte fails its CRC, naming the member.
  bytes[(*z)->find("a/stored.bin")->dataOffset + 10] ^= 1;
  auto z2 = ZipArchive::parse(
      llvm::MemoryBuffer::getMemBufferCopy(llvm::StringRef(
          reinterpret_cast<const char *>(bytes.data()), bytes.size())),
      "t.zip");
  ASSERT_TRUE(bool(z2));
  std::string e = errorOf((*z2)->read(*(*z2)->find("a/stored.bin")));
  EXPECT_NE(e.find("member a/stored.bin: CRC-32"), std::string::npos) << e;
}

TEST(SRDZip, ReadsZip64Records) {
  std::vector<uint8_t> data(3000);
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = uint8_t(i % 251);
  ZipWriter w;
  w.forceZip64();
  w.add("weights/a.bin", data, ZipWriter::Method::Stored);
  w.add("weights/b.bin", data, ZipWriter::Method::Deflate);
  auto bytes = w.finish();
  auto z = ZipArchive::parse(
      llvm::MemoryBuffer::getMemBufferCopy(llvm::StringRef(
          reinterpret_cast<const char *>(bytes.data()), bytes.size())),
      "z64.zip");
  ASSERT_TRUE(bool(z)) << errorOf(std::move(z));
  ASSERT_EQ((*z)->members().size(), 2u);
  for (const ZipMember &m : (*z)->members()) {
    EXPECT_EQ(m.size, data.size());
    auto b = (*z)->read(m);
    ASSERT_TRUE(bool(b)) << errorOf(std::move(b));
    EXPECT_EQ(std::memcmp((*b)->getBufferStart(), data.data(), data.size()), 0);
  }
  // Without its locator the ZIP64 end record cannot be found.
  std::vector<uint8_t> broken = bytes;
  broken[broken.size() - 22 - 20] ^= 1;
  std::string e = zipError(broken);
  EXPECT_NE(e.find("ZIP64 fields without a ZIP64 locator"), std::string::npos)
      << e;
}

TEST(SRDZip, RejectsTruncatedArchivesAndEscapingMembers) {
  ZipWriter w;
  std::vector<uint8_t> data(300, 7);
  w.add("ok.bin", data);
  auto bytes = w.finish();
  std::vector<uint8_t> cut(bytes.begin(), bytes.begin() + bytes.size() / 2);
  std::string e = zipError(cut);
  EXPECT_NE(e.find("t.zip: no end-of-central-directory record"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("truncated"), std::string::npos) << e;
  // The end record survives but the central directory it points at is gone.
  std::vector<uint8_t> hole = bytes;
  hole.erase(hole.begin() + 40, hole.begin() + 60);
  e = zipError(hole);
  EXPECT_NE(e.find("truncated or damaged"), std::string::npos) << e;

  for (const char *name : {"../evil.sh", "weights/../../evil", "/etc/passwd",
                           "C:/x", "a\\..\\b"}) {
    ZipWriter bad;
    bad.add(name, data);
    e = zipError(bad.finish());
    EXPECT_NE(
        e.find(std::string("member \"") + name + "\" escapes the archive root"),
        std::string::npos)
        << e;
  }
}

//===----------------------------------------------------------------------===//
// Pickles
//===----------------------------------------------------------------------===//

TEST(SRDPickle, ReadsWhatTorchSaveWrites) {
  TorchValue root = TorchValue::dict();
  std::vector<uint8_t> f32(4 * 6);
  for (int i = 0; i < 6; ++i) {
    float x = i * 0.5f;
    std::memcpy(&f32[4 * i], &x, 4);
  }
  TorchValue inner = TorchValue::dict();
  inner.add("w", TorchValue::tensor("FloatStorage", {2, 3}, f32))
      .add("n", TorchValue::integerValue(-70000))
      .add("big", TorchValue::integerValue(int64_t(1) << 40))
      .add("p", TorchValue::floatValue(0.25))
      .add("shape", TorchValue::tuple({TorchValue::integerValue(2),
                                       TorchValue::integerValue(3)}))
      .add("dtype", TorchValue::stringValue("float16"));
  root.add("layer", inner);
  auto bytes = torchSave(root, "ckpt");
  auto c = TorchCheckpoint::parse(
      llvm::MemoryBuffer::getMemBufferCopy(llvm::StringRef(
          reinterpret_cast<const char *>(bytes.data()), bytes.size())),
      "ckpt.pt");
  ASSERT_TRUE(bool(c)) << errorOf(std::move(c));
  const PickleValue *layer = (*c)->root().get("layer");
  ASSERT_TRUE(layer);
  EXPECT_EQ(layer->get("n")->integer, -70000);
  EXPECT_EQ(layer->get("big")->integer, int64_t(1) << 40);
  EXPECT_EQ(layer->get("p")->number, 0.25);
  EXPECT_EQ(layer->get("dtype")->text, "float16");
  EXPECT_EQ(layer->get("shape")->items.size(), 2u);
  auto t = (*c)->tensor(*layer->get("w"), "layer.w");
  ASSERT_TRUE(bool(t)) << errorOf(std::move(t));
  EXPECT_EQ(t->dtype, "float32");
  EXPECT_EQ(t->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(std::memcmp(t->bytes.data(), f32.data(), f32.size()), 0);
  EXPECT_TRUE((*c)->changedTensors().empty());
}

// The opcode stream torch.save produces, memo and all: CPython's pickler
// (protocol 2) on an OrderedDict of tensors whose __reduce_ex__ and
// persistent ids are torch's, with stub torch modules. A shared storage
// (w_again views elements 3..5 of w's), reused tuples and globals via
// BINGET, BININT, BINFLOAT.
TEST(SRDPickle, ReadsCPythonsMemoizedStream) {
  const char *hex =
      "800263636f6c6c656374696f6e730a4f726465726564446963740a7100295271"
      "0158050000006c6179657271027d710328580100000077710463746f7263682e"
      "5f7574696c730a5f72656275696c645f74656e736f725f76320a710528285807"
      "00000073746f72616765710663746f7263680a466c6f617453746f726167650a"
      "71075801000000307108580300000063707571094b0674710a514b004b024b03"
      "86710b4b034b0186710c8968002952710d74710e52710f580100000076711068"
      "052828680663746f7263680a4368617253746f726167650a7111580100000031"
      "711268094b04747113514b004b048571144b0185711589680029527116747117"
      "5271185807000000775f616761696e71196805282868066807680868094b0674"
      "711a514b034b0385711b68158968002952711c74711d52711e58050000007368"
      "617065711f680b5801000000707120473fe000000000000058040000006e616d"
      "6571215807000000666c6f61743136712258010000006e71234a701101005803"
      "0000006e656771244afdffffff75732e";
  std::vector<uint8_t> pkl;
  for (size_t i = 0; hex[i]; i += 2)
    pkl.push_back(uint8_t(std::stoi(std::string(hex + i, 2), nullptr, 16)));
  std::vector<uint8_t> f32(24), i8 = {1, 0xFF, 3, 0x80};
  for (int i = 0; i < 6; ++i) {
    float x = 1.5f * i;
    std::memcpy(&f32[4 * i], &x, 4);
  }
  ZipWriter zip;
  zip.add("archive/data.pkl", pkl, ZipWriter::Method::Stored, 64);
  zip.add("archive/data/0", f32, ZipWriter::Method::Stored, 64);
  zip.add("archive/data/1", i8, ZipWriter::Method::Stored, 64);
  auto bytes = zip.finish();
  auto c = TorchCheckpoint::parse(
      llvm::MemoryBuffer::getMemBufferCopy(llvm::StringRef(
          reinterpret_cast<const char *>(bytes.data()), bytes.size())),
      "cpython.pt");
  ASSERT_TRUE(bool(c)) << errorOf(std::move(c));
  EXPECT_TRUE((*c)->root().fromOrderedDict);
  const PickleValue *layer = (*c)->root().get("layer");
  ASSERT_TRUE(layer);
  EXPECT_EQ(layer->get("n")->integer, 70000);
  EXPECT_EQ(layer->get("neg")->integer, -3);
  EXPECT_EQ(layer->get("p")->number, 0.5);
  EXPECT_EQ(layer->get("name")->text, "float16");
  ASSERT_EQ(layer->get("shape")->items.size(), 2u);
  auto w = (*c)->tensor(*layer->get("w"), "layer.w");
  auto v = (*c)->tensor(*layer->get("v"), "layer.v");
  auto again = (*c)->tensor(*layer->get("w_again"), "layer.w_again");
  ASSERT_TRUE(w && v && again);
  EXPECT_EQ(w->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(v->dtype, "int8");
  EXPECT_EQ(v->bytes[3], 0x80);
  float third;
  std::memcpy(&third, again->bytes.data(), 4);
  EXPECT_EQ(third, 4.5f);
  EXPECT_EQ(again->bytes.size(), 12u);
}

// Found by fuzz.unpickler (LeakSanitizer): a list appended to itself, and a
// memo index of 0xFFFFFFFF (a key the memo's old DenseMap reserved, whose
// value it never freed). The run must end with every value freed.
TEST(SRDPickle, RefusesSelfContainingListAndFreesReservedMemoKeys) {
  const uint8_t self[] = {0x80, 2, ']', 'q', 0, 'h', 0, 'a', '.'};
  std::string e = errorOf(unpickle(self, "self.pkl"));
  EXPECT_NE(e.find("self.pkl: offset 7: a container put inside itself"),
            std::string::npos)
      << e;
  const uint8_t memo[] = {0x80, 2,    ')',  'r',  0xff, 0xff, 0xff, 0xff, '0',
                          'j',  0xff, 0xff, 0xff, 0xff, '.'};
  auto v = unpickle(memo, "memo.pkl");
  ASSERT_TRUE(bool(v)) << errorOf(std::move(v));
  EXPECT_EQ((*v)->kind, PickleValue::Kind::Tuple);
}

TEST(SRDPickle, RefusesAnythingThatWouldRunCode) {
  // os.system("echo pwned"): refused at the GLOBAL, before any call.
  PickleWriter w;
  w.global("os", "system");
  w.string("echo pwned");
  w.tuple(1);
  w.reduce();
  auto data = w.finish();
  std::string e = errorOf(unpickle(data, "evil.pkl"));
  EXPECT_NE(e.find("evil.pkl: offset 2: refused global os.system"),
            std::string::npos)
      << e;

  // The same through STACK_GLOBAL, and an allowed global called wrongly.
  PickleWriter w2;
  w2.string("builtins");
  w2.string("eval");
  w2.opcode(0x93);
  e = errorOf(unpickle(w2.finish(), "evil2.pkl"));
  EXPECT_NE(e.find("refused global builtins.eval"), std::string::npos) << e;

  PickleWriter w3;
  w3.global("collections", "OrderedDict");
  w3.opcode('N');
  w3.opcode(0x81); // NEWOBJ
  e = errorOf(unpickle(w3.finish(), "evil3.pkl"));
  EXPECT_NE(e.find("offset 28: refused opcode NEWOBJ (0x81)"),
            std::string::npos)
      << e;

  PickleWriter w4;
  w4.global("torch._utils", "_rebuild_tensor_v2");
  w4.opcode('N');
  w4.reduce();
  e = errorOf(unpickle(w4.finish(), "evil4.pkl"));
  EXPECT_NE(e.find("REDUCE arguments are not a tuple"), std::string::npos) << e;

  // Inside a checkpoint the error names the file and its pickle member.
  PickleWriter w5;
  w5.global("os", "system");
  w5.string("x");
  w5.tuple(1);
  w5.reduce();
  auto ckpt = torchSaveRawPickle(w5.finish(), "srd_dense");
  e = errorOf(TorchCheckpoint::parse(
      llvm::MemoryBuffer::getMemBufferCopy(llvm::StringRef(
          reinterpret_cast<const char *>(ckpt.data()), ckpt.size())),
      "srd_dense.pt"));
  EXPECT_NE(e.find("srd_dense.pt:srd_dense/data.pkl: offset 2: refused global "
                   "os.system"),
            std::string::npos)
      << e;
}

//===----------------------------------------------------------------------===//
// .axm: reading
//===----------------------------------------------------------------------===//

TEST_F(SRDContainers, AXMVerifiesAndReadsBackEveryLayout) {
  for (const std::string &p : {paths.axmSrd4Zip, paths.axmSrd4Dir,
                               paths.axmRealPackZip, paths.axmRealPackDir}) {
    SCOPED_TRACE(p);
    AXMVerification v = verify(p);
    EXPECT_TRUE(v.ok()) << errorText(v.toError(p));
    bool realPack = p == paths.axmRealPackZip || p == paths.axmRealPackDir;
    std::string fp =
        realPack ? paths.axmRealPackFingerprint : paths.axmSrd4Fingerprint;
    EXPECT_EQ(v.fingerprint, fp);
    EXPECT_EQ(v.macsChecked,
              9u); // header, delegate, trajectory, vertex, 5 ledger
    auto opened = openResiduals(p, masterOptions());
    ASSERT_TRUE(bool(opened)) << errorOf(std::move(opened));
    EXPECT_EQ(opened->format, ResidualFormat::AXM);
    EXPECT_EQ(opened->fingerprint, fp);
    expectBitExact(*opened->source, ref);
    expectBitExact(*opened->source, ref, 1.0f);
  }
}

//===----------------------------------------------------------------------===//
// .axm: tampering, one precise change at a time
//===----------------------------------------------------------------------===//

TEST_F(SRDContainers, AXMFlippedWeightByteNamesTheTensor) {
  std::string srd4 = join(paths.axmSrd4Dir, "weights/model.srd4");
  auto f = SRD4File::open(srd4);
  ASSERT_TRUE(bool(f));
  // The top byte of S4 in row 5, group 2 of down_proj: its sign flips.
  uint64_t at = (*f)->blockOffset(*(*f)->find(kDown), 5, 2) + 35;
  f->reset();
  flipByte(srd4, at, 0x80);
  AXMVerification v = verify(paths.axmSrd4Dir);
  ASSERT_EQ(v.findings.size(), 1u) << errorText(v.toError(paths.axmSrd4Dir));
  EXPECT_FALSE(v.wrongKey);
  const AXMFinding &x = v.findings[0];
  EXPECT_EQ(x.file, join(paths.axmSrd4Dir, "weights/model.srd4"));
  EXPECT_EQ(x.check, "manifest SHA-256");
  EXPECT_EQ(x.tensors, std::vector<std::string>{kDown});
  EXPECT_NE(x.detail.find(std::string(kDown) + " row 5 group 2"),
            std::string::npos)
      << x.detail;
  // And the whole compile-time entry point refuses it.
  std::string e = errorOf(openResiduals(paths.axmSrd4Dir, masterOptions()));
  EXPECT_NE(e.find("manifest SHA-256"), std::string::npos) << e;
  EXPECT_NE(e.find(std::string("[tensors: ") + kDown + "]"), std::string::npos)
      << e;
}

TEST_F(SRDContainers, AXMFlippedByteThatKeepsInvariantsIsReportedHonestly) {
  std::string srd4 = join(paths.axmSrd4Dir, "weights/model.srd4");
  auto f = SRD4File::open(srd4);
  ASSERT_TRUE(bool(f));
  uint64_t at = (*f)->blockOffset(*(*f)->find(kQ), 1, 0) + 32; // low S4 byte
  f->reset();
  flipByte(srd4, at, 0x01);
  AXMVerification v = verify(paths.axmSrd4Dir);
  ASSERT_EQ(v.findings.size(), 1u);
  EXPECT_EQ(v.findings[0].check, "manifest SHA-256");
  EXPECT_TRUE(v.findings[0].tensors.empty());
  EXPECT_NE(v.findings[0].detail.find("could not be narrowed to a tensor"),
            std::string::npos);
}

TEST_F(SRDContainers, AXMFlippedRealPackStorageNamesTheTensor) {
  std::string pt = join(paths.axmRealPackDir, "weights/srd_packed.pt");
  auto z = ZipArchive::open(pt);
  ASSERT_TRUE(bool(z));
  // Storages are numbered in pickling order: down_proj's s4 is its fourth.
  const ZipMember *s4 = (*z)->find("srd_packed/data/3");
  ASSERT_TRUE(s4);
  uint64_t at = s4->dataOffset + 5;
  z->reset();
  flipByte(pt, at, 0x10);
  AXMVerification v = verify(paths.axmRealPackDir);
  ASSERT_EQ(v.findings.size(), 1u)
      << errorText(v.toError(paths.axmRealPackDir));
  EXPECT_EQ(v.findings[0].file, pt);
  EXPECT_EQ(v.findings[0].check, "manifest SHA-256");
  EXPECT_EQ(v.findings[0].tensors,
            std::vector<std::string>{std::string(kDown) + ".s4"});
}

TEST_F(SRDContainers, AXMFlippedManifestHeaderLedgerAndCoreBytes) {
  // The manifest: its hash no longer matches the ledger's.
  {
    std::string d = tempDir("srd-manifest");
    ASSERT_FALSE(writeTestData(d, tensors, options).takeError());
    std::string dir = join(d, "model-srd4.axm.d");
    // Indentation space -> newline: still valid JSON, other bytes.
    flipByte(join(dir, "weights/manifest.json"), 3, 0x2A);
    AXMVerification v = verify(dir);
    ASSERT_EQ(v.findings.size(), 1u) << errorText(v.toError(dir));
    EXPECT_EQ(v.findings[0].file, join(dir, "weights/manifest.json"));
    EXPECT_EQ(v.findings[0].check, "ledger SHA-256");
  }
  // The header: its MAC and its ledger hash fail, and the key is right.
  {
    std::string d = tempDir("srd-header");
    ASSERT_FALSE(writeTestData(d, tensors, options).takeError());
    std::string dir = join(d, "model-srd4.axm.d");
    auto h = readBytes(join(dir, "header.json"));
    std::string text(h.begin(), h.end());
    size_t at = text.find("0.1-concept");
    ASSERT_NE(at, std::string::npos);
    flipByte(join(dir, "header.json"), at + 2, 0x01); // "0.0-concept"
    AXMVerification v = verify(dir);
    EXPECT_FALSE(v.wrongKey);
    std::string e = errorText(v.toError(dir));
    ASSERT_EQ(v.findings.size(), 2u) << e;
    EXPECT_EQ(v.findings[0].check, "header MAC");
    EXPECT_EQ(v.findings[0].file, join(dir, "header.json"));
    EXPECT_EQ(v.findings[1].check, "ledger SHA-256");
    EXPECT_EQ(v.findings[1].file, join(dir, "header.json"));
    EXPECT_EQ(e.find("wrong key"), std::string::npos) << e;
  }
  // The ledger: the changed line's MAC fails.
  {
    std::string d = tempDir("srd-ledger");
    ASSERT_FALSE(writeTestData(d, tensors, options).takeError());
    std::string dir = join(d, "model-srd4.axm.d");
    auto l = readBytes(join(dir, "proofs/ledger.jsonl"));
    std::string text(l.begin(), l.end());
    size_t line2 = text.find('\n') + 1;
    size_t at = text.find("module integrity", line2);
    flipByte(join(dir, "proofs/ledger.jsonl"), at, 0x20); // "Module"
    AXMVerification v = verify(dir);
    ASSERT_EQ(v.findings.size(), 1u) << errorText(v.toError(dir));
    EXPECT_EQ(v.findings[0].file, join(dir, "proofs/ledger.jsonl"));
    EXPECT_EQ(v.findings[0].check, "ledger MAC");
    EXPECT_NE(v.findings[0].detail.find("line 2: the entry for \"core\""),
              std::string::npos)
        << v.findings[0].detail;
  }
  // core.json: covered by the ledger only.
  {
    std::string d = tempDir("srd-core");
    ASSERT_FALSE(writeTestData(d, tensors, options).takeError());
    std::string dir = join(d, "model-srd4.axm.d");
    flipByte(join(dir, "core/core.json"), 10, 0x01);
    AXMVerification v = verify(dir);
    ASSERT_EQ(v.findings.size(), 1u) << errorText(v.toError(dir));
    EXPECT_EQ(v.findings[0].file, join(dir, "core/core.json"));
    EXPECT_EQ(v.findings[0].check, "ledger SHA-256");
  }
}

TEST_F(SRDContainers, AXMExtraWeightFileIsRefused) {
  writeBytes(join(paths.axmRealPackDir, "weights/extra.bin"), {1, 2, 3});
  AXMVerification v = verify(paths.axmRealPackDir);
  ASSERT_EQ(v.findings.size(), 1u);
  EXPECT_EQ(v.findings[0].file,
            join(paths.axmRealPackDir, "weights/extra.bin"));
  EXPECT_EQ(v.findings[0].check, "unlisted file");
}

TEST_F(SRDContainers, AXMWrongKeyIsNotTampering) {
  for (const std::string &p : {paths.axmSrd4Zip, paths.axmRealPackDir}) {
    AXMVerification v = verify(p, "another-key");
    EXPECT_TRUE(v.wrongKey);
    EXPECT_TRUE(v.findings.empty());
    EXPECT_EQ(v.macsValid, 0u);
    std::string e = errorText(v.toError(p));
    EXPECT_NE(e.find("wrong key: none of the 9 MACs verifies"),
              std::string::npos)
        << e;
    EXPECT_NE(e.find("the content is intact"), std::string::npos) << e;
  }
  // A wrong key and a changed file: both are said.
  flipByte(join(paths.axmSrd4Dir, "core/core.json"), 10, 0x01);
  AXMVerification v = verify(paths.axmSrd4Dir, "another-key");
  EXPECT_TRUE(v.wrongKey);
  ASSERT_EQ(v.findings.size(), 1u);
  EXPECT_EQ(v.findings[0].check, "ledger SHA-256");
  // And the legacy key derivation is a different key.
  auto c = AXMContainer::open(paths.axmSrd4Zip);
  ASSERT_TRUE(bool(c));
  EXPECT_TRUE(
      (*c)->verify(AxiomKeys::derive(kMaster, KeyDerivation::Sha256Concat))
          .wrongKey);
}

TEST_F(SRDContainers, AXMMaliciousPickleIsRefused) {
  PickleWriter w;
  w.emptyDict();
  w.mark();
  w.string("model.norm.weight");
  w.global("os", "system");
  w.string("touch /tmp/pwned");
  w.tuple(1);
  w.reduce();
  w.setItems();
  writeBytes(join(paths.axmRealPackDir, "weights/srd_dense.pt"),
             torchSaveRawPickle(w.finish(), "srd_dense"));
  auto c = AXMContainer::open(paths.axmRealPackDir);
  ASSERT_TRUE(bool(c));
  // Verification reports the changed file...
  AXMVerification v = (*c)->verify(AxiomKeys::derive(kMaster));
  ASSERT_EQ(v.findings.size(), 1u);
  EXPECT_EQ(v.findings[0].check, "manifest SHA-256");
  // ...and the reader refuses the pickle itself, naming global and offset.
  std::string e = errorOf((*c)->residuals());
  EXPECT_NE(e.find("weights/srd_dense.pt:srd_dense/data.pkl: offset 26: "
                   "refused global os.system"),
            std::string::npos)
      << e;
}

TEST_F(SRDContainers, AXMTruncatedOrEscapingZipIsRefused) {
  auto bytes = readBytes(paths.axmSrd4Zip);
  std::string cut = join(dir, "cut.axm");
  writeBytes(cut, std::vector<uint8_t>(bytes.begin(), bytes.end() - 30));
  std::string e = errorOf(AXMContainer::open(cut));
  EXPECT_NE(e.find(cut + ": no end-of-central-directory record"),
            std::string::npos)
      << e;
  EXPECT_NE(e.find("truncated"), std::string::npos) << e;

  auto files = buildAXM(ref, {.master = kMaster});
  ASSERT_TRUE(bool(files));
  files->emplace_back("weights/../../escape.sh", std::vector<uint8_t>{'x'});
  std::string esc = join(dir, "escape.axm");
  ASSERT_FALSE(writeAXMZip(*files, esc));
  e = errorOf(AXMContainer::open(esc));
  EXPECT_NE(e.find("member \"weights/../../escape.sh\" escapes the archive "
                   "root: \"..\" component"),
            std::string::npos)
      << e;
}

TEST_F(SRDContainers, AXMChangedZipMemberNamesTheFile) {
  auto z = ZipArchive::open(paths.axmSrd4Zip);
  ASSERT_TRUE(bool(z));
  uint64_t at = (*z)->find("weights/model.srd4")->dataOffset + 200;
  z->reset();
  flipByte(paths.axmSrd4Zip, at, 0x55);
  AXMVerification v = verify(paths.axmSrd4Zip);
  ASSERT_FALSE(v.findings.empty());
  EXPECT_EQ(v.findings[0].file, paths.axmSrd4Zip + ":weights/model.srd4");
}

//===----------------------------------------------------------------------===//
// The sealed container
//===----------------------------------------------------------------------===//

TEST_F(SRDContainers, SealedReadsBackBitExact) {
  auto c = SealedContainer::open(paths.sealed, masterKeys());
  ASSERT_TRUE(bool(c)) << errorOf(std::move(c));
  EXPECT_TRUE((*c)->damagedShards().empty());
  EXPECT_TRUE((*c)->notes().empty());
  EXPECT_EQ((*c)->fingerprint().size(), 16u);
  expectBitExact(**c, ref);
  expectBitExact(**c, ref, 0.5f);
  // The streamed file and the in-memory image are the same bytes.
  SealOptions so;
  so.master = kMaster;
  so.shardBytes = options.shardBytes;
  so.sourceName = "generated";
  auto image = sealResiduals(ref, so);
  ASSERT_TRUE(bool(image));
  EXPECT_EQ(*image, readBytes(paths.sealed));
}

TEST_F(SRDContainers, SealedSignatureVerifiesPublicly) {
  SealOptions so;
  so.master = kMaster;
  so.signingSeed = *digestFromHex(
      "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
  so.shardBytes = 1000;
  std::string path = join(dir, "signed.qrc");
  ASSERT_FALSE(writeSealed(ref, so, path));
  Ed25519PublicKey pub = ed25519PublicKey(*so.signingSeed);
  auto c = SealedContainer::open(path, {std::nullopt, pub});
  ASSERT_TRUE(bool(c)) << errorOf(std::move(c));
  EXPECT_TRUE((*c)->isSigned());
  expectBitExact(**c, ref);
  // Bound to a base GGUF: another file is refused.
  std::string base = join(dir, "base.gguf"), other = join(dir, "other.gguf");
  writeBytes(base, {'G', 'G', 'U', 'F', 1});
  writeBytes(other, {'G', 'G', 'U', 'F', 2});
  auto digest = sha256File(base);
  ASSERT_TRUE(bool(digest));
  so.baseDigest = *digest;
  std::string bound = join(dir, "bound.qrc");
  ASSERT_FALSE(writeSealed(ref, so, bound));
  auto b = SealedContainer::open(bound, masterKeys());
  ASSERT_TRUE(bool(b));
  EXPECT_FALSE((*b)->checkBase(base));
  std::string be = errorText((*b)->checkBase(other));
  EXPECT_NE(be.find("must not be applied to another base"), std::string::npos)
      << be;
  EXPECT_FALSE((*c)->checkBase(other)); // unbound: nothing to check

  Ed25519PublicKey otherKey = pub;
  otherKey[3] ^= 1;
  std::string e =
      errorOf(SealedContainer::open(path, {std::nullopt, otherKey}));
  EXPECT_NE(e.find("signed by a different key"), std::string::npos) << e;
}

TEST_F(SRDContainers, SealedFlippedByteNamesTensorAndRows) {
  auto c = SealedContainer::open(paths.sealed, masterKeys());
  ASSERT_TRUE(bool(c));
  // down_proj has 8 rows in shards of 2: flip a byte in row 5 (shard 2).
  uint64_t rowBytes = 4 * 104;
  uint64_t at = (*c)->preamble().shardsOff + 5 * rowBytes + 77;
  c->reset();
  flipByte(paths.sealed, at, 0x04);

  std::string e = errorOf(openResiduals(paths.sealed, masterOptions()));
  EXPECT_NE(e.find("1 damaged shard(s)"), std::string::npos) << e;
  EXPECT_NE(e.find(std::string("tensor ") + kDown + " rows [4, 6): shard 2"),
            std::string::npos)
      << e;

  auto partial = openResiduals(paths.sealed, partialOptions());
  ASSERT_TRUE(bool(partial)) << errorOf(std::move(partial));
  ASSERT_EQ(partial->warnings.size(), 1u);
  EXPECT_NE(partial->warnings[0].find(std::string("rows [4, 6) of ") + kDown +
                                      " stay uncorrected"),
            std::string::npos)
      << partial->warnings[0];
  const ResidualSource &s = *partial->source;
  size_t down = *s.find(kDown);
  ASSERT_EQ(s.unusableRows(down).size(), 1u);
  EXPECT_EQ(s.unusableRows(down)[0].begin, 4);
  EXPECT_EQ(s.unusableRows(down)[0].end, 6);
  EXPECT_FALSE(s.rowUsable(down, 5));
  EXPECT_TRUE(s.rowUsable(down, 6));
  std::vector<float> row(256);
  EXPECT_NE(errorText(s.correctedRow(down, 4, std::nullopt, row))
                .find("lies in a damaged shard"),
            std::string::npos);
  ASSERT_FALSE(s.correctedRow(down, 7, std::nullopt, row));
  auto expect = scalarReference(ref, 0, ref.alpha());
  EXPECT_EQ(std::memcmp(row.data(), expect.data() + 7 * 256, 256 * 4), 0);
  EXPECT_TRUE(s.unusableRows(*s.find(kQ)).empty());
}

TEST_F(SRDContainers, SealedTableWrongKeyAndTruncation) {
  auto bytes = readBytes(paths.sealed);
  // A changed shard-table byte: nothing can be trusted.
  sealed::Preamble p;
  sealed::decodePreamble(bytes.data(), p);
  std::string table = join(dir, "table.qrc");
  auto t = bytes;
  t[p.manifestOff + p.manifestLen - 40] ^= 1;
  writeBytes(table, t);
  std::string e = errorOf(SealedContainer::open(table, masterKeys()));
  EXPECT_NE(e.find("trailer MAC mismatch"), std::string::npos) << e;

  e = errorOf(SealedContainer::open(paths.sealed, masterKeys("nope")));
  EXPECT_NE(e.find("wrong key"), std::string::npos) << e;

  std::string cut = join(dir, "cut.qrc");
  writeBytes(cut, std::vector<uint8_t>(bytes.begin(), bytes.end() - 1));
  e = errorOf(SealedContainer::open(cut, masterKeys()));
  EXPECT_NE(e.find("truncated"), std::string::npos) << e;
}

TEST_F(SRDContainers, SealsAnAXMInput) {
  auto opened = openResiduals(paths.axmRealPackZip, masterOptions());
  ASSERT_TRUE(bool(opened));
  SealOptions so;
  so.master = kMaster;
  so.sourceFingerprint = opened->fingerprint;
  std::string out = join(dir, "from-axm.qrc");
  ASSERT_FALSE(writeSealed(*opened->source, so, out));
  auto sealedBack = openResiduals(out, masterOptions());
  ASSERT_TRUE(bool(sealedBack)) << errorOf(std::move(sealedBack));
  EXPECT_EQ(sealedBack->format, ResidualFormat::Sealed);
  expectBitExact(*sealedBack->source, ref);
  auto srd4 = openResiduals(paths.srd4, {});
  ASSERT_TRUE(bool(srd4));
  EXPECT_EQ(srd4->format, ResidualFormat::SRD4);
  EXPECT_EQ(srd4->warnings.size(), 1u);
}

} // namespace
