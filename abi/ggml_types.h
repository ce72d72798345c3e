// ggml tensor storage types: ids, names and block geometry, as GGUF files
// store them. The types gemmac computes with come from abi/formats.def; the
// others are listed so that errors can name them. Header only.
#pragma once

#include "abi/formats.h"

#include <cstddef>
#include <cstdint>

namespace gemmac {

struct GGMLTypeInfo {
  uint32_t id;
  const char *name;
  uint32_t blockElems; // elements per block (1 for scalar types)
  uint32_t blockBytes; // bytes per block
  bool supported;      // gemmac can compute with it
};

// Every id ggml defines.
inline constexpr GGMLTypeInfo kGGMLTypes[] = {
#define GEMMAC_FORMAT(E, name, id, elems, bytes, act, x8, tiny)                \
  {id, #E, elems, bytes, (id) < abi::kFirstOwnFormat},
#include "abi/formats.def"
    {9, "Q8_1", 32, 36, false},      {10, "Q2_K", 256, 84, false},
    {11, "Q3_K", 256, 110, false},   {15, "Q8_K", 256, 292, false},
    {16, "IQ2_XXS", 256, 66, false}, {17, "IQ2_XS", 256, 74, false},
    {18, "IQ3_XXS", 256, 98, false}, {19, "IQ1_S", 256, 50, false},
    {20, "IQ4_NL", 32, 18, false},   {21, "IQ3_S", 256, 110, false},
    {22, "IQ2_S", 256, 82, false},   {23, "IQ4_XS", 256, 136, false},
    {24, "I8", 1, 1, false},         {25, "I16", 1, 2, false},
    {26, "I32", 1, 4, false},        {27, "I64", 1, 8, false},
    {28, "F64", 1, 8, false},        {29, "IQ1_M", 256, 56, false},
    {34, "TQ1_0", 256, 54, false},   {35, "TQ2_0", 256, 66, false},
    {39, "MXFP4", 32, 17, false},
};

constexpr const GGMLTypeInfo *findGGMLType(uint32_t id) {
  for (const GGMLTypeInfo &t : kGGMLTypes)
    if (t.id == id)
      return &t;
  return nullptr;
}

// The activation-only types (Q8_1, Q8_K) agree with the quantizer table.
constexpr bool ggmlTypesMatchActQuants() {
  for (const abi::ActQuantInfo &q : abi::kActQuants) {
    if (q.quant == abi::ActQuant::None)
      continue;
    const GGMLTypeInfo *t = findGGMLType(q.ggmlId);
    if (!t || t->blockElems != q.blockElems || t->blockBytes != q.blockBytes)
      return false;
  }
  for (const GGMLTypeInfo &t : kGGMLTypes) {
    int same = 0;
    for (const GGMLTypeInfo &u : kGGMLTypes)
      same += u.id == t.id;
    if (same != 1)
      return false;
  }
  return true;
}
static_assert(ggmlTypesMatchActQuants(), "ggml type table disagrees");

} // namespace gemmac
