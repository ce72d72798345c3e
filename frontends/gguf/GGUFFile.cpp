//===- GGUFFile.cpp - a defensive GGUF v2/v3 reader -----------------------===//

#include "frontends/gguf/GGUFFile.h"
#include "abi/ggml_types.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MathExtras.h"

#include <algorithm>
#include <cstring>

using namespace gemmac::gguf;
using llvm::Error;
using llvm::Expected;
using llvm::StringRef;

namespace {
constexpr uint64_t kMaxStringLength = 1ull << 30; // ggml's cap
constexpr uint32_t kMaxNameLength = 63;           // GGML_MAX_NAME - 1
constexpr uint32_t kMaxDims = 4;

/// A GGUF string: a u64 length and that many bytes, at most 1 GiB.
Expected<StringRef> readString(gemmac::support::BinaryReader &c,
                               const llvm::Twine &what) {
  uint64_t at = c.tell();
  auto len = c.read<uint64_t>(what + " length");
  if (!len)
    return len.takeError();
  if (*len > kMaxStringLength)
    return c.error(what + " claims " + llvm::Twine(*len) +
                       " bytes, more than the 1 GiB limit",
                   at);
  return c.readBytes(*len, what);
}

bool isKnownValueType(uint32_t t) { return t <= 12; }
} // namespace

const char *gemmac::gguf::valueTypeName(ValueType type) {
  static const char *names[] = {
      "uint8", "int8",   "uint16", "int16",  "uint32", "int32",  "float32",
      "bool",  "string", "array",  "uint64", "int64",  "float64"};
  auto i = static_cast<uint32_t>(type);
  return i < 13 ? names[i] : "unknown";
}

size_t gemmac::gguf::valueTypeSize(ValueType type) {
  switch (type) {
  case ValueType::UInt8:
  case ValueType::Int8:
  case ValueType::Bool:
    return 1;
  case ValueType::UInt16:
  case ValueType::Int16:
    return 2;
  case ValueType::UInt32:
  case ValueType::Int32:
  case ValueType::Float32:
    return 4;
  case ValueType::UInt64:
  case ValueType::Int64:
  case ValueType::Float64:
    return 8;
  case ValueType::String:
  case ValueType::Array:
    return 0;
  }
  return 0;
}

static bool isIntegerType(ValueType t) {
  switch (t) {
  case ValueType::UInt8:
  case ValueType::Int8:
  case ValueType::UInt16:
  case ValueType::Int16:
  case ValueType::UInt32:
  case ValueType::Int32:
  case ValueType::UInt64:
  case ValueType::Int64:
    return true;
  default:
    return false;
  }
}

static bool isSignedType(ValueType t) {
  return t == ValueType::Int8 || t == ValueType::Int16 ||
         t == ValueType::Int32 || t == ValueType::Int64;
}

/// Decodes one little-endian scalar at p into the matching field of v.
static void decodeScalar(ValueType t, const uint8_t *p, int64_t &i, uint64_t &u,
                         double &f) {
  switch (t) {
  case ValueType::UInt8:
  case ValueType::Bool:
    u = p[0];
    i = static_cast<int64_t>(u);
    return;
  case ValueType::Int8:
    i = static_cast<int8_t>(p[0]);
    return;
  case ValueType::UInt16: {
    uint16_t x;
    std::memcpy(&x, p, 2);
    u = x;
    i = x;
    return;
  }
  case ValueType::Int16: {
    int16_t x;
    std::memcpy(&x, p, 2);
    i = x;
    return;
  }
  case ValueType::UInt32: {
    uint32_t x;
    std::memcpy(&x, p, 4);
    u = x;
    i = x;
    return;
  }
  case ValueType::Int32: {
    int32_t x;
    std::memcpy(&x, p, 4);
    i = x;
    return;
  }
  case ValueType::UInt64:
    std::memcpy(&u, p, 8);
    i = static_cast<int64_t>(u);
    return;
  case ValueType::Int64:
    std::memcpy(&i, p, 8);
    return;
  case ValueType::Float32: {
    float x;
    std::memcpy(&x, p, 4);
    f = x;
    return;
  }
  case ValueType::Float64:
    std::memcpy(&f, p, 8);
    return;
  default:
    return;
  }
}

