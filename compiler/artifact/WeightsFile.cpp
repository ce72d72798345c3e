//===- WeightsFile.cpp - the weight file beside a compiled program --------===//

#include "compiler/artifact/WeightsFile.h"
#include "abi/artifact_format.h"
#include "dialects/gemma/GemmaDialect.h"
#include "formats/formats.h"
#include "formats/repack.h"
#include "formats/srd/ResidualSource.h"
#include "passes/FoldSRD.h"
#include "support/FileOutput.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#ifdef __linux__
#include <sys/mman.h>
#include <unistd.h>
#endif
#include <cstring>
#include <vector>

using namespace gemmac;
using namespace gemmac::gemma;
using llvm::Error;

namespace {

template <typename T> void put(std::string &out, T v) {
  out.append(reinterpret_cast<const char *>(&v), sizeof(T));
}
void putBytes(std::string &out, llvm::StringRef s) {
  put<uint32_t>(out, static_cast<uint32_t>(s.size()));
  out.append(s.data(), s.size());
}

std::string serializeTokenizer(const TokenizerData &t) {
  std::string out(artifact::kTokenizerMagic, 4);
  put<uint32_t>(out, artifact::kTokenizerVersion);
  put<uint32_t>(out, static_cast<uint32_t>(t.tokens.size()));
  for (size_t i = 0; i < t.tokens.size(); ++i) {
    putBytes(out, t.tokens[i]);
    put<int32_t>(out, t.types[i]);
    put<float>(out, t.scores[i]);
  }
  put<uint32_t>(out, static_cast<uint32_t>(t.merges.size()));
  for (const std::string &m : t.merges)
    putBytes(out, m);
  for (int32_t id : {t.bos, t.eos, t.eot, t.pad, t.unk})
    put<int32_t>(out, id);
  put<uint32_t>(out, t.addBos ? 1 : 0);
  put<uint32_t>(out, static_cast<uint32_t>(t.endOfGeneration.size()));
  for (int32_t id : t.endOfGeneration)
    put<int32_t>(out, id);
  put<uint32_t>(out, static_cast<uint32_t>(t.suppress.size()));
  for (int32_t id : t.suppress)
    put<int32_t>(out, id);
  putBytes(out, t.chatTemplate);
  return out;
}

/// Lets the kernel drop our mapping of checkpoint bytes already written: they
/// stay in the page cache but stop counting as this process's memory, so
/// compile-model's footprint does not grow with the model.
void releasePages(const uint8_t *p, uint64_t n) {
#ifdef __linux__
  const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  uintptr_t begin = reinterpret_cast<uintptr_t>(p) & ~(page - 1);
  uintptr_t end = reinterpret_cast<uintptr_t>(p + n) & ~(page - 1);
  if (end > begin)
    madvise(reinterpret_cast<void *>(begin), end - begin, MADV_DONTNEED);
#else
  (void)p;
  (void)n;
#endif
}

void copyString(char *dst, size_t cap, llvm::StringRef s) {
  size_t n = std::min(cap - 1, s.size());
  std::memcpy(dst, s.data(), n);
  dst[n] = 0;
}

/// Writes a weight gemma-fold-srd corrected: each row is W' from the
/// residuals quantized into the weight's format; a row the source cannot
/// vouch for (a damaged sealed shard under --allow-partial) keeps the
/// checkpoint's row, copied when the format is unchanged and re-encoded
/// through f32 otherwise. Eight rows at a time when interleaved.
Error writeCorrected(llvm::raw_ostream &os, const WeightPlacement &w,
                     const WeightsSource &source) {
  const srd::ResidualSource &res = *source.residuals;
  const auto type = static_cast<fmt::Type>(w.ggmlType);
  const auto baseType = static_cast<fmt::Type>(w.baseGgmlType);
  const uint64_t cols = w.rowElements;
  const uint64_t rowBytes = fmt::rowBytes(type, cols);
  const uint64_t baseRowBytes = fmt::rowBytes(baseType, cols);
  const uint64_t rows = w.bytes / rowBytes;
  if (*w.residual >= res.tensors().size() ||
      res.tensors()[*w.residual].rows != static_cast<int64_t>(rows) ||
      res.tensors()[*w.residual].cols != static_cast<int64_t>(cols))
    return llvm::createStringError(
        "weight '" + w.name + "': residual tensor #" +
        std::to_string(*w.residual) + " of " + res.sourceName().str() +
        " does not have its shape");
  if (rows * baseRowBytes > source.size - std::min(source.size, w.sourceOffset))
    return llvm::createStringError(source.name + ": weight '" + w.name +
                                   "' runs past the end of the checkpoint");
  const uint64_t step = w.interleaved ? 8 : 1;
  std::vector<uint8_t> chunk(step * rowBytes), packed(step * rowBytes);
  std::vector<float> row(cols);
  for (uint64_t r0 = 0; r0 < rows; r0 += step) {
    for (uint64_t k = 0; k < step; ++k) {
      const int64_t r = static_cast<int64_t>(r0 + k);
      uint8_t *dst = chunk.data() + k * rowBytes;
      const uint8_t *base = source.data + w.sourceOffset + r * baseRowBytes;
      if (res.rowUsable(*w.residual, r)) {
        if (Error e = res.correctedRow(*w.residual, r, w.alpha, row))
          return llvm::createStringError("weight '" + w.name + "' row " +
                                         std::to_string(r) + ": " +
                                         llvm::toString(std::move(e)));
        fmt::quantizeRow(type, row.data(), dst, cols);
      } else if (baseType == type) {
        std::memcpy(dst, base, rowBytes);
      } else {
        fmt::dequantizeRow(baseType, base, row.data(), cols);
        fmt::quantizeRow(type, row.data(), dst, cols);
      }
    }
    const uint8_t *out = chunk.data();
    if (w.interleaved) {
      fmt::packX8(type, chunk.data(), packed.data(), cols);
      out = packed.data();
    }
    os.write(reinterpret_cast<const char *>(out), chunk.size());
  }
  return Error::success();
}

} // namespace

