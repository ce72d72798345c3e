//===- TorchCheckpoint.cpp - PyTorch zip checkpoints, read without Python -===//

#include "formats/srd/TorchCheckpoint.h"
#include "support/BinaryReader.h"
#include "formats/srd/SRDSupport.h"

#include <cstring>

using namespace gemmac::srd;
using llvm::Error;
using llvm::Expected;
using llvm::StringRef;

int64_t TorchTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape)
    n *= d;
  return n;
}

static bool storageDtype(StringRef type, std::string &dtype, unsigned &size) {
  static const struct {
    const char *type, *dtype;
    unsigned size;
  } table[] = {
      {"FloatStorage", "float32", 4},     {"HalfStorage", "float16", 2},
      {"BFloat16Storage", "bfloat16", 2}, {"DoubleStorage", "float64", 8},
      {"ByteStorage", "uint8", 1},        {"CharStorage", "int8", 1},
      {"ShortStorage", "int16", 2},       {"IntStorage", "int32", 4},
      {"LongStorage", "int64", 8},        {"BoolStorage", "bool", 1}};
  for (auto &e : table)
    if (type == e.type) {
      dtype = e.dtype;
      size = e.size;
      return true;
    }
  return false;
}

Expected<std::unique_ptr<TorchCheckpoint>>
TorchCheckpoint::parse(std::unique_ptr<llvm::MemoryBuffer> zipBytes,
                       StringRef name) {
  std::unique_ptr<TorchCheckpoint> c(new TorchCheckpoint());
  c->name_ = name.str();
  auto zip = ZipArchive::parse(std::move(zipBytes), name);
  if (!zip)
    return zip.takeError();
  c->zip_ = std::move(*zip);
  if (Error e = c->load())
    return std::move(e);
  return std::move(c);
}

Error TorchCheckpoint::load() {
  // The pickle is the one member named <prefix>/data.pkl at depth one.
  const ZipMember *pkl = nullptr;
  for (const ZipMember &m : zip_->members()) {
    StringRef n = m.name;
    if (n.ends_with("/data.pkl") && n.count('/') == 1) {
      if (pkl)
        return fileError(name_, std::nullopt,
                         "two pickles (" + pkl->name + ", " + m.name +
                             "): not a single torch.save checkpoint");
      pkl = &m;
    }
  }
  if (!pkl)
    return fileError(
        name_, std::nullopt,
        "no <prefix>/data.pkl member: not a PyTorch zip checkpoint");
  prefix_ = StringRef(pkl->name).drop_back(strlen("data.pkl")).str();
  if (const ZipMember *bo = zip_->find(prefix_ + "byteorder")) {
    auto b = zip_->read(*bo);
    if (!b)
      return b.takeError();
    if ((*b)->getBuffer().trim() != "little")
      return fileError(name_, std::nullopt,
                       "byte order \"" + (*b)->getBuffer().trim() +
                           "\": only little-endian checkpoints are read");
  }
  auto data = zip_->read(*pkl);
  if (!data)
    return data.takeError();
  auto root =
      unpickle(llvm::ArrayRef<uint8_t>(
                   reinterpret_cast<const uint8_t *>((*data)->getBufferStart()),
                   (*data)->getBufferSize()),
               name_ + ":" + pkl->name);
  if (!root)
    return root.takeError();
  root_ = std::move(*root);
  return Error::success();
}

