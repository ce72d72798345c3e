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
  kMetaDecodeBytes,  // weight bytes one decoded token reads
  kMetaHiddenOutput, // 1: forward writes the final hidden states (`hidden`)
  kMetaWindow,       // the sliding layers' window (0: no ring caches)
  kMetaDraftMax,     // rows the rings keep beyond the window (--draft-max)
  // The abi/cpu_features.h bits the code needs (0: none recorded, as in
  // programs of earlier compilers: no check).
  kMetaCpuFeatures,
  // 1: the runtime picks the kernel set from the CPU it runs on
  // (cpu:x86-64-multi); 0: from kMetaCpuFeatures.
  kMetaKernelsAtStartup,
  kMetaCount = 16
};
// Follows GEMMAC_PROGRAM_ABI (abi/program_table.h).
inline constexpr int64_t kAbiVersion = 5;
} // namespace gemmac::abi