bool MetadataValue::isInteger() const { return isIntegerType(type); }
bool MetadataValue::arrayIsInteger() const {
  return type == ValueType::Array && isIntegerType(elemType);
}

int64_t MetadataValue::arrayInt(uint64_t i) const {
  int64_t iv = 0;
  uint64_t uv = 0;
  double fv = 0;
  decodeScalar(elemType, arrayData + i * valueTypeSize(elemType), iv, uv, fv);
  return iv;
}

double MetadataValue::arrayFloat(uint64_t i) const {
  int64_t iv = 0;
  uint64_t uv = 0;
  double fv = 0;
  decodeScalar(elemType, arrayData + i * valueTypeSize(elemType), iv, uv, fv);
  if (elemType == ValueType::Float32 || elemType == ValueType::Float64)
    return fv;
  return isSignedType(elemType) ? static_cast<double>(iv)
                                : static_cast<double>(uv);
}

Expected<std::unique_ptr<GGUFFile>> GGUFFile::open(StringRef path) {
  return openAs<GGUFFile>(path);
}

Expected<std::unique_ptr<GGUFFile>>
GGUFFile::parse(std::unique_ptr<llvm::MemoryBuffer> buffer, StringRef name) {
  return parseAs<GGUFFile>(std::move(buffer), name);
}

Error GGUFFile::parseAll() {
  support::BinaryReader c = reader();

  if (fileSize() < 4)
    return error("not a GGUF file: only " + llvm::Twine(fileSize()) + " bytes");
  if (std::memcmp(base(), "FUGG", 4) == 0)
    return error("big-endian GGUF files are not supported", 0);
  if (std::memcmp(base(), "GGUF", 4) != 0)
    return error("not a GGUF file: bad magic (expected 'GGUF')", 0);
  c.seek(4);

  auto version = c.read<uint32_t>("version");
  if (!version)
    return version.takeError();
  if ((*version & 0xFFFF) == 0)
    return error("byte-swapped (big-endian) GGUF version; not supported", 4);
  if (*version != 2 && *version != 3)
    return error("unsupported GGUF version " + llvm::Twine(*version) +
                     " (expected 2 or 3)",
                 4);
  version_ = *version;

  auto nTensors = c.read<uint64_t>("tensor count");
  if (!nTensors)
    return nTensors.takeError();
  auto nKV = c.read<uint64_t>("metadata count");
  if (!nKV)
    return nKV.takeError();
  // Every entry takes at least 12 bytes (KV) or 24 bytes (tensor info), so a
  // count larger than the rest of the file allows is a lie; reject it before
  // allocating anything.
  if (*nKV > c.remaining() / 12)
    return error("metadata count " + llvm::Twine(*nKV) +
                     " is impossible for a file of " + llvm::Twine(fileSize()) +
                     " bytes",
                 16);
  if (*nTensors > c.remaining() / 24)
    return error("tensor count " + llvm::Twine(*nTensors) +
                     " is impossible for a file of " + llvm::Twine(fileSize()) +
                     " bytes",
                 8);

  if (Error e = parseMetadata(c, *nKV))
    return e;
  if (const MetadataValue *a = find("general.alignment")) {
    if (a->type != ValueType::UInt32)
      return error("general.alignment must be uint32, got " +
                       llvm::Twine(valueTypeName(a->type)),
                   a->fileOffset);
    if (a->uintValue == 0 || !llvm::isPowerOf2_64(a->uintValue))
      return error("general.alignment " + llvm::Twine(a->uintValue) +
                       " is not a power of two",
                   a->fileOffset);
    alignment_ = a->uintValue;
  }

  if (Error e = parseTensorInfos(c, *nTensors))
    return e;
  return placeTensorData(c.tell());
}

