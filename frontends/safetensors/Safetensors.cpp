//===- Safetensors.cpp - Hugging Face checkpoint files, validated ---------===//

#include "frontends/safetensors/Safetensors.h"
#include "support/BinaryReader.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <algorithm>
#include <cstring>
#include <fcntl.h>
#include <set>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

using namespace gemmac;
using namespace gemmac::st;
using llvm::Error;
using llvm::Expected;
using llvm::StringRef;
using support::fileError;

namespace {
struct DTypeRow {
  DType type;
  const char *name;
  unsigned bytes;
};
constexpr DTypeRow kDTypes[] = {
    {DType::BOOL, "BOOL", 1}, {DType::U8, "U8", 1},
    {DType::I8, "I8", 1},     {DType::F8_E4M3, "F8_E4M3", 1},
    {DType::F8_E5M2, "F8_E5M2", 1}, {DType::I16, "I16", 2},
    {DType::U16, "U16", 2},   {DType::F16, "F16", 2},
    {DType::BF16, "BF16", 2}, {DType::I32, "I32", 4},
    {DType::U32, "U32", 4},   {DType::F32, "F32", 4},
    {DType::I64, "I64", 8},   {DType::U64, "U64", 8},
    {DType::F64, "F64", 8},
};

/// Dimensions no real tensor reaches; larger values are hostile.
constexpr int64_t kMaxDim = int64_t(1) << 40;
constexpr size_t kMaxRank = 8;

std::string shapeText(llvm::ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

/// One tensor entry of a header: {"dtype", "shape", "data_offsets"}.
Expected<Tensor> parseEntry(StringRef file, StringRef name,
                            const llvm::json::Value &value, uint64_t dataStart,
                            uint64_t dataSize) {
  auto bad = [&](const llvm::Twine &what) {
    return fileError(file, 8, "header: tensor '" + name + "': " + what);
  };
  const llvm::json::Object *o = value.getAsObject();
  if (!o)
    return bad("must be an object with dtype, shape and data_offsets");
  for (const auto &kv : *o)
    if (kv.first != "dtype" && kv.first != "shape" && kv.first != "data_offsets")
      return bad("unknown key '" + StringRef(kv.first) + "'");
  Tensor t;
  t.name = name.str();
  std::optional<StringRef> dtype = o->getString("dtype");
  if (!dtype)
    return bad("missing or non-string 'dtype'");
  const DTypeRow *row = llvm::find_if(
      kDTypes, [&](const DTypeRow &r) { return *dtype == r.name; });
  if (row == std::end(kDTypes))
    return bad("unknown dtype '" + *dtype + "'");
  t.dtype = row->type;
  const llvm::json::Array *shape = o->getArray("shape");
  if (!shape)
    return bad("missing or non-array 'shape'");
  if (shape->size() > kMaxRank)
    return bad("shape has " + llvm::Twine(shape->size()) +
               " dimensions (at most " + llvm::Twine(kMaxRank) + ")");
  uint64_t elements = 1;
  for (const llvm::json::Value &d : *shape) {
    std::optional<int64_t> n = d.getAsInteger();
    if (!n || *n < 0 || *n > kMaxDim)
      return bad("shape holds a dimension that is not an integer in 0.." +
                 llvm::Twine(kMaxDim));
    t.shape.push_back(*n);
    if (__builtin_mul_overflow(elements, static_cast<uint64_t>(*n), &elements))
      return bad("shape " + shapeText(t.shape) + " overflows");
  }
  t.elements = elements;
  if (__builtin_mul_overflow(elements, uint64_t(row->bytes), &t.bytes))
    return bad("shape " + shapeText(t.shape) + " overflows");
  const llvm::json::Array *offsets = o->getArray("data_offsets");
  std::optional<int64_t> begin, end;
  if (offsets && offsets->size() == 2) {
    begin = (*offsets)[0].getAsInteger();
    end = (*offsets)[1].getAsInteger();
  }
  if (!begin || !end || *begin < 0 || *end < *begin)
    return bad("'data_offsets' must be [begin, end] with 0 <= begin <= end");
  uint64_t b = static_cast<uint64_t>(*begin), e = static_cast<uint64_t>(*end);
  if (e > dataSize)
    return fileError(file, dataStart + b,
                     "tensor '" + name + "': data_offsets [" + llvm::Twine(b) +
                         ", " + llvm::Twine(e) + "] end past the " +
                         llvm::Twine(dataSize) + " bytes of data");
  if (e - b != t.bytes)
    return fileError(file, dataStart + b,
                     "tensor '" + name + "': " + dtypeName(t.dtype) + " " +
                         shapeText(t.shape) + " is " + llvm::Twine(t.bytes) +
                         " bytes, but data_offsets [" + llvm::Twine(b) + ", " +
                         llvm::Twine(e) + "] hold " + llvm::Twine(e - b));
  t.fileOffset = dataStart + b;
  return t;
}

bool isPlainFileName(StringRef name) {
  return !name.empty() && name != "." && name != ".." &&
         name.find_first_of("/\\") == StringRef::npos &&
         name.find('\0') == StringRef::npos;
}
} // namespace

Expected<llvm::json::Value> gemmac::st::parseJSON(StringRef file,
                                                  StringRef text,
                                                  uint64_t offset) {
  int depth = 0;
  bool inString = false, escaped = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (inString) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        inString = false;
    } else if (c == '"') {
      inString = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxJSONDepth)
        return fileError(file, offset + i,
                         "JSON nests deeper than " +
                             llvm::Twine(kMaxJSONDepth) + " levels");
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  auto json = llvm::json::parse(text);
  if (!json)
    return fileError(file, offset,
                     "is not valid JSON: " + llvm::toString(json.takeError()) +
                         (offset ? " (byte positions count from offset " +
                                       std::to_string(offset) + ")"
                                 : std::string()));
  return std::move(*json);
}

