// A small Vulkan compute layer: libvulkan is opened at run time (a program
// starts, and says so clearly, on a machine without it), one compute queue,
// storage buffers, compute pipelines from a SPIR-V module whose entry points
// take storage buffers at set 0, bindings 0..n-1 (as MLIR's GPU-to-SPIR-V
// conversion assigns them), and dispatches separated by full barriers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace gemmac::vk {

struct Buffer;
struct Pipeline;

/// A buffer range bound to one kernel argument.
struct Binding {
  Buffer *buffer = nullptr;
  uint64_t offset = 0;
  uint64_t size = 0; // 0: to the end of the buffer
};

class Device {
public:
  /// Opens libvulkan and the `index`-th physical device that has a compute
  /// queue and the features the kernels need (8/16-bit storage, int8,
  /// float16). Returns null and sets `error` when that is not possible.
  static std::unique_ptr<Device> open(int index, std::string &error);
  ~Device();

  /// The device's name and driver, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)".
  const std::string &name() const;

  /// A storage buffer of `bytes` in device memory, or in memory the host
  /// writes directly (small per-step inputs); null + error on failure.
  Buffer *createBuffer(uint64_t bytes, std::string &error,
                       bool hostVisible = false);
  /// Limits of storage buffer bindings: offset alignment, largest range.
  uint64_t storageOffsetAlignment() const;
  uint64_t maxStorageRange() const;
  void destroyBuffer(Buffer *buffer);
  bool upload(Buffer *buffer, uint64_t offset, const void *data, uint64_t bytes,
              std::string &error);
  bool download(Buffer *buffer, uint64_t offset, void *data, uint64_t bytes,
                std::string &error);

  /// Loads a SPIR-V module; pipelines are created from its entry points.
  bool loadModule(const uint32_t *words, size_t count, std::string &error);
  /// The pipeline of entry point `name` with `numBuffers` buffer arguments.
  Pipeline *pipeline(const std::string &name, unsigned numBuffers,
                     std::string &error);

  /// Records dispatches into one command buffer; `submit` runs them and
  /// waits. Each dispatch sees the writes of the ones before it.
  bool begin(std::string &error);
  bool dispatch(Pipeline *pipeline, const std::vector<Binding> &bindings,
                uint32_t groupsX, uint32_t groupsY, uint32_t groupsZ,
                std::string &error);
  bool submit(std::string &error);

  /// Entry point names of a SPIR-V module (OpEntryPoint).
  static std::vector<std::string> entryPoints(const uint32_t *words,
                                              size_t count);

  struct Impl;

private:
  explicit Device(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl;
};

} // namespace gemmac::vk
