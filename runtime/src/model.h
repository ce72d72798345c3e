// Internal definitions of the C API's objects.
#pragma once

#include "abi/program_table.h"
#include "runtime/gpu/gpu_backend.h"
#include "runtime/include/gemmac.h"
#include "runtime/src/rt.h"
#include "runtime/src/tokenizer.h"

#include <atomic>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace gemmac::rt {
/// Records a failure for gemmac_last_error(); returns false/NULL helpers.
void setError(const std::string &message);
/// The abi/cpu_features.h features of `bits`, comma separated; and those of
/// them this CPU lacks ("" when it has them all).
std::string cpuFeatureNames(uint64_t bits);
std::string missingCpuFeatures(uint64_t bits);
/// The kernels for a program compiled for the features of `bits`, and for
/// one that chooses at startup (cpu:x86-64-multi): this CPU's best.
KernelSet kernelSetFor(uint64_t bits);
KernelSet kernelSetForThisCpu();
/// "avx2", "avx512" or "arm".
const char *kernelSetName(KernelSet set);
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
  /// The weight file's checksum and layout fingerprint: with weightsBytes,
  /// the identity a saved session state is checked against.
  uint64_t weightsChecksum = 0, fingerprint = 0;
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
  /// The pool whose slot `slot` this session is (kv and arena are the
  /// pool's), or null for a session of its own (gemmac_session_new).
  gemmac_pool *pool = nullptr;
  int32_t slot = 0;
  int32_t nCtx = 0;
  int32_t pos = 0;
  uint8_t *kv = nullptr;
  uint64_t kvBytes = 0;
  uint8_t *arena = nullptr;
  /// GPU programs: the device session whose KV slot `slot` is this
  /// sequence's (a pool's sessions share one).
  std::shared_ptr<gemmac::gpu::Session> gpu;
  std::vector<float> scratchLogits;
  std::vector<int32_t> history;  // every token evaluated, for the penalties
  std::vector<float> penalized;  // logits after the penalties
  std::mt19937_64 rng;
  uint64_t seededWith = 0;
  bool seeded = false;
  std::vector<float> lastLogits; // the last evaluated token's, when hasLogits
  bool hasLogits = false;
  /// Programs with an MTP drafter: the final hidden states of the last
  /// eval's output rows (hiddenRows of them), the drafter's input; the last
  /// row's belongs to the last evaluated token when hasLogits.
  std::vector<float> outHidden;
  int32_t hiddenRows = 0;
  int32_t hiddenAt = -1; // the position after those rows: valid while == pos
  /// gemmac_session_draft's logits of one step, kept between calls: a fresh
  /// vocabulary-sized buffer per call cost a third of a small drafter's
  /// step in page faults.
  std::vector<float> draftLogits;
  std::atomic<bool> cancelRequested{false}; // gemmac_session_cancel
  ~gemmac_session();
};

/// KV caches of several sequences evaluated in shared steps (gemmac_decode).
/// CPU: one allocation, sequence s's caches at kv + s * kvStride, each at the
/// single-sequence layout, so a pool session's kv is an ordinary session's;
/// one scratch arena. GPU: one device session with a KV slot per sequence.
struct gemmac_pool {
  ~gemmac_pool();
  gemmac_model *model = nullptr;
  int32_t nCtx = 0;
  int64_t kvStride = 0;
  uint8_t *kv = nullptr, *arena = nullptr;
  std::shared_ptr<gemmac::gpu::Session> gpu;
  std::vector<std::unique_ptr<gemmac_session>> sessions;
  /// The last batch's wanted logits, and each batch row's row of them (-1).
  std::vector<float> out;
  std::vector<int32_t> outIndex;
  /// gemmac_pool_draft's logits of one step (as gemmac_session's).
  std::vector<float> draftLogits;
};

namespace gemmac::rt {
/// Evaluates n tokens after the session's; `logits` and `hidden` (either
/// may be null; hidden only where the program writes it) get the logits and
/// final hidden states of the last nOut of them (0 <= nOut <= n). The last
/// token's logits are always computed and kept for gemmac_session_logits.
/// Checks for a cancel before each chunk of the model's batch (unless
/// takesCancel is false).
int evalTokens(gemmac_session *s, const gemmac_token *tokens, int32_t n,
               int32_t nOut, float *logits, float *hidden,
               bool takesCancel = true);
/// The context of a session asked for nCtx tokens (<= 0: the default).
int32_t defaultContext(const gemmac_model *m, int32_t nCtx);
/// The KV cache bytes of one CPU sequence of nCtx tokens; false (and the
/// error) when they cannot be addressed.
bool contextKVBytes(const gemmac_model *m, int32_t nCtx, uint64_t &bytes);
/// A scratch arena for one step of the model's batch; null (and the error)
/// when out of memory.
uint8_t *newArena(const gemmac_model *m);
/// "1.50 GiB".
std::string gib(uint64_t bytes);
/// The bytes from one KV slot to the next for caches of kvBytes.
inline int64_t kvStride(uint64_t kvBytes) {
  return static_cast<int64_t>((kvBytes + 63) / 64 * 64);
}
/// Consumes a pending cancel: true (and the error "cancelled") if there was.
bool takeCancel(gemmac_session *s);
} // namespace gemmac::rt