llvm::Expected<WeightBlobLayout>
gemmac::collectBlobLayout(mlir::ModuleOp module) {
  auto bytesAttr =
      module->getAttrOfType<mlir::IntegerAttr>("gemma.weights_bytes");
  auto fpAttr =
      module->getAttrOfType<mlir::IntegerAttr>("gemma.weights_fingerprint");
  if (!bytesAttr || !fpAttr)
    return llvm::createStringError("module has no weight layout");
  WeightBlobLayout layout;
  layout.totalBytes = bytesAttr.getInt();
  layout.fingerprint = static_cast<uint64_t>(fpAttr.getInt());
  for (WeightDefOp def : module.getOps<WeightDefOp>()) {
    if (!def.getBlobOffset())
      return llvm::createStringError("weight '" + def.getSymName() +
                                     "' has no blob offset");
    WeightType type = def.getWeightType();
    WeightPlacement w;
    w.name = def.getSymName().str();
    w.sourceOffset = def.getSourceOffset();
    w.blobOffset = *def.getBlobOffset();
    w.bytes = static_cast<uint64_t>(type.getStorageBytes());
    w.interleaved = def.isInterleaved();
    w.ggmlType = static_cast<uint32_t>(type.getFormat());
    w.rowElements = static_cast<uint64_t>(type.getCols());
    if (auto srd = def->getAttrOfType<mlir::DictionaryAttr>(kSRDAttr)) {
      auto tensor = srd.getAs<mlir::IntegerAttr>("tensor");
      auto base = srd.getAs<mlir::StringAttr>("base");
      auto alpha = srd.getAs<mlir::FloatAttr>("alpha");
      std::optional<WeightFormat> baseFormat =
          base ? symbolizeWeightFormat(base.getValue()) : std::nullopt;
      if (!tensor || !baseFormat || !alpha)
        return llvm::createStringError("weight '" + def.getSymName() +
                                       "' has a malformed " + kSRDAttr +
                                       " attribute");
      w.residual = static_cast<size_t>(tensor.getInt());
      w.baseGgmlType = static_cast<uint32_t>(*baseFormat);
      w.alpha = alpha.getValueAsDouble();
    }
    layout.weights.push_back(std::move(w));
  }
  std::sort(layout.weights.begin(), layout.weights.end(),
            [](auto &a, auto &b) { return a.blobOffset < b.blobOffset; });
  return layout;
}

