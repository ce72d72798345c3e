//===- SRD4File.cpp - the .srd4 residual sidecar --------------------------===//

#include "formats/srd/SRD4File.h"
#include "formats/srd/SRDSupport.h"
#include "support/BinaryReader.h"

#include "llvm/ADT/StringSet.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>

using namespace gemmac::srd;
using llvm::Error;
using llvm::Expected;
using llvm::StringRef;

Expected<std::unique_ptr<SRD4File>> SRD4File::open(StringRef path) {
  return openAs<SRD4File>(path);
}

Expected<std::unique_ptr<SRD4File>>
SRD4File::parse(std::unique_ptr<llvm::MemoryBuffer> buffer, StringRef name) {
  return parseAs<SRD4File>(std::move(buffer), name);
}

/// A non-negative integer member of a JSON object, or an error naming it.
static Expected<uint64_t>
getCount(const llvm::json::Object &o, StringRef key, const llvm::Twine &where,
         const std::function<Error(const llvm::Twine &)> &err) {
  const llvm::json::Value *v = o.get(key);
  if (!v)
    return err(where + ": missing key \"" + key + "\"");
  auto i = v->getAsInteger();
  if (!i || *i < 0)
    return err(where + ": \"" + key + "\" is not a non-negative integer");
  return static_cast<uint64_t>(*i);
}

