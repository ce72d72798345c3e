// Runs a SPIR-V program image on a Vulkan device: one pipeline per kernel,
// the weights and constants in device buffers for the model's life, per
// session the KV caches of its slots, the arena and host-visible
// tokens/params buffers.
// A step records every launch into one command buffer (a barrier after
// each) and reads the logits back.

#include "runtime/gpu/gpu_backend.h"

#ifdef GEMMAC_HAVE_VULKAN
#include "runtime/gpu/vulkan_device.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace gemmac::gpu {
namespace {

class VulkanBackend;

class VulkanSession : public Session {
public:
  VulkanSession(VulkanBackend &backend, int64_t nCtx, const KVSlots &slots)
      : backend(backend), nCtx(nCtx), slots(slots) {}
  ~VulkanSession() override;
  bool init(std::string &error);
  bool forward(const Step &step, std::string &error) override;
  uint64_t kvBytes() const override { return kv ? slots.bytes : 0; }
  bool readKV(int64_t slot, void *dst, std::string &error) override;
  bool writeKV(int64_t slot, const void *src, std::string &error) override;

private:
  VulkanBackend &backend;
  int64_t nCtx;
  KVSlots slots;
  std::vector<int32_t> paramWords;
  vk::Buffer *arena = nullptr, *kv = nullptr, *tokens = nullptr,
             *params = nullptr, *rope = nullptr;
  std::vector<std::vector<vk::Binding>> launchBindings;
};

class VulkanBackend : public Backend {
public:
  VulkanBackend(const ProgramView &program, uint64_t weightsBytes)
      : program(program), weightsBytes(weightsBytes) {}
  ~VulkanBackend() override {
    if (device) {
      for (const Chunk &c : chunks)
        device->destroyBuffer(c.buffer);
      if (constants)
        device->destroyBuffer(constants);
      if (tables)
        device->destroyBuffer(tables);
    }
  }

  bool open(const uint8_t *weightData, int index, std::string &error) {
    device = vk::Device::open(index, error);
    if (!device)
      return false;
    const ProgramHeader &h = *program.header;
    if (h.codeBytes % 4 != 0) {
      error = "GPU program: SPIR-V code is not a whole number of words";
      return false;
    }
    std::vector<uint32_t> words(h.codeBytes / 4);
    std::memcpy(words.data(), program.code, h.codeBytes);
    if (!device->loadModule(words.data(), words.size(), error))
      return false;
    for (uint32_t i = 0; i < h.numKernels; ++i) {
      vk::Pipeline *p = device->pipeline(program.kernels[i].name,
                                         program.kernels[i].numBuffers, error);
      if (!p)
        return false;
      pipelines.push_back(p);
    }
    if (!uploadWeights(weightData, error))
      return false;
    constants = device->createBuffer(std::max<uint64_t>(h.numConstants * 4, 4),
                                     error);
    if (!constants ||
        !device->upload(constants, 0, program.constants, h.numConstants * 4,
                        error))
      return false;
    tables = device->createBuffer(kGeluTableBytes, error);
    return tables &&
           device->upload(tables, 0, modelTables(), kGeluTableBytes, error);
  }

  std::string deviceName() const override {
    return "vulkan: " + device->name();
  }

  /// Weights go into buffers of at most kChunkBytes (drivers cap one
  /// allocation: lavapipe at a few GiB, others at maxMemoryAllocationSize),
  /// split where no launch reads across: each chunk starts at a weight.
  static constexpr uint64_t kChunkBytes = 1ull << 30;
  struct Chunk {
    uint64_t begin, end;
    vk::Buffer *buffer;
  };

  bool uploadWeights(const uint8_t *data, std::string &error) {
    std::vector<std::pair<uint64_t, uint64_t>> ranges; // [begin, end)
    for (uint32_t i = 0; i < program.header->numBindings; ++i) {
      const BindingEntry &b = program.bindings[i];
      if (b.space != static_cast<uint32_t>(Space::Weights))
        continue;
      if (b.offset > weightsBytes || b.bytes > weightsBytes - b.offset) {
        error = "GPU program: a weight range lies outside the weights";
        return false;
      }
      ranges.push_back({b.offset, b.offset + b.bytes});
    }
    std::sort(ranges.begin(), ranges.end());
    for (const auto &[begin, end] : ranges) {
      if (!chunks.empty() && end <= chunks.back().end)
        continue; // inside the last chunk
      if (!chunks.empty() && begin < chunks.back().end) {
        chunks.back().end = end; // overlaps it: grow it
        continue;
      }
      if (!chunks.empty() && end - chunks.back().begin <= kChunkBytes) {
        chunks.back().end = end;
        continue;
      }
      chunks.push_back({begin, end, nullptr});
    }
    for (Chunk &c : chunks) {
      c.buffer = device->createBuffer(c.end - c.begin, error);
      if (!c.buffer)
        return false;
      if (!device->upload(c.buffer, 0, data + c.begin, c.end - c.begin, error))
        return false;
    }
    return true;
  }

  /// The chunk holding weight bytes [offset, offset + bytes).
  const Chunk *chunkOf(uint64_t offset, uint64_t bytes) const {
    for (const Chunk &c : chunks)
      if (offset >= c.begin && offset + bytes <= c.end)
        return &c;
    return nullptr;
  }

  std::unique_ptr<Session> newSession(int64_t nCtx, int64_t nSlots,
                                      std::string &error) override {
    return startSession<VulkanSession>(*this, nCtx, nSlots, error);
  }

