//===- TorchSave.cpp - writes PyTorch zip checkpoints ---------------------===//

#include "tools/srd/TorchSave.h"
#include "tools/srd/PickleWriter.h"
#include "tools/srd/ZipWriter.h"

using namespace gemmac::srd;

TorchValue TorchValue::integerValue(int64_t v) {
  TorchValue t;
  t.kind = Kind::Int;
  t.integer = v;
  return t;
}
TorchValue TorchValue::floatValue(double v) {
  TorchValue t;
  t.kind = Kind::Float;
  t.number = v;
  return t;
}
TorchValue TorchValue::stringValue(std::string s) {
  TorchValue t;
  t.kind = Kind::String;
  t.text = std::move(s);
  return t;
}
TorchValue TorchValue::tuple(std::vector<TorchValue> items) {
  TorchValue t;
  t.kind = Kind::Tuple;
  t.items = std::move(items);
  return t;
}
TorchValue TorchValue::dict() {
  TorchValue t;
  t.kind = Kind::Dict;
  return t;
}
TorchValue TorchValue::tensor(std::string storageType,
                              std::vector<int64_t> shape,
                              std::vector<uint8_t> bytes) {
  TorchValue t;
  t.kind = Kind::Tensor;
  t.storageType = std::move(storageType);
  t.shape = std::move(shape);
  t.bytes = std::move(bytes);
  return t;
}
TorchValue &TorchValue::add(std::string key, TorchValue v) {
  keys.push_back(std::move(key));
  values.push_back(std::move(v));
  return *this;
}

static unsigned elementSize(llvm::StringRef storageType) {
  if (storageType == "DoubleStorage" || storageType == "LongStorage")
    return 8;
  if (storageType == "FloatStorage" || storageType == "IntStorage")
    return 4;
  if (storageType == "HalfStorage" || storageType == "BFloat16Storage" ||
      storageType == "ShortStorage")
    return 2;
  return 1;
}

namespace {
struct Emitter {
  PickleWriter w;
  std::vector<const std::vector<uint8_t> *> storages;

  void intTuple(const std::vector<int64_t> &v) {
    if (v.empty()) {
      w.emptyTuple();
      return;
    }
    if (v.size() > 3)
      w.mark();
    for (int64_t x : v)
      w.integer(x);
    w.tuple(v.size());
  }

  void emit(const TorchValue &v) {
    switch (v.kind) {
    case TorchValue::Kind::Int:
      w.integer(v.integer);
      return;
    case TorchValue::Kind::Float:
      w.number(v.number);
      return;
    case TorchValue::Kind::String:
      w.string(v.text);
      return;
    case TorchValue::Kind::Bool:
      w.boolean(v.boolean);
      return;
    case TorchValue::Kind::Tuple:
      if (v.items.empty()) {
        w.emptyTuple();
        return;
      }
      if (v.items.size() > 3)
        w.mark();
      for (auto &i : v.items)
        emit(i);
      w.tuple(v.items.size());
      return;
    case TorchValue::Kind::Dict:
      w.emptyDict();
      if (v.keys.empty())
        return;
      w.mark();
      for (size_t i = 0; i < v.keys.size(); ++i) {
        w.string(v.keys[i]);
        emit(v.values[i]);
      }
      w.setItems();
      return;
    case TorchValue::Kind::Tensor: {
      unsigned es = elementSize(v.storageType);
      int64_t numel = static_cast<int64_t>(v.bytes.size() / es);
      std::vector<int64_t> strides(v.shape.size());
      int64_t s = 1;
      for (size_t i = v.shape.size(); i-- > 0;) {
        strides[i] = s;
        s *= v.shape[i];
      }
      w.global("torch._utils", "_rebuild_tensor_v2");
      w.mark();
      w.mark();
      w.string("storage");
      w.global("torch", v.storageType);
      w.string(std::to_string(storages.size()));
      w.string("cpu");
      w.integer(numel);
      w.tuple(5);
      w.binPersId();
      storages.push_back(&v.bytes);
      w.integer(0);
      intTuple(v.shape);
      intTuple(strides);
      w.boolean(false);
      w.global("collections", "OrderedDict");
      w.emptyTuple();
      w.reduce();
      w.tuple(6);
      w.reduce();
      return;
    }
    }
  }
};

std::vector<uint8_t>
package(const std::vector<uint8_t> &pickle,
        const std::vector<const std::vector<uint8_t> *> &storages,
        llvm::StringRef prefix) {
  ZipWriter zip;
  std::string p = prefix.str() + "/";
  zip.add(p + "data.pkl", pickle, ZipWriter::Method::Stored, 64);
  llvm::StringRef little = "little";
  zip.add(p + "byteorder",
          llvm::ArrayRef<uint8_t>(
              reinterpret_cast<const uint8_t *>(little.data()), little.size()),
          ZipWriter::Method::Stored, 64);
  for (size_t i = 0; i < storages.size(); ++i)
    zip.add(p + "data/" + std::to_string(i), *storages[i],
            ZipWriter::Method::Stored, 64);
  llvm::StringRef version = "3\n";
  zip.add(
      p + "version",
      llvm::ArrayRef<uint8_t>(reinterpret_cast<const uint8_t *>(version.data()),
                              version.size()),
      ZipWriter::Method::Stored, 64);
  return zip.finish();
}
} // namespace

std::vector<uint8_t> gemmac::srd::torchSave(const TorchValue &root,
                                            llvm::StringRef prefix) {
  Emitter e;
  e.emit(root);
  return package(e.w.finish(), e.storages, prefix);
}

std::vector<uint8_t>
gemmac::srd::torchSaveRawPickle(const std::vector<uint8_t> &pickle,
                                llvm::StringRef prefix) {
  return package(pickle, {}, prefix);
}