StringRef gemmac::st::dtypeName(DType t) {
  return kDTypes[static_cast<int>(t)].name;
}
unsigned gemmac::st::dtypeBytes(DType t) {
  return kDTypes[static_cast<int>(t)].bytes;
}

Expected<Header> gemmac::st::parseHeader(StringRef file,
                                         llvm::ArrayRef<uint8_t> bytes) {
  if (bytes.size() < 8)
    return fileError(file, std::nullopt,
                     "not a safetensors file: only " +
                         llvm::Twine(bytes.size()) + " bytes");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i)
    n = (n << 8) | bytes[i];
  if (n > kMaxHeaderBytes)
    return fileError(file, 0,
                     "header length " + llvm::Twine(n) +
                         " exceeds the format's limit of 100 MB");
  if (n > bytes.size() - 8)
    return fileError(file, 0,
                     "header length " + llvm::Twine(n) + " runs past the end "
                     "of the file (" + llvm::Twine(bytes.size()) + " bytes)");
  StringRef text(reinterpret_cast<const char *>(bytes.data()) + 8, n);
  if (!text.starts_with("{"))
    return fileError(file, 8, "header does not start with '{'");
  auto json = parseJSON(file, text, 8);
  if (!json)
    return json.takeError();
  const llvm::json::Object *root = json->getAsObject();
  if (!root)
    return fileError(file, 8, "header is not a JSON object");
  const uint64_t dataStart = 8 + n, dataSize = bytes.size() - dataStart;
  Header h;
  for (const auto &kv : *root) {
    StringRef name = kv.first;
    if (name == "__metadata__") {
      const llvm::json::Object *meta = kv.second.getAsObject();
      if (!meta)
        return fileError(file, 8, "header: '__metadata__' must be an object "
                                  "of strings");
      for (const auto &m : *meta) {
        std::optional<StringRef> v = m.second.getAsString();
        if (!v)
          return fileError(file, 8, "header: '__metadata__." +
                                        StringRef(m.first) +
                                        "' is not a string");
        h.metadata[m.first.str()] = v->str();
      }
      continue;
    }
    if (name.empty())
      return fileError(file, 8, "header: a tensor has an empty name");
    auto t = parseEntry(file, name, kv.second, dataStart, dataSize);
    if (!t)
      return t.takeError();
    h.tensors.push_back(std::move(*t));
  }
  // The data region is tiled exactly: in data order, each tensor starts
  // where the previous one ended, and the last ends at the end of the file.
  llvm::sort(h.tensors, [](const Tensor &a, const Tensor &b) {
    return std::tie(a.fileOffset, a.bytes, a.name) <
           std::tie(b.fileOffset, b.bytes, b.name);
  });
  uint64_t at = dataStart;
  const Tensor *prev = nullptr;
  for (const Tensor &t : h.tensors) {
    if (t.fileOffset < at)
      return fileError(file, t.fileOffset,
                       "tensor '" + t.name + "' overlaps tensor '" +
                           prev->name + "'");
    if (t.fileOffset > at)
      return fileError(file, at,
                       llvm::Twine(t.fileOffset - at) +
                           " bytes before tensor '" + t.name +
                           "' belong to no tensor (the data must be "
                           "contiguous)");
    at = t.fileOffset + t.bytes;
    prev = &t;
  }
  if (at != bytes.size())
    return fileError(file, at,
                     llvm::Twine(bytes.size() - at) +
                         " bytes after the last tensor belong to no tensor");
  return h;
}

//===----------------------------------------------------------------------===//
// The checkpoint directory
//===----------------------------------------------------------------------===//

Checkpoint::~Checkpoint() {
  if (mapping_)
    munmap(mapping_, mappingBytes_);
}

