// Internal definitions of the C API's objects.
#pragma once

#include "abi/program_table.h"
#include "runtime/gpu/gpu_backend.h"
#include "runtime/include/gemmac.h"
#include "runtime/src/rt.h"
#include "runtime/src/tokenizer.h"

#include <memory>
#include <random>
#include <string>
#include <vector>

namespace gemmac::rt {
/// Records a failure for gemmac_last_error(); returns false/NULL helpers.
void setError(const std::string &message);
} // namespace gemmac::rt

struct gemmac_model {
  ~gemmac_model();
  /// The compiled model's code and facts (abi/program_table.h).
  const gemmac_program *program = nullptr;
  std::string path;
  /// The whole weight file: the mapping below, or embedded in the program.
  const uint8_t *bytes = nullptr;
  const uint8_t *map = nullptr; // the weight file mmapped (null if embedded)
  size_t mapBytes = 0;
  const uint8_t *weights = nullptr; // in the map, or in the huge-page copy
  void *copyMapping = nullptr;
  size_t copyMappingBytes = 0;
  uint64_t weightsBytes = 0;
  gemmac::rt::Tokenizer tokenizer;
  int32_t vocab = 0, context = 0, maxBatch = 0;
  std::unique_ptr<gemmac_rt> rt;
  /// GPU programs: the backend holding the weights (null for CPU programs).
  std::unique_ptr<gemmac::gpu::Backend> gpu;
  std::string device = "cpu";
  /// From the weight file's header (provenance, shown by `OUT info`).
  std::string source, target, compiler, residuals, formats;
};

struct gemmac_session {
  gemmac_model *model = nullptr;
  int32_t nCtx = 0;
  int32_t pos = 0;
  uint8_t *kv = nullptr;
  uint64_t kvBytes = 0;
  uint8_t *arena = nullptr;
  std::unique_ptr<gemmac::gpu::Session> gpu; // GPU programs
  std::vector<float> scratchLogits;
  std::vector<int32_t> history;  // every token evaluated, for the penalties
  std::vector<float> penalized;  // logits after the penalties
  std::mt19937_64 rng;
  uint64_t seededWith = 0;
  bool seeded = false;
  ~gemmac_session();
};
