// The GGUF reader: every metadata type, arrays, alignment and tensor layout,
// and the defensive checks on in-memory files built to break one rule each;
// the shared binary reader under it, and the Gemma 4 tensor-name table.

#include "frontends/common/TensorNames.h"
#include "frontends/gguf/GGUFFile.h"
#include "frontends/gguf/GGUFWriter.h"

#include "llvm/Support/FileSystem.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

using namespace gemmac::gguf;

namespace {

std::string tempPath(const std::string &name) {
  llvm::SmallString<128> p;
  llvm::sys::fs::createTemporaryFile(name, "gguf", p);
  return std::string(p);
}

std::unique_ptr<GGUFFile> writeAndOpen(const GGUFWriter &w,
                                       std::string *error = nullptr) {
  std::string path = tempPath("reader");
  std::vector<float> dummy;
  EXPECT_EQ(w.write(path, [](size_t, uint8_t *dst) { dst[0] = 1; }), "");
  auto f = GGUFFile::open(path);
  if (!f) {
    std::string msg = llvm::toString(f.takeError());
    if (error)
      *error = msg;
    return nullptr;
  }
  return std::move(*f);
}

std::unique_ptr<GGUFFile> parseBytes(std::vector<uint8_t> bytes,
                                     std::string &error) {
  auto buf = llvm::MemoryBuffer::getMemBufferCopy(
      llvm::StringRef(reinterpret_cast<const char *>(bytes.data()),
                      bytes.size()),
      "mem");
  auto f = GGUFFile::parse(std::move(buf), "mem.gguf");
  if (!f) {
    error = llvm::toString(f.takeError());
    return nullptr;
  }
  return std::move(*f);
}

std::vector<uint8_t> bytesOf(const GGUFWriter &w) {
  std::string path = tempPath("bytes");
  EXPECT_EQ(w.write(path, [](size_t, uint8_t *) {}), "");
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)),
                              std::istreambuf_iterator<char>());
}

TEST(GGUFReader, ReadsEveryMetadataType) {
  GGUFWriter w;
  w.addU32("a.u32", 7);
  w.addI32("a.i32", -5);
  w.addU64("a.u64", 1ull << 40);
  w.addF32("a.f32", 1.5f);
  w.addBool("a.bool", true);
  w.addString("a.str", "héllo");
  w.addArrayI32("a.ints", {1, -2, 3});
  w.addArrayF32("a.floats", {0.5f, 2.0f});
  w.addArrayBool("a.bools", {true, false, true});
  w.addArrayString("a.strs", {"x", "", "zz"});
  w.addRaw("a.u8", 0, {200});
  w.addRaw("a.i16", 3, {0xFF, 0xFF});
  w.addRaw("a.f64", 12, {0, 0, 0, 0, 0, 0, 0xF8, 0x3F}); // 1.5
  auto f = writeAndOpen(w);
  ASSERT_TRUE(f);
  EXPECT_EQ(*f->getUInt("a.u32"), 7u);
  EXPECT_EQ(f->find("a.i32")->intValue, -5);
  EXPECT_EQ(*f->getUInt("a.u64"), 1ull << 40);
  EXPECT_EQ(*f->getFloat("a.f32"), 1.5);
  EXPECT_EQ(*f->getFloat("a.f64"), 1.5);
  EXPECT_EQ(f->find("a.bool")->uintValue, 1u);
  EXPECT_EQ(*f->getString("a.str"), "héllo");
  EXPECT_EQ(*f->getUInt("a.u8"), 200u);
  EXPECT_EQ(f->find("a.i16")->intValue, -1);
  const MetadataValue *ints = f->find("a.ints");
  ASSERT_EQ(ints->count, 3u);
  EXPECT_EQ(ints->arrayInt(1), -2);
  EXPECT_EQ(f->find("a.floats")->arrayFloat(1), 2.0);
  EXPECT_EQ(f->find("a.strs")->strings[2], "zz");
  EXPECT_EQ(f->find("a.bools")->count, 3u);
  // Integers from any integer type; a wrong type is named in the error.
  auto bad = f->getString("a.u32");
  ASSERT_FALSE(bad);
  EXPECT_NE(llvm::toString(bad.takeError()).find("must be a string, got uint32"),
            std::string::npos);
  auto neg = f->getUInt("a.i32");
  ASSERT_FALSE(neg);
  EXPECT_NE(llvm::toString(neg.takeError()).find("is negative"),
            std::string::npos);
}

