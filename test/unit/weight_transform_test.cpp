// The weight transform (compiler/artifact/WeightTransform.h) against scalar
// references written here: W' = S4*W4 + alpha*(S8*D8) per element, encoded
// with the format codec (fmt::quantizeRow), and the x8 layouts checked byte by
// byte from the index arithmetic formats/repack.h documents. Then every
// reject, each with its message.

#include "compiler/artifact/WeightTransform.h"
#include "formats/srd/ResidualSource.h"

#include <gtest/gtest.h>

#include <cstring>
#include <algorithm>
#include <bit>
#include <random>

using namespace gemmac;
using namespace gemmac::weights;
using fmt::Type;

namespace {

/// Residuals held in memory: one tensor of random groups, some rows
/// optionally unusable (as a damaged sealed shard's).
class MemoryResiduals : public srd::ResidualSource {
public:
  MemoryResiduals(int64_t rows, int64_t cols, float fileAlpha,
                  uint32_t seed = 1) {
    name_ = "memory.srd4";
    alpha_ = fileAlpha;
    tensors_.push_back({"model.layers.0.mlp.down_proj", rows, cols});
    std::mt19937 rng(seed);
    std::uniform_int_distribution<int> w4(-8, 7), d8(-128, 127);
    std::uniform_real_distribution<float> scale(0.001f, 0.05f);
    groups.resize(static_cast<size_t>(rows * cols / srd::kGroupSize));
    for (srd::SRDGroup &g : groups) {
      for (int k = 0; k < srd::kGroupSize; ++k) {
        g.w4[k] = static_cast<int8_t>(w4(rng));
        g.d8[k] = static_cast<int8_t>(d8(rng));
      }
      g.s4 = scale(rng);
      g.s8 = scale(rng) * 0.01f;
    }
  }
  llvm::Error readRow(size_t, int64_t row,
                      llvm::MutableArrayRef<srd::SRDGroup> out) const override {
    std::copy_n(groups.begin() + row * out.size(), out.size(), out.begin());
    return llvm::Error::success();
  }
  std::vector<srd::RowRange> unusableRows(size_t) const override {
    return unusable;
  }

  /// The reference W' of one row, each step rounded to f32.
  std::vector<float> referenceRow(int64_t row, float alpha) const {
    const int64_t cols = tensors_[0].cols;
    std::vector<float> out(cols);
    for (int64_t c = 0; c < cols; ++c) {
      const srd::SRDGroup &g = groups[(row * cols + c) / srd::kGroupSize];
      const int k = static_cast<int>(c % srd::kGroupSize);
      volatile float base = static_cast<float>(g.w4[k]) * g.s4;
      volatile float residual = static_cast<float>(g.d8[k]) * g.s8;
      volatile float scaled = alpha * residual;
      out[c] = base + scaled;
    }
    return out;
  }

  std::vector<srd::SRDGroup> groups;
  std::vector<srd::RowRange> unusable;
};

std::vector<uint8_t> randomBytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> out(n);
  for (uint8_t &b : out)
    b = static_cast<uint8_t>(rng());
  return out;
}

/// `rows` rows of random values encoded in `t`.
std::vector<uint8_t> randomRows(Type t, uint64_t rows, uint64_t cols,
                                uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> value(0.0f, 0.02f);
  const size_t rowBytes = fmt::rowBytes(t, cols);
  std::vector<uint8_t> out(rows * rowBytes);
  std::vector<float> row(cols);
  for (uint64_t r = 0; r < rows; ++r) {
    for (float &v : row)
      v = value(rng);
    fmt::quantizeRow(t, row.data(), out.data() + r * rowBytes, cols);
  }
  return out;
}

WeightSpec spec(Type format, uint64_t rows, uint64_t cols, bool x8 = false) {
  WeightSpec s;
  s.name = "blk.0.ffn_down.weight";
  s.format = format;
  s.rows = rows;
  s.cols = cols;
  s.x8 = x8;
  return s;
}

std::vector<uint8_t>
transformOk(const WeightSpec &s, const std::vector<uint8_t> &source,
            const srd::ResidualSource *residuals = nullptr) {
  auto out = transformWeight(s, source, residuals);
  if (!out) {
    ADD_FAILURE() << llvm::toString(out.takeError());
    return {};
  }
  EXPECT_EQ(out->size(), s.storedBytes());
  return std::move(*out);
}

std::string transformError(const WeightSpec &s,
                           const std::vector<uint8_t> &source,
                           const srd::ResidualSource *residuals = nullptr) {
  auto out = transformWeight(s, source, residuals);
  if (out) {
    ADD_FAILURE() << "transform of '" << s.name << "' succeeded";
    return {};
  }
  return llvm::toString(out.takeError());
}