std::string Checkpoint::pathOf(StringRef name) const {
  if (dir_.empty())
    return name.str();
  llvm::SmallString<256> p(dir_);
  llvm::sys::path::append(p, name);
  return p.str().str();
}

std::vector<std::string> Checkpoint::inputFiles() const {
  std::vector<std::string> files;
  for (const Shard &s : shards_)
    files.push_back(pathOf(s.name));
  for (StringRef name :
       {"config.json", "tokenizer.json", "tokenizer_config.json",
        "chat_template.jinja", "generation_config.json",
        "model.safetensors.index.json"})
    files.push_back(pathOf(name));
  return files;
}

const Tensor *Checkpoint::find(StringRef name) const {
  auto it = byName_.find(name);
  return it == byName_.end() ? nullptr : &tensors_[it->second];
}

Expected<std::optional<std::string>>
Checkpoint::readText(StringRef name, uint64_t maxBytes) const {
  if (inMemory_) {
    auto it = memFiles_.find(name.str());
    if (it == memFiles_.end())
      return std::nullopt;
    if (it->second.size() > maxBytes)
      return fileError(name, std::nullopt,
                       "is " + llvm::Twine(it->second.size()) +
                           " bytes, more than the " + llvm::Twine(maxBytes) +
                           " this file of a checkpoint may have");
    return it->second;
  }
  std::string path = pathOf(name);
  if (!llvm::sys::fs::exists(path))
    return std::nullopt;
  llvm::sys::fs::file_status status;
  if (std::error_code ec = llvm::sys::fs::status(path, status))
    return fileError(path, std::nullopt, "cannot open: " + ec.message());
  if (!llvm::sys::fs::is_regular_file(status))
    return fileError(path, std::nullopt, "is not a regular file");
  if (status.getSize() > maxBytes)
    return fileError(path, std::nullopt,
                     "is " + llvm::Twine(status.getSize()) +
                         " bytes, more than the " + llvm::Twine(maxBytes) +
                         " this file of a checkpoint may have");
  auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/false,
                                            /*RequiresNullTerminator=*/false);
  if (!buffer)
    return fileError(path, std::nullopt,
                     "cannot read: " + buffer.getError().message());
  return (*buffer)->getBuffer().str();
}

/// Maps every shard at a page-aligned place of one reserved range.
Error Checkpoint::mapShards() {
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  uint64_t total = 0;
  for (Shard &s : shards_) {
    std::string path = pathOf(s.name);
    llvm::sys::fs::file_status status;
    if (std::error_code ec = llvm::sys::fs::status(path, status))
      return fileError(path, std::nullopt, "cannot open: " + ec.message());
    if (!llvm::sys::fs::is_regular_file(status))
      return fileError(path, std::nullopt, "is not a regular file");
    s.size = status.getSize();
    s.start = total;
    if (s.size > (uint64_t(1) << 50) ||
        __builtin_add_overflow(total, (s.size + page - 1) / page * page + page,
                               &total))
      return fileError(path, std::nullopt,
                       "is " + llvm::Twine(s.size) +
                           " bytes: the shards do not fit the address space");
  }
  mappingBytes_ = total;
  mapping_ = mmap(nullptr, total, PROT_NONE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mapping_ == MAP_FAILED) {
    mapping_ = nullptr;
    return fileError(dir_, std::nullopt,
                     "cannot reserve " + llvm::Twine(total) +
                         " bytes of address space for the shards");
  }
  base_ = static_cast<const uint8_t *>(mapping_);
  size_ = total;
  for (const Shard &s : shards_) {
    if (s.size == 0)
      continue;
    std::string path = pathOf(s.name);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
      return fileError(path, std::nullopt,
                       "cannot open: " + llvm::Twine(std::strerror(errno)));
    // A file that shrank since it was measured would fault when read.
    struct stat st;
    if (::fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) != s.size) {
      ::close(fd);
      return fileError(path, std::nullopt,
                       "changed size while the checkpoint was being opened");
    }
    void *at = mmap(static_cast<uint8_t *>(mapping_) + s.start, s.size,
                    PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
    int err = errno;
    ::close(fd);
    if (at == MAP_FAILED)
      return fileError(path, std::nullopt,
                       "cannot map: " + llvm::Twine(std::strerror(err)));
  }
  return Error::success();
}

