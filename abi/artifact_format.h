// The weight file written beside a compiled program (OUT.weights), shared by
// compile-model (writer) and the runtime (reader). Little-endian.
//
//   [0, 4096)    header (ArtifactHeader, zero padded)
//   weights      at header.weightsOffset, each tensor at its blob offset
//   tokenizer    at header.tokenizerOffset (TokenizerSection below)
//
// The program refuses a file whose fingerprint differs from the one compiled
// into it: weights laid out for another build are never used. It also
// refuses a file whose size differs from header.fileBytes, whose sampled
// checksum (abi/weights_checksum.h) differs from header.checksum, or whose
// checksum and size differ from those compile-model wrote into the
// program's table (abi/program_table.h): a truncated, damaged or other
// compile's file.
#pragma once

#include <cstdint>

namespace gemmac::artifact {

inline constexpr char kMagic[8] = {'G', 'E', 'M', 'M', 'A', 'C', 'W', '\0'};
// 2: fileBytes and checksum (version 1 files have neither: recompile).
inline constexpr uint32_t kVersion = 2;
inline constexpr uint64_t kHeaderBytes = 4096;

struct ArtifactHeader {
  char magic[8];
  uint32_t version;
  uint32_t headerBytes;
  uint64_t fingerprint;     // must equal gemmac_model_meta[fingerprint]
  uint64_t weightsOffset;
  uint64_t weightsBytes;
  uint64_t tokenizerOffset;
  uint64_t tokenizerBytes;
  uint64_t sourceBytes;     // size of the checkpoint it was compiled from
  char source[256];         // checkpoint file name (provenance)
  char target[64];          // e.g. "cpu:znver3"
  char compiler[64];        // "gemmac <version>"
  // Added after version 1 shipped, inside the zero padding: older files read
  // as "no residuals".
  char residuals[64];       // SRD corrections folded in: "FORMAT FINGERPRINT"
  char formats[256];        // weight formats, "q4_0 x183 q6_k x1 f32 x62"
  // Version 2.
  uint64_t fileBytes;       // the whole file's size
  uint64_t checksum;        // weightsChecksum() of the file, this field as 0
};
static_assert(sizeof(ArtifactHeader) <= kHeaderBytes);

// Tokenizer section, all integers little-endian:
//   char magic[4] = "GMTK"; u32 version = 2
//   u32 n_tokens;  n_tokens x { u32 len; bytes; i32 type; f32 score }
//   u32 n_merges;  n_merges x { u32 len; bytes }      ("left right")
//   i32 bos, eos, eot, pad, unk; u32 add_bos
//   u32 n_eog;     n_eog x i32         (ids that end generation)
//   u32 n_suppress; n_suppress x i32   (ids whose logits are -inf)
//   u32 template_len; bytes            (the checkpoint's chat template)
//   u32 sampling_set;                  (bit i: field i below is the model's)
//   f32 temperature; i32 top_k; f32 top_p; f32 min_p; f32 repeat_penalty;
//   i32 penalty_last_n                 (generation_config.json /
//                                       general.sampling.*)
inline constexpr char kTokenizerMagic[4] = {'G', 'M', 'T', 'K'};
inline constexpr uint32_t kTokenizerVersion = 2;
/// Bits of sampling_set.
enum SamplingField : uint32_t {
  kSamplingTemperature = 1u << 0,
  kSamplingTopK = 1u << 1,
  kSamplingTopP = 1u << 2,
  kSamplingMinP = 1u << 3,
  kSamplingRepeatPenalty = 1u << 4,
  kSamplingPenaltyLastN = 1u << 5,
};

} // namespace gemmac::artifact
