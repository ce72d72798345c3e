//===- QuantDot.h - quantized weight x int8 blocks --------------*- C++ -*-===//
//
// The dot product of a quantized weight row with llama.cpp's int8
// activation blocks, split so that a workgroup can share the work out.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "compiler/targets/gpu/kernels/Emitter.h"
#include "compiler/targets/gpu/kernels/KernelBuilder.h"

namespace gemmac::gpukernels::detail {

/// A quantized weight row against int8 activation blocks, with exactly the
/// operations of runtime/kernels/dot_reference.h (llama.cpp's AVX2 kernels),
/// in two phases so that a workgroup can share the work out:
///   - terms(): one block's integer sums for one token, from packed quants
///     through dot4 (dp4a / OpSDot). Integer sums are exact, so any thread
///     may compute any block, and a block's unpacked quants serve every
///     token of the workgroup;
///   - step(): the f32 chains, advanced block after block in order by the
///     one thread that owns the (row, token), then finish(): the AVX2
///     horizontal sum.
/// Weights are read as 16-bit words (every block size and field offset is
/// even), activation quants as 32-bit words of four.
struct QuantDot {
  enum Kind {
    Lanes32,
    Lanes32Affine,
    ChainQ4_0,
    GemmQ4_K,
    LanesK,
    LanesQ6_K,
    LanesNVFP4
  };
  Emitter &e;
  WeightFormat format;
  int64_t rows, cols;
  Value qs, aux; // activation quant words (i32) and side values (f32)
  Kind kind = kindOf(format, rows);

  static Kind kindOf(WeightFormat format, int64_t rows) {
    switch (format) {
    case WeightFormat::q4_0:
      return rows % 8 == 0 ? ChainQ4_0 : Lanes32;
    case WeightFormat::q4_1:
    case WeightFormat::q5_1:
      return Lanes32Affine;
    case WeightFormat::q4_k:
      return rows % 8 == 0 ? GemmQ4_K : LanesK;
    case WeightFormat::q5_k:
      return LanesK;
    case WeightFormat::q6_k:
      return LanesQ6_K;
    case WeightFormat::nvfp4:
      return LanesNVFP4;
    default: // q8_0, q5_0
      return Lanes32;
    }
  }
  /// An expert weight's dot as the CPU lowering multiplies it: llama.cpp's
  /// repacked kernels where gemma-select-kernels interleaves the weight
  /// (every expert's rows in groups of eight, each slice starting on one),
  /// vec_dot's otherwise (mul_mat_id, docs/numerics.md).
  static Kind expertKind(WeightFormat format, const ExpertSlices &ex) {
    bool x8 = ex.expertRows[0] % 8 == 0 && ex.firstRow[0] % 8 == 0 &&
              ex.firstRow[1] % 8 == 0;
    return kindOf(format, x8 ? ex.expertRows[0] : 1);
  }
  /// Integer terms per (block, token); f32 accumulators per (row, token).
  static int64_t numTerms(Kind kind) { return kind == ChainQ4_0 ? 1 : 8; }
  int64_t numTerms() const { return numTerms(kind); }
  int64_t numAcc() const {
    switch (kind) {
    case Lanes32Affine: return 9;
    case ChainQ4_0: return 1;
    case GemmQ4_K: return 2;
    case LanesK: return format == WeightFormat::q5_k ? 9 : 12;
    default: return 8;
    }
  }
  /// Elements and bytes of a block as this dot walks them. An NVFP4 block
  /// (64 elements, 36 bytes) is walked as two halves of 32 that each meet
  /// one Q8_0 block, as ggml_vec_dot_nvfp4_q8_0's two FMAs per lane do.
  int64_t be() const {
    return format == WeightFormat::nvfp4 ? 32 : formatBlockElems(format);
  }
  int64_t bb() const {
    return format == WeightFormat::nvfp4 ? 18 : formatBlockBytes(format);
  }
  int64_t nb() const { return cols / be(); }

  Value i32(int64_t v) { return e.i32(v); }
  /// Index of the first 16-bit word of block b of `row`.
  Value blockWord(Value row, Value b) {
    return e.add(e.mul(row, nb() * bb() / 2), e.mul(b, bb() / 2));
  }
  Value u16(Value w, Value base, int64_t off) { // off even
    return e.fromI16(e.load(w, e.add(base, off / 2)));
  }
  Value u32(Value w, Value base, int64_t off) {
    return e.bor(u16(w, base, off), e.shl(u16(w, base, off + 2), 16));
  }
  Value byteAt(Value w, Value base, int64_t off) {
    Value h = u16(w, base, off & ~int64_t(1));
    return e.band(off & 1 ? e.shr(h, 8) : h, 255);
  }
  Value f16At(Value w, Value base, int64_t off) {
    Value h = e.load(w, e.add(base, off / 2));
    Value f = arith::BitcastOp::create(e.b, e.b.getF16Type(), h);
    return arith::ExtFOp::create(e.b, e.b.getF32Type(), f);
  }
  /// Activation word k (quants 4k..4k+3) of block b of token t.
  Value actWord(Value t, Value b, int64_t k) {
    return e.load(qs, e.add(e.add(e.mul(t, cols / 4), e.mul(b, be() / 4)),
                            e.idx(k)));
  }
  Value auxAt(Value t, Value b, int64_t k) {
    ActQuant aq = activationQuant(format);
    int64_t per = actAuxPerBlock(aq), blocks = cols / actBlockElems(aq);
    return e.load(aux, e.add(e.mul(e.add(e.mul(t, blocks), b), per), k));
  }
  Value bsum(Value t, Value b, int64_t g) {
    return e.fptosi(auxAt(t, b, 1 + g));
  }

  /// Bytes x - bias of bytes in [0, 2 bias): biased past 0x80 so that no
  /// borrow crosses a byte.
  Value unbias(Value x, int64_t bias) {
    Value up = e.sub(e.bor(x, i32(0x80808080)), i32(bias * 0x01010101));
    return e.bxor(up, 0x80808080);
  }
  /// 6-bit scale and min of sub-block j of a Q4_K/Q5_K block.
  std::pair<Value, Value> scaleMin(Value w, Value base, int64_t j);
  /// NVFP4 half-block b (see be()): the first 16-bit word of its 64-block,
  /// and which half it is (0 or 1, an index).
  std::pair<Value, Value> nvfp4Half(Value row, Value b) {
    Value half = e.rem(b, 2);
    return {e.sub(blockWord(row, b), e.mul(half, 9)), half};
  }


  /// A weight block's quants as signed bytes, four per word in element
  /// order (K formats: word 8s + l holds quants 4l.. of sub-block s), and
  /// the sub-block scales (and Q4_K/Q5_K minimums).
  struct Block {
    SmallVector<Value> words, scales, mins;
  };
  /// Block b of `row`, unpacked (BlockAccess.cpp).
  Block load(Value w, Value row, Value b);

  /// Block b's integer terms for token t.
  SmallVector<Value> terms(const Block &k, Value t, Value b);

  /// The f32 chains after block b of token t (terms `T`).
  SmallVector<Value> step(Value w, Value row, Value t, Value b,
                          ArrayRef<Value> T, ValueRange acc);

  static Value hsum8(Emitter &e, ArrayRef<Value> v) {
    return e.fadd(e.fadd(e.fadd(v[0], v[4]), e.fadd(v[2], v[6])),
                  e.fadd(e.fadd(v[1], v[5]), e.fadd(v[3], v[7])));
  }
  /// The row's dot product from its accumulators.
  Value finish(ArrayRef<Value> acc);
};

} // namespace gemmac::gpukernels::detail
