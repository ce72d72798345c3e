//===- RealPack.cpp - the .axm "real-pack" residual trio ------------------===//

#include "formats/srd/RealPack.h"
#include "support/BinaryReader.h"
#include "formats/srd/SRDSupport.h"

#include "llvm/ADT/StringSet.h"
#include "llvm/Support/JSON.h"

#include <bit>
#include <cmath>
#include <cstring>

using namespace gemmac::srd;
using llvm::Error;
using llvm::Expected;
using llvm::StringRef;

Expected<std::unique_ptr<RealPackResiduals>>
RealPackResiduals::load(const FileTree &tree, StringRef dir) {
  std::unique_ptr<RealPackResiduals> r(new RealPackResiduals());
  std::string base = dir.empty() ? "" : (dir + "/").str();
  std::string indexRel = base + kIndexFile.str();
  r->name_ = tree.displayName(base + kPackedFile.str());

  // srd_index.json
  auto indexBuf = tree.read(indexRel);
  if (!indexBuf)
    return indexBuf.takeError();
  std::string indexName = tree.displayName(indexRel);
  auto idxErr = [&](const llvm::Twine &m) {
    return fileError(indexName, std::nullopt, m);
  };
  auto index = llvm::json::parse((*indexBuf)->getBuffer());
  if (!index)
    return idxErr("not valid JSON: " + llvm::toString(index.takeError()));
  const llvm::json::Object *io = index->getAsObject();
  if (!io)
    return idxErr("not a JSON object");
  if (auto s = io->getString("scheme"); !s || *s != "srd")
    return idxErr("\"scheme\" is not \"srd\"");
  if (auto g = io->getInteger("group_size"); !g || *g != kGroupSize)
    return idxErr("\"group_size\" is not 64");
  if (const llvm::json::Value *a = io->get("alpha")) {
    auto d = a->getAsNumber();
    if (!d || !std::isfinite(*d))
      return idxErr("\"alpha\" is not a finite number");
    r->alpha_ = static_cast<float>(*d);
  }
  const llvm::json::Array *layers = io->getArray("layers");
  if (!layers)
    return idxErr("missing \"layers\" array");
  std::vector<std::string> layerNames;
  for (auto &l : *layers) {
    auto s = l.getAsString();
    if (!s)
      return idxErr("\"layers\" holds a non-string");
    layerNames.push_back(s->str());
  }
  if (auto n = io->getInteger("n_quantized");
      n && *n != static_cast<int64_t>(layerNames.size()))
    return idxErr("\"n_quantized\" " + llvm::Twine(*n) + " but " +
                  llvm::Twine(layerNames.size()) + " layers are listed");

  // srd_dense.pt: parsed so a hostile pickle there is refused too.
  std::string denseRel = base + kDenseFile.str();
  if (tree.contains(denseRel)) {
    auto buf = tree.read(denseRel);
    if (!buf)
      return buf.takeError();
    auto dense =
        TorchCheckpoint::parse(std::move(*buf), tree.displayName(denseRel));
    if (!dense)
      return dense.takeError();
    if ((*dense)->root().kind != PickleValue::Kind::Dict)
      return fileError(tree.displayName(denseRel), std::nullopt,
                       "the pickled object is not a dict");
    for (auto &[k, v] : (*dense)->root().entries)
      if (v->kind == PickleValue::Kind::Tensor)
        if (auto t = (*dense)->tensor(*v, k->text); !t)
          return t.takeError();
  }

  // srd_packed.pt
  auto packedBuf = tree.read(base + kPackedFile.str());
  if (!packedBuf)
    return packedBuf.takeError();
  auto packed = TorchCheckpoint::parse(std::move(*packedBuf), r->name_);
  if (!packed)
    return packed.takeError();
  r->packed_ = std::move(*packed);
  const PickleValue &root = r->packed_->root();
  if (root.kind != PickleValue::Kind::Dict)
    return fileError(r->name_, std::nullopt,
                     "the pickled object is not a dict");
  llvm::StringSet<> listed;
  for (auto &n : layerNames)
    listed.insert(n);
  for (auto &n : layerNames) {
    const PickleValue *entry = root.get(n);
    if (!entry)
      return fileError(r->name_, std::nullopt,
                       "layer " + n + " is listed in " + indexName +
                           " but not packed");
    if (Error e = r->loadLayer(n, *entry))
      return std::move(e);
  }
  for (auto &[k, v] : root.entries)
    if (k->kind != PickleValue::Kind::String || !listed.contains(k->text))
      return fileError(r->name_, std::nullopt,
                       "packed layer " + k->text + " is not listed in " +
                           indexName);
  return std::move(r);
}