Expected<TorchTensor> TorchCheckpoint::tensor(const PickleValue &v,
                                              StringRef what) const {
  auto err = [&](const llvm::Twine &m) {
    return fileError(name_, std::nullopt, "tensor " + what + ": " + m);
  };
  if (v.kind != PickleValue::Kind::Tensor)
    return err(llvm::Twine("is a ") + v.kindName() + ", not a tensor");
  const PickledTensor &p = v.tensor;
  TorchTensor t;
  if (!storageDtype(p.storageType, t.dtype, t.elementSize))
    return err("unknown storage type " + p.storageType);
  t.shape = p.shape;
  // Contiguous row-major strides only.
  int64_t expect = 1;
  for (size_t i = p.shape.size(); i-- > 0;) {
    if (p.shape[i] != 1 && p.strides[i] != expect)
      return err("is not contiguous (stride " + llvm::Twine(p.strides[i]) +
                 " in dimension " + llvm::Twine(i) + ")");
    if (p.shape[i] && expect > (int64_t(1) << 50) / p.shape[i])
      return err("is too large");
    expect *= p.shape[i];
  }
  int64_t numel = expect;
  if (p.storageOffset > p.storageNumel ||
      numel > p.storageNumel - p.storageOffset)
    return err("elements [" + llvm::Twine(p.storageOffset) + ", " +
               llvm::Twine(p.storageOffset + numel) +
               ") lie outside its storage of " + llvm::Twine(p.storageNumel));
  t.storageMember = prefix_ + "data/" + p.storageKey;
  auto it = storages_.find(t.storageMember);
  if (it == storages_.end()) {
    const ZipMember *m = zip_->find(t.storageMember);
    if (!m)
      return err("storage member " + t.storageMember + " is missing");
    auto buf = zip_->read(*m, /*checkCRC=*/false);
    if (!buf)
      return buf.takeError();
    it = storages_.try_emplace(t.storageMember, std::move(*buf)).first;
  }
  const llvm::MemoryBuffer &s = *it->second;
  uint64_t need = uint64_t(p.storageNumel) * t.elementSize;
  if (s.getBufferSize() < need)
    return err("storage " + t.storageMember + " holds " +
               llvm::Twine(s.getBufferSize()) + " bytes, " +
               llvm::Twine(p.storageNumel) + " elements need " +
               llvm::Twine(need));
  t.bytes = llvm::ArrayRef<uint8_t>(
      reinterpret_cast<const uint8_t *>(s.getBufferStart()) +
          p.storageOffset * t.elementSize,
      numel * t.elementSize);
  return t;
}

std::vector<std::string> TorchCheckpoint::changedMembers() const {
  std::vector<std::string> changed;
  for (const ZipMember &m : zip_->members()) {
    auto buf = zip_->read(m, /*checkCRC=*/false);
    if (!buf) {
      llvm::consumeError(buf.takeError());
      changed.push_back(m.name);
      continue;
    }
    if (crc32(llvm::ArrayRef<uint8_t>(
            reinterpret_cast<const uint8_t *>((*buf)->getBufferStart()),
            (*buf)->getBufferSize())) != m.crc32)
      changed.push_back(m.name);
  }
  return changed;
}

/// Collects (path, storage member) for every tensor under `v`.
static void
collectTensors(const PickleValue &v, const std::string &path,
               llvm::StringRef prefix, int depth,
               std::vector<std::pair<std::string, std::string>> &out) {
  if (depth > 64)
    return;
  if (v.kind == PickleValue::Kind::Tensor) {
    out.emplace_back(path, (prefix + "data/" + v.tensor.storageKey).str());
    return;
  }
  if (v.kind == PickleValue::Kind::Dict) {
    for (auto &[k, child] : v.entries) {
      std::string key = k->kind == PickleValue::Kind::String
                            ? k->text
                            : std::to_string(k->integer);
      collectTensors(*child, path.empty() ? key : path + "." + key, prefix,
                     depth + 1, out);
    }
    return;
  }
  if (v.kind == PickleValue::Kind::Tuple || v.kind == PickleValue::Kind::List)
    for (size_t i = 0; i < v.items.size(); ++i)
      collectTensors(*v.items[i], path + "[" + std::to_string(i) + "]", prefix,
                     depth + 1, out);
}

std::vector<std::string> TorchCheckpoint::changedTensors() const {
  std::vector<std::pair<std::string, std::string>> all;
  collectTensors(*root_, "", prefix_, 0, all);
  std::vector<std::string> out;
  for (const std::string &member : changedMembers()) {
    bool named = false;
    for (auto &[path, m] : all)
      if (m == member) {
        out.push_back(path);
        named = true;
      }
    if (!named)
      out.push_back("(" + member + ")");
  }
  return out;
}