/// The key/value section: every value bounds-checked, keys unique.
Error GGUFFile::parseMetadata(support::BinaryReader &c, uint64_t count) {
  for (uint64_t k = 0; k < count; ++k) {
    uint64_t keyAt = c.tell();
    auto key = readString(c, "key of metadata entry " + llvm::Twine(k));
    if (!key)
      return key.takeError();
    if (key->empty())
      return error("metadata entry " + llvm::Twine(k) + " has an empty key",
                   keyAt);
    if (metadata_.count(*key))
      return error("duplicate metadata key '" + *key + "'", keyAt);
    auto typeId = c.read<uint32_t>("type of '" + *key + "'");
    if (!typeId)
      return typeId.takeError();
    if (!isKnownValueType(*typeId))
      return error("metadata key '" + *key + "' has unknown value type " +
                       llvm::Twine(*typeId),
                   c.tell() - 4);
    MetadataValue v;
    v.keyOffset = keyAt;
    v.type = static_cast<ValueType>(*typeId);
    v.fileOffset = c.tell();
    std::string what = ("value of '" + *key + "'").str();
    if (v.type == ValueType::String) {
      auto s = readString(c, what);
      if (!s)
        return s.takeError();
      v.stringValue = *s;
    } else if (v.type == ValueType::Array) {
      auto elem = c.read<uint32_t>("element type of '" + *key + "'");
      if (!elem)
        return elem.takeError();
      if (!isKnownValueType(*elem) ||
          static_cast<ValueType>(*elem) == ValueType::Array)
        return error("metadata array '" + *key +
                         "' has unsupported element type " + llvm::Twine(*elem),
                     c.tell() - 4);
      v.elemType = static_cast<ValueType>(*elem);
      auto count = c.read<uint64_t>("element count of '" + *key + "'");
      if (!count)
        return count.takeError();
      v.count = *count;
      if (v.elemType == ValueType::String) {
        if (v.count > c.remaining() / 8)
          return error("metadata array '" + *key + "' claims " +
                           llvm::Twine(v.count) +
                           " strings, more than the file can hold",
                       c.tell() - 8);
        v.strings.reserve(v.count);
        for (uint64_t i = 0; i < v.count; ++i) {
          auto s =
              readString(c, "element " + llvm::Twine(i) + " of '" + *key + "'");
          if (!s)
            return s.takeError();
          v.strings.push_back(*s);
        }
      } else {
        uint64_t elemSize = valueTypeSize(v.elemType);
        if (v.count > c.remaining() / elemSize)
          return error(
              "metadata array '" + *key + "' of " + llvm::Twine(v.count) + " " +
                  valueTypeName(v.elemType) + " runs past the end of the file",
              c.tell() - 8);
        v.arrayData = base() + c.tell();
        c.seek(c.tell() + v.count * elemSize);
      }
    } else {
      size_t n = valueTypeSize(v.type);
      if (Error e = c.need(n, what))
        return e;
      decodeScalar(v.type, base() + c.tell(), v.intValue, v.uintValue,
                   v.floatValue);
      if (v.type == ValueType::Bool && v.uintValue > 1)
        return error("metadata key '" + *key + "' has invalid bool value " +
                         llvm::Twine(v.uintValue),
                     c.tell());
      c.seek(c.tell() + n);
    }
    v.endOffset = c.tell();
    keyOrder_.push_back(key->str());
    metadata_.try_emplace(*key, std::move(v));
  }

  return Error::success();
}

