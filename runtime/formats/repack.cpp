#include "runtime/formats/repack.h"

#include <cstring>

namespace gemmac::fmt {

bool hasX8Layout(Type t) { return t == Type::Q4_0 || t == Type::Q4_K; }

const char *layoutName(Layout l) { return l == Layout::X8 ? "x8" : "rows"; }

bool parseLayout(const char *name, Layout &out) {
  if (!std::strcmp(name, "rows"))
    out = Layout::Rows;
  else if (!std::strcmp(name, "x8"))
    out = Layout::X8;
  else
    return false;
  return true;
}

namespace {

constexpr size_t kQ4_0GroupBlock = 8 * sizeof(BlockQ4_0);
constexpr size_t kQ4_KGroupBlock = 8 * sizeof(BlockQ4_K);

/// Copies one block of row r between the row layout and the x8 group block
/// (ToGroup selects the direction).
template <bool ToGroup>
void moveQ4_0(BlockQ4_0 &row, uint8_t *g, int r) {
  uint8_t *d = g + 2 * r;
  if (ToGroup)
    std::memcpy(d, &row.d, 2);
  else
    std::memcpy(&row.d, d, 2);
  for (int c = 0; c < 4; ++c) {
    uint8_t *q = g + 16 + 32 * c + 4 * r;
    if (ToGroup)
      std::memcpy(q, row.qs + 4 * c, 4);
    else
      std::memcpy(row.qs + 4 * c, q, 4);
  }
}

template <bool ToGroup>
void moveQ4_K(BlockQ4_K &row, uint8_t *g, int r) {
  auto move = [&](void *rowPart, uint8_t *groupPart, size_t n) {
    if (ToGroup)
      std::memcpy(groupPart, rowPart, n);
    else
      std::memcpy(rowPart, groupPart, n);
  };
  move(&row.d, g + 2 * r, 2);
  move(&row.dmin, g + 16 + 2 * r, 2);
  move(row.scales, g + 32 + 12 * r, 12);
  for (int c = 0; c < 4; ++c)
    for (int k = 0; k < 8; ++k)
      move(row.qs + 32 * c + 4 * k, g + 128 + 32 * (8 * c + k) + 4 * r, 4);
}

} // namespace

void packX8(Type t, const uint8_t *src, uint8_t *dst, size_t n) {
  const size_t rb = rowBytes(t, n);
  if (t == Type::Q4_0) {
    const size_t nb = n / QK;
    for (int r = 0; r < 8; ++r)
      for (size_t b = 0; b < nb; ++b) {
        BlockQ4_0 blk;
        std::memcpy(&blk, src + r * rb + b * sizeof blk, sizeof blk);
        moveQ4_0<true>(blk, dst + b * kQ4_0GroupBlock, r);
      }
  } else {
    const size_t nb = n / QK_K;
    for (int r = 0; r < 8; ++r)
      for (size_t b = 0; b < nb; ++b) {
        BlockQ4_K blk;
        std::memcpy(&blk, src + r * rb + b * sizeof blk, sizeof blk);
        moveQ4_K<true>(blk, dst + b * kQ4_KGroupBlock, r);
      }
  }
}

void unpackX8Row(Type t, const uint8_t *group, int r, uint8_t *dst, size_t n) {
  // The move helpers take a mutable group pointer for both directions; this
  // direction only reads it.
  uint8_t *g = const_cast<uint8_t *>(group);
  if (t == Type::Q4_0) {
    for (size_t b = 0; b < n / QK; ++b) {
      BlockQ4_0 blk;
      moveQ4_0<false>(blk, g + b * kQ4_0GroupBlock, r);
      std::memcpy(dst + b * sizeof blk, &blk, sizeof blk);
    }
  } else {
    for (size_t b = 0; b < n / QK_K; ++b) {
      BlockQ4_K blk;
      moveQ4_K<false>(blk, g + b * kQ4_KGroupBlock, r);
      std::memcpy(dst + b * sizeof blk, &blk, sizeof blk);
    }
  }
}

} // namespace gemmac::fmt
