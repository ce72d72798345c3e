//===- WeightTransform.cpp - the bytes compile-model writes for a weight --===//

#include "compiler/artifact/WeightTransform.h"
#include "formats/repack.h"
#include "formats/srd/ResidualSource.h"

#include <algorithm>
#include <cstring>

using namespace gemmac;
using namespace gemmac::weights;
using llvm::Error;

namespace {

/// Rows an untransformed weight is handed on in: 64 MiB pieces, so that the
/// page cache, not the heap, holds the data.
constexpr uint64_t kCopyPieceBytes = 64ull << 20;

Error weightError(const WeightSpec &spec, const llvm::Twine &message) {
  return llvm::createStringError("weight '" + spec.name + "': " + message);
}

bool isKnownFormat(fmt::Type t) {
  return abi::findFormat(static_cast<uint32_t>(t)) != nullptr;
}

} // namespace

Error weights::checkTransform(const WeightSpec &spec, uint64_t sourceBytes,
                              const srd::ResidualSource *residuals) {
  if (!isKnownFormat(spec.format))
    return weightError(spec,
                       "unknown storage format " +
                           llvm::Twine(static_cast<uint32_t>(spec.format)));
  const char *name = fmt::typeName(spec.format);
  if (spec.rows == 0 || spec.cols == 0)
    return weightError(spec, "has no elements (" + llvm::Twine(spec.rows) +
                                 " rows of " + llvm::Twine(spec.cols) + ")");
  if (spec.cols % fmt::blockElems(spec.format) != 0)
    return weightError(spec, "rows of " + llvm::Twine(spec.cols) +
                                 " elements are not whole " + name +
                                 " blocks of " +
                                 llvm::Twine(fmt::blockElems(spec.format)));
  if (spec.x8 && !fmt::hasX8Layout(spec.format))
    return weightError(spec,
                       llvm::Twine("layout x8 does not exist for ") + name);
  if (spec.x8 &&
      !abi::isRepackedShape(spec.format, static_cast<int64_t>(spec.rows)))
    return weightError(spec, "layout x8 needs a multiple of " +
                                 llvm::Twine(abi::kX8Rows) + " rows, it has " +
                                 llvm::Twine(spec.rows));
  if (spec.srd) {
    const SRDFold &fold = *spec.srd;
    if (!isKnownFormat(fold.base))
      return weightError(spec,
                         "unknown checkpoint format " +
                             llvm::Twine(static_cast<uint32_t>(fold.base)));
    if (spec.cols % fmt::blockElems(fold.base) != 0)
      return weightError(spec, "checkpoint rows of " + llvm::Twine(spec.cols) +
                                   " elements are not whole " +
                                   fmt::typeName(fold.base) + " blocks");
    if (!residuals)
      return weightError(spec, "is corrected but no residuals were given");
    auto tensors = residuals->tensors();
    if (fold.tensor >= tensors.size())
      return weightError(spec, "residual tensor #" + llvm::Twine(fold.tensor) +
                                   " is not in " + residuals->sourceName() +
                                   ", which has " +
                                   llvm::Twine(tensors.size()));
    const srd::ResidualTensorInfo &t = tensors[fold.tensor];
    if (t.rows != static_cast<int64_t>(spec.rows) ||
        t.cols != static_cast<int64_t>(spec.cols))
      return weightError(spec, "residual tensor #" + llvm::Twine(fold.tensor) +
                                   " of " + residuals->sourceName() + " is [" +
                                   llvm::Twine(t.rows) + ", " +
                                   llvm::Twine(t.cols) + "], the weight [" +
                                   llvm::Twine(spec.rows) + ", " +
                                   llvm::Twine(spec.cols) + "]");
  }
  if (sourceBytes < spec.sourceBytes())
    return weightError(spec, "needs " + llvm::Twine(spec.sourceBytes()) +
                                 " bytes of the checkpoint, " +
                                 llvm::Twine(sourceBytes) +
                                 " remain: it runs past the end");
  return Error::success();
}

