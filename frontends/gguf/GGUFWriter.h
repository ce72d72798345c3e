//===- GGUFWriter.h - writes GGUF v3 files ------------------------*- C++ -*-===//
//
// Writes metadata and tensors in the order they were added, streaming tensor
// data one tensor at a time so multi-gigabyte models never sit in memory. It
// does not validate: tests use it to write deliberately malformed files too.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "frontends/gguf/GGUFFile.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace gemmac::gguf {

class GGUFWriter {
public:
  void addU32(const std::string &key, uint32_t v);
  void addI32(const std::string &key, int32_t v);
  void addU64(const std::string &key, uint64_t v);
  void addF32(const std::string &key, float v);
  void addBool(const std::string &key, bool v);
  void addString(const std::string &key, const std::string &v);
  void addArrayI32(const std::string &key, const std::vector<int32_t> &v);
  void addArrayU32(const std::string &key, const std::vector<uint32_t> &v);
  void addArrayF32(const std::string &key, const std::vector<float> &v);
  void addArrayBool(const std::string &key, const std::vector<bool> &v);
  void addArrayString(const std::string &key,
                      const std::vector<std::string> &v);
  /// Appends a raw, already-encoded metadata entry (for malformed files).
  void addRaw(const std::string &key, uint32_t type,
              const std::vector<uint8_t> &payload);

  /// Declares a tensor; ne[0] is the contiguous dimension. Returns its index.
  size_t addTensor(const std::string &name, uint32_t ggmlType,
                   std::vector<int64_t> ne);
  uint64_t tensorBytes(size_t index) const { return tensors_[index].nbytes; }

  void setAlignment(uint32_t a) { alignment_ = a; }

  /// Fills one tensor's bytes; called once per tensor, in order.
  using Fill = std::function<void(size_t index, uint8_t *dst)>;
  /// Writes the file; on failure returns a message naming the path. Tensors
  /// for which `skip` says yes are left as holes (a sparse file of zeros).
  std::string write(const std::string &path, const Fill &fill,
                    const std::function<bool(size_t)> &skip = {}) const;

private:
  struct KV {
    std::string key;
    uint32_t type;
    std::vector<uint8_t> payload;
  };
  struct Tensor {
    std::string name;
    uint32_t type;
    std::vector<int64_t> ne;
    uint64_t nbytes;
  };
  std::vector<KV> kvs_;
  std::vector<Tensor> tensors_;
  uint32_t alignment_ = 32;
};

} // namespace gemmac::gguf