Error SRD4File::parseAll() {
  name_ = fileName().str();
  const uint64_t size = fileSize();
  support::BinaryReader in = reader();
  if (size < 12)
    return error(
        "truncated: " + llvm::Twine(size) +
            " bytes, too short for the 12-byte magic and header length",
        0);
  if (std::memcmp(base(), kMagic, 8) != 0)
    return error("bad magic: not an SRD4 sidecar (expected \"AXMSRD4\\0\")", 0);
  in.seek(8);
  auto jsonLen = in.read<uint32_t>("JSON header length");
  if (!jsonLen)
    return jsonLen.takeError();
  auto header = in.readBytes(*jsonLen, "JSON header");
  if (!header) {
    llvm::consumeError(header.takeError());
    return error("JSON header length " + llvm::Twine(*jsonLen) +
                     " runs past the end of the file (" +
                     llvm::Twine(size - 12) + " bytes follow the length)",
                 8);
  }
  dataOffset_ = in.tell();
  StringRef text = *header;
  auto parsed = llvm::json::parse(text);
  if (!parsed)
    return error("JSON header (at offset 12) is not valid JSON: " +
                     llvm::toString(parsed.takeError()),
                 12);
  // Errors point at the JSON header, or at the entry's hf_name once the
  // entry is known (found textually; escaped names fall back to the header).
  uint64_t errAt = 12;
  size_t searchFrom = 0;
  auto hdrErr = [&](const llvm::Twine &m) {
    return error("JSON header: " + m, errAt);
  };
  const llvm::json::Object *root = parsed->getAsObject();
  if (!root)
    return hdrErr("not a JSON object");

  if (const llvm::json::Value *a = root->get("alpha")) {
    auto d = a->getAsNumber();
    if (!d || !std::isfinite(*d))
      return hdrErr("\"alpha\" is not a finite number");
    alpha_ = static_cast<float>(*d);
  } else {
    return hdrErr("missing key \"alpha\"");
  }
  auto gs = getCount(*root, "group_size", "header", hdrErr);
  if (!gs)
    return gs.takeError();
  if (*gs != kGroupSize)
    return hdrErr("group_size " + llvm::Twine(*gs) +
                  " is not supported: a 104-byte block holds 64 weights");

  const llvm::json::Array *list = root->getArray("tensors");
  if (!list)
    return hdrErr(root->get("tensors") ? "\"tensors\" is not an array"
                                       : "missing key \"tensors\"");
  const uint64_t dataSize = size - dataOffset_;
  llvm::StringSet<> seen;
  for (size_t i = 0; i < list->size(); ++i) {
    std::string where = llvm::formatv("tensors[{0}]", i).str();
    const llvm::json::Object *t = (*list)[i].getAsObject();
    if (!t)
      return hdrErr(where + " is not an object");
    auto nameV = t->getString("hf_name");
    if (!nameV || nameV->empty())
      return hdrErr(where + ": missing or empty \"hf_name\"");
    std::string tname = nameV->str();
    size_t at = text.find("\"" + tname + "\"", searchFrom);
    errAt = at == StringRef::npos ? 12 : 12 + at;
    if (at != StringRef::npos)
      searchFrom = at + 1;
    where += " (" + tname + ")";
    if (!seen.insert(tname).second)
      return hdrErr(where + ": duplicate hf_name");
    const llvm::json::Array *shape = t->getArray("shape");
    if (!shape || shape->size() != 2)
      return hdrErr(where + ": \"shape\" is not a two-element [out, in] array");
    int64_t dims[2];
    for (int k = 0; k < 2; ++k) {
      auto d = (*shape)[k].getAsInteger();
      // Each dimension below 2^31 keeps every product below in 64 bits.
      if (!d || *d <= 0 || *d >= (int64_t(1) << 31))
        return hdrErr(where + ": shape[" + llvm::Twine(k) +
                      "] is not a positive integer below 2^31");
      dims[k] = *d;
    }
    if (dims[1] % kGroupSize != 0)
      return hdrErr(where + ": shape [" + llvm::Twine(dims[0]) + ", " +
                    llvm::Twine(dims[1]) +
                    "]: in-features not divisible by the group size 64");
    if (const llvm::json::Value *tg = t->get("group_size")) {
      auto g = tg->getAsInteger();
      if (!g || *g != kGroupSize)
        return hdrErr(where + ": group_size is not 64");
    }
    auto nBlocks = getCount(*t, "n_blocks", where, hdrErr);
    if (!nBlocks)
      return nBlocks.takeError();
    auto offset = getCount(*t, "offset", where, hdrErr);
    if (!offset)
      return offset.takeError();
    auto nBytes = getCount(*t, "n_bytes", where, hdrErr);
    if (!nBytes)
      return nBytes.takeError();
    uint64_t expectBlocks = uint64_t(dims[0]) * uint64_t(dims[1]) / kGroupSize;
    if (*nBlocks != expectBlocks)
      return hdrErr(where + ": n_blocks " + llvm::Twine(*nBlocks) +
                    " does not match the shape (" + llvm::Twine(expectBlocks) +
                    " blocks of 64)");
    if (*nBytes != expectBlocks * kBlockBytes)
      return hdrErr(where + ": n_bytes " + llvm::Twine(*nBytes) +
                    " is not n_blocks * 104 = " +
                    llvm::Twine(expectBlocks * kBlockBytes));
    if (*offset > dataSize || *nBytes > dataSize - *offset)
      return error("tensor " + tname + ": blocks [" +
                       llvm::Twine(dataOffset_ + *offset) + ", " +
                       llvm::Twine(dataOffset_ + *offset + *nBytes) +
                       ") run past the end of the file (" + llvm::Twine(size) +
                       " bytes)",
                   dataOffset_ + std::min(*offset, dataSize));
    tensors_.push_back({tname, dims[0], dims[1]});
    entries_.push_back({*offset, *nBytes, *nBlocks});
  }

  // Tensors must not share bytes: a shared range would let one change alter
  // two weights, and the location report would be ambiguous.
  std::vector<size_t> order(entries_.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return entries_[a].offset < entries_[b].offset;
  });
  for (size_t k = 1; k < order.size(); ++k) {
    const SRD4Entry &prev = entries_[order[k - 1]], &cur = entries_[order[k]];
    if (prev.nBytes && cur.offset < prev.offset + prev.nBytes)
      return error("tensor " + tensors_[order[k]].name + " overlaps tensor " +
                       tensors_[order[k - 1]].name,
                   dataOffset_ + cur.offset);
  }
  return Error::success();
}

uint64_t SRD4File::blockOffset(size_t index, int64_t row, int64_t group) const {
  const ResidualTensorInfo &t = tensors_[index];
  return dataOffset_ + entries_[index].offset +
         uint64_t(row * t.groupsPerRow() + group) * kBlockBytes;
}

const uint8_t *SRD4File::block(size_t index, int64_t row, int64_t group) const {
  return base() + blockOffset(index, row, group);
}

Error SRD4File::readRow(size_t index, int64_t row,
                        llvm::MutableArrayRef<SRDGroup> out) const {
  const ResidualTensorInfo &t = tensors_[index];
  if (row < 0 || row >= t.rows)
    return error("tensor " + t.name + ": row " + llvm::Twine(row) +
                 " out of range (" + llvm::Twine(t.rows) + " rows)");
  if (out.size() != static_cast<size_t>(t.groupsPerRow()))
    return error("tensor " + t.name + ": wrong group buffer size");
  for (int64_t g = 0; g < t.groupsPerRow(); ++g)
    decodeBlock(block(index, row, g), out[g]);
  return Error::success();
}

