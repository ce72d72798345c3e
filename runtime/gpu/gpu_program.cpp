// Checks a GPU program image before the backends trust any of it.

#include "runtime/gpu/gpu_program.h"

#include <cstring>

namespace gemmac::gpu {

bool parseGpuProgram(const uint8_t *data, uint64_t bytes, ProgramView &view,
                     std::string &error) {
  auto fail = [&](const std::string &what) {
    error = "GPU program: " + what;
    return false;
  };
  if (!data || bytes < sizeof(ProgramHeader))
    return fail("missing or shorter than its header");
  if (reinterpret_cast<uintptr_t>(data) % alignof(ProgramHeader) != 0)
    return fail("misaligned");
  const auto *h = reinterpret_cast<const ProgramHeader *>(data);
  if (std::memcmp(h->magic, kProgramMagic, sizeof kProgramMagic) != 0)
    return fail("bad magic");
  if (h->version != kProgramVersion)
    return fail("version " + std::to_string(h->version) + ", runtime knows " +
                std::to_string(kProgramVersion));
  if (h->codeKind != static_cast<uint32_t>(CodeKind::SPIRV) &&
      h->codeKind != static_cast<uint32_t>(CodeKind::PTX))
    return fail("unknown code kind " + std::to_string(h->codeKind));
  if (h->maxBatch == 0 || h->workgroupSize == 0)
    return fail("zero batch or workgroup size");
  uint64_t at = sizeof(ProgramHeader);
  auto table = [&](uint64_t count, uint64_t size, const char *what,
                   const void *&out) {
    if (count > (bytes - at) / size)
      return fail(std::string(what) + " table runs past the end");
    out = data + at;
    at += count * size;
    return true;
  };
  const void *k, *l, *b, *c, *r;
  if (!table(h->numKernels, sizeof(KernelEntry), "kernel", k) ||
      !table(h->numLaunches, sizeof(LaunchEntry), "launch", l) ||
      !table(h->numBindings, sizeof(BindingEntry), "binding", b) ||
      !table(h->numConstants, sizeof(float), "constant", c) ||
      !table(h->numRopes, sizeof(RopeEntry), "rope", r))
    return false;
  if (h->codeOffset < at || h->codeOffset > bytes ||
      h->codeBytes > bytes - h->codeOffset || h->codeBytes == 0)
    return fail("device code outside the image");
  view = {h, static_cast<const KernelEntry *>(k),
          static_cast<const LaunchEntry *>(l),
          static_cast<const BindingEntry *>(b), static_cast<const float *>(c),
          static_cast<const RopeEntry *>(r), data + h->codeOffset};
  for (uint32_t i = 0; i < h->numRopes; ++i) {
    const RopeEntry &e = view.ropes[i];
    if (e.freqDim == 0 || e.pairs == 0 || e.pairs > e.freqDim / 2 ||
        !(e.theta > 0))
      return fail("RoPE table " + std::to_string(i) + " is malformed");
  }
  for (uint32_t i = 0; i < h->numKernels; ++i) {
    const KernelEntry &e = view.kernels[i];
    if (std::memchr(e.name, 0, sizeof e.name) == nullptr || e.name[0] == 0)
      return fail("kernel " + std::to_string(i) + " has no valid name");
    if (e.numBuffers == 0 || e.numBuffers > 16)
      return fail(std::string("kernel ") + e.name + " takes " +
                  std::to_string(e.numBuffers) + " buffers");
  }
  for (uint32_t i = 0; i < h->numLaunches; ++i) {
    const LaunchEntry &e = view.launches[i];
    if (e.kernel >= h->numKernels)
      return fail("launch " + std::to_string(i) + " names kernel " +
                  std::to_string(e.kernel));
    if (e.rows > static_cast<uint32_t>(Rows::Outputs) || e.gridX == 0)
      return fail("launch " + std::to_string(i) + " has a bad grid");
    if (e.numBindings != view.kernels[e.kernel].numBuffers ||
        e.firstBinding > h->numBindings ||
        e.numBindings > h->numBindings - e.firstBinding)
      return fail("launch " + std::to_string(i) + " (" +
                  view.kernels[e.kernel].name + ") has bad bindings");
  }
  for (uint32_t i = 0; i < h->numBindings; ++i)
    if (view.bindings[i].space >= kNumSpaces)
      return fail("binding " + std::to_string(i) + " names space " +
                  std::to_string(view.bindings[i].space));
  return true;
}

} // namespace gemmac::gpu
