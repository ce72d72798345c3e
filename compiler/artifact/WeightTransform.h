//===- WeightTransform.h - the bytes written for a weight ---*- C++ -*-===//
//
// A weight in the compiled program's blob is its checkpoint rows, changed in
// two steps when its gemma.weight_def asks: the SRD fold (`srd =
// #gemma.srd<...>`: every row becomes W' from the residuals, quantized into
// the weight's format) and then the x8 repack (`layout = #gemma<layout x8>`:
// rows interleaved eight at a time, formats/repack.h). This module applies
// both and knows no IR: WeightsFile.cpp reads the definitions into a
// WeightSpec. One function per step; transformWeight composes them.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "formats/formats.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/STLFunctionalExtras.h"
#include "llvm/Support/Error.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace gemmac {
namespace srd {
class ResidualSource;
}

namespace weights {

/// An SRD fold (#gemma.srd): rows of W' from residual tensor #`tensor`,
/// computed with `alpha`; the checkpoint's rows, which a row the residuals
/// cannot vouch for keeps, are stored as `base`.
struct SRDFold {
  size_t tensor = 0;
  fmt::Type base = fmt::Type::F32;
  float alpha = 1.0f;
};

/// A weight the checkpoint stores as GPTQ 4-bit tensors (#gemma.gptq):
/// their offsets in the checkpoint, the group size (column k is in group
/// k / group when there is no g_idx) and what is added to a qzeros nibble.
struct GPTQSource {
  uint64_t qweight = 0, qzeros = 0, scales = 0;
  std::optional<uint64_t> gIdx;
  uint64_t group = 128;
  uint32_t zeroOffset = 1;
};

/// A weight the checkpoint stores as FP8 E4M3 with square block scales
/// (#gemma.fp8_blocks): where the F32 scales lie, and the block edge.
struct FP8BlocksSource {
  uint64_t scales = 0;
  uint64_t block = 128;
};

/// A weight the checkpoint stores in ModelOpt's NVFP4 layout
/// (#gemma.nvfp4_source): where its E4M3 scales (one per 16) lie.
struct NVFP4Source {
  uint64_t scales = 0;
};

/// Consecutive rows of a weight that the checkpoint stores as a tensor of
/// their own (#gemma.part): `rows` rows at `sourceOffset`, in the weight's
/// format, as GPTQ tensors, as ModelOpt NVFP4 codes or as FP8 blocks.
struct WeightPart {
  uint64_t sourceOffset = 0;
  uint64_t rows = 0;
  std::optional<GPTQSource> gptq;     // its qweight at sourceOffset
  std::optional<NVFP4Source> nvfp4;   // its codes at sourceOffset
  std::optional<FP8BlocksSource> fp8; // its E4M3 bytes at sourceOffset
};

/// What one weight of the blob is: `rows` rows of `cols` elements stored as
/// `format`, made from the checkpoint's rows by the optional SRD fold (or
/// from GPTQ tensors) and the optional x8 repack.
struct WeightSpec {
  std::string name; // for messages
  fmt::Type format = fmt::Type::F32;
  uint64_t rows = 0;
  uint64_t cols = 0;
  std::optional<SRDFold> srd;
  std::optional<GPTQSource> gptq;
  std::optional<FP8BlocksSource> fp8;
  std::optional<NVFP4Source> nvfp4;
  /// The checkpoint's rows are in this (f16/bf16) type, widened to format.
  std::optional<fmt::Type> widenFrom;
  bool x8 = false;
  /// The rows stacked from these tensors, in order (per-expert checkpoint
  /// tensors), each made as a weight of its own would be.
  std::vector<WeightPart> parts;
  /// An f32 weight the importer computed (its definition's `value`): these
  /// rows * cols values, and nothing read from the checkpoint.
  std::vector<float> values;

