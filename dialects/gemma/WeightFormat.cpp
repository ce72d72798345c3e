//===- WeightFormat.cpp - storage format geometry -------------------------===//
//
// The dialect's WeightFormat is abi/formats.def's table: its values are the
// table's ggml ids, checked here at compile time, and its geometry and rules
// are read from the table.
//
//===----------------------------------------------------------------------===//

#include "abi/formats.h"
#include "dialects/gemma/GemmaDialect.h"

using namespace gemmac::gemma;
namespace abi = gemmac::abi;

// Every row of the table is a WeightFormat case with the row's id...
#define GEMMAC_FORMAT(E, name, id, elems, bytes, act, x8, tiny)                \
  static_assert(static_cast<uint32_t>(WeightFormat::name) == (id) &&           \
                    static_cast<uint32_t>(abi::Format::E) == (id),             \
                "WeightFormat::" #name " disagrees with abi/formats.def");
#include "abi/formats.def"

// ...and the dialect has no case the table lacks: as many cases as rows (the
// ids are distinct, so equal counts mean the same set).
namespace {
constexpr int dialectFormatCount() {
  int n = 0;
  for (uint32_t v = 0; v <= getMaxEnumValForWeightFormat(); ++v)
    n += abi::findFormat(v) != nullptr;
  return n;
}
} // namespace
static_assert(dialectFormatCount() == abi::kNumFormats &&
                  !abi::findFormat(getMaxEnumValForWeightFormat() + 1),
              "gemma.WeightFormat and abi/formats.def differ");
static_assert(static_cast<uint32_t>(WeightLayout::rows) ==
                      static_cast<uint32_t>(abi::Layout::Rows) &&
                  static_cast<uint32_t>(WeightLayout::x8) ==
                      static_cast<uint32_t>(abi::Layout::X8),
              "gemma.WeightLayout and abi::Layout differ");

// gemma.act_blocks' quantizers are the table's activation quantizers, value
// for value.
static_assert(static_cast<uint32_t>(ActQuantizer::q8_0) ==
                      static_cast<uint32_t>(abi::ActQuant::Q8_0) &&
                  static_cast<uint32_t>(ActQuantizer::q8_1) ==
                      static_cast<uint32_t>(abi::ActQuant::Q8_1) &&
                  static_cast<uint32_t>(ActQuantizer::q8_k) ==
                      static_cast<uint32_t>(abi::ActQuant::Q8_K) &&
                  getMaxEnumValForActQuantizer() ==
                      static_cast<uint32_t>(abi::ActQuant::Q8_K),
              "gemma.ActQuantizer and abi::ActQuant differ");

static abi::Format toAbi(WeightFormat format) {
  return static_cast<abi::Format>(format);
}

int64_t gemmac::gemma::formatBlockElems(WeightFormat format) {
  return abi::blockElems(toAbi(format));
}

int64_t gemmac::gemma::formatBlockBytes(WeightFormat format) {
  return abi::blockBytes(toAbi(format));
}

bool gemmac::gemma::isFloatFormat(WeightFormat format) {
  return abi::isFloatFormat(toAbi(format));
}
