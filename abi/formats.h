// The weight formats and their rules, generated from abi/formats.def: what
// the compiler lays out and selects kernels for and what the runtime
// computes with. Header only, no dependencies.
#pragma once

#include <cstdint>

namespace gemmac::abi {

/// A weight's storage format; values are ggml type ids.
enum class Format : uint32_t {
#define GEMMAC_FORMAT(E, name, id, elems, bytes, act, x8, tiny) E = id,
#include "abi/formats.def"
};

/// The int8 blocks activations are quantized into for a quantized weight.
enum class ActQuant : uint32_t {
  None = 0,
#define GEMMAC_ACT_QUANT(E, name, id, elems, bytes) E,
#include "abi/formats.def"
};

/// The first format id that is gemmac's own, not a ggml type.
inline constexpr uint32_t kFirstOwnFormat = 256;

struct FormatInfo {
  Format format;
  const char *name;     // the gemma dialect's spelling: "q4_k"
  const char *ggmlName; // ggml's: "Q4_K"
  uint32_t blockElems;
  uint32_t blockBytes;
  ActQuant actQuant;
  bool x8;
  bool tinyMatmul;
};

inline constexpr FormatInfo kFormats[] = {
#define GEMMAC_FORMAT(E, name, id, elems, bytes, act, x8, tiny)                \
  {Format::E, #name, #E, elems, bytes, ActQuant::act, x8 != 0, tiny != 0},
#include "abi/formats.def"
};
inline constexpr int kNumFormats = sizeof(kFormats) / sizeof(kFormats[0]);

struct ActQuantInfo {
  ActQuant quant;
  const char *name;
  uint32_t ggmlId;
  uint32_t blockElems;
  uint32_t blockBytes;
};

/// Indexed by ActQuant; row None describes plain f32 activations.
inline constexpr ActQuantInfo kActQuants[] = {
    {ActQuant::None, "", 0, 1, 4},
#define GEMMAC_ACT_QUANT(E, name, id, elems, bytes)                            \
  {ActQuant::E, #name, id, elems, bytes},
#include "abi/formats.def"
};

/// The row of ggml type `ggmlId`, or null when gemmac does not compute
/// with it.
constexpr const FormatInfo *findFormat(uint32_t ggmlId) {
  for (const FormatInfo &f : kFormats)
    if (static_cast<uint32_t>(f.format) == ggmlId)
      return &f;
  return nullptr;
}
constexpr const FormatInfo &formatInfo(Format f) {
  return *findFormat(static_cast<uint32_t>(f));
}
constexpr const ActQuantInfo &actQuantInfo(ActQuant q) {
  return kActQuants[static_cast<uint32_t>(q)];
}

constexpr uint32_t blockElems(Format f) { return formatInfo(f).blockElems; }
constexpr uint32_t blockBytes(Format f) { return formatInfo(f).blockBytes; }
constexpr ActQuant activationQuant(Format f) { return formatInfo(f).actQuant; }
/// Float weights (f32, f16, bf16) multiply f32 activations directly.
constexpr bool isFloatFormat(Format f) {
  return activationQuant(f) == ActQuant::None && blockElems(f) == 1;
}
/// gemmac's own formats (not ggml types; no GGUF file holds them).
constexpr bool isOwnFormat(Format f) {
  return static_cast<uint32_t>(f) >= kFirstOwnFormat;
}

// ---- the x8 rule -----------------------------------------------------------

/// Rows of one interleaved group.
inline constexpr int64_t kX8Rows = 8;
/// Whether `f` has an x8 layout at all.
constexpr bool hasX8Layout(Format f) { return formatInfo(f).x8; }
/// Whether a weight of `rows` rows in `f` is the kind llama.cpp repacks: it
/// may take the x8 layout, and its arithmetic follows the repacked GEMM.
constexpr bool isRepackedShape(Format f, int64_t rows) {
  return hasX8Layout(f) && rows % kX8Rows == 0;
}

/// How a weight's rows lie in the weight blob: as stored, or interleaved
/// by kX8Rows (formats/repack.h). The dialect's WeightLayout has the same
/// values.
enum class Layout : uint32_t { Rows = 0, X8 = 1 };

// ---- the tiny-matrix rule --------------------------------------------------

/// tinyBLAS takes a float weight when its columns are a multiple of 8 and
/// its rows a multiple of 4 (eight lanes per row, four rows per tile).
constexpr bool isTinyMatmulShape(int64_t rows, int64_t cols) {
  return cols % 8 == 0 && rows % 4 == 0;
}
constexpr bool usesTinyMatmul(Format f, int64_t rows, int64_t cols) {
  return formatInfo(f).tinyMatmul && isTinyMatmulShape(rows, cols);
}

// ---- consistency of the table ----------------------------------------------

constexpr bool formatTableIsConsistent() {
  for (int i = 0; i < kNumFormats; ++i) {
    const FormatInfo &f = kFormats[i];
    for (int j = 0; j < i; ++j)
      if (kFormats[j].format == f.format)
        return false; // one row per format
    if (f.blockElems == 0 || f.blockBytes == 0)
      return false;
    if (static_cast<uint32_t>(f.format) >= kFirstOwnFormat) {
      // gemmac's own block formats: f32 activations, no ggml GEMM paths.
      if (f.actQuant != ActQuant::None || f.x8 || f.tinyMatmul)
        return false;
    } else if (f.actQuant == ActQuant::None) {
      // Float formats: scalar elements, tinyBLAS-capable, never repacked.
      if (f.blockElems != 1 || f.x8)
        return false;
    } else if (f.tinyMatmul ||
               f.blockElems % actQuantInfo(f.actQuant).blockElems != 0) {
      // A quantized weight block meets whole activation blocks (one, or
      // NVFP4's two).
      return false;
    }
  }
  for (uint32_t q = 0; q < sizeof(kActQuants) / sizeof(kActQuants[0]); ++q)
    if (static_cast<uint32_t>(kActQuants[q].quant) != q)
      return false;
  return true;
}
static_assert(formatTableIsConsistent(), "abi/formats.def is inconsistent");

} // namespace gemmac::abi