/// The tensor-info section: names, dimensions, types and sizes.
Error GGUFFile::parseTensorInfos(support::BinaryReader &c, uint64_t count) {
  tensors_.reserve(count);
  for (uint64_t t = 0; t < count; ++t) {
    TensorInfo info;
    info.infoOffset = c.tell();
    auto name = readString(c, "name of tensor " + llvm::Twine(t));
    if (!name)
      return name.takeError();
    if (name->empty() || name->size() > kMaxNameLength)
      return error("tensor " + llvm::Twine(t) + " has a name of " +
                       llvm::Twine(name->size()) + " bytes (must be 1 to 63)",
                   info.infoOffset);
    info.name = name->str();
    if (tensorIndex_.count(info.name))
      return error("duplicate tensor '" + info.name + "'", info.infoOffset);
    std::string what = "tensor '" + info.name + "'";
    auto nDims = c.read<uint32_t>(what + " dimension count");
    if (!nDims)
      return nDims.takeError();
    if (*nDims == 0 || *nDims > kMaxDims)
      return error(what + " has " + llvm::Twine(*nDims) +
                       " dimensions (must be 1 to 4)",
                   c.tell() - 4);
    info.nDims = *nDims;
    for (uint32_t d = 0; d < info.nDims; ++d) {
      auto ne = c.read<int64_t>(what + " dimension");
      if (!ne)
        return ne.takeError();
      if (*ne <= 0)
        return error(what + " has dimension " + llvm::Twine(d) + " = " +
                         llvm::Twine(*ne) + " (must be positive)",
                     c.tell() - 8);
      info.ne[d] = *ne;
    }
    auto type = c.read<uint32_t>(what + " type");
    if (!type)
      return type.takeError();
    const GGMLTypeInfo *ti = findGGMLType(*type);
    if (!ti)
      return error(what + " has unknown ggml type " + llvm::Twine(*type),
                   c.tell() - 4);
    info.type = *type;
    auto offset = c.read<uint64_t>(what + " offset");
    if (!offset)
      return offset.takeError();
    info.offset = *offset;

    if (info.ne[0] % ti->blockElems != 0)
      return error(what + " of type " + ti->name + " has a row of " +
                       llvm::Twine(info.ne[0]) +
                       " elements, not a multiple of its block size " +
                       llvm::Twine(ti->blockElems),
                   info.infoOffset);
    // Byte size with overflow checks: rows * (ne0 / block) * blockBytes.
    uint64_t bytes = static_cast<uint64_t>(info.ne[0] / ti->blockElems);
    bool overflow =
        __builtin_mul_overflow(bytes, uint64_t(ti->blockBytes), &bytes);
    for (int d = 1; d < 4 && !overflow; ++d)
      overflow = __builtin_mul_overflow(bytes, uint64_t(info.ne[d]), &bytes);
    if (overflow || bytes > fileSize())
      return error(what + " has absurd dimensions [" +
                       llvm::formatv("{0}, {1}, {2}, {3}", info.ne[0],
                                     info.ne[1], info.ne[2], info.ne[3])
                           .str() +
                       "]: its data would be larger than the file",
                   info.infoOffset);
    info.nbytes = bytes;
    tensorIndex_[info.name] = tensors_.size();
    tensors_.push_back(std::move(info));
  }

  return Error::success();
}

