// What the CUDA and Vulkan backends share: choosing one, buffer sizes and
// binding ranges.

#include "runtime/gpu/gpu_backend.h"
#include "abi/step.h"
#include "runtime/kernels/gelu.h"

#include <algorithm>
#include <cmath>

namespace gemmac::gpu {

Session::~Session() = default;
Backend::~Backend() = default;

namespace {
/// A binding's offset and size for n_ctx tokens; false if either overflows.
bool rangeFor(const BindingEntry &b, uint64_t ctx, uint64_t &offset,
              uint64_t &bytes) {
  uint64_t o = 0, n = 0;
  return !__builtin_mul_overflow(b.offsetPerCtx, ctx, &o) &&
         !__builtin_add_overflow(b.offset, o, &offset) &&
         !__builtin_mul_overflow(b.bytesPerCtx, ctx, &n) &&
         !__builtin_add_overflow(b.bytes, n, &bytes);
}
} // namespace

bool kvSlots(const ProgramView &program, int64_t nCtx, int64_t nSlots,
             KVSlots &kv, std::string &error) {
  const ProgramHeader &h = *program.header;
  const uint64_t ctx = static_cast<uint64_t>(nCtx);
  uint64_t perCtx = 0, total = 0;
  if (nCtx <= 0 || nSlots <= 0 ||
      __builtin_mul_overflow(h.kvPerCtxBytes, ctx, &perCtx) ||
      __builtin_add_overflow(perCtx, h.kvFixedBytes, &kv.bytes) ||
      __builtin_mul_overflow(kv.bytes, static_cast<uint64_t>(nSlots),
                             &total)) {
    error = "the KV caches of " + std::to_string(nSlots) + " sequences of " +
            std::to_string(nCtx) + " tokens are more than memory can address";
    return false;
  }
  kv.slots = nSlots;
  kv.ranges.clear();
  for (uint32_t i = 0; i < h.numBindings; ++i) {
    const BindingEntry &b = program.bindings[i];
    if (b.space != static_cast<uint32_t>(Space::KV))
      continue;
    KVSlots::Range r{};
    if (!rangeFor(b, ctx, r.offset, r.bytes) || r.bytes == 0 ||
        r.offset > kv.bytes || r.bytes > kv.bytes - r.offset) {
      error = "GPU program: KV binding " + std::to_string(i) + " [" +
              std::to_string(r.offset) + ", +" + std::to_string(r.bytes) +
              ") lies outside the " + std::to_string(kv.bytes) +
              " KV bytes of a context of " + std::to_string(nCtx);
      return false;
    }
    kv.ranges.push_back(r);
  }
  std::sort(kv.ranges.begin(), kv.ranges.end(),
            [](const KVSlots::Range &a, const KVSlots::Range &b) {
              return a.offset != b.offset ? a.offset < b.offset
                                          : a.bytes < b.bytes;
            });
  std::vector<KVSlots::Range> unique;
  for (const KVSlots::Range &r : kv.ranges) {
    if (!unique.empty() && unique.back().offset == r.offset &&
        unique.back().bytes == r.bytes)
      continue; // a cache read by several layers (shared KV)
    if (!unique.empty() &&
        r.offset < unique.back().offset + unique.back().bytes) {
      error = "GPU program: KV ranges [" + std::to_string(r.offset) + ", +" +
              std::to_string(r.bytes) + ") and [" +
              std::to_string(unique.back().offset) + ", +" +
              std::to_string(unique.back().bytes) + ") overlap";
      return false;
    }
    unique.push_back(r);
  }
  kv.ranges = std::move(unique);
  return true;
}

bool stepParams(const Step &step, int64_t nCtx, int64_t maxBatch,
                const KVSlots &kv, std::vector<int32_t> &words,
                std::string &error) {
  auto fail = [&](const std::string &what) {
    error = "GPU step: " + what;
    return false;
  };
  if (step.nTokens <= 0 || step.nTokens > maxBatch ||
      step.nTokens > abi::kMaxBatch)
    return fail(std::to_string(step.nTokens) + " rows (1 to " +
                std::to_string(maxBatch) + ")");
  if (step.nOut < 0 || step.nOut > step.nTokens)
    return fail(std::to_string(step.nOut) + " output rows of " +
                std::to_string(step.nTokens));
  words.assign(abi::kParamsWords, 0);
  words[abi::kTokens] = static_cast<int32_t>(step.nTokens);
  words[abi::kOutRows] = static_cast<int32_t>(step.nOut);
  words[abi::kContextRows] = static_cast<int32_t>(nCtx);
  std::vector<bool> slotUsed(static_cast<size_t>(kv.slots), false);
  int64_t row = 0;
  for (int64_t i = 0; i < step.nSeqs; ++i) {
    const int64_t *seg = step.seqs + i * GEMMAC_SEQ_FIELDS;
    const int64_t slot = seg[GEMMAC_SEQ_SLOT], pos0 = seg[GEMMAC_SEQ_POS0],
                  row0 = seg[GEMMAC_SEQ_ROW0], rows = seg[GEMMAC_SEQ_ROWS];
    if (slot < 0 || slot >= kv.slots || slotUsed[slot])
      return fail("segment " + std::to_string(i) + ": slot " +
                  std::to_string(slot) + " is not a free slot of " +
                  std::to_string(kv.slots));
    slotUsed[slot] = true;
    if (row0 != row || rows <= 0 || rows > step.nTokens - row0 || pos0 < 0 ||
        pos0 > nCtx - rows)
      return fail("segment " + std::to_string(i) + " (rows " +
                  std::to_string(row0) + " +" + std::to_string(rows) +
                  " at position " + std::to_string(pos0) +
                  ") does not continue the step's rows inside a context of " +
                  std::to_string(nCtx));
    for (int64_t t = row0; t < row0 + rows; ++t) {
      int32_t *r = words.data() + abi::kRowTable + t * abi::kRowFields;
      r[abi::kRowSlot] = static_cast<int32_t>(slot);
      r[abi::kRowSegRow0] = static_cast<int32_t>(row0);
      r[abi::kRowSegPos0] = static_cast<int32_t>(pos0);
      r[abi::kRowSegRows] = static_cast<int32_t>(rows);
    }
    row += rows;
  }
  if (row != step.nTokens)
    return fail("the segments cover " + std::to_string(row) + " of " +
                std::to_string(step.nTokens) + " rows");
  for (int64_t j = 0; j < step.nOut; ++j) {
    const int64_t r = step.outRows[j];
    if (r < 0 || r >= step.nTokens || (j > 0 && r <= step.outRows[j - 1]))
      return fail("output row " + std::to_string(j) + " is row " +
                  std::to_string(r) + " (rows must ascend below " +
                  std::to_string(step.nTokens) + ")");
    words[abi::kOutTable + j] = static_cast<int32_t>(r);
  }
  return true;
}

SpaceSizes spaceSizes(const ProgramView &program, uint64_t weightsBytes,
                      int64_t nCtx, const KVSlots &kv) {
  const ProgramHeader &h = *program.header;
  SpaceSizes s;
  s.bytes[static_cast<int>(Space::Weights)] = weightsBytes;
  s.bytes[static_cast<int>(Space::Arena)] = h.arenaBytes;
  s.bytes[static_cast<int>(Space::KV)] =
      kv.bytes * static_cast<uint64_t>(kv.slots);
  s.bytes[static_cast<int>(Space::Tokens)] = uint64_t(h.maxBatch) * 4;
  s.bytes[static_cast<int>(Space::Params)] = uint64_t(abi::kParamsWords) * 4;
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

bool bindingRange(const BindingEntry &b, int64_t nCtx, const KVSlots &kv,
                  const SpaceSizes &sizes, uint64_t &offset, uint64_t &bytes,
                  std::string &error) {
  const uint64_t limit = sizes.bytes[b.space];
  bool ok = rangeFor(b, static_cast<uint64_t>(nCtx), offset, bytes);
  if (ok && b.space == static_cast<uint32_t>(Space::KV)) {
    // Every slot's copy of the cache.
    ok = !__builtin_mul_overflow(offset, static_cast<uint64_t>(kv.slots),
                                 &offset) &&
         !__builtin_mul_overflow(bytes, static_cast<uint64_t>(kv.slots),
                                 &bytes);
  }
  if (!ok || bytes == 0 || offset > limit || bytes > limit - offset) {
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
