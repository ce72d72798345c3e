// ggml block formats: layouts, dequantization, the activation quantizers
// (rounded exactly as llama.cpp's AVX2 CPU build rounds them) and weight
// quantizers for writing test and benchmark models. Plain C++ over
// abi/formats.def: the runtime, the compiler and the tools share it.
#pragma once

#include "abi/formats.h"

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace gemmac::fmt {

// ---- half precision -------------------------------------------------------

/// IEEE binary16 <-> f32 with round-to-nearest-even (what F16C does).
float f16ToF32(uint16_t h);
uint16_t f32ToF16(float f);
/// bfloat16 <-> f32, round-to-nearest-even, NaN quieted.
inline float bf16ToF32(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
uint16_t f32ToBF16(float f);
inline float roundToF16(float f) { return f16ToF32(f32ToF16(f)); }

// ---- FP8 E4M3 (OCP "e4m3fn": no infinities, 0x7F/0xFF are NaN) -------------

/// The value of an E4M3 byte: sign b7, exponent b6..3 (bias 7), mantissa
/// b2..0; exponent 0 is subnormal (m * 2^-9).
float e4m3ToF32(uint8_t b);
/// f32 to E4M3, round to nearest even, saturating at +-448 (what
/// torch's .to(float8_e4m3fn) after a clamp writes); NaN stays NaN.
uint8_t f32ToE4M3(float f);
inline float roundToBF16(float f) { return bf16ToF32(f32ToBF16(f)); }

// ---- NVFP4 (ggml's GGML_TYPE_NVFP4) ------------------------------------------

/// E2M1 values doubled (0, 0.5, 1, 1.5, 2, 3, 4, 6 times 2; bit 3 = sign), as
/// ggml's kvalues_fp4: integers, so that products with int8 are exact.
inline constexpr int8_t kE2M1Doubled[16] = {0,  1,  2,  3,  4,  6,  8,  12,
                                            0, -1, -2, -3, -4, -6, -8, -12};
/// An NVFP4 sub-block scale as ggml reads it: the E4M3 value of the byte
/// with its sign bit ignored, halved (the doubled E2M1 values make it
/// whole again); 0 for 0x00 and 0x7F (NaN).
float ue4m3ToF32(uint8_t b);
/// ggml's encoder of a positive scale (ggml_fp32_to_ue4m3): E4M3 with the
/// mantissa rounded half up, saturating at 0x7E; 0 for x <= 0 or NaN.
uint8_t f32ToUE4M3(float x);
/// The E2M1 code of x (bit 3 = sign): the nearest of 0, 0.5, 1, 1.5, 2, 3,
/// 4, 6, ties to the even code (0.25 -> 0, 0.75 -> 1, 2.5 -> 2, 5 -> 4),
/// saturating at 6, as ModelOpt and vLLM round.
uint8_t f32ToE2M1(float x);
inline float e2m1ToF32(uint8_t code) { return kE2M1Doubled[code & 15] * 0.5f; }

// ---- block layouts (little-endian, packed) --------------------------------

/// A weight's format: ggml's type ids, one enumerator per row of
/// abi/formats.def.
using Type = abi::Format;

constexpr int QK = abi::actQuantInfo(abi::ActQuant::Q8_0).blockElems;   // legacy block
constexpr int QK_K = abi::actQuantInfo(abi::ActQuant::Q8_K).blockElems; // k-quant super-block

// One storage type per row of abi/formats.def, named Block<Enum>.
using BlockF32 = float;
using BlockF16 = uint16_t;
using BlockBF16 = uint16_t;
struct BlockF8_B64 { float d; uint8_t qs[64]; };
/// NVFP4: sub-block s (elements 16s..16s+15) has scale d[s]; byte qs[8s+j]
/// holds element 16s+j in its low nibble and 16s+j+8 in its high nibble.
struct BlockNVFP4 { uint8_t d[4]; uint8_t qs[32]; };
struct BlockQ4_0 { uint16_t d; uint8_t qs[16]; };
struct BlockQ4_1 { uint16_t d, m; uint8_t qs[16]; };
struct BlockQ5_0 { uint16_t d; uint8_t qh[4]; uint8_t qs[16]; };
struct BlockQ5_1 { uint16_t d, m; uint8_t qh[4]; uint8_t qs[16]; };
struct BlockQ8_0 { uint16_t d; int8_t qs[32]; };
struct BlockQ8_1 { uint16_t d, s; int8_t qs[32]; };
struct BlockQ4_K { uint16_t d, dmin; uint8_t scales[12]; uint8_t qs[128]; };
struct BlockQ5_K { uint16_t d, dmin; uint8_t scales[12]; uint8_t qh[32]; uint8_t qs[128]; };
struct BlockQ6_K { uint8_t ql[128]; uint8_t qh[64]; int8_t scales[16]; uint16_t d; };
struct BlockQ8_K { float d; int8_t qs[256]; int16_t bsums[16]; };
// The float-activation forms share their ggml blocks.
using BlockQ4_0_F32 = BlockQ4_0;
using BlockQ8_0_F32 = BlockQ8_0;
using BlockNVFP4_F32 = BlockNVFP4;
/// The ggml format whose blocks a float-activation form stores (itself for
/// every other format).
constexpr Type blockFormat(Type t) {
  return t == Type::Q4_0_F32    ? Type::Q4_0
         : t == Type::Q8_0_F32  ? Type::Q8_0
         : t == Type::NVFP4_F32 ? Type::NVFP4
                                : t;
}

// The table's block bytes are these structs' sizes: a row without a struct,
// or a struct of another size, does not compile.
#define GEMMAC_FORMAT(E, name, id, elems, bytes, act, x8, tiny)                \
  static_assert(sizeof(Block##E) == (bytes),                                   \
                "Block" #E " disagrees with abi/formats.def");
#define GEMMAC_ACT_QUANT(E, name, id, elems, bytes)                            \
  static_assert(sizeof(Block##E) == (bytes),                                   \
                "Block" #E " disagrees with abi/formats.def");
#include "abi/formats.def"

/// Elements and bytes per block.
using abi::blockBytes;
using abi::blockElems;
inline size_t rowBytes(Type t, size_t n) { return n / blockElems(t) * blockBytes(t); }
/// Whether gemmac computes with ggml type `ggmlType` (a row of the table).
constexpr bool isSupported(uint32_t ggmlType) {
  return abi::findFormat(ggmlType) != nullptr;
}
/// The dialect's spelling ("q4_k").
constexpr const char *typeName(Type t) { return abi::formatInfo(t).name; }

/// 6-bit scale and min of sub-block j of a Q4_K/Q5_K super-block.
inline void scaleMinK4(int j, const uint8_t *q, uint8_t &sc, uint8_t &m) {
  if (j < 4) {
    sc = q[j] & 63;
    m = q[j + 4] & 63;
  } else {
    sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
  }
}

/// Dequantizes n elements (a multiple of the block size) of a row.
void dequantizeRow(Type t, const void *src, float *dst, size_t n);

// ---- activation quantizers (llama.cpp AVX2 rounding) -----------------------

/// Q8_0: d = amax/127 stored as f16, q = rne(x * 127/amax).
void quantizeRowQ8_0(const float *x, BlockQ8_0 *y, size_t n);
/// The same as llama.cpp's Arm (NEON) build quantizes: times 1/d, not 127/amax.
void quantizeRowQ8_0Neon(const float *x, BlockQ8_0 *y, size_t n);
/// Q8_1: as Q8_0 plus s = f16(d * sum(q)) with the f32 d.
void quantizeRowQ8_1(const float *x, BlockQ8_1 *y, size_t n);
/// Q8_K: iscale = -127/max (signed max), q = min(127, rne(iscale x)), d = 1/iscale.
void quantizeRowQ8_K(const float *x, BlockQ8_K *y, size_t n);

// ---- weight quantizers (test and benchmark models) -------------------------

/// Encodes n floats of a row into `t`. Any valid encoding serves: both gemmac
/// and llama.cpp read what is written.
void quantizeRow(Type t, const float *x, void *dst, size_t n);

} // namespace gemmac::fmt