  ProgramView program;
  uint64_t weightsBytes;
  std::unique_ptr<vk::Device> device;
  std::vector<Chunk> chunks;
  vk::Buffer *constants = nullptr, *tables = nullptr;
  std::vector<vk::Pipeline *> pipelines;
};

VulkanSession::~VulkanSession() {
  for (vk::Buffer *b : {arena, kv, tokens, params, rope})
    if (b)
      backend.device->destroyBuffer(b);
}

bool VulkanSession::init(std::string &error) {
  vk::Device &d = *backend.device;
  const ProgramView &p = backend.program;
  SpaceSizes sizes = spaceSizes(p, backend.weightsBytes, nCtx, slots);
  arena = d.createBuffer(p.header->arenaBytes, error);
  kv = arena ? d.createBuffer(sizes.bytes[static_cast<int>(Space::KV)], error)
             : nullptr;
  tokens = kv ? d.createBuffer(sizes.bytes[static_cast<int>(Space::Tokens)],
                               error, /*hostVisible=*/true)
              : nullptr;
  params = tokens ? d.createBuffer(sizes.bytes[static_cast<int>(Space::Params)],
                                   error, /*hostVisible=*/true)
                  : nullptr;
  if (!params)
    return false;
  std::vector<float> ropeData = ropeTables(p, nCtx);
  rope = d.createBuffer(std::max<uint64_t>(ropeData.size() * 4, 4), error);
  if (!rope || !d.upload(rope, 0, ropeData.data(), ropeData.size() * 4, error))
    return false;
  vk::Buffer *buffers[kNumSpaces] = {
      nullptr,        arena, kv, tokens, params, backend.constants,
      backend.tables, rope}; // weights: their chunk
  const uint64_t align = d.storageOffsetAlignment();
  const uint64_t maxRange = d.maxStorageRange();
  for (uint32_t i = 0; i < p.header->numLaunches; ++i) {
    const LaunchEntry &l = p.launches[i];
    std::vector<vk::Binding> bs;
    for (uint32_t j = 0; j < l.numBindings; ++j) {
      const BindingEntry &b = p.bindings[l.firstBinding + j];
      uint64_t offset, bytes;
      if (!bindingRange(b, nCtx, slots, sizes, offset, bytes, error))
        return false;
      if (offset % align != 0 || (maxRange && bytes > maxRange)) {
        error = std::string("kernel ") + p.kernels[l.kernel].name +
                ": buffer range at " + std::to_string(offset) + " (+" +
                std::to_string(bytes) + ") breaks the device's limits "
                "(offset alignment " + std::to_string(align) +
                ", largest range " + std::to_string(maxRange) + ")";
        return false;
      }
      vk::Buffer *buffer = buffers[b.space];
      if (b.space == static_cast<uint32_t>(Space::Weights)) {
        const VulkanBackend::Chunk *c = backend.chunkOf(offset, bytes);
        if (!c) {
          error = "GPU program: a weight range spans two weight buffers";
          return false;
        }
        buffer = c->buffer;
        offset -= c->begin;
      }
      bs.push_back({buffer, offset, bytes});
    }
    launchBindings.push_back(std::move(bs));
  }
  return true;
}

bool VulkanSession::forward(const Step &step, std::string &error) {
  vk::Device &d = *backend.device;
  const ProgramView &p = backend.program;
  if (!stepParams(step, nCtx, p.header->maxBatch, slots, paramWords, error))
    return false;
  if (!d.upload(tokens, 0, step.tokens, step.nTokens * 4, error) ||
      !d.upload(params, 0, paramWords.data(), paramWords.size() * 4, error) ||
      !d.begin(error))
    return false;
  for (uint32_t i = 0; i < p.header->numLaunches; ++i) {
    const LaunchEntry &l = p.launches[i];
    const int64_t rows = launchRows(l, step);
    if (rows == 0)
      continue;
    if (!d.dispatch(backend.pipelines[l.kernel], launchBindings[i], l.gridX,
                    static_cast<uint32_t>(rows), 1, error))
      return false;
  }
  if (!d.submit(error))
    return false;
  if (step.nOut == 0)
    return true;
  return d.download(arena, p.header->logitsOffset, step.logits,
                    step.nOut * p.header->logitsWidth * sizeof(float), error);
}

// A slot's caches, one range at a time, at their single-sequence offsets.
bool VulkanSession::readKV(int64_t slot, void *dst, std::string &error) {
  auto *out = static_cast<uint8_t *>(dst);
  std::memset(out, 0, slots.bytes); // bytes between caches
  for (const KVSlots::Range &r : slots.ranges)
    if (!backend.device->download(kv, slots.at(r, slot), out + r.offset,
                                  r.bytes, error))
      return false;
  return true;
}

bool VulkanSession::writeKV(int64_t slot, const void *src,
                            std::string &error) {
  const auto *in = static_cast<const uint8_t *>(src);
  for (const KVSlots::Range &r : slots.ranges)
    if (!backend.device->upload(kv, slots.at(r, slot), in + r.offset, r.bytes,
                                error))
      return false;
  return true;
}

} // namespace

std::unique_ptr<Backend> openVulkanBackend(const ProgramView &program,
                                           const uint8_t *weights,
                                           uint64_t weightsBytes, int device,
                                           std::string &error) {
  auto backend = std::make_unique<VulkanBackend>(program, weightsBytes);
  if (!backend->open(weights, device, error))
    return nullptr;
  return backend;
}

} // namespace gemmac::gpu

#else

namespace gemmac::gpu {
std::unique_ptr<Backend> openVulkanBackend(const ProgramView &, const uint8_t *,
                                           uint64_t, int, std::string &error) {
  error = "this runtime was built without Vulkan headers (Debian: "
          "libvulkan-dev); rebuild gemmac to run Vulkan programs";
  return nullptr;
}
} // namespace gemmac::gpu

#endif
