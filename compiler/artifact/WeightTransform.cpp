//===- WeightTransform.cpp - the bytes compile-model writes for a weight --===//

#include "compiler/artifact/WeightTransform.h"
#include "formats/repack.h"
#include "formats/srd/ResidualSource.h"

#include <algorithm>
#include <cmath>
#include <bit>
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

/// The GPTQ tensors of `spec` lie inside a checkpoint of `bytes`, in a
/// format they can be decoded into.
static Error checkGPTQ(const WeightSpec &spec, uint64_t bytes) {
  const GPTQSource &q = *spec.gptq;
  if (spec.srd)
    return weightError(spec, "an SRD fold cannot correct a GPTQ weight");
  const fmt::Type blocks = fmt::blockFormat(spec.format); // q4_0_f32: q4_0
  if (blocks != fmt::Type::F32 && blocks != fmt::Type::Q8_0 &&
      blocks != fmt::Type::Q4_0)
    return weightError(spec, llvm::Twine("GPTQ tensors cannot be stored as ") +
                                 fmt::typeName(spec.format));
  if (spec.rows % 8 != 0 || spec.cols % 8 != 0 || q.group == 0 ||
      q.zeroOffset > 1)
    return weightError(spec, "GPTQ tensors of [" + llvm::Twine(spec.rows) +
                                 ", " + llvm::Twine(spec.cols) +
                                 "] need whole 8-element packs, a group and a "
                                 "zero offset of 0 or 1");
  const uint64_t groups = spec.gptqGroups();
  struct Extent {
    const char *name;
    uint64_t offset, size;
  };
  std::vector<Extent> extents = {
      {"qweight", q.qweight, spec.cols / 8 * spec.rows * 4},
      {"qzeros", q.qzeros, groups * (spec.rows / 8) * 4},
      {"scales", q.scales, groups * spec.rows * 2}};
  if (q.gIdx)
    extents.push_back({"g_idx", *q.gIdx, spec.cols * 4});
  for (const Extent &e : extents)
    if (e.offset > bytes || e.size > bytes - e.offset)
      return weightError(spec, llvm::Twine("GPTQ ") + e.name + " at offset " +
                                   llvm::Twine(e.offset) + " (" +
                                   llvm::Twine(e.size) +
                                   " bytes) runs past the end of the "
                                   "checkpoint");
  return Error::success();
}

