// Interleaved weight layouts that compile-model writes for the kernels that
// stream eight rows at once. A layout keeps every bit of the original rows in
// the same total size and only rearranges them, so it is chosen per weight at
// compile time and undone exactly when a single row is needed (embedding
// lookups of a tied table, tests).
//
// "x8" (the formats abi/formats.def marks x8, Q4_0 and Q4_K, with a
// multiple of 8 rows): rows are taken in groups of eight; a group stores,
// for each block, the eight rows' scales followed by their quants
// interleaved four bytes at a time, so that one 32-byte load holds the same
// four quant bytes of all eight rows.
//
//   Q4_0 block (144 bytes):  d[8] (f16), then for c in 0..3, row r in 0..7:
//                            qs[4c .. 4c+3] of row r at 16 + 32c + 4r.
//   Q4_K super-block (1152): d[8], dmin[8] (f16); then the sixteen 6-bit
//                            scales (v < 8: sub-block v's scale, else
//                            sub-block v-8's minimum) of each row regrouped
//                            so that one shift and mask give a field for all
//                            eight rows: row r owns the 32-bit words at
//                            32 + 4r, 64 + 4r and 96 + 4r, with fields
//                            5k..5k+4 at bits 0, 6, .., 24 of word k and
//                            field 15's bit pairs in bits 30..31 of the
//                            three; then for c in 0..3, k in 0..7, row r:
//                            qs[32c+4k .. +3] of row r at 128 + 32(8c+k) + 4r.
#pragma once

#include "formats/formats.h"

#include <cstddef>
#include <cstdint>

namespace gemmac::fmt {

using abi::Layout;

/// Whether `t` has an x8 layout (the row count must also be a multiple of 8).
using abi::hasX8Layout;
/// The layout's name in IR and reports ("rows", "x8"); parses it back.
const char *layoutName(Layout l);
bool parseLayout(const char *name, Layout &out);

/// Bytes of one x8 group for rows of n elements (8 * rowBytes(t, n)).
inline size_t x8GroupBytes(Type t, size_t n) { return 8 * rowBytes(t, n); }

/// Packs 8 consecutive rows (src, each rowBytes(t, n)) into one x8 group.
void packX8(Type t, const uint8_t *src, uint8_t *dst, size_t n);
/// Recovers row r (0..7) of an x8 group.
void unpackX8Row(Type t, const uint8_t *group, int r, uint8_t *dst, size_t n);

} // namespace gemmac::fmt