  /// Bytes of one stored row, and of the whole weight in the blob.
  uint64_t rowBytes() const { return fmt::rowBytes(format, cols); }
  uint64_t storedBytes() const { return rows * rowBytes(); }
  /// Bytes of one checkpoint row (in the base format when folded), and of
  /// all rows the transform reads.
  uint64_t sourceRowBytes() const {
    if (fp8)
      return cols; // one E4M3 byte per weight
    if (nvfp4)
      return cols / 2; // two E2M1 codes per byte
    if (widenFrom)
      return fmt::rowBytes(*widenFrom, cols);
    return gptq ? cols / 2 : fmt::rowBytes(srd ? srd->base : format, cols);
  }
  /// GPTQ: the groups (rows of scales and qzeros).
  uint64_t gptqGroups() const {
    return gptq ? (cols + gptq->group - 1) / gptq->group : 0;
  }
  /// (Parts lie anywhere in the checkpoint: none of it is read in order.)
  uint64_t sourceBytes() const {
    return parts.empty() && values.empty() ? rows * sourceRowBytes() : 0;
  }
};

/// Checks that `spec` is a weight the transform can make from `sourceBytes`
/// checkpoint bytes (and `residuals`, which a fold needs; `checkpointBytes`,
/// the whole checkpoint, which GPTQ tensors must lie in): whole blocks per
/// row, an x8 layout only for the formats that have one and a multiple of 8
/// rows, a residual tensor of the weight's shape, enough checkpoint bytes.
llvm::Error checkTransform(const WeightSpec &spec, uint64_t sourceBytes,
                           const srd::ResidualSource *residuals,
                           uint64_t checkpointBytes = 0);

/// Rows [firstRow, firstRow + n) of a GPTQ weight, n = dst.size() /
/// spec.rowBytes(), from the GPTQ tensors in `checkpoint`, in spec.format:
/// f32 (scale * (q - z), exact), q8_0 (d = the fp16 scale, q - z) or q4_0
/// (d = the scale, the nibbles; zero points must be 8). A group index out of
/// range, a block whose columns are in different groups (q8_0, q4_0) or a
/// zero point that is not 8 (q4_0) is an error naming the weight.
/// Rows [firstRow, firstRow + n) of an FP8 block-scaled weight as f8_b64:
/// each 64 E4M3 bytes of a row from `rows` (the checkpoint's rows) with the
/// F32 scale of their block from `checkpoint`. A NaN byte (0x7F, 0xFF) or a
/// non-finite scale is an error naming the weight and the element.
llvm::Error packFP8Rows(const WeightSpec &spec,
                        llvm::ArrayRef<uint8_t> checkpoint, uint64_t firstRow,
                        llvm::ArrayRef<uint8_t> rows,
                        llvm::MutableArrayRef<uint8_t> dst);

/// Rows [firstRow, firstRow + n) of a ModelOpt NVFP4 weight as ggml's
/// nvfp4 blocks (llama.cpp's converter repack: the scale bytes copied, the
/// codes reordered), from the checkpoint's packed rows `rows` and the scales
/// in `checkpoint`. A NaN or negative scale is an error naming the weight
/// and the element.
llvm::Error packNVFP4Rows(const WeightSpec &spec,
                          llvm::ArrayRef<uint8_t> checkpoint,
                          uint64_t firstRow, llvm::ArrayRef<uint8_t> rows,
                          llvm::MutableArrayRef<uint8_t> dst);

llvm::Error decodeGPTQRows(const WeightSpec &spec,
                           llvm::ArrayRef<uint8_t> checkpoint,
                           uint64_t firstRow,
                           llvm::MutableArrayRef<uint8_t> dst);

/// The SRD fold of rows [firstRow, firstRow + n), n = dst.size() /
/// spec.rowBytes(): W' quantized into spec.format; a row the residuals
/// cannot vouch for (a damaged sealed shard under --allow-partial) keeps its
/// checkpoint row from `baseRows` (n rows of spec.srd->base), copied when
/// the format is unchanged and re-encoded through f32 otherwise.
llvm::Error foldSRDRows(const WeightSpec &spec,
                        const srd::ResidualSource &residuals, uint64_t firstRow,
                        llvm::ArrayRef<uint8_t> baseRows,
                        llvm::MutableArrayRef<uint8_t> dst);

/// The x8 repack of whole groups of eight rows of `cols` elements in
/// `format`: `rows` and `dst` are the same multiple of the group size.
llvm::Error repackX8Rows(fmt::Type format, uint64_t cols,
                         llvm::ArrayRef<uint8_t> rows,
                         llvm::MutableArrayRef<uint8_t> dst);

/// Receives a weight's stored bytes in order, each piece with how many bytes
/// of the checkpoint rows have been consumed so far.
using WeightSink = llvm::function_ref<void(llvm::ArrayRef<uint8_t> bytes,
                                           uint64_t sourceDone)>;

/// Makes spec.storedBytes() bytes from the weight's checkpoint rows `source`
/// (at least spec.sourceBytes()): the SRD fold, or the GPTQ decode from
/// `checkpoint` (the whole of it: GPTQ tensors lie anywhere), then the x8
/// repack, streamed a few rows at a time (untransformed weights in 64 MiB
/// pieces of `source` itself). A weight of parts is each part's rows in
/// turn, made from `checkpoint` as a weight of those rows would be; a weight
/// of values is their f32 bytes.
llvm::Error transformWeight(const WeightSpec &spec,
                            llvm::ArrayRef<uint8_t> source,
                            const srd::ResidualSource *residuals,
                            WeightSink sink,
                            llvm::ArrayRef<uint8_t> checkpoint = {});
/// The same, into one buffer.
llvm::Expected<std::vector<uint8_t>>
transformWeight(const WeightSpec &spec, llvm::ArrayRef<uint8_t> source,
                const srd::ResidualSource *residuals,
                llvm::ArrayRef<uint8_t> checkpoint = {});

} // namespace weights
} // namespace gemmac