Error weights::checkTransform(const WeightSpec &spec, uint64_t sourceBytes,
                              const srd::ResidualSource *residuals,
                              uint64_t checkpointBytes) {
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
  if (spec.widenFrom &&
      ((*spec.widenFrom != fmt::Type::F16 && *spec.widenFrom != fmt::Type::BF16) ||
       spec.format != fmt::Type::F32 || spec.srd || spec.gptq || spec.fp8 ||
       spec.nvfp4))
    return weightError(spec, "widening stores f16 or bf16 rows as f32 and "
                             "nothing else");
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
  if (spec.gptq)
    return checkGPTQ(spec, checkpointBytes);
  if (spec.fp8) {
    const uint64_t b = spec.fp8->block;
    if (spec.format != fmt::Type::F8_B64 || b == 0 || b % 64 != 0)
      return weightError(spec, "FP8 blocks are stored as f8_b64 with a block "
                               "that is a multiple of 64");
    const uint64_t scaleBytes =
        (spec.rows + b - 1) / b * ((spec.cols + b - 1) / b) * 4;
    if (spec.fp8->scales > checkpointBytes ||
        scaleBytes > checkpointBytes - spec.fp8->scales)
      return weightError(spec, "FP8 scales at offset " +
                                   llvm::Twine(spec.fp8->scales) +
                                   " run past the end of the checkpoint");
  }
  if (spec.nvfp4) {
    if (fmt::blockFormat(spec.format) != fmt::Type::NVFP4 ||
        spec.cols % 64 != 0)
      return weightError(spec, "an NVFP4 source is stored as nvfp4 with a "
                               "multiple of 64 columns");
    const uint64_t scaleBytes = spec.rows * (spec.cols / 16);
    if (spec.nvfp4->scales > checkpointBytes ||
        scaleBytes > checkpointBytes - spec.nvfp4->scales)
      return weightError(spec, "NVFP4 scales at offset " +
                                   llvm::Twine(spec.nvfp4->scales) +
                                   " run past the end of the checkpoint");
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

namespace {
uint32_t loadU32(const uint8_t *p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
uint16_t loadU16(const uint8_t *p) {
  uint16_t v;
  std::memcpy(&v, p, 2);
  return v;
}
} // namespace

Error weights::packFP8Rows(const WeightSpec &spec,
                           llvm::ArrayRef<uint8_t> checkpoint,
                           uint64_t firstRow, llvm::ArrayRef<uint8_t> rows,
                           llvm::MutableArrayRef<uint8_t> dst) {
  if (!spec.fp8 || spec.fp8->block == 0)
    return weightError(spec, "has no FP8 block source");
  const uint64_t K = spec.cols, n = dst.size() / spec.rowBytes();
  const uint64_t block = spec.fp8->block, perRow = (K + block - 1) / block;
  if (rows.size() != n * K || firstRow + n > spec.rows)
    return weightError(spec, "FP8 rows [" + llvm::Twine(firstRow) + ", " +
                                 llvm::Twine(firstRow + n) + ") given " +
                                 llvm::Twine(rows.size()) + " bytes");
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t row = firstRow + i;
    const uint8_t *scales =
        checkpoint.data() + spec.fp8->scales + 4 * (row / block) * perRow;
    auto *out = reinterpret_cast<fmt::BlockF8_B64 *>(dst.data()) + i * (K / 64);
    for (uint64_t b = 0; b < K / 64; ++b) {
      float d;
      std::memcpy(&d, scales + 4 * (64 * b / block), 4);
      if (!std::isfinite(d))
        return weightError(spec, "the FP8 block scale of row " +
                                     llvm::Twine(row) + ", column " +
                                     llvm::Twine(64 * b) + " is not finite");
      out[b].d = d;
      const uint8_t *q = rows.data() + i * K + 64 * b;
      for (int j = 0; j < 64; ++j)
        if ((q[j] & 0x7F) == 0x7F)
          return weightError(spec, "element [" + llvm::Twine(row) + ", " +
                                       llvm::Twine(64 * b + j) +
                                       "] is an E4M3 NaN");
      std::memcpy(out[b].qs, q, 64);
    }
  }
  return Error::success();
}

Error weights::packNVFP4Rows(const WeightSpec &spec,
                            llvm::ArrayRef<uint8_t> checkpoint,
                            uint64_t firstRow, llvm::ArrayRef<uint8_t> rows,
                            llvm::MutableArrayRef<uint8_t> dst) {
  if (!spec.nvfp4)
    return weightError(spec, "has no NVFP4 source");
  const uint64_t K = spec.cols, n = dst.size() / spec.rowBytes();
  if (rows.size() != n * (K / 2) || firstRow + n > spec.rows)
    return weightError(spec, "NVFP4 rows [" + llvm::Twine(firstRow) + ", " +
                                 llvm::Twine(firstRow + n) + ") given " +
                                 llvm::Twine(rows.size()) + " bytes");
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t row = firstRow + i;
    const uint8_t *scales =
        checkpoint.data() + spec.nvfp4->scales + row * (K / 16);
    const uint8_t *codes = rows.data() + i * (K / 2);
    auto *out = reinterpret_cast<fmt::BlockNVFP4 *>(dst.data()) + i * (K / 64);
    for (uint64_t sub = 0; sub < K / 16; ++sub) {
      const uint8_t d = scales[sub];
      if ((d & 0x7F) == 0x7F || (d & 0x80))
        return weightError(spec, "the NVFP4 scale of row " + llvm::Twine(row) +
                                     ", columns " + llvm::Twine(16 * sub) +
                                     ".." + llvm::Twine(16 * sub + 15) +
                                     " is " +
                                     ((d & 0x7F) == 0x7F ? "an E4M3 NaN"
                                                         : "negative"));
      fmt::BlockNVFP4 &b = out[sub / 4];
      const int s = static_cast<int>(sub % 4);
      b.d[s] = d;
      // ModelOpt: element 2c low, 2c+1 high in byte c of the 16's 8 bytes;
      // ggml: element j low, j+8 high in byte j.
      const uint8_t *m = codes + 8 * sub;
      auto code = [&](int e) {
        return e % 2 ? m[e / 2] >> 4 : m[e / 2] & 15;
      };
      for (int j = 0; j < 8; ++j)
        b.qs[8 * s + j] = static_cast<uint8_t>(code(j) | (code(j + 8) << 4));
    }
  }
  return Error::success();
}

Error weights::decodeGPTQRows(const WeightSpec &spec,
                              llvm::ArrayRef<uint8_t> checkpoint,
                              uint64_t firstRow,
                              llvm::MutableArrayRef<uint8_t> dst) {
  if (!spec.gptq)
    return weightError(spec, "has no GPTQ source");
  if (Error e = checkGPTQ(spec, checkpoint.size()))
    return e;
  const GPTQSource &src = *spec.gptq;
  const uint64_t N = spec.rows, K = spec.cols, G = spec.gptqGroups();
  const uint64_t rowBytes = spec.rowBytes(), n = dst.size() / rowBytes;
  if (dst.size() % rowBytes != 0 || firstRow + n > N)
    return weightError(spec, "GPTQ rows [" + llvm::Twine(firstRow) + ", " +
                                 llvm::Twine(firstRow + n) + ") do not fit " +
                                 llvm::Twine(N) + " rows");
  const uint8_t *base = checkpoint.data();
  // The columns' groups, checked once for the whole piece.
  std::vector<uint32_t> group(K);
  for (uint64_t k = 0; k < K; ++k) {
    uint64_t g = src.gIdx ? loadU32(base + *src.gIdx + 4 * k) : k / src.group;
    if (g >= G)
      return weightError(spec, "g_idx[" + llvm::Twine(k) + "] = " +
                                   llvm::Twine(g) + " is not one of the " +
                                   llvm::Twine(G) + " groups");
    group[k] = static_cast<uint32_t>(g);
  }
  // The nibbles of the piece's rows, read along qweight's rows (K-major):
  // q[i * K + k] for row firstRow + i.
  std::vector<uint8_t> q(n * K);
  for (uint64_t kp = 0; kp < K / 8; ++kp) {
    const uint8_t *words = base + src.qweight + 4 * (kp * N + firstRow);
    for (uint64_t i = 0; i < n; ++i) {
      uint32_t w = loadU32(words + 4 * i);
      for (unsigned j = 0; j < 8; ++j)
        q[i * K + kp * 8 + j] = (w >> (4 * j)) & 0xF;
    }
  }
  for (uint64_t i = 0; i < n; ++i) {
    const uint64_t row = firstRow + i;
    auto zero = [&](uint64_t g) -> int {
      uint32_t w = loadU32(base + src.qzeros + 4 * (g * (N / 8) + row / 8));
      return static_cast<int>((w >> (4 * (row % 8))) & 0xF) +
             static_cast<int>(src.zeroOffset);
    };
    auto scale = [&](uint64_t g) {
      return loadU16(base + src.scales + 2 * (g * N + row));
    };
    const uint8_t *qr = q.data() + i * K;
    uint8_t *out = dst.data() + i * rowBytes;
    if (spec.format == fmt::Type::F32) {
      for (uint64_t k = 0; k < K; ++k) {
        float s = static_cast<float>(std::bit_cast<_Float16>(scale(group[k])));
        float v = s * static_cast<float>(int(qr[k]) - zero(group[k]));
        std::memcpy(out + 4 * k, &v, 4);
      }
      continue;
    }
    for (uint64_t b = 0; b < K / 32; ++b) {
      const uint32_t g = group[32 * b];
      for (unsigned j = 1; j < 32; ++j)
        if (group[32 * b + j] != g)
          return weightError(spec, "columns " + llvm::Twine(32 * b) + ".." +
                                       llvm::Twine(32 * b + 31) +
                                       " are in different GPTQ groups: no " +
                                       fmt::typeName(spec.format) +
                                       " block holds them");
      const uint16_t d = scale(g);
      const int z = zero(g);
      const uint8_t *qb = qr + 32 * b;
      if (fmt::blockFormat(spec.format) == fmt::Type::Q8_0) {
        uint8_t *block = out + b * 34;
        std::memcpy(block, &d, 2);
        for (unsigned j = 0; j < 32; ++j)
          block[2 + j] = static_cast<uint8_t>(static_cast<int8_t>(qb[j] - z));
      } else {
        if (z != 8)
          return weightError(spec, "row " + llvm::Twine(row) + ", group " +
                                       llvm::Twine(g) + ": zero point " +
                                       llvm::Twine(z) +
                                       " is not 8, so q4_0 cannot hold it");
        uint8_t *block = out + b * 18;
        std::memcpy(block, &d, 2);
        for (unsigned j = 0; j < 16; ++j)
          block[2 + j] = static_cast<uint8_t>(qb[j] | (qb[j + 16] << 4));
      }
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

/// A weight stacked from parts: each part made as a weight of its rows
/// (an x8 layout within each part: its rows are whole groups of eight).
static Error transformParts(const WeightSpec &spec, WeightSink sink,
                            llvm::ArrayRef<uint8_t> checkpoint) {
  if (spec.srd || spec.gptq || spec.fp8 || spec.nvfp4 || spec.widenFrom ||
      !spec.values.empty())
    return weightError(spec, "a weight made of parts has no other source "
                             "transform");
  uint64_t rows = 0;
  for (const WeightPart &p : spec.parts)
    rows += p.rows;
  if (rows != spec.rows)
    return weightError(spec, "its parts hold " + llvm::Twine(rows) +
                                 " rows, the weight " + llvm::Twine(spec.rows));
  for (auto [i, p] : llvm::enumerate(spec.parts)) {
    WeightSpec part = spec;
    part.name = spec.name + " (part " + std::to_string(i) + ")";
    part.rows = p.rows;
    part.gptq = p.gptq;
    part.nvfp4 = p.nvfp4;
    part.fp8 = p.fp8;
    part.parts.clear();
    if (p.sourceOffset > checkpoint.size())
      return weightError(part, "starts at offset " +
                                   llvm::Twine(p.sourceOffset) +
                                   ", past the checkpoint's " +
                                   llvm::Twine(checkpoint.size()) + " bytes");
    if (Error e = transformWeight(
            part, checkpoint.drop_front(p.sourceOffset), nullptr,
            [&](llvm::ArrayRef<uint8_t> bytes, uint64_t) { sink(bytes, 0); },
            checkpoint))
      return e;
  }
  return Error::success();
}

Error weights::transformWeight(const WeightSpec &spec,
                               llvm::ArrayRef<uint8_t> source,
                               const srd::ResidualSource *residuals,
                               WeightSink sink,
                               llvm::ArrayRef<uint8_t> checkpoint) {
  if (!spec.parts.empty())
    return transformParts(spec, sink, checkpoint);
  if (!spec.values.empty()) {
    if (spec.format != fmt::Type::F32 || spec.srd || spec.gptq || spec.fp8 ||
        spec.nvfp4 || spec.widenFrom || spec.x8 ||
        spec.values.size() != spec.rows * spec.cols)
      return weightError(spec, "a weight of " +
                                   llvm::Twine(spec.values.size()) +
                                   " values is that many f32 elements and "
                                   "nothing else");
    sink({reinterpret_cast<const uint8_t *>(spec.values.data()),
          spec.values.size() * sizeof(float)},
         0);
    return Error::success();
  }
  if (Error e = checkTransform(spec, source.size(), residuals,
                               checkpoint.size()))
    return e;
  const uint64_t rowBytes = spec.rowBytes();
  const uint64_t sourceRowBytes = spec.sourceRowBytes();
  // An x8 group at a time; a folded weight row by row; a copy in pieces.
  uint64_t step = std::max<uint64_t>(1, kCopyPieceBytes / rowBytes);
  if (spec.gptq)
    step = 64; // 8 x8 groups; qweight is read 64 words at a time
  else if (spec.x8)
    step = abi::kX8Rows;
  else if (spec.srd)
    step = 1;
  std::vector<uint8_t> folded, packed;
  for (uint64_t r0 = 0; r0 < spec.rows; r0 += step) {
    const uint64_t n = std::min(step, spec.rows - r0);
    llvm::ArrayRef<uint8_t> rows;
    if (spec.gptq) {
      folded.resize(n * rowBytes);
      if (Error e = decodeGPTQRows(spec, checkpoint, r0, folded))
        return e;
      rows = folded;
    } else {
      rows = source.slice(r0 * sourceRowBytes, n * sourceRowBytes);
    }
    if (spec.widenFrom) {
      folded.resize(n * rowBytes);
      std::vector<float> row(spec.cols);
      for (uint64_t k = 0; k < n; ++k) {
        fmt::dequantizeRow(*spec.widenFrom, rows.data() + k * sourceRowBytes,
                           row.data(), spec.cols);
        fmt::quantizeRow(spec.format, row.data(), folded.data() + k * rowBytes,
                         spec.cols);
      }
      rows = folded;
    }
    if (spec.fp8 || spec.nvfp4) {
      packed.resize(n * rowBytes);
      if (Error e = spec.fp8
                        ? packFP8Rows(spec, checkpoint, r0, rows, packed)
                        : packNVFP4Rows(spec, checkpoint, r0, rows, packed))
        return e;
      rows = packed;
    }
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
    // GPTQ's qweight is read across its whole extent for every piece: no
    // prefix of it is done before the last.
    sink(rows, spec.gptq && r0 + n < spec.rows ? 0 : (r0 + n) * sourceRowBytes);
  }
  return Error::success();
}

llvm::Expected<std::vector<uint8_t>>
weights::transformWeight(const WeightSpec &spec, llvm::ArrayRef<uint8_t> source,
                         const srd::ResidualSource *residuals,
                         llvm::ArrayRef<uint8_t> checkpoint) {
  std::vector<uint8_t> out;
  if (Error e = transformWeight(spec, source, residuals,
                                [&](llvm::ArrayRef<uint8_t> bytes, uint64_t) {
                                  out.insert(out.end(), bytes.begin(),
                                             bytes.end());
                                },
                                checkpoint))
    return std::move(e);
  return out;
}