std::optional<SRD4Location> SRD4File::locate(uint64_t fileOffset) const {
  if (fileOffset < dataOffset_)
    return SRD4Location{true, 0, 0, 0};
  uint64_t rel = fileOffset - dataOffset_;
  for (size_t i = 0; i < entries_.size(); ++i) {
    const SRD4Entry &e = entries_[i];
    if (rel >= e.offset && rel < e.offset + e.nBytes) {
      uint64_t blockIndex = (rel - e.offset) / kBlockBytes;
      int64_t gpr = tensors_[i].groupsPerRow();
      return SRD4Location{false, i, static_cast<int64_t>(blockIndex / gpr),
                          static_cast<int64_t>(blockIndex % gpr)};
    }
  }
  return std::nullopt;
}

std::vector<BlockAnomaly>
gemmac::srd::scanBlockInvariants(const ResidualSource &source,
                                 size_t maxReports) {
  std::vector<BlockAnomaly> found;
  auto ts = source.tensors();
  // Scales at the quantizer's floor (1e-12) mark an all-zero group or
  // residual, for which the "some element at full scale" rule does not hold.
  const float kFloor = 1.0001e-12f;
  for (size_t i = 0; i < ts.size() && found.size() < maxReports; ++i) {
    std::vector<SRDGroup> groups(ts[i].groupsPerRow());
    for (int64_t r = 0; r < ts[i].rows && found.size() < maxReports; ++r) {
      if (llvm::Error e = source.readRow(i, r, groups)) {
        found.push_back({i, r, 0, llvm::toString(std::move(e))});
        break;
      }
      for (size_t g = 0; g < groups.size() && found.size() < maxReports; ++g) {
        const SRDGroup &b = groups[g];
        auto report = [&](const std::string &what) {
          found.push_back({i, r, static_cast<int64_t>(g), what});
        };
        bool hasMin4 = false, hasFull4 = false, hasMin8 = false,
             hasFull8 = false;
        for (int k = 0; k < kGroupSize; ++k) {
          hasMin4 |= b.w4[k] == -8;
          hasFull4 |= b.w4[k] == 7 || b.w4[k] == -7;
          hasMin8 |= b.d8[k] == -128;
          hasFull8 |= b.d8[k] == 127 || b.d8[k] == -127;
        }
        if (!std::isfinite(b.s4) || !(b.s4 > 0))
          report("S4 is not a finite positive number");
        else if (!std::isfinite(b.s8) || !(b.s8 > 0))
          report("S8 is not a finite positive number");
        else if (hasMin4)
          report("W4 holds -8, which the quantizer never writes");
        else if (hasMin8)
          report("D8 holds -128, which the quantizer never writes");
        else if (b.s4 > kFloor && !hasFull4)
          report("no W4 element at full scale (|W4| = 7)");
        else if (b.s8 > kFloor && !hasFull8)
          report("no D8 element at full scale (|D8| = 127)");
        else if (double(b.s8) * 127.0 > double(b.s4) * 1.001)
          report("the residual scale exceeds one base step (S8*127 > S4)");
      }
    }
  }
  return found;
}

std::vector<std::string>
gemmac::srd::locateChangedBlocks(const SRD4File &original,
                                 llvm::ArrayRef<uint8_t> changed,
                                 size_t maxReports) {
  std::vector<std::string> out;
  const uint8_t *a = original.base();
  uint64_t n = std::min<uint64_t>(original.fileSize(), changed.size());
  for (uint64_t i = 0; i < n && out.size() < maxReports; ++i) {
    if (a[i] == changed[i])
      continue;
    std::optional<SRD4Location> loc = original.locate(i);
    if (!loc) {
      out.push_back(
          llvm::formatv("outside every tensor (offset {0})", i).str());
      continue;
    }
    if (loc->inHeader) {
      out.push_back(llvm::formatv("header (offset {0})", i).str());
      i = original.dataOffset() - 1;
      continue;
    }
    const ResidualTensorInfo &t = original.tensors()[loc->tensor];
    out.push_back(llvm::formatv("{0} row {1} group {2} (offset {3})", t.name,
                                loc->row, loc->group, i)
                      .str());
    i = original.blockOffset(loc->tensor, loc->row, loc->group) + kBlockBytes -
        1;
  }
  if (original.fileSize() != changed.size() && out.size() < maxReports)
    out.push_back(llvm::formatv("the size changed from {0} to {1} bytes",
                                original.fileSize(), changed.size())
                      .str());
  return out;
}
