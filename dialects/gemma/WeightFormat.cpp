//===- WeightFormat.cpp - storage format geometry -------------------------===//

#include "dialects/gemma/GemmaDialect.h"
#include "runtime/formats/ggml_types.h"

using namespace gemmac::gemma;

// WeightFormat values are ggml type ids, so the shared table describes them.
int64_t gemmac::gemma::formatBlockElems(WeightFormat format) {
  return gemmac::findGGMLType(static_cast<uint32_t>(format))->blockElems;
}

int64_t gemmac::gemma::formatBlockBytes(WeightFormat format) {
  return gemmac::findGGMLType(static_cast<uint32_t>(format))->blockBytes;
}

bool gemmac::gemma::isFloatFormat(WeightFormat format) {
  return format == WeightFormat::f32 || format == WeightFormat::f16 ||
         format == WeightFormat::bf16;
}