uint16_t u16At(const uint8_t *p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
uint32_t u32At(const uint8_t *p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

/// The x8 layout of Q4_0 from repack.h: per block, d of rows 0..7, then for
/// c in 0..3 and row r, qs[4c .. 4c+3] of row r at 16 + 32c + 4r.
void expectQ4_0X8(const std::vector<uint8_t> &rows,
                  const std::vector<uint8_t> &packed, uint64_t cols) {
  const size_t rowBytes = fmt::rowBytes(Type::Q4_0, cols);
  const size_t blocks = cols / 32, groupBytes = 8 * rowBytes;
  ASSERT_EQ(rows.size(), packed.size());
  for (size_t g = 0; g < rows.size() / groupBytes; ++g)
    for (size_t b = 0; b < blocks; ++b) {
      const uint8_t *x8 = packed.data() + g * groupBytes + b * 144;
      for (int r = 0; r < 8; ++r) {
        const uint8_t *blk =
            rows.data() + (8 * g + r) * rowBytes + b * 18; // d, qs[16]
        ASSERT_EQ(std::memcmp(x8 + 2 * r, blk, 2), 0)
            << "d of row " << 8 * g + r << " block " << b;
        for (int c = 0; c < 4; ++c)
          ASSERT_EQ(std::memcmp(x8 + 16 + 32 * c + 4 * r, blk + 2 + 4 * c, 4),
                    0)
              << "qs chunk " << c << " of row " << 8 * g + r << " block " << b;
      }
    }
}

/// llama.cpp's get_scale_min_k4: sub-block j's 6-bit scale and minimum.
void scaleMin(const uint8_t *q, int j, uint8_t &sc, uint8_t &m) {
  if (j < 4) {
    sc = q[j] & 63;
    m = q[j + 4] & 63;
  } else {
    sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

} // namespace

TEST(WeightTransform, CopiesAnUntransformedWeight) {
  WeightSpec s = spec(Type::Q8_0, 5, 64);
  std::vector<uint8_t> source = randomBytes(s.storedBytes() + 100, 7);
  std::vector<uint8_t> out = transformOk(s, source);
  EXPECT_TRUE(std::equal(out.begin(), out.end(), source.begin()));
}

TEST(WeightTransform, WidensBF16RowsToF32Exactly) {
  WeightSpec s = spec(Type::F32, 3, 64);
  s.widenFrom = Type::BF16;
  std::vector<uint8_t> source = randomBytes(3 * 64 * 2, 5);
  for (size_t i = 1; i < source.size(); i += 2)
    source[i] &= 0x7F; // no NaN or infinity: finite bf16 values
  std::vector<uint8_t> out = transformOk(s, source);
  ASSERT_EQ(out.size(), 3u * 64 * 4);
  for (size_t i = 0; i < 3 * 64; ++i) {
    uint32_t bits;
    std::memcpy(&bits, out.data() + 4 * i, 4);
    EXPECT_EQ(bits, uint32_t(source[2 * i] | source[2 * i + 1] << 8) << 16);
  }
  s.format = Type::Q8_0; // widening makes f32 and nothing else
  EXPECT_NE(transformError(s, source).find("widening"), std::string::npos);
}

TEST(WeightTransform, StacksPartsInOrderFromAnywhereInTheCheckpoint) {
  // Three parts of 8, 16 and 8 Q4_0 rows, stored out of order in the
  // checkpoint, then the whole weight interleaved: each part's groups of
  // eight are the repack of that part's rows.
  WeightSpec s = spec(Type::Q4_0, 32, 64, /*x8=*/true);
  const uint64_t rb = s.rowBytes();
  std::vector<uint8_t> checkpoint = randomBytes(40 * rb, 23);
  auto part = [](uint64_t offset, uint64_t rows) {
    WeightPart p;
    p.sourceOffset = offset;
    p.rows = rows;
    return p;
  };
  s.parts = {part(20 * rb, 8), part(0, 16), part(30 * rb, 8)};
  auto out = transformWeight(s, {}, nullptr, checkpoint);
  ASSERT_TRUE(bool(out)) << llvm::toString(out.takeError());
  std::vector<uint8_t> rows;
  for (const WeightPart &p : s.parts)
    rows.insert(rows.end(), checkpoint.begin() + p.sourceOffset,
                checkpoint.begin() + p.sourceOffset + p.rows * rb);
  expectQ4_0X8(rows, *out, s.cols);

  auto message = [&](const WeightSpec &w) {
    auto r = transformWeight(w, {}, nullptr, checkpoint);
    return r ? std::string("(no error)") : llvm::toString(r.takeError());
  };
  WeightSpec fewer = s;
  fewer.parts.pop_back();
  EXPECT_NE(message(fewer).find("its parts hold 24 rows, the weight 32"),
            std::string::npos);
  WeightSpec past = s;
  past.parts[2].sourceOffset = checkpoint.size() + 1;
  EXPECT_NE(message(past).find("(part 2)': starts at offset"),
            std::string::npos);
  WeightSpec shortPart = s;
  shortPart.parts[2].sourceOffset = 36 * rb; // 4 rows left, 8 needed
  EXPECT_NE(message(shortPart).find("(part 2)"), std::string::npos);
}

TEST(WeightTransform, RepacksQ4_0EightRowsAtATime) {
  WeightSpec s = spec(Type::Q4_0, 24, 96, /*x8=*/true);
  std::vector<uint8_t> source = randomBytes(s.storedBytes(), 11);
  expectQ4_0X8(source, transformOk(s, source), s.cols);
}

TEST(WeightTransform, RepacksQ4_K) {
  WeightSpec s = spec(Type::Q4_K, 16, 512, /*x8=*/true);
  std::vector<uint8_t> source = randomBytes(s.storedBytes(), 13);
  std::vector<uint8_t> out = transformOk(s, source);
  const size_t rowBytes = s.rowBytes(), groupBytes = 8 * rowBytes;
  for (size_t g = 0; g < 2; ++g)
    for (size_t b = 0; b < 2; ++b) {
      const uint8_t *x8 = out.data() + g * groupBytes + b * 1152;
      for (int r = 0; r < 8; ++r) {
        // d, dmin, scales[12], qs[128]
        const uint8_t *blk = source.data() + (8 * g + r) * rowBytes + b * 144;
        EXPECT_EQ(u16At(x8 + 2 * r), u16At(blk));
        EXPECT_EQ(u16At(x8 + 16 + 2 * r), u16At(blk + 2));
        // Field v < 8: sub-block v's scale, else sub-block v-8's minimum;
        // fields 5k..5k+4 at bits 6i of word k (at 32 + 32k + 4r), field
        // 15's bit pairs in bits 30..31 of words 0, 1, 2.
        uint32_t w[3];
        for (int k = 0; k < 3; ++k)
          w[k] = u32At(x8 + 32 + 32 * k + 4 * r);
        for (int v = 0; v < 16; ++v) {
          uint8_t sc, m;
          scaleMin(blk + 4, v % 8, sc, m);
          const unsigned want = v < 8 ? sc : m;
          const unsigned got =
              v < 15 ? (w[v / 5] >> (6 * (v % 5))) & 63
                     : (w[0] >> 30) | ((w[1] >> 30) << 2) | ((w[2] >> 30) << 4);
          EXPECT_EQ(got, want) << "scale field " << v << " of row " << r;
        }
        for (int c = 0; c < 4; ++c)
          for (int k = 0; k < 8; ++k)
            EXPECT_EQ(std::memcmp(x8 + 128 + 32 * (8 * c + k) + 4 * r,
                                  blk + 16 + 32 * c + 4 * k, 4),
                      0);
      }
    }
}

TEST(WeightTransform, FoldsSRDIntoF32) {
  MemoryResiduals res(6, 128, /*fileAlpha=*/0.5f);
  WeightSpec s = spec(Type::F32, 6, 128);
  s.srd = SRDFold{0, Type::Q8_0, 0.5f};
  std::vector<uint8_t> base = randomRows(Type::Q8_0, 6, 128, 3);
  std::vector<uint8_t> out = transformOk(s, base, &res);
  for (int64_t r = 0; r < 6; ++r) {
    std::vector<float> want = res.referenceRow(r, 0.5f);
    EXPECT_EQ(std::memcmp(out.data() + r * 128 * 4, want.data(), 128 * 4), 0)
        << "row " << r;
  }
}

TEST(WeightTransform, FoldsWithTheDefinitionsAlphaNotTheFiles) {
  MemoryResiduals res(2, 64, /*fileAlpha=*/1.0f);
  WeightSpec s = spec(Type::F32, 2, 64);
  s.srd = SRDFold{0, Type::F32, 0.25f};
  std::vector<uint8_t> out =
      transformOk(s, randomRows(Type::F32, 2, 64, 4), &res);
  std::vector<float> want = res.referenceRow(1, 0.25f);
  EXPECT_EQ(std::memcmp(out.data() + 64 * 4, want.data(), 64 * 4), 0);
}

TEST(WeightTransform, FoldsSRDIntoQ8_0ThroughTheCodec) {
  MemoryResiduals res(3, 256, 0.75f);
  WeightSpec s = spec(Type::Q8_0, 3, 256);
  s.srd = SRDFold{0, Type::F32, 0.75f};
  std::vector<uint8_t> out =
      transformOk(s, randomRows(Type::F32, 3, 256, 5), &res);
  std::vector<uint8_t> want(s.rowBytes());
  for (int64_t r = 0; r < 3; ++r) {
    fmt::quantizeRow(Type::Q8_0, res.referenceRow(r, 0.75f).data(), want.data(),
                     256);
    EXPECT_EQ(
        std::memcmp(out.data() + r * s.rowBytes(), want.data(), want.size()), 0)
        << "row " << r;
  }
}

TEST(WeightTransform, FoldsThenRepacks) {
  MemoryResiduals res(16, 64, 1.0f);
  WeightSpec s = spec(Type::Q4_0, 16, 64, /*x8=*/true);
  s.srd = SRDFold{0, Type::F32, 1.0f};
  std::vector<uint8_t> out =
      transformOk(s, randomRows(Type::F32, 16, 64, 6), &res);
  std::vector<uint8_t> rows(s.storedBytes());
  for (int64_t r = 0; r < 16; ++r)
    fmt::quantizeRow(Type::Q4_0, res.referenceRow(r, 1.0f).data(),
                     rows.data() + r * s.rowBytes(), 64);
  expectQ4_0X8(rows, out, 64);
}

TEST(WeightTransform, UnusableRowsKeepTheCheckpoints) {
  MemoryResiduals res(8, 64, 1.0f);
  res.unusable = {{2, 5}};
  // Same format: the checkpoint's bytes themselves.
  WeightSpec same = spec(Type::Q8_0, 8, 64);
  same.srd = SRDFold{0, Type::Q8_0, 1.0f};
  std::vector<uint8_t> base = randomRows(Type::Q8_0, 8, 64, 8);
  std::vector<uint8_t> out = transformOk(same, base, &res);
  const size_t rb = same.rowBytes();
  for (int64_t r = 0; r < 8; ++r) {
    bool kept = r >= 2 && r < 5;
    EXPECT_EQ(std::memcmp(out.data() + r * rb, base.data() + r * rb, rb) == 0,
              kept)
        << "row " << r;
  }
  // Another format: the checkpoint's values re-encoded.
  WeightSpec other = spec(Type::Q8_0, 8, 64);
  other.srd = SRDFold{0, Type::F32, 1.0f};
  std::vector<uint8_t> f32 = randomRows(Type::F32, 8, 64, 9);
  out = transformOk(other, f32, &res);
  std::vector<uint8_t> want(rb);
  fmt::quantizeRow(Type::Q8_0,
                   reinterpret_cast<const float *>(f32.data()) + 3 * 64,
                   want.data(), 64);
  EXPECT_EQ(std::memcmp(out.data() + 3 * rb, want.data(), rb), 0);
}

TEST(WeightTransform, StreamsPiecesAndReportsTheSourceConsumed) {
  MemoryResiduals res(16, 64, 1.0f);
  WeightSpec s = spec(Type::Q4_0, 16, 64, /*x8=*/true);
  s.srd = SRDFold{0, Type::F32, 1.0f};
  std::vector<uint8_t> base = randomRows(Type::F32, 16, 64, 10);
  std::vector<uint8_t> streamed;
  uint64_t last = 0;
  ASSERT_FALSE(errorToBool(transformWeight(
      s, base, &res, [&](llvm::ArrayRef<uint8_t> bytes, uint64_t done) {
        EXPECT_GT(done, last);
        last = done;
        streamed.insert(streamed.end(), bytes.begin(), bytes.end());
      })));
  EXPECT_EQ(last, s.sourceBytes());
  EXPECT_EQ(streamed, transformOk(s, base, &res));
}

TEST(WeightTransform, Rejects) {
  MemoryResiduals res(16, 64, 1.0f);
  auto expectError = [&](const WeightSpec &s, size_t sourceBytes,
                         const std::string &message,
                         const srd::ResidualSource *r = nullptr) {
    std::string e = transformError(s, std::vector<uint8_t>(sourceBytes), r);
    EXPECT_NE(e.find("weight 'blk.0.ffn_down.weight': " + message),
              std::string::npos)
        << e;
  };
  expectError(spec(Type::Q4_0, 12, 64, true), 12 * 36,
              "layout x8 needs a multiple of 8 rows, it has 12");
  expectError(spec(Type::Q8_0, 16, 64, true), 16 * 68,
              "layout x8 does not exist for q8_0");
  expectError(spec(Type::Q4_0, 8, 48), 8 * 36,
              "rows of 48 elements are not whole q4_0 blocks of 32");
  expectError(spec(Type::Q4_0, 8, 64), 8 * 36 - 1,
              "needs 288 bytes of the checkpoint, 287 remain");
  expectError(spec(Type::Q4_0, 0, 64), 0, "has no elements");
  expectError(spec(static_cast<Type>(5), 8, 64), 1024,
              "unknown storage format 5");

  WeightSpec folded = spec(Type::F32, 16, 64);
  folded.srd = SRDFold{0, Type::F32, 1.0f};
  expectError(folded, 16 * 256, "is corrected but no residuals were given");
  folded.srd->tensor = 1;
  expectError(folded, 16 * 256,
              "residual tensor #1 is not in memory.srd4, which has 1", &res);
  folded.srd->tensor = 0;
  folded.rows = 8;
  expectError(folded, 16 * 256,
              "residual tensor #0 of memory.srd4 is [16, 64], the weight "
              "[8, 64]",
              &res);
  folded.rows = 16;
  folded.srd->base = Type::Q4_K;
  expectError(folded, 16 * 256,
              "checkpoint rows of 64 elements are not whole q4_k blocks", &res);
  folded.srd->base = Type::Q8_0;
  expectError(folded, 16 * 68 - 1,
              "needs 1088 bytes of the checkpoint, 1087 remain", &res);
}

TEST(WeightTransform, StepsRejectMismatchedBuffers) {
  std::vector<uint8_t> rows(8 * 36), dst(8 * 36 - 36);
  std::string e = llvm::toString(repackX8Rows(Type::Q4_0, 64, rows, dst));
  EXPECT_NE(e.find("x8 repack of 288 bytes into 252"), std::string::npos) << e;
  e = llvm::toString(repackX8Rows(Type::Q8_0, 64, rows, dst));
  EXPECT_NE(e.find("layout x8 does not exist for q8_0"), std::string::npos)
      << e;

  MemoryResiduals res(8, 64, 1.0f);
  WeightSpec s = spec(Type::F32, 8, 64);
  s.srd = SRDFold{0, Type::F32, 1.0f};
  std::vector<uint8_t> base(2 * 256), out(3 * 256);
  e = llvm::toString(foldSRDRows(s, res, 0, base, out));
  EXPECT_NE(e.find("SRD fold of rows [0, 3) given 512 checkpoint bytes"),
            std::string::npos)
      << e;
  base.resize(3 * 256);
  e = llvm::toString(foldSRDRows(s, res, 6, base, out));
  EXPECT_NE(e.find("SRD fold of rows [6, 9)"), std::string::npos) << e;
  EXPECT_FALSE(errorToBool(foldSRDRows(s, res, 5, base, out)));
}

//===----------------------------------------------------------------------===//
// GPTQ tensors -> f32 / q8_0 / q4_0 rows
//===----------------------------------------------------------------------===//

namespace {

/// GPTQ tensors of an N x K linear laid out in one buffer (qweight at 0),
/// with the element values the format defines computed here independently.
struct GPTQFixture {
  int64_t N, K, group, G;
  bool symmetric;
  std::vector<int> q, zero;  // q[n*K + k], zero[g*N + n] (after the +1)
  std::vector<float> scale;  // [g*N + n], fp16 values
  std::vector<uint16_t> scaleBits;
  std::vector<int32_t> gIdx; // empty: k / group
  std::vector<uint8_t> checkpoint;
  WeightSpec spec;

  GPTQFixture(int64_t n, int64_t k, int64_t grp, bool sym, bool permuted,
              uint32_t seed = 7)
      : N(n), K(k), group(grp), G((k + grp - 1) / grp), symmetric(sym) {
    std::mt19937 rng(seed);
    q.resize(N * K);
    for (int &v : q)
      v = static_cast<int>(rng() % 16);
    zero.resize(G * N);
    for (int &z : zero)
      z = sym ? 8 : 1 + static_cast<int>(rng() % 15);
    std::uniform_real_distribution<float> s(-0.05f, 0.05f);
    for (int64_t i = 0; i < G * N; ++i) {
      _Float16 h = static_cast<_Float16>(s(rng));
      scaleBits.push_back(std::bit_cast<uint16_t>(h));
      scale.push_back(static_cast<float>(h));
    }
    if (permuted) {
      std::vector<int32_t> perm(K);
      for (int64_t i = 0; i < K; ++i)
        perm[i] = static_cast<int32_t>(i);
      std::shuffle(perm.begin(), perm.end(), rng);
      gIdx.resize(K);
      for (int64_t i = 0; i < K; ++i)
        gIdx[perm[i]] = static_cast<int32_t>(i / group);
    }
    // Pack: qweight [K/8, N], qzeros [G, N/8] (nibble = zero - 1), scales
    // [G, N], g_idx [K].
    auto put32 = [&](uint32_t v) {
      for (int b = 0; b < 4; ++b)
        checkpoint.push_back(static_cast<uint8_t>(v >> (8 * b)));
    };
    GPTQSource src;
    src.qweight = 0;
    for (int64_t kp = 0; kp < K / 8; ++kp)
      for (int64_t r = 0; r < N; ++r) {
        uint32_t w = 0;
        for (int j = 0; j < 8; ++j)
          w |= static_cast<uint32_t>(q[r * K + kp * 8 + j]) << (4 * j);
        put32(w);
      }
    src.qzeros = checkpoint.size();
    for (int64_t g = 0; g < G; ++g)
      for (int64_t r8 = 0; r8 < N / 8; ++r8) {
        uint32_t w = 0;
        for (int j = 0; j < 8; ++j)
          w |= static_cast<uint32_t>(zero[g * N + r8 * 8 + j] - 1) << (4 * j);
        put32(w);
      }
    src.scales = checkpoint.size();
    for (uint16_t b : scaleBits) {
      checkpoint.push_back(static_cast<uint8_t>(b));
      checkpoint.push_back(static_cast<uint8_t>(b >> 8));
    }
    if (!gIdx.empty()) {
      src.gIdx = checkpoint.size();
      for (int32_t g : gIdx)
        put32(static_cast<uint32_t>(g));
    }
    src.group = static_cast<uint64_t>(group);
    spec.name = "gptq";
    spec.rows = static_cast<uint64_t>(N);
    spec.cols = static_cast<uint64_t>(K);
    spec.gptq = src;
  }

  int groupOf(int64_t k) const { return gIdx.empty() ? k / group : gIdx[k]; }
  /// The definition: scale * (q - z).
  float value(int64_t n, int64_t k) const {
    int64_t g = groupOf(k);
    return scale[g * N + n] * static_cast<float>(q[n * K + k] - zero[g * N + n]);
  }

  llvm::Expected<std::vector<uint8_t>> transform(Type format, bool x8 = false) {
    spec.format = format;
    spec.x8 = x8;
    return transformWeight(spec, checkpoint, nullptr, checkpoint);
  }
};

/// Rows of `format` back to floats with the format's own decoder.
std::vector<float> decoded(Type format, const std::vector<uint8_t> &bytes,
                           int64_t rows, int64_t cols) {
  std::vector<float> out(rows * cols);
  const size_t rb = fmt::rowBytes(format, cols);
  for (int64_t r = 0; r < rows; ++r)
    fmt::dequantizeRow(format, bytes.data() + r * rb, out.data() + r * cols,
                       cols);
  return out;
}

void expectValues(const GPTQFixture &f, const std::vector<float> &got) {
  for (int64_t n = 0; n < f.N; ++n)
    for (int64_t k = 0; k < f.K; ++k)
      ASSERT_EQ(got[n * f.K + k], f.value(n, k)) << "row " << n << " col " << k;
}

} // namespace

TEST(GPTQDecode, F32IsTheDefinitionWithPermutedGroupsAndAPartialLastGroup) {
  GPTQFixture f(72, 200, 48, /*sym=*/false, /*permuted=*/true);
  auto out = f.transform(Type::F32);
  ASSERT_TRUE(bool(out)) << llvm::toString(out.takeError());
  expectValues(f, decoded(Type::F32, *out, f.N, f.K));
}

TEST(GPTQDecode, Q8_0HoldsAsymmetricGroupsExactly) {
  GPTQFixture f(80, 256, 96, /*sym=*/false, /*permuted=*/false);
  auto out = f.transform(Type::Q8_0);
  ASSERT_TRUE(bool(out)) << llvm::toString(out.takeError());
  expectValues(f, decoded(Type::Q8_0, *out, f.N, f.K));
}

TEST(GPTQDecode, Q4_0HoldsSymmetricGroupsBitForBit) {
  GPTQFixture f(64, 256, 128, /*sym=*/true, /*permuted=*/false);
  auto out = f.transform(Type::Q4_0);
  ASSERT_TRUE(bool(out)) << llvm::toString(out.takeError());
  expectValues(f, decoded(Type::Q4_0, *out, f.N, f.K));
  // The scale is d itself and the nibbles are q: no rounding anywhere.
  auto *blocks = reinterpret_cast<const fmt::BlockQ4_0 *>(out->data());
  EXPECT_EQ(blocks[0].d, f.scaleBits[0]);
  EXPECT_EQ(blocks[0].qs[0], f.q[0] | (f.q[16] << 4));
}

TEST(GPTQDecode, Q4_0ThenX8IsTheRepackOfTheRows) {
  GPTQFixture f(64, 256, 128, /*sym=*/true, /*permuted=*/false);
  auto rows = f.transform(Type::Q4_0);
  auto packed = f.transform(Type::Q4_0, /*x8=*/true);
  ASSERT_TRUE(rows && packed);
  std::vector<uint8_t> want(rows->size());
  ASSERT_FALSE(errorToBool(repackX8Rows(Type::Q4_0, 256, *rows, want)));
  EXPECT_EQ(*packed, want);
}

TEST(GPTQDecode, Rejects) {
  auto message = [](llvm::Expected<std::vector<uint8_t>> r) {
    return r ? std::string("(no error)") : llvm::toString(r.takeError());
  };
  {
    GPTQFixture f(64, 256, 128, /*sym=*/false, /*permuted=*/false);
    EXPECT_NE(message(f.transform(Type::Q4_0)).find("zero point"),
              std::string::npos);
  }
  {
    GPTQFixture f(64, 256, 128, /*sym=*/true, /*permuted=*/true);
    EXPECT_NE(message(f.transform(Type::Q8_0)).find("different GPTQ groups"),
              std::string::npos);
  }
  {
    GPTQFixture f(64, 256, 128, /*sym=*/true, /*permuted=*/true);
    // A group index past the groups.
    std::memset(f.checkpoint.data() + *f.spec.gptq->gIdx + 4 * 5, 0x7F, 4);
    EXPECT_NE(message(f.transform(Type::F32)).find("g_idx[5]"),
              std::string::npos);
  }
  {
    GPTQFixture f(64, 256, 128, /*sym=*/true, /*permuted=*/false);
    f.checkpoint.resize(f.spec.gptq->scales + 10); // scales cut short
    EXPECT_NE(message(f.transform(Type::F32)).find("GPTQ scales at offset"),
              std::string::npos);
  }
  {
    GPTQFixture f(64, 256, 128, /*sym=*/true, /*permuted=*/false);
    EXPECT_NE(message(f.transform(Type::BF16)).find("cannot be stored as"),
              std::string::npos);
  }
}

//===----------------------------------------------------------------------===//
// FP8 E4M3 with 128x128 block scales -> f8_b64 rows
//===----------------------------------------------------------------------===//

TEST(FP8Blocks, RowsCarryTheScaleOfTheirBlockIncludingPartialOnes) {
  // 200 x 192: partial blocks at both high ends (200 = 128 + 72, 192 = 128 + 64).
  const int64_t N = 200, K = 192, ob = 2, ib = 2;
  std::mt19937 rng(4);
  std::vector<uint8_t> checkpoint(N * K);
  for (uint8_t &b : checkpoint) {
    b = static_cast<uint8_t>(rng());
    if ((b & 0x7F) == 0x7F)
      b ^= 1;
  }
  std::vector<float> scales(ob * ib);
  for (float &s : scales)
    s = 0.001f + static_cast<float>(rng() % 1000) / 1e4f;
  const uint64_t scaleOffset = checkpoint.size();
  checkpoint.resize(checkpoint.size() + scales.size() * 4);
  std::memcpy(checkpoint.data() + scaleOffset, scales.data(), scales.size() * 4);
  WeightSpec spec;
  spec.name = "fp8";
  spec.format = Type::F8_B64;
  spec.rows = N;
  spec.cols = K;
  spec.fp8 = FP8BlocksSource{scaleOffset, 128};
  auto out = transformWeight(spec, checkpoint, nullptr, checkpoint);
  ASSERT_TRUE(bool(out)) << llvm::toString(out.takeError());
  std::vector<float> got(N * K);
  for (int64_t n = 0; n < N; ++n)
    fmt::dequantizeRow(Type::F8_B64, out->data() + n * spec.rowBytes(),
                       got.data() + n * K, K);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k)
      ASSERT_EQ(got[n * K + k], fmt::e4m3ToF32(checkpoint[n * K + k]) *
                                    scales[(n / 128) * ib + k / 128])
          << n << ", " << k;

  // A NaN code and a non-finite scale are refused, naming where.
  checkpoint[5 * K + 7] = 0x7F;
  auto nan = transformWeight(spec, checkpoint, nullptr, checkpoint);
  ASSERT_FALSE(bool(nan));
  EXPECT_NE(llvm::toString(nan.takeError()).find("element [5, 7] is an E4M3 NaN"),
            std::string::npos);
  checkpoint[5 * K + 7] = 0;
  const float inf = INFINITY;
  std::memcpy(checkpoint.data() + scaleOffset + 4 * 3, &inf, 4);
  auto bad = transformWeight(spec, checkpoint, nullptr, checkpoint);
  ASSERT_FALSE(bool(bad));
  EXPECT_NE(llvm::toString(bad.takeError()).find("is not finite"),
            std::string::npos);
}

//===----------------------------------------------------------------------===//
// ModelOpt NVFP4 -> ggml nvfp4 blocks
//===----------------------------------------------------------------------===//

TEST(NVFP4Source, BlocksHoldTheModelOptCodesAndScales) {
  const int64_t N = 3, K = 128;
  std::mt19937 rng(6);
  // ModelOpt's layout: byte c of a row holds element 2c low, 2c+1 high.
  std::vector<uint8_t> codes(N * K);
  for (uint8_t &c : codes)
    c = static_cast<uint8_t>(rng() & 15);
  std::vector<uint8_t> checkpoint(N * K / 2);
  for (int64_t i = 0; i < N * K / 2; ++i)
    checkpoint[i] = static_cast<uint8_t>(codes[2 * i] | (codes[2 * i + 1] << 4));
  std::vector<uint8_t> scales(N * K / 16);
  for (uint8_t &s : scales)
    s = static_cast<uint8_t>(1 + rng() % 0x7E); // positive, not NaN
  const uint64_t scaleOffset = checkpoint.size();
  checkpoint.insert(checkpoint.end(), scales.begin(), scales.end());
  WeightSpec spec;
  spec.name = "nvfp4";
  spec.format = Type::NVFP4;
  spec.rows = N;
  spec.cols = K;
  spec.nvfp4 = NVFP4Source{scaleOffset};
  auto out = transformWeight(spec, checkpoint, nullptr, checkpoint);
  ASSERT_TRUE(bool(out)) << llvm::toString(out.takeError());
  // Dequantized, each element is its E2M1 value times its 16's E4M3 scale
  // (the format's definition, without the per-tensor weight_scale_2).
  static const float e2m1[16] = {0,  0.5f,  1,  1.5f,  2,  3,  4,  6,
                                 -0, -0.5f, -1, -1.5f, -2, -3, -4, -6};
  std::vector<float> got(K);
  for (int64_t n = 0; n < N; ++n) {
    fmt::dequantizeRow(Type::NVFP4, out->data() + n * spec.rowBytes(),
                       got.data(), K);
    for (int64_t k = 0; k < K; ++k)
      ASSERT_EQ(got[k], e2m1[codes[n * K + k]] *
                            fmt::e4m3ToF32(scales[n * (K / 16) + k / 16]))
          << n << ", " << k;
  }

  // A NaN or negative scale is refused, naming the row and columns.
  checkpoint[scaleOffset + 1 * (K / 16) + 2] = 0x7F;
  auto nan = transformWeight(spec, checkpoint, nullptr, checkpoint);
  ASSERT_FALSE(bool(nan));
  EXPECT_NE(llvm::toString(nan.takeError())
                .find("scale of row 1, columns 32..47 is an E4M3 NaN"),
            std::string::npos);
  checkpoint[scaleOffset + 1 * (K / 16) + 2] = 0x80 | 0x38;
  auto neg = transformWeight(spec, checkpoint, nullptr, checkpoint);
  ASSERT_FALSE(bool(neg));
  EXPECT_NE(llvm::toString(neg.takeError()).find("is negative"),
            std::string::npos);
  // Scales past the end of the checkpoint.
  checkpoint.resize(scaleOffset + 5);
  auto shortFile = transformWeight(spec, {checkpoint.data(), scaleOffset},
                                   nullptr, checkpoint);
  ASSERT_FALSE(bool(shortFile));
  EXPECT_NE(llvm::toString(shortFile.takeError()).find("run past the end"),
            std::string::npos);
}

TEST(NVFP4Source, ExpertPartsEachReadTheirOwnCodesAndScales) {
  // Two experts' NVFP4 modules of 2 and 3 rows, stored apart (the second
  // first) with their scales elsewhere: the stacked weight's rows are each
  // module's elements times its own 16's scale.
  const int64_t K = 64;
  const int64_t rows[2] = {2, 3};
  std::mt19937 rng(8);
  std::vector<uint8_t> checkpoint(512, 0);
  std::vector<std::vector<uint8_t>> codes(2), scales(2);
  WeightSpec spec;
  spec.name = "blk.0.ffn_gate_exps.weight";
  spec.format = Type::NVFP4;
  spec.rows = rows[0] + rows[1];
  spec.cols = K;
  for (int m : {1, 0}) {
    codes[m].resize(rows[m] * K);
    for (uint8_t &c : codes[m])
      c = static_cast<uint8_t>(rng() & 15);
    scales[m].resize(rows[m] * K / 16);
    for (uint8_t &s : scales[m])
      s = static_cast<uint8_t>(1 + rng() % 0x7E);
  }
  spec.parts.resize(2);
  for (int m : {1, 0}) {
    WeightPart &p = spec.parts[m];
    p.rows = static_cast<uint64_t>(rows[m]);
    p.sourceOffset = checkpoint.size();
    for (int64_t i = 0; i < rows[m] * K / 2; ++i)
      checkpoint.push_back(
          static_cast<uint8_t>(codes[m][2 * i] | (codes[m][2 * i + 1] << 4)));
    p.nvfp4 = NVFP4Source{checkpoint.size()};
    checkpoint.insert(checkpoint.end(), scales[m].begin(), scales[m].end());
  }
  auto out = transformWeight(spec, {}, nullptr, checkpoint);
  ASSERT_TRUE(bool(out)) << llvm::toString(out.takeError());
  ASSERT_EQ(out->size(), spec.storedBytes());
  static const float e2m1[16] = {0,  0.5f,  1,  1.5f,  2,  3,  4,  6,
                                 -0, -0.5f, -1, -1.5f, -2, -3, -4, -6};
  std::vector<float> got(K);
  int64_t row = 0;
  for (int m : {0, 1})
    for (int64_t n = 0; n < rows[m]; ++n, ++row) {
      fmt::dequantizeRow(Type::NVFP4, out->data() + row * spec.rowBytes(),
                         got.data(), K);
      for (int64_t k = 0; k < K; ++k)
        ASSERT_EQ(got[k], e2m1[codes[m][n * K + k]] *
                              fmt::e4m3ToF32(scales[m][n * (K / 16) + k / 16]))
            << "module " << m << ", row " << n << ", column " << k;
    }
  // A part's NaN scale names the part.
  checkpoint[spec.parts[1].nvfp4->scales + 5] = 0x7F;
  auto nan = transformWeight(spec, {}, nullptr, checkpoint);
  ASSERT_FALSE(bool(nan));
  EXPECT_NE(llvm::toString(nan.takeError()).find("(part 1)"),
            std::string::npos);
}

TEST(WeightTransform, ComputedValuesAreWrittenAsF32) {
  WeightSpec s;
  s.name = "blk.0.ffn_down_exps.scale";
  s.format = Type::F32;
  s.rows = 1;
  s.cols = 3;
  s.values = {0.5f, -2.0f, 3.25f};
  auto out = transformWeight(s, {}, nullptr);
  ASSERT_TRUE(bool(out)) << llvm::toString(out.takeError());
  ASSERT_EQ(out->size(), 12u);
  float v[3];
  std::memcpy(v, out->data(), 12);
  EXPECT_EQ(v[0], 0.5f);
  EXPECT_EQ(v[1], -2.0f);
  EXPECT_EQ(v[2], 3.25f);
  EXPECT_EQ(s.sourceBytes(), 0u);
  WeightSpec wrong = s;
  wrong.values.pop_back();
  auto r = transformWeight(wrong, {}, nullptr);
  ASSERT_FALSE(bool(r));
  EXPECT_NE(llvm::toString(r.takeError()).find("a weight of 2 values"),
            std::string::npos);
}