TEST(GGUFReader, PerLayerKeysAreScalarsOrArrays) {
  GGUFWriter w;
  w.addU32("ffn", 512);
  w.addArrayI32("heads", {2, 2, 1});
  auto f = writeAndOpen(w);
  ASSERT_TRUE(f);
  EXPECT_EQ(*f->getIntOrArray("ffn", 3), (std::vector<int64_t>{512, 512, 512}));
  EXPECT_EQ(*f->getIntOrArray("heads", 3), (std::vector<int64_t>{2, 2, 1}));
  auto wrong = f->getIntOrArray("heads", 4);
  ASSERT_FALSE(wrong);
  EXPECT_NE(llvm::toString(wrong.takeError()).find("has 3 elements, expected 4"),
            std::string::npos);
}

TEST(GGUFReader, TensorsAreAlignedAndInsideTheFile) {
  GGUFWriter w;
  w.setAlignment(64);
  w.addU32("general.alignment", 64);
  w.addTensor("a", 0, {3});        // F32, 12 bytes
  w.addTensor("b", 8, {64, 2});    // Q8_0, 2 rows of 2 blocks
  w.addTensor("c", 12, {256, 1});  // Q4_K
  auto f = writeAndOpen(w);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->alignment(), 64u);
  ASSERT_EQ(f->tensors().size(), 3u);
  EXPECT_EQ(f->findTensor("b")->nbytes, 4u * 34);
  EXPECT_EQ(f->findTensor("c")->nbytes, 144u);
  for (const TensorInfo &t : f->tensors())
    EXPECT_EQ((f->dataOffset() + t.offset) % 64, 0u) << t.name;
}

TEST(GGUFReader, RejectsEachViolation) {
  struct Case {
    const char *what;
    std::function<void(GGUFWriter &)> build;
    std::function<void(std::vector<uint8_t> &)> damage;
    const char *message;
  };
  auto none = [](std::vector<uint8_t> &) {};
  std::vector<Case> cases = {
      {"nested array",
       [](GGUFWriter &w) { w.addRaw("k", 9, {9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}); },
       none, "unsupported element type 9"},
      {"bool out of range", [](GGUFWriter &w) { w.addRaw("k", 7, {2}); }, none,
       "invalid bool value 2"},
      {"unknown value type", [](GGUFWriter &w) { w.addRaw("k", 13, {}); }, none,
       "unknown value type 13"},
      {"alignment not a power of two",
       [](GGUFWriter &w) { w.addU32("general.alignment", 48); }, none,
       "is not a power of two"},
      {"alignment of the wrong type",
       [](GGUFWriter &w) { w.addU64("general.alignment", 32); }, none,
       "general.alignment must be uint32"},
      {"name too long",
       [](GGUFWriter &w) { w.addTensor(std::string(64, 'x'), 0, {4}); }, none,
       "has a name of 64 bytes"},
      {"zero dimension", [](GGUFWriter &w) { w.addTensor("t", 0, {0}); }, none,
       "must be positive"},
      {"row not whole blocks", [](GGUFWriter &w) { w.addTensor("t", 2, {33}); },
       none, "not a multiple of its block size 32"},
      {"array count past the end",
       [](GGUFWriter &w) { w.addArrayI32("k", {1, 2, 3}); },
       [](std::vector<uint8_t> &b) {
         uint64_t count = 1000000; // after the header, key "k", types
         std::memcpy(b.data() + 24 + 9 + 4 + 4, &count, 8);
       },
       "runs past the end of the file"},
      {"big-endian", [](GGUFWriter &) {},
       [](std::vector<uint8_t> &b) { std::memcpy(b.data(), "FUGG", 4); },
       "big-endian GGUF files are not supported"},
      {"swapped version", [](GGUFWriter &) {},
       [](std::vector<uint8_t> &b) {
         uint32_t v = 0x03000000;
         std::memcpy(b.data() + 4, &v, 4);
       },
       "byte-swapped"},
      {"unaligned tensor offset",
       [](GGUFWriter &w) { w.addTensor("t", 0, {4}); },
       [](std::vector<uint8_t> &b) {
         // The offset field is the last 8 bytes of the only tensor info.
         size_t at = 24 + 8 + 1 + 4 + 8 + 4;
         uint64_t off = 4;
         std::memcpy(b.data() + at, &off, 8);
       },
       "is not a multiple of the 32-byte alignment"},
      {"overlapping tensors",
       [](GGUFWriter &w) {
         w.addTensor("a", 0, {16});
         w.addTensor("b", 0, {16});
       },
       [](std::vector<uint8_t> &b) {
         size_t at = 24 + (8 + 1 + 4 + 8 + 4 + 8) + 8 + 1 + 4 + 8 + 4;
         uint64_t off = 32;
         std::memcpy(b.data() + at, &off, 8);
         std::memcpy(b.data() + at - (8 + 1 + 4 + 8 + 4 + 8), &off, 8);
       },
       "overlaps tensor"},
      {"empty file", [](GGUFWriter &) {},
       [](std::vector<uint8_t> &b) { b.resize(2); }, "not a GGUF file"},
  };
  for (const Case &c : cases) {
    GGUFWriter w;
    c.build(w);
    std::vector<uint8_t> bytes = bytesOf(w);
    c.damage(bytes);
    std::string error;
    EXPECT_FALSE(parseBytes(bytes, error)) << c.what;
    EXPECT_NE(error.find(c.message), std::string::npos)
        << c.what << ": got '" << error << "'";
    EXPECT_NE(error.find("mem.gguf"), std::string::npos) << c.what;
  }
}

} // namespace

