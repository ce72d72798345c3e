// The x8 layouts of Q4_0 and Q4_K (repack.h).

#include "formats/repack.h"

#include <cstring>

namespace gemmac::fmt {

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

// The layouts below exist for Q4_0 and Q4_K: a format the table marks x8
// needs its code here first.
constexpr bool x8FormatsHaveCode() {
  for (const abi::FormatInfo &f : abi::kFormats)
    if (f.x8 && f.format != Type::Q4_0 && f.format != Type::Q4_K)
      return false;
  return true;
}
static_assert(x8FormatsHaveCode(), "an x8 format without a repack");

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

/// Field v (0..15) of row r in the regrouped scale area: sets it from
/// `value` (ToGroup) or returns it. Row r owns the 32-bit words at 4r, 32 + 4r
/// and 64 + 4r: fields 5k..5k+4 in bits 0..29 of word k, field 15's bit pairs
/// in bits 30..31 of the three words.
template <bool ToGroup>
uint8_t scaleField(uint8_t *area, int v, int r, uint8_t value) {
  auto word = [&](int k) -> uint32_t {
    uint32_t w;
    std::memcpy(&w, area + 32 * k + 4 * r, 4);
    return w;
  };
  auto setBits = [&](int k, int shift, uint32_t bits, uint32_t mask) {
    uint32_t w = (word(k) & ~(mask << shift)) | ((bits & mask) << shift);
    std::memcpy(area + 32 * k + 4 * r, &w, 4);
  };
  if (v < 15) {
    if (ToGroup)
      setBits(v / 5, 6 * (v % 5), value, 63);
    return ToGroup ? value : static_cast<uint8_t>((word(v / 5) >> (6 * (v % 5))) & 63);
  }
  if (ToGroup) {
    for (int k = 0; k < 3; ++k)
      setBits(k, 30, value >> (2 * k), 3);
    return value;
  }
  return static_cast<uint8_t>((word(0) >> 30) | ((word(1) >> 30) << 2) |
                              ((word(2) >> 30) << 4));
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
  uint8_t sc[8], mn[8];
  if (ToGroup)
    for (int s = 0; s < 8; ++s)
      scaleMinK4(s, row.scales, sc[s], mn[s]);
  for (int s = 0; s < 8; ++s) {
    sc[s] = scaleField<ToGroup>(g + 32, s, r, sc[s]);
    mn[s] = scaleField<ToGroup>(g + 32, 8 + s, r, mn[s]);
  }
  if (!ToGroup) // the 12-byte encoding scaleMinK4 reads, bit for bit
    for (int j = 0; j < 4; ++j) {
      row.scales[j] = static_cast<uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6));
      row.scales[j + 4] = static_cast<uint8_t>(mn[j] | ((mn[j + 4] >> 4) << 6));
      row.scales[j + 8] = static_cast<uint8_t>((sc[j + 4] & 0xF) | ((mn[j + 4] & 0xF) << 4));
    }
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