/// model.safetensors.index.json: {"metadata": {...}, "weight_map": {tensor:
/// shard}}; returns the shards in first-mention order.
Error Checkpoint::indexShards(StringRef text) {
  std::string file = pathOf(indexFile_);
  auto json = parseJSON(file, text);
  if (!json)
    return json.takeError();
  const llvm::json::Object *root = json->getAsObject();
  const llvm::json::Object *map = root ? root->getObject("weight_map") : nullptr;
  if (!map)
    return fileError(file, std::nullopt, "has no 'weight_map' object");
  std::vector<std::string> names;
  std::set<std::string> seen;
  std::vector<std::pair<std::string, std::string>> entries;
  for (const auto &kv : *map) {
    std::optional<StringRef> shard = kv.second.getAsString();
    if (!shard)
      return fileError(file, std::nullopt,
                       "weight_map['" + StringRef(kv.first) +
                           "'] is not a string");
    if (!isPlainFileName(*shard) || !shard->ends_with(".safetensors"))
      return fileError(file, std::nullopt,
                       "weight_map['" + StringRef(kv.first) + "'] = '" +
                           *shard +
                           "' is not a .safetensors file name in the "
                           "checkpoint's directory");
    if (seen.insert(shard->str()).second)
      names.push_back(shard->str());
    entries.emplace_back(kv.first.str(), shard->str());
  }
  if (names.empty())
    return fileError(file, std::nullopt, "'weight_map' is empty");
  llvm::sort(names);
  if (Error e = loadShards(names))
    return e;
  for (const auto &[tensor, shard] : entries) {
    const Tensor *t = find(tensor);
    if (!t || shards_[t->shard].name != shard)
      return fileError(file, std::nullopt,
                       "weight_map puts tensor '" + tensor + "' in " + shard +
                           ", whose header " +
                           (t ? "does not hold it (" + shards_[t->shard].name +
                                    " does)"
                              : std::string("does not list it")));
  }
  return Error::success();
}

Error Checkpoint::loadShards(std::vector<std::string> names) {
  for (std::string &n : names)
    shards_.push_back({std::move(n), 0, 0});
  if (inMemory_) {
    for (Shard &s : shards_) {
      auto it = memFiles_.find(s.name);
      if (it == memFiles_.end())
        return fileError(s.name, std::nullopt, "cannot open: no such file");
      s.start = memData_.size();
      s.size = it->second.size();
      memData_ += it->second;
    }
    base_ = reinterpret_cast<const uint8_t *>(memData_.data());
    size_ = memData_.size();
  } else if (Error e = mapShards()) {
    return e;
  }
  for (unsigned i = 0; i < shards_.size(); ++i) {
    const Shard &s = shards_[i];
    auto header = parseHeader(pathOf(s.name), {base_ + s.start, s.size});
    if (!header)
      return header.takeError();
    for (Tensor &t : header->tensors) {
      t.shard = i;
      t.offset = s.start + t.fileOffset;
      auto [it, fresh] = byName_.try_emplace(t.name, tensors_.size());
      if (!fresh)
        return fileError(pathOf(s.name), t.fileOffset,
                         "tensor '" + t.name + "' is also in " +
                             shards_[tensors_[it->second].shard].name);
      tensors_.push_back(std::move(t));
    }
  }
  return Error::success();
}

Expected<std::unique_ptr<Checkpoint>> Checkpoint::open(StringRef path) {
  std::unique_ptr<Checkpoint> c(new Checkpoint());
  std::string single;
  if (llvm::sys::fs::is_directory(path)) {
    c->dir_ = path.str();
  } else {
    StringRef file = llvm::sys::path::filename(path);
    c->dir_ = llvm::sys::path::parent_path(path).str();
    if (c->dir_.empty())
      c->dir_ = ".";
    if (file.ends_with(".safetensors"))
      single = file.str();
    else if (file != "config.json")
      return fileError(path, std::nullopt,
                       "is neither a checkpoint directory, its config.json, "
                       "nor a .safetensors file");
  }
  if (!single.empty()) {
    if (Error e = c->loadShards({single}))
      return std::move(e);
    return std::move(c);
  }
  c->indexFile_ = "model.safetensors.index.json";
  auto index = c->readText(c->indexFile_);
  if (!index)
    return index.takeError();
  if (*index) {
    if (Error e = c->indexShards(**index))
      return std::move(e);
    return std::move(c);
  }
  if (!llvm::sys::fs::exists(c->pathOf("model.safetensors")))
    return fileError(c->dir_, std::nullopt,
                     "is a directory but not a Hugging Face checkpoint: it "
                     "holds neither model.safetensors nor "
                     "model.safetensors.index.json");
  if (Error e = c->loadShards({"model.safetensors"}))
    return std::move(e);
  return std::move(c);
}

Expected<std::unique_ptr<Checkpoint>>
Checkpoint::fromMemory(std::map<std::string, std::string> files) {
  std::unique_ptr<Checkpoint> c(new Checkpoint());
  c->inMemory_ = true;
  c->memFiles_ = std::move(files);
  c->indexFile_ = "model.safetensors.index.json";
  auto index = c->memFiles_.find(c->indexFile_);
  Error e = index != c->memFiles_.end() ? c->indexShards(index->second)
                                        : c->loadShards({"model.safetensors"});
  if (e)
    return std::move(e);
  return std::move(c);
}
