//===- BlockAccess.cpp - reading the GGUF block formats -------------------===//
//
// Where each field of each weight block format lives: one element at a time
// (Emitter::weightAt, for embeddings and float-style reads) and a whole
// block unpacked into int8 words and sub-block scales (QuantDot::load, for
// the quantized matvec). Field offsets follow ggml's block structs.
//
//===----------------------------------------------------------------------===//

#include "compiler/targets/gpu/kernels/QuantDot.h"

namespace gemmac::gpukernels::detail {

Value Emitter::weightAt(WeightFormat format, Value w, Value row, Value col,
                        int64_t cols) {
  switch (format) {
  case WeightFormat::f32:
    return load(w, add(mul(row, cols), col));
  case WeightFormat::f16:
    return arith::ExtFOp::create(b, b.getF32Type(),
                                 load(w, add(mul(row, cols), col)));
  case WeightFormat::bf16: {
    Value bits = arith::ExtUIOp::create(b, b.getI32Type(),
                                        load(w, add(mul(row, cols), col)));
    return bitcastF32(shl(bits, 16));
  }
  default:
    break;
  }
  const int64_t be = formatBlockElems(format), bb = formatBlockBytes(format);
  Value base = mul(add(mul(row, cols / be), div(col, be)), bb);
  Value e = rem(col, be);
  // The nibble of quant byte (e mod 16) in 32-element formats.
  auto nibble32 = [&](int64_t qsOffset) {
    Value byte = u8(w, add(add(base, qsOffset), rem(e, 16)));
    return band(shr(byte, toI32(mul(div(e, 16), 4))), 15);
  };
  switch (format) {
  case WeightFormat::q8_0:
  case WeightFormat::q8_0_f32: // the float-activation forms: the same blocks
    return fmul(f16At(w, base), sitofp(s8(w, add(add(base, 2), e))));
  case WeightFormat::q4_0:
  case WeightFormat::q4_0_f32:
    return fmul(f16At(w, base),
                sitofp(sub(nibble32(2), i32(8))));
  case WeightFormat::q4_1:
    return fadd(fmul(f16At(w, base), uitofp(nibble32(4))),
                f16At(w, add(base, 2)));
  case WeightFormat::q5_0:
  case WeightFormat::q5_1: {
    bool hasMin = format == WeightFormat::q5_1;
    Value qh = u32At(w, add(base, hasMin ? 4 : 2));
    Value high = band(shr(qh, toI32(e)), 1);
    Value q = bor(nibble32(hasMin ? 8 : 6), shl(high, 4));
    if (!hasMin)
      return fmul(f16At(w, base),
                  sitofp(sub(q, i32(16))));
    return fadd(fmul(f16At(w, base), uitofp(q)), f16At(w, add(base, 2)));
  }
  case WeightFormat::q4_k:
  case WeightFormat::q5_k: {
    // 8 sub-blocks of 32 with 6-bit scales and mins (get_scale_min_k4).
    Value g = div(e, 64), l = rem(e, 64), upper = div(l, 32);
    Value j = add(mul(g, 2), upper);
    Value s = add(base, 4);
    Value low = ult(j, idx(4));
    Value a = u8(w, add(s, sel(low, j, add(j, 4))));
    Value bq = u8(w, add(s, sel(low, add(j, 4), sub(j, idx(4)))));
    Value c = u8(w, add(s, j));
    Value sc = sel(low, band(a, 63), bor(band(a, 15), shl(shr(bq, 6), 4)));
    Value mn = sel(low, band(bq, 63), bor(shr(a, 4), shl(shr(c, 6), 4)));
    bool five = format == WeightFormat::q5_k;
    Value qsBase = add(base, five ? 48 : 16);
    Value byte = u8(w, add(add(qsBase, mul(g, 32)), rem(l, 32)));
    Value q = band(shr(byte, toI32(mul(upper, 4))), 15);
    if (five) {
      Value hb = band(shr(u8(w, add(add(base, 16), rem(l, 32))), toI32(j)), 1);
      q = bor(q, shl(hb, 4));
    }
    Value d = fmul(f16At(w, base), uitofp(sc));
    Value m = fmul(f16At(w, add(base, 2)), uitofp(mn));
    return fsub(fmul(d, uitofp(q)), m);
  }
  case WeightFormat::nvfp4:
  case WeightFormat::nvfp4_f32: {
    // 64-blocks of four scale bytes then 32 code bytes; byte j of sub-block
    // s holds its element j (low nibble) and j + 8 (high).
    Value s = div(e, 16), j = rem(e, 16);
    Value byte = u8(w, add(add(base, 4), add(mul(s, 8), rem(j, 8))));
    Value code = band(shr(byte, toI32(mul(div(j, 8), 4))), 15);
    return fmul(sitofp(e2m1Doubled(code)), ue4m3(u8(w, add(base, s))));
  }
  case WeightFormat::f8_b64: // an f32 scale, then 64 E4M3 bytes
    return fmul(bitcastF32(u32At(w, base)), e4m3(u8(w, add(add(base, 4), e))));
  case WeightFormat::q6_k: {
    Value n = div(e, 128), r = rem(e, 128), qd = div(r, 32), l = rem(r, 32);
    Value qlb = u8(w, add(base, add(add(mul(n, 64), l), mul(rem(qd, 2), 32))));
    Value lo = band(shr(qlb, toI32(mul(div(qd, 2), 4))), 15);
    Value qhb = u8(w, add(base, add(add(mul(n, 32), l), idx(128))));
    Value hi = band(shr(qhb, toI32(mul(qd, 2))), 3);
    Value q = sub(bor(lo, shl(hi, 4)), i32(32));
    Value scIdx = add(add(base, 192), add(add(mul(n, 8), div(l, 16)), mul(qd, 2)));
    Value d = fmul(f16At(w, add(base, 208)), sitofp(s8(w, scIdx)));
    return fmul(d, sitofp(q));
  }
  default:
    llvm_unreachable("float formats are handled above");
  }
}

/// 6-bit scale and min of sub-block j of a Q4_K/Q5_K block.
std::pair<Value, Value> QuantDot::scaleMin(Value w, Value base, int64_t j) {
  auto s = [&](int64_t k) { return byteAt(w, base, 4 + k); };
  if (j < 4)
    return {e.band(s(j), 63), e.band(s(j + 4), 63)};
  Value a = s(j + 4), lo = s(j - 4), hi = s(j);
  return {e.bor(e.band(a, 15), e.shl(e.shr(lo, 6), 4)),
          e.bor(e.shr(a, 4), e.shl(e.shr(hi, 6), 4))};
}

QuantDot::Block QuantDot::load(Value w, Value row, Value b) {
  Block k;
  Value base = blockWord(row, b);
  switch (format) {
  case WeightFormat::q8_0:
    for (int l = 0; l < 8; ++l)
      k.words.push_back(u32(w, base, 2 + 4 * l));
    break;
  case WeightFormat::q4_0:
  case WeightFormat::q4_1:
  case WeightFormat::q5_0:
  case WeightFormat::q5_1: {
    bool q50 = format == WeightFormat::q5_0;
    bool q51 = format == WeightFormat::q5_1;
    int64_t qsOff = format == WeightFormat::q4_0 ? 2
                    : format == WeightFormat::q4_1 ? 4
                    : q50 ? 6 : 8;
    int64_t bias = format == WeightFormat::q4_0 ? 8 : q50 ? 16 : 0;
    Value qh = q50 ? u32(w, base, 2) : q51 ? u32(w, base, 4) : Value();
    Value v[4];
    for (int l = 0; l < 4; ++l)
      v[l] = u32(w, base, qsOff + 4 * l);
    for (int l = 0; l < 8; ++l) {
      // Quants 4l..4l+3: low nibbles of bytes 4l.. (l < 4), else high.
      Value q = e.band(l < 4 ? v[l] : e.shr(v[l - 4], 4), 0x0F0F0F0F);
      if (qh) { // fifth bits 4l..4l+3 of qh to bit 4 of each byte
        Value x = e.shr(qh, 4 * l);
        q = e.bor(q, e.bor(e.bor(e.shl(e.band(x, 1), 4),
                                 e.shl(e.band(x, 2), 11)),
                           e.bor(e.shl(e.band(x, 4), 18),
                                 e.shl(e.band(x, 8), 25))));
      }
      k.words.push_back(bias ? unbias(q, bias) : q);
    }
    break;
  }
  case WeightFormat::q4_k:
  case WeightFormat::q5_k: {
    bool five = format == WeightFormat::q5_k;
    for (int s = 0; s < 8; ++s) {
      auto [sc, mn] = scaleMin(w, base, s);
      k.scales.push_back(sc);
      k.mins.push_back(mn);
    }
    Value high[8];
    if (five)
      for (int l = 0; l < 8; ++l)
        high[l] = u32(w, base, 16 + 4 * l);
    for (int pair = 0; pair < 4; ++pair) {
      Value v[8];
      for (int l = 0; l < 8; ++l)
        v[l] = u32(w, base, (five ? 48 : 16) + 32 * pair + 4 * l);
      for (int s = 2 * pair; s < 2 * pair + 2; ++s)
        for (int l = 0; l < 8; ++l) {
          Value q = e.band(e.shr(v[l], 4 * (s % 2)), 0x0F0F0F0F);
          if (five)
            q = e.bor(q, e.shl(e.band(e.shr(high[l], s), 0x01010101), 4));
          k.words.push_back(q);
        }
    }
    break;
  }
  case WeightFormat::nvfp4: {
    // Half-block b: sub-blocks 2h and 2h+1, codes in bytes 4 + 16h ...
    // (byte j of a sub-block: element j low, j + 8 high). Word l holds the
    // doubled E2M1 values of elements 4l..4l+3 of the half as signed bytes.
    auto [block, half] = nvfp4Half(row, b);
    Value codes = e.add(e.add(block, 2), e.mul(half, 8));
    auto codeWord = [&](int64_t byte) { // four code bytes from `byte` (even)
      Value lo = e.fromI16(e.load(w, e.add(codes, byte / 2)));
      Value hi = e.fromI16(e.load(w, e.add(codes, byte / 2 + 1)));
      return e.bor(lo, e.shl(hi, 16));
    };
    for (int l = 0; l < 8; ++l) {
      const int sub = l / 4, j0 = 4 * (l % 4);
      Value x = codeWord(8 * sub + j0 % 8);
      Value nibbles = e.band(j0 < 8 ? x : e.shr(x, 4), 0x0F0F0F0F);
      Value word = i32(0);
      for (int byte = 0; byte < 4; ++byte) {
        Value v = e.e2m1Doubled(e.band(e.shr(nibbles, 8 * byte), 15));
        word = e.bor(word, e.shl(e.band(v, 255), 8 * byte));
      }
      k.words.push_back(word);
    }
    break;
  }
  case WeightFormat::q6_k:
    for (int c = 0; c < 8; ++c) {
      int64_t n = c / 4, qd = c % 4;
      for (int l = 0; l < 8; ++l) {
        Value lo = e.band(
            e.shr(u32(w, base, 64 * n + 32 * (qd % 2) + 4 * l), 4 * (qd / 2)),
            0x0F0F0F0F);
        Value hi = e.band(e.shr(u32(w, base, 128 + 32 * n + 4 * l), 2 * qd),
                          0x03030303);
        k.words.push_back(e.bor(lo, e.shl(hi, 4)));
      }
    }
    for (int i = 0; i < 16; ++i) // signed 8-bit scales
      k.scales.push_back(e.shrs(e.shl(byteAt(w, base, 192 + i), 24), 24));
    break;
  default:
    llvm_unreachable("float formats take floatMatvecBody");
  }
  return k;
}

} // namespace gemmac::gpukernels::detail
