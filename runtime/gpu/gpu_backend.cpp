// What the CUDA and Vulkan backends share: choosing one, buffer sizes and
// binding ranges.

#include "runtime/gpu/gpu_backend.h"
#include "runtime/kernels/gelu.h"

#include <cmath>

namespace gemmac::gpu {

Session::~Session() = default;
Backend::~Backend() = default;

SpaceSizes spaceSizes(const ProgramView &program, uint64_t weightsBytes,
                      int64_t nCtx) {
  const ProgramHeader &h = *program.header;
  SpaceSizes s;
  s.bytes[static_cast<int>(Space::Weights)] = weightsBytes;
  s.bytes[static_cast<int>(Space::Arena)] = h.arenaBytes;
  s.bytes[static_cast<int>(Space::KV)] =
      h.kvFixedBytes + h.kvPerCtxBytes * static_cast<uint64_t>(nCtx);
  s.bytes[static_cast<int>(Space::Tokens)] = uint64_t(h.maxBatch) * 4;
  s.bytes[static_cast<int>(Space::Params)] = sizeof(StepParams::values);
  s.bytes[static_cast<int>(Space::Constants)] = uint64_t(h.numConstants) * 4;
  s.bytes[static_cast<int>(Space::Tables)] = kGeluTableBytes;
  uint64_t ropeBytes = 0;
  for (uint32_t i = 0; i < h.numRopes; ++i)
    ropeBytes += uint64_t(program.ropes[i].pairs) * 8 * nCtx;
  s.bytes[static_cast<int>(Space::Rope)] = ropeBytes;
  return s;
}

const void *modelTables() { return rt::geluTanhTable(); }

std::vector<float> ropeTables(const ProgramView &program, int64_t nCtx) {
  std::vector<float> out;
  for (uint32_t i = 0; i < program.header->numRopes; ++i) {
    const RopeEntry &r = program.ropes[i];
    // As the CPU kernel (and llama.cpp): powf, repeated multiplication,
    // sincosf.
    const float thetaScale =
        std::pow(r.theta, -2.0f / static_cast<float>(r.freqDim));
    for (int64_t p = 0; p < nCtx; ++p) {
      float angle = static_cast<float>(p);
      for (uint32_t j = 0; j < r.pairs; ++j) {
        float s, c;
        ::sincosf(angle, &s, &c);
        out.push_back(c);
        out.push_back(s);
        angle = angle * thetaScale;
      }
    }
  }
  return out;
}

bool bindingRange(const BindingEntry &b, int64_t nCtx, const SpaceSizes &sizes,
                  uint64_t &offset, uint64_t &bytes, std::string &error) {
  const uint64_t ctx = static_cast<uint64_t>(nCtx);
  offset = b.offset + b.offsetPerCtx * ctx;
  bytes = b.bytes + b.bytesPerCtx * ctx;
  const uint64_t limit = sizes.bytes[b.space];
  if (bytes == 0 || offset > limit || bytes > limit - offset) {
    error = "GPU program: a binding [" + std::to_string(offset) + ", +" +
            std::to_string(bytes) + ") lies outside its buffer of " +
            std::to_string(limit) + " bytes (space " +
            std::to_string(b.space) + ")";
    return false;
  }
  return true;
}

std::unique_ptr<Backend> openBackend(const uint8_t *image, uint64_t imageBytes,
                                     const uint8_t *weights,
                                     uint64_t weightsBytes, int device,
                                     std::string &error) {
  ProgramView program;
  if (!parseGpuProgram(image, imageBytes, program, error))
    return nullptr;
  if (program.header->codeKind == static_cast<uint32_t>(CodeKind::PTX))
    return openCudaBackend(program, weights, weightsBytes, device, error);
  return openVulkanBackend(program, weights, weightsBytes, device, error);
}

} // namespace gemmac::gpu
