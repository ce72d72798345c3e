// The runtime's GPU backends: they run a program image (gpu_program.h) on a
// CUDA device (driver API, libcuda opened at run time) or a Vulkan device
// (vulkan_device.h), with the weights uploaded once per model and the KV
// cache, activation arena, tokens and params buffers per session.
#pragma once

#include "abi/gpu_program.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace gemmac::gpu {

/// One forward step: n_tokens tokens at positions pos0..; the logits of the
/// last n_out tokens (n_out x vocab floats) go to `logits`.
struct Step {
  const int32_t *tokens = nullptr;
  int64_t nTokens = 0, pos0 = 0, nOut = 0;
  float *logits = nullptr;
};

/// Workgroup rows of a launch in a step (grid.y); 0: the launch is skipped.
inline int64_t launchRows(const LaunchEntry &l, const Step &step) {
  int64_t rows = 1;
  if (l.rows == static_cast<uint32_t>(Rows::Tokens))
    rows = step.nTokens;
  else if (l.rows == static_cast<uint32_t>(Rows::Outputs))
    rows = step.nOut;
  const int64_t group = l.tokensPerGroup > 1 ? l.tokensPerGroup : 1;
  return (rows + group - 1) / group;
}

/// The params buffer of a step (slots abi::GpuParam).
struct StepParams {
  int32_t values[abi::kNumParams];
};
inline StepParams stepParams(const Step &step, int64_t nCtx) {
  StepParams p{};
  p.values[abi::kTokens] = static_cast<int32_t>(step.nTokens);
  p.values[abi::kPos0] = static_cast<int32_t>(step.pos0);
  p.values[abi::kOutRows] = static_cast<int32_t>(step.nOut);
  p.values[abi::kContextRows] = static_cast<int32_t>(nCtx);
  return p;
}

class Session {
public:
  virtual ~Session();
  virtual bool forward(const Step &step, std::string &error) = 0;
  virtual uint64_t kvBytes() const = 0;
  /// The whole KV cache (kvBytes()) to or from host memory, for a saved
  /// session state (runtime/src/session_state.cpp).
  virtual bool readKV(void *dst, std::string &error) = 0;
  virtual bool writeKV(const void *src, std::string &error) = 0;
};

class Backend {
public:
  virtual ~Backend();
  /// e.g. "vulkan: llvmpipe (LLVM 15.0.6, 256 bits)", "cuda: NVIDIA H100".
  virtual std::string deviceName() const = 0;
  virtual std::unique_ptr<Session> newSession(int64_t nCtx,
                                              std::string &error) = 0;
};

/// A backend's session S(backend, nCtx), or null + `error` when its init
/// (buffers, bindings) fails.
template <typename S, typename B>
std::unique_ptr<Session> startSession(B &backend, int64_t nCtx,
                                      std::string &error) {
  auto s = std::make_unique<S>(backend, nCtx);
  if (!s->init(error))
    return nullptr;
  return s;
}

/// The backend for the image's code kind on device `device`, with the
/// weights uploaded; null + `error` when the image is malformed, the driver
/// or the device is missing, or the upload fails.
std::unique_ptr<Backend> openBackend(const uint8_t *image, uint64_t imageBytes,
                                     const uint8_t *weights,
                                     uint64_t weightsBytes, int device,
                                     std::string &error);

/// Sizes of the buffers a session binds, indexed by Space.
struct SpaceSizes {
  uint64_t bytes[kNumSpaces] = {};
};
SpaceSizes spaceSizes(const ProgramView &program, uint64_t weightsBytes,
                      int64_t nCtx);

/// Model-wide tables (Space::Tables): llama.cpp's GELU table.
const void *modelTables();
/// A session's RoPE tables (Space::Rope) for a context of n_ctx tokens.
std::vector<float> ropeTables(const ProgramView &program, int64_t nCtx);

/// The byte range of a binding for a context of n_ctx tokens, checked
/// against its buffer's size.
bool bindingRange(const BindingEntry &b, int64_t nCtx, const SpaceSizes &sizes,
                  uint64_t &offset, uint64_t &bytes, std::string &error);

/// Backends by code kind (the ones not built in say so).
std::unique_ptr<Backend> openVulkanBackend(const ProgramView &program,
                                           const uint8_t *weights,
                                           uint64_t weightsBytes, int device,
                                           std::string &error);
std::unique_ptr<Backend> openCudaBackend(const ProgramView &program,
                                         const uint8_t *weights,
                                         uint64_t weightsBytes, int device,
                                         std::string &error);

} // namespace gemmac::gpu
