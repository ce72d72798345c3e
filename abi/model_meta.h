// Entries of gemmac_model_meta, the table of model facts every compiled
// program exports: compile-model writes it (passes/ModelMeta.cpp) and the
// runtime reads it (runtime/src/model.cpp), both from this one header.
#pragma once

#include <cstdint>

namespace gemmac::abi {
enum MetaIndex {
  kMetaAbiVersion = 0,
  kMetaVocab,
  kMetaHidden,
  kMetaLayers,
  kMetaContext,
  kMetaWeightsBytes,
  kMetaFingerprint,
  kMetaMaxBatch,
  kMetaDecodeBytes, // weight bytes one decoded token reads
  kMetaCount = 16
};
// Follows GEMMAC_PROGRAM_ABI (abi/program_table.h).
inline constexpr int64_t kAbiVersion = 2;
} // namespace gemmac::abi