Error RealPackResiduals::loadLayer(const std::string &layer,
                                   const PickleValue &entry) {
  auto err = [&](const llvm::Twine &m) {
    return fileError(name_, std::nullopt, "layer " + layer + ": " + m);
  };
  if (entry.kind != PickleValue::Kind::Dict)
    return err("entry is not a dict");
  auto intField = [&](StringRef key) -> Expected<int64_t> {
    const PickleValue *v = entry.get(key);
    if (!v || v->kind != PickleValue::Kind::Int)
      return err("missing integer \"" + key + "\"");
    return v->integer;
  };
  auto tensorField = [&](StringRef key, StringRef dtype,
                         std::vector<int64_t> shape) -> Expected<TorchTensor> {
    const PickleValue *v = entry.get(key);
    if (!v)
      return err("missing tensor \"" + key + "\"");
    auto t = packed_->tensor(*v, (layer + "." + key).str());
    if (!t)
      return t.takeError();
    if (t->dtype != dtype)
      return err("\"" + key + "\" is " + t->dtype + ", expected " + dtype);
    if (t->shape != shape) {
      std::string got, want;
      for (auto d : t->shape)
        got += (got.empty() ? "" : ", ") + std::to_string(d);
      for (auto d : shape)
        want += (want.empty() ? "" : ", ") + std::to_string(d);
      return err("\"" + key + "\" has shape [" + got + "], expected [" + want +
                 "]");
    }
    return t;
  };

  auto groupSize = intField("group_size");
  if (!groupSize)
    return groupSize.takeError();
  if (*groupSize != kGroupSize)
    return err("group_size " + llvm::Twine(*groupSize) + " is not 64");
  auto cols = intField("orig_cols");
  if (!cols)
    return cols.takeError();
  const PickleValue *s4v = entry.get("s4");
  if (!s4v || s4v->kind != PickleValue::Kind::Tensor ||
      s4v->tensor.shape.size() != 2)
    return err("\"s4\" is not a 2-D tensor");
  int64_t rows = s4v->tensor.shape[0];
  if (*cols <= 0 || *cols % kGroupSize != 0 || rows <= 0 ||
      *cols >= (int64_t(1) << 31) || rows >= (int64_t(1) << 31))
    return err("shape [" + llvm::Twine(rows) + ", " + llvm::Twine(*cols) +
               "]: in-features not a positive multiple of the group size 64");
  const PickleValue *shapeV = entry.get("d8_shape");
  if (!shapeV ||
      (shapeV->kind != PickleValue::Kind::Tuple &&
       shapeV->kind != PickleValue::Kind::List) ||
      shapeV->items.size() != 2 ||
      shapeV->items[0]->kind != PickleValue::Kind::Int ||
      shapeV->items[1]->kind != PickleValue::Kind::Int ||
      shapeV->items[0]->integer != rows || shapeV->items[1]->integer != *cols)
    return err("\"d8_shape\" is not (" + llvm::Twine(rows) + ", " +
               llvm::Twine(*cols) + ")");

  Layer L;
  int64_t groups = *cols / kGroupSize, n = rows * *cols;
  auto w4 = tensorField("w4_packed", "uint8", {rows, *cols / 2});
  if (!w4)
    return w4.takeError();
  auto s4 = tensorField("s4", "float32", {rows, groups});
  if (!s4)
    return s4.takeError();
  auto s8 = tensorField("s8", "float32", {rows, groups});
  if (!s8)
    return s8.takeError();
  auto mask = tensorField("d8_mask", "uint8", {(n + 7) / 8});
  if (!mask)
    return mask.takeError();
  const PickleValue *valsV = entry.get("d8_vals");
  if (!valsV || valsV->kind != PickleValue::Kind::Tensor ||
      valsV->tensor.shape.size() != 1)
    return err("\"d8_vals\" is not a 1-D tensor");
  auto vals = tensorField("d8_vals", "int8", {valsV->tensor.shape[0]});
  if (!vals)
    return vals.takeError();

  // Each row's first value: the mask's population before the row.
  L.rowValueStart.resize(rows + 1);
  const uint8_t *mb = mask->bytes.data();
  int64_t count = 0;
  for (int64_t r = 0; r < rows; ++r) {
    L.rowValueStart[r] = count;
    for (int64_t i = r * *cols, end = i + *cols; i < end; ++i)
      count += (mb[i >> 3] >> (i & 7)) & 1;
  }
  L.rowValueStart[rows] = count;
  if (count != vals->numel())
    return err("d8_mask marks " + llvm::Twine(count) +
               " residuals but d8_vals holds " + llvm::Twine(vals->numel()));
  L.w4 = std::move(*w4);
  L.s4 = std::move(*s4);
  L.s8 = std::move(*s8);
  L.mask = std::move(*mask);
  L.vals = std::move(*vals);
  tensors_.push_back({layer, rows, *cols});
  layers_.push_back(std::move(L));
  return Error::success();
}

Error RealPackResiduals::readRow(size_t index, int64_t row,
                                 llvm::MutableArrayRef<SRDGroup> out) const {
  const ResidualTensorInfo &t = tensors_[index];
  const Layer &L = layers_[index];
  if (row < 0 || row >= t.rows)
    return fileError(name_, std::nullopt,
                     "layer " + t.name + ": row " + llvm::Twine(row) +
                         " out of range");
  if (out.size() != static_cast<size_t>(t.groupsPerRow()))
    return fileError(name_, std::nullopt,
                     "layer " + t.name + ": wrong group buffer size");
  const uint8_t *w4 = L.w4.bytes.data() + row * (t.cols / 2);
  const uint8_t *mask = L.mask.bytes.data();
  const auto *vals = reinterpret_cast<const int8_t *>(L.vals.bytes.data());
  int64_t next = L.rowValueStart[row];
  for (int64_t g = 0; g < t.groupsPerRow(); ++g) {
    SRDGroup &G = out[g];
    for (int j = 0; j < kGroupSize / 2; ++j) {
      uint8_t b = w4[g * (kGroupSize / 2) + j];
      G.w4[2 * j] = static_cast<int8_t>((b & 0x0F) - 8);
      G.w4[2 * j + 1] = static_cast<int8_t>((b >> 4) - 8);
    }
    for (int k = 0; k < kGroupSize; ++k) {
      int64_t bit = row * t.cols + g * kGroupSize + k;
      G.d8[k] = ((mask[bit >> 3] >> (bit & 7)) & 1) ? vals[next++] : 0;
    }
    std::memcpy(&G.s4, L.s4.bytes.data() + (row * t.groupsPerRow() + g) * 4, 4);
    std::memcpy(&G.s8, L.s8.bytes.data() + (row * t.groupsPerRow() + g) * 4, 4);
  }
  return Error::success();
}