Error gemmac::writeWeightsFile(llvm::StringRef path,
                               const WeightBlobLayout &layout,
                               const WeightsSource &source,
                               const TokenizerData &tokenizer,
                               llvm::StringRef target, bool progress) {
  const uint64_t weightsBytes = layout.totalBytes;
  const uint64_t tokenizerOffset =
      (artifact::kHeaderBytes + weightsBytes + 4095) / 4096 * 4096;
  std::string tok = serializeTokenizer(tokenizer);

  artifact::ArtifactHeader h{};
  std::memcpy(h.magic, artifact::kMagic, 8);
  h.version = artifact::kVersion;
  h.headerBytes = artifact::kHeaderBytes;
  h.fingerprint = layout.fingerprint;
  h.weightsOffset = artifact::kHeaderBytes;
  h.weightsBytes = weightsBytes;
  h.tokenizerOffset = tokenizerOffset;
  h.tokenizerBytes = tok.size();
  h.sourceBytes = source.size;
  copyString(h.source, sizeof h.source, llvm::sys::path::filename(source.name));
  copyString(h.target, sizeof h.target, target);
  copyString(h.compiler, sizeof h.compiler, "gemmac 0.1");
  copyString(h.residuals, sizeof h.residuals, source.residualProvenance);

  return support::writeFileWith(path, [&](llvm::raw_fd_ostream &os) -> Error {
    std::string header(artifact::kHeaderBytes, '\0');
    std::memcpy(header.data(), &h, sizeof h);
    os << header;

    uint64_t written = 0, done = 0;
    for (const WeightPlacement &w : layout.weights) {
      // A corrected weight's size is that of its new format; writeCorrected
      // checks the base rows it reads.
      if (!w.residual && (w.sourceOffset > source.size ||
                          w.bytes > source.size - w.sourceOffset))
        return llvm::createStringError(source.name + ": weight '" + w.name +
                                       "' at offset " +
                                       std::to_string(w.sourceOffset) +
                                       " runs past the end of the checkpoint");
      if (w.blobOffset < written)
        return llvm::createStringError("weight blob offsets overlap");
      os.write_zeros(w.blobOffset - written);
      const uint8_t *src = source.data + w.sourceOffset;
      if (w.residual) {
        if (!source.residuals)
          return llvm::createStringError("weight '" + w.name +
                                         "' is corrected but no residuals "
                                         "were given");
        if (Error e = writeCorrected(os, w, source))
          return e;
      } else if (w.interleaved) {
        // Eight rows at a time, through one group-sized buffer.
        const auto type = static_cast<fmt::Type>(w.ggmlType);
        const uint64_t group = fmt::x8GroupBytes(type, w.rowElements);
        std::vector<uint8_t> packed(group);
        for (uint64_t off = 0; off < w.bytes; off += group) {
          fmt::packX8(type, src + off, packed.data(), w.rowElements);
          os.write(reinterpret_cast<const char *>(packed.data()), group);
          if ((off / group) % 4096 == 4095)
            releasePages(src + off + group - 4096 * group, 4096 * group);
        }
      } else {
        // Stream in 64 MiB pieces: the page cache, not the heap, holds the
        // data.
        for (uint64_t off = 0; off < w.bytes; off += 64ull << 20) {
          uint64_t n = std::min<uint64_t>(64ull << 20, w.bytes - off);
          os.write(reinterpret_cast<const char *>(src + off), n);
          releasePages(src + off, n);
        }
      }
      if (!w.residual)
        releasePages(src, w.bytes);
      written = w.blobOffset + w.bytes;
      done += w.bytes;
      if (progress)
        llvm::errs() << llvm::format("\rwriting weights %5.1f%%",
                                     100.0 * done /
                                         std::max<uint64_t>(1, weightsBytes));
    }
    if (progress)
      llvm::errs() << "\n";
    os.write_zeros(tokenizerOffset - artifact::kHeaderBytes - written);
    os << tok;
    return Error::success();
  });
}
