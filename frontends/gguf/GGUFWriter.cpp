//===- GGUFWriter.cpp - writes GGUF v3 files ------------------------------===//

#include "frontends/gguf/GGUFWriter.h"
#include "abi/ggml_types.h"
#include "support/FileOutput.h"

#include <cstring>
#include <memory>

using namespace gemmac::gguf;

namespace {
template <typename T> void put(std::vector<uint8_t> &out, T v) {
  uint8_t b[sizeof(T)];
  std::memcpy(b, &v, sizeof(T));
  out.insert(out.end(), b, b + sizeof(T));
}
void putString(std::vector<uint8_t> &out, const std::string &s) {
  put<uint64_t>(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}
template <typename T>
std::vector<uint8_t> arrayPayload(ValueType elem, const std::vector<T> &v) {
  std::vector<uint8_t> p;
  put<uint32_t>(p, static_cast<uint32_t>(elem));
  put<uint64_t>(p, v.size());
  for (const T &x : v)
    put<T>(p, x);
  return p;
}
} // namespace

void GGUFWriter::addU32(const std::string &key, uint32_t v) {
  std::vector<uint8_t> p;
  put(p, v);
  kvs_.push_back({key, uint32_t(ValueType::UInt32), p});
}
void GGUFWriter::addI32(const std::string &key, int32_t v) {
  std::vector<uint8_t> p;
  put(p, v);
  kvs_.push_back({key, uint32_t(ValueType::Int32), p});
}
void GGUFWriter::addU64(const std::string &key, uint64_t v) {
  std::vector<uint8_t> p;
  put(p, v);
  kvs_.push_back({key, uint32_t(ValueType::UInt64), p});
}
void GGUFWriter::addF32(const std::string &key, float v) {
  std::vector<uint8_t> p;
  put(p, v);
  kvs_.push_back({key, uint32_t(ValueType::Float32), p});
}
void GGUFWriter::addBool(const std::string &key, bool v) {
  kvs_.push_back({key, uint32_t(ValueType::Bool), {uint8_t(v ? 1 : 0)}});
}
void GGUFWriter::addString(const std::string &key, const std::string &v) {
  std::vector<uint8_t> p;
  putString(p, v);
  kvs_.push_back({key, uint32_t(ValueType::String), p});
}
void GGUFWriter::addArrayI32(const std::string &key,
                             const std::vector<int32_t> &v) {
  kvs_.push_back(
      {key, uint32_t(ValueType::Array), arrayPayload(ValueType::Int32, v)});
}
void GGUFWriter::addArrayU32(const std::string &key,
                             const std::vector<uint32_t> &v) {
  kvs_.push_back(
      {key, uint32_t(ValueType::Array), arrayPayload(ValueType::UInt32, v)});
}
void GGUFWriter::addArrayF32(const std::string &key,
                             const std::vector<float> &v) {
  kvs_.push_back(
      {key, uint32_t(ValueType::Array), arrayPayload(ValueType::Float32, v)});
}
void GGUFWriter::addArrayBool(const std::string &key,
                              const std::vector<bool> &v) {
  std::vector<uint8_t> p;
  put<uint32_t>(p, uint32_t(ValueType::Bool));
  put<uint64_t>(p, v.size());
  for (bool b : v)
    p.push_back(b ? 1 : 0);
  kvs_.push_back({key, uint32_t(ValueType::Array), p});
}
void GGUFWriter::addArrayString(const std::string &key,
                                const std::vector<std::string> &v) {
  std::vector<uint8_t> p;
  put<uint32_t>(p, uint32_t(ValueType::String));
  put<uint64_t>(p, v.size());
  for (const std::string &s : v)
    putString(p, s);
  kvs_.push_back({key, uint32_t(ValueType::Array), p});
}
void GGUFWriter::addRaw(const std::string &key, uint32_t type,
                        const std::vector<uint8_t> &payload) {
  kvs_.push_back({key, type, payload});
}

size_t GGUFWriter::addTensor(const std::string &name, uint32_t ggmlType,
                             std::vector<int64_t> ne) {
  const gemmac::GGMLTypeInfo *ti = gemmac::findGGMLType(ggmlType);
  uint64_t n = 1;
  for (int64_t d : ne)
    n *= static_cast<uint64_t>(d);
  uint64_t bytes = ti ? n / ti->blockElems * ti->blockBytes : 0;
  tensors_.push_back({name, ggmlType, std::move(ne), bytes});
  return tensors_.size() - 1;
}

std::string GGUFWriter::write(const std::string &path, const Fill &fill,
                              const std::function<bool(size_t)> &skip) const {
  std::vector<uint8_t> head;
  head.insert(head.end(), {'G', 'G', 'U', 'F'});
  put<uint32_t>(head, 3);
  put<uint64_t>(head, tensors_.size());
  put<uint64_t>(head, kvs_.size());
  for (const KV &kv : kvs_) {
    putString(head, kv.key);
    put<uint32_t>(head, kv.type);
    head.insert(head.end(), kv.payload.begin(), kv.payload.end());
  }
  auto pad = [&](uint64_t x) {
    return (x + alignment_ - 1) / alignment_ * alignment_;
  };
  uint64_t offset = 0;
  for (const Tensor &t : tensors_) {
    putString(head, t.name);
    put<uint32_t>(head, t.ne.size());
    for (int64_t d : t.ne)
      put<int64_t>(head, d);
    put<uint32_t>(head, t.type);
    put<uint64_t>(head, offset);
    offset += pad(t.nbytes);
  }
  head.resize(pad(head.size()), 0);

  llvm::Error e = support::writeFileWith(path, [&](llvm::raw_fd_ostream &os) {
    os.write(reinterpret_cast<const char *>(head.data()), head.size());
    std::vector<uint8_t> buf;
    uint64_t end = head.size();
    for (size_t i = 0; i < tensors_.size(); ++i) {
      uint64_t n = pad(tensors_[i].nbytes);
      end += n;
      if (skip && skip(i)) {
        os.seek(end); // a hole: the bytes read as zero
        continue;
      }
      buf.assign(n, 0);
      fill(i, buf.data());
      os.write(reinterpret_cast<const char *>(buf.data()), buf.size());
    }
    if (os.tell() < end) { // trailing holes: the last byte sets the size
      os.seek(end - 1);
      os << '\0';
    }
    return llvm::Error::success();
  });
  if (e)
    return llvm::toString(std::move(e));
  return {};
}