TEST(BinaryReader, ErrorsNameTheFileWhatAndOffset) {
  const uint8_t bytes[] = {1, 2, 3};
  gemmac::support::BinaryReader r("f.bin", bytes);
  auto v = r.read<uint16_t>("a count");
  ASSERT_TRUE(bool(v));
  EXPECT_EQ(*v, 0x0201);
  auto w = r.read<uint32_t>("a length");
  ASSERT_FALSE(bool(w));
  EXPECT_EQ(llvm::toString(w.takeError()),
            "f.bin: offset 2: truncated: a length needs 4 bytes but the file "
            "ends 1 bytes later");
  EXPECT_EQ(r.tell(), 2u); // a failed read does not move
  EXPECT_TRUE(r.contains(2, 1));
  EXPECT_FALSE(r.contains(2, 2));
  EXPECT_FALSE(r.contains(4, 0));
  auto rest = r.readBytes(1, "a tail");
  ASSERT_TRUE(bool(rest));
  EXPECT_EQ(rest->size(), 1u);
  EXPECT_EQ(r.remaining(), 0u);
}

TEST(TensorNames, GGUFAndHFNamesMapBothWays) {
  for (llvm::StringRef gguf :
       {"blk.0.attn_q.weight", "blk.3.attn_k.weight", "blk.3.attn_v.weight",
        "blk.12.attn_output.weight", "blk.1.ffn_gate.weight",
        "blk.1.ffn_up.weight", "blk.1.ffn_down.weight", "blk.2.inp_gate.weight",
        "blk.2.proj.weight", "per_layer_model_proj.weight"}) {
    std::optional<std::string> hf = gemmac::hfNameForGGUF(gguf);
    ASSERT_TRUE(hf.has_value()) << gguf.str();
    EXPECT_EQ(gemmac::ggufNameForHF(*hf), gguf.str());
    EXPECT_EQ(gemmac::ggufNameForHF(*hf + ".weight"), gguf.str());
  }
  EXPECT_EQ(gemmac::hfNameForGGUF("blk.0.ffn_down.weight"),
            "model.language_model.layers.0.mlp.down_proj");
  EXPECT_EQ(gemmac::ggufNameForHF("model.layers.4.self_attn.o_proj"),
            "blk.4.attn_output.weight");
  EXPECT_EQ(gemmac::ggufNameForHF("language_model.model.layers.4.mlp.up_proj"),
            "blk.4.ffn_up.weight");
  EXPECT_EQ(gemmac::ggufNameForHF("lm_head"), "output.weight");
  for (llvm::StringRef other :
       {"token_embd.weight", "blk.0.attn_norm.weight", "blk.x.attn_q.weight",
        "output_norm.weight"})
    EXPECT_FALSE(gemmac::hfNameForGGUF(other).has_value()) << other.str();
  for (llvm::StringRef other :
       {"model.vision_tower.encoder.fc1", "model.layers.x.mlp.up_proj",
        "model.layers.0.input_layernorm"})
    EXPECT_FALSE(gemmac::ggufNameForHF(other).has_value()) << other.str();
}