/// Places each tensor's data: aligned, inside the file, and not overlapping.
Error GGUFFile::placeTensorData(uint64_t infoEnd) {
  dataOffset_ = llvm::alignTo(infoEnd, alignment_);
  if (!tensors_.empty() && dataOffset_ > fileSize())
    return error("truncated: the tensor data section would start at offset " +
                     llvm::Twine(dataOffset_) + " but the file has " +
                     llvm::Twine(fileSize()) + " bytes",
                 infoEnd);

  // Tensor data: aligned, inside the file, and not overlapping.
  std::vector<size_t> order(tensors_.size());
  for (size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return tensors_[a].offset < tensors_[b].offset;
  });
  uint64_t prevEnd = 0;
  const TensorInfo *prev = nullptr;
  for (size_t i : order) {
    TensorInfo &t = tensors_[i];
    if (t.offset % alignment_ != 0)
      return error("tensor '" + t.name + "' data offset " +
                       llvm::Twine(t.offset) + " is not a multiple of the " +
                       llvm::Twine(alignment_) + "-byte alignment",
                   t.infoOffset);
    uint64_t avail = fileSize() - dataOffset_;
    if (t.offset > avail || t.nbytes > avail - t.offset)
      return error("tensor '" + t.name + "' data [" +
                       llvm::Twine(dataOffset_ + t.offset) + ", " +
                       llvm::Twine(dataOffset_ + t.offset + t.nbytes) +
                       ") lies past the end of the file (" +
                       llvm::Twine(fileSize()) + " bytes)",
                   t.infoOffset);
    if (prev && t.offset < prevEnd)
      return error("tensor '" + t.name + "' data overlaps tensor '" +
                       prev->name + "'",
                   t.infoOffset);
    prevEnd = t.offset + t.nbytes;
    prev = &t;
    t.data = base() + dataOffset_ + t.offset;
  }
  return Error::success();
}

const MetadataValue *GGUFFile::find(StringRef key) const {
  auto it = metadata_.find(key);
  return it == metadata_.end() ? nullptr : &it->second;
}

const TensorInfo *GGUFFile::findTensor(StringRef name) const {
  auto it = tensorIndex_.find(name);
  return it == tensorIndex_.end() ? nullptr : &tensors_[it->second];
}

Expected<std::string> GGUFFile::getString(StringRef key) const {
  const MetadataValue *v = find(key);
  if (!v)
    return error("missing metadata key '" + key + "'");
  if (v->type != ValueType::String)
    return error("metadata key '" + key + "' must be a string, got " +
                     valueTypeName(v->type),
                 v->fileOffset);
  return v->stringValue.str();
}

Expected<uint64_t> GGUFFile::getUInt(StringRef key) const {
  const MetadataValue *v = find(key);
  if (!v)
    return error("missing metadata key '" + key + "'");
  if (!v->isInteger())
    return error("metadata key '" + key + "' must be an integer, got " +
                     valueTypeName(v->type),
                 v->fileOffset);
  if (isSignedType(v->type) && v->intValue < 0)
    return error("metadata key '" + key + "' is negative (" +
                     llvm::Twine(v->intValue) + ")",
                 v->fileOffset);
  return isSignedType(v->type) ? static_cast<uint64_t>(v->intValue)
                               : v->uintValue;
}

Expected<double> GGUFFile::getFloat(StringRef key) const {
  const MetadataValue *v = find(key);
  if (!v)
    return error("missing metadata key '" + key + "'");
  if (v->isFloat())
    return v->floatValue;
  if (v->isInteger())
    return isSignedType(v->type) ? static_cast<double>(v->intValue)
                                 : static_cast<double>(v->uintValue);
  return error("metadata key '" + key + "' must be a number, got " +
                   valueTypeName(v->type),
               v->fileOffset);
}

Expected<std::vector<int64_t>> GGUFFile::getIntOrArray(StringRef key,
                                                       size_t n) const {
  const MetadataValue *v = find(key);
  if (!v)
    return error("missing metadata key '" + key + "'");
  if (v->type == ValueType::Array) {
    if (!v->arrayIsInteger())
      return error("metadata array '" + key + "' must hold integers, not " +
                       valueTypeName(v->elemType),
                   v->fileOffset);
    if (v->count != n)
      return error("metadata array '" + key + "' has " + llvm::Twine(v->count) +
                       " elements, expected " + llvm::Twine(n) +
                       " (one per layer)",
                   v->fileOffset);
    std::vector<int64_t> out(n);
    for (size_t i = 0; i < n; ++i)
      out[i] = v->arrayInt(i);
    return out;
  }
  auto scalar = getUInt(key);
  if (!scalar)
    return scalar.takeError();
  return std::vector<int64_t>(n, static_cast<int64_t>(*scalar));
}
