// The gemma dialect's WeightFormat against the format table
// (abi/formats.def): every row is a dialect format with the row's name and
// geometry, and every dialect format is a row. (The values are pinned at
// compile time in dialects/gemma/WeightFormat.cpp; this checks the names.)

#include "abi/formats.h"
#include "dialects/gemma/GemmaDialect.h"

#include <gtest/gtest.h>

using namespace gemmac;
using namespace gemmac::gemma;

namespace {

TEST(WeightFormat, EveryTableRowIsADialectFormat) {
  for (const gemmac::abi::FormatInfo &f : gemmac::abi::kFormats) {
    std::optional<WeightFormat> w = symbolizeWeightFormat(f.name);
    ASSERT_TRUE(w.has_value()) << f.name;
    EXPECT_EQ(static_cast<uint32_t>(*w), static_cast<uint32_t>(f.format));
    EXPECT_EQ(stringifyWeightFormat(*w).str(), f.name);
    EXPECT_EQ(formatBlockElems(*w), f.blockElems) << f.name;
    EXPECT_EQ(formatBlockBytes(*w), f.blockBytes) << f.name;
    EXPECT_EQ(isFloatFormat(*w), gemmac::abi::isFloatFormat(f.format))
        << f.name;
  }
}

TEST(WeightFormat, EveryDialectFormatIsATableRow) {
  int formats = 0;
  for (uint32_t v = 0; v <= getMaxEnumValForWeightFormat(); ++v) {
    std::optional<WeightFormat> w = symbolizeWeightFormat(v);
    if (!w)
      continue;
    ++formats;
    const gemmac::abi::FormatInfo *f = gemmac::abi::findFormat(v);
    ASSERT_NE(f, nullptr) << stringifyWeightFormat(*w).str();
    EXPECT_EQ(stringifyWeightFormat(*w).str(), f->name);
  }
  EXPECT_EQ(formats, gemmac::abi::kNumFormats);
}

// gemma.act_blocks: the quantizer of each weight format and its block size
// are the table's.
TEST(WeightFormat, ActivationBlocksFollowTheTable) {
  for (const gemmac::abi::FormatInfo &f : gemmac::abi::kFormats) {
    WeightFormat w = *symbolizeWeightFormat(f.name);
    std::optional<ActQuantizer> q = ActBlocksType::quantizerFor(w);
    ASSERT_EQ(q.has_value(), f.actQuant != gemmac::abi::ActQuant::None)
        << f.name;
    if (!q)
      continue;
    const gemmac::abi::ActQuantInfo &info =
        gemmac::abi::actQuantInfo(f.actQuant);
    EXPECT_EQ(stringifyActQuantizer(*q).str(),
              llvm::StringRef(info.name).lower())
        << f.name;
    EXPECT_EQ(ActBlocksType::blockElems(*q),
              static_cast<int64_t>(info.blockElems))
        << f.name;
  }
}

} // namespace