Error weights::foldSRDRows(const WeightSpec &spec,
                           const srd::ResidualSource &residuals,
                           uint64_t firstRow, llvm::ArrayRef<uint8_t> baseRows,
                           llvm::MutableArrayRef<uint8_t> dst) {
  if (!spec.srd)
    return weightError(spec, "has no SRD fold");
  const SRDFold &fold = *spec.srd;
  const uint64_t rowBytes = spec.rowBytes();
  const uint64_t baseRowBytes = spec.sourceRowBytes();
  const uint64_t n = dst.size() / rowBytes;
  if (dst.size() % rowBytes != 0 || baseRows.size() != n * baseRowBytes ||
      firstRow + n > spec.rows)
    return weightError(spec, "SRD fold of rows [" + llvm::Twine(firstRow) +
                                 ", " + llvm::Twine(firstRow + n) + ") given " +
                                 llvm::Twine(baseRows.size()) +
                                 " checkpoint bytes for " +
                                 llvm::Twine(dst.size()) + " bytes of output");
  std::vector<float> row(spec.cols);
  for (uint64_t k = 0; k < n; ++k) {
    const int64_t r = static_cast<int64_t>(firstRow + k);
    uint8_t *out = dst.data() + k * rowBytes;
    const uint8_t *base = baseRows.data() + k * baseRowBytes;
    if (residuals.rowUsable(fold.tensor, r)) {
      if (Error e = residuals.correctedRow(fold.tensor, r, fold.alpha, row))
        return weightError(spec, "row " + llvm::Twine(r) + ": " +
                                     llvm::toString(std::move(e)));
      fmt::quantizeRow(spec.format, row.data(), out, spec.cols);
    } else if (fold.base == spec.format) {
      std::memcpy(out, base, rowBytes);
    } else {
      fmt::dequantizeRow(fold.base, base, row.data(), spec.cols);
      fmt::quantizeRow(spec.format, row.data(), out, spec.cols);
    }
  }
  return Error::success();
}

Error weights::repackX8Rows(fmt::Type format, uint64_t cols,
                            llvm::ArrayRef<uint8_t> rows,
                            llvm::MutableArrayRef<uint8_t> dst) {
  if (!isKnownFormat(format) || !fmt::hasX8Layout(format))
    return llvm::createStringError(
        "layout x8 does not exist for " +
        llvm::Twine(isKnownFormat(format) ? fmt::typeName(format) : "?"));
  const uint64_t group = fmt::x8GroupBytes(format, cols);
  if (group == 0 || rows.size() % group != 0 || rows.size() != dst.size())
    return llvm::createStringError(
        "x8 repack of " + llvm::Twine(rows.size()) + " bytes into " +
        llvm::Twine(dst.size()) + ": both must be the same whole number of " +
        llvm::Twine(abi::kX8Rows) + "-row groups of " + llvm::Twine(group) +
        " bytes");
  for (uint64_t off = 0; off < rows.size(); off += group)
    fmt::packX8(format, rows.data() + off, dst.data() + off, cols);
  return Error::success();
}

Error weights::transformWeight(const WeightSpec &spec,
                               llvm::ArrayRef<uint8_t> source,
                               const srd::ResidualSource *residuals,
                               WeightSink sink) {
  if (Error e = checkTransform(spec, source.size(), residuals))
    return e;
  const uint64_t rowBytes = spec.rowBytes();
  const uint64_t sourceRowBytes = spec.sourceRowBytes();
  // An x8 group at a time; a folded weight row by row; a copy in pieces.
  uint64_t step = std::max<uint64_t>(1, kCopyPieceBytes / rowBytes);
  if (spec.x8)
    step = abi::kX8Rows;
  else if (spec.srd)
    step = 1;
  std::vector<uint8_t> folded, packed;
  for (uint64_t r0 = 0; r0 < spec.rows; r0 += step) {
    const uint64_t n = std::min(step, spec.rows - r0);
    llvm::ArrayRef<uint8_t> rows =
        source.slice(r0 * sourceRowBytes, n * sourceRowBytes);
    if (spec.srd) {
      folded.resize(n * rowBytes);
      if (Error e = foldSRDRows(spec, *residuals, r0, rows, folded))
        return e;
      rows = folded;
    }
    if (spec.x8) {
      packed.resize(rows.size());
      if (Error e = repackX8Rows(spec.format, spec.cols, rows, packed))
        return weightError(spec, llvm::toString(std::move(e)));
      rows = packed;
    }
    sink(rows, (r0 + n) * sourceRowBytes);
  }
  return Error::success();
}

llvm::Expected<std::vector<uint8_t>>
weights::transformWeight(const WeightSpec &spec, llvm::ArrayRef<uint8_t> source,
                         const srd::ResidualSource *residuals) {
  std::vector<uint8_t> out;
  if (Error e = transformWeight(spec, source, residuals,
                                [&](llvm::ArrayRef<uint8_t> bytes, uint64_t) {
                                  out.insert(out.end(), bytes.begin(),
                                             bytes.end());
                                }))
    return std::move(e);
  return out;
}
