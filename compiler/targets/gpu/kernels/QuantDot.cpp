//===- QuantDot.cpp - quantized weight x int8 blocks ----------------------===//
//
// The integer terms of a block and the f32 chains they feed, with exactly
// the operations of runtime/kernels/dot_reference.h.
//
//===----------------------------------------------------------------------===//

#include "compiler/targets/gpu/kernels/QuantDot.h"

namespace gemmac::gpukernels::detail {

/// Block b's integer terms for token t.
SmallVector<Value> QuantDot::terms(const Block &k, Value t, Value b) {
  auto dot = [&](int64_t word, Value acc) {
    return e.dot4(k.words[word], actWord(t, b, word), acc);
  };
  SmallVector<Value> out;
  switch (kind) {
  case Lanes32:
  case Lanes32Affine: // lane l: quants 4l..4l+3
  case LanesNVFP4:    // of the half-block (one Q8_0 block)
    for (int l = 0; l < 8; ++l)
      out.push_back(dot(l, i32(0)));
    break;
  case ChainQ4_0: {
    Value sum = i32(0);
    for (int l = 0; l < 8; ++l)
      sum = dot(l, sum);
    out.push_back(sum);
    break;
  }
  case GemmQ4_K: { // scaled sums of sub-block pairs, then minimums
    Value sub[8];
    for (int s = 0; s < 8; ++s) {
      sub[s] = i32(0);
      for (int l = 0; l < 8; ++l)
        sub[s] = dot(8 * s + l, sub[s]);
    }
    for (int p = 0; p < 4; ++p)
      out.push_back(e.iadd(e.imul(k.scales[2 * p], sub[2 * p]),
                           e.imul(k.scales[2 * p + 1], sub[2 * p + 1])));
    for (int p = 0; p < 4; ++p) {
      Value bs0 = e.iadd(bsum(t, b, 4 * p), bsum(t, b, 4 * p + 1));
      Value bs1 = e.iadd(bsum(t, b, 4 * p + 2), bsum(t, b, 4 * p + 3));
      out.push_back(e.iadd(e.imul(bs0, k.mins[2 * p]),
                           e.imul(bs1, k.mins[2 * p + 1])));
    }
    break;
  }
  case LanesK: // lane l: sum over sub-blocks of scale * (4 products)
    for (int l = 0; l < 8; ++l) {
      Value sum = i32(0);
      for (int s = 0; s < 8; ++s)
        sum = e.iadd(sum, e.imul(k.scales[s], dot(8 * s + l, i32(0))));
      out.push_back(sum);
    }
    break;
  case LanesQ6_K: // the -32 through the activation sums
    for (int l = 0; l < 8; ++l) {
      Value sum = i32(0);
      for (int c = 0; c < 8; ++c)
        sum = e.iadd(sum, e.imul(k.scales[2 * c + (l >= 4 ? 1 : 0)],
                                 dot(8 * c + l, i32(0))));
      Value corr = e.iadd(e.imul(bsum(t, b, 2 * l), k.scales[2 * l]),
                          e.imul(bsum(t, b, 2 * l + 1), k.scales[2 * l + 1]));
      out.push_back(e.sub(sum, e.imul(corr, 32)));
    }
    break;
  }
  return out;
}

/// The f32 chains after block b of token t (terms `T`).
SmallVector<Value> QuantDot::step(Value w, Value row, Value t, Value b,
                        ArrayRef<Value> T, ValueRange acc) {
  Value base = blockWord(row, b);
  SmallVector<Value> next(acc.begin(), acc.end());
  switch (kind) {
  case Lanes32:
  case Lanes32Affine: {
    if (kind == Lanes32Affine)
      next[8] = e.fadd(acc[8], e.fmul(f16At(w, base, 2), auxAt(t, b, 1)));
    Value d = e.fmul(f16At(w, base, 0), auxAt(t, b, 0));
    for (int l = 0; l < 8; ++l)
      next[l] = e.fma(d, e.sitofp(T[l]), acc[l]);
    break;
  }
  case ChainQ4_0: {
    Value d = e.fmul(f16At(w, base, 0), auxAt(t, b, 0));
    next[0] = e.fma(e.sitofp(T[0]), d, acc[0]);
    break;
  }
  case GemmQ4_K: {
    Value ad = auxAt(t, b, 0);
    Value D = e.fmul(f16At(w, base, 0), ad);
    Value Dm = e.fmul(f16At(w, base, 2), ad);
    for (int p = 0; p < 4; ++p) {
      next[0] = e.fma(e.sitofp(T[p]), D, next[0]);
      next[1] = e.fma(e.sitofp(T[4 + p]), Dm, next[1]);
    }
    break;
  }
  case LanesK: {
    Value ad = auxAt(t, b, 0);
    Value d = e.fmul(ad, f16At(w, base, 0));
    Value dmin =
        arith::NegFOp::create(e.b, e.fmul(ad, f16At(w, base, 2)));
    Value P[4];
    for (int p = 0; p < 4; ++p) {
      Value bs0 = e.iadd(bsum(t, b, 4 * p), bsum(t, b, 4 * p + 1));
      Value bs1 = e.iadd(bsum(t, b, 4 * p + 2), bsum(t, b, 4 * p + 3));
      P[p] = e.iadd(e.imul(scaleMin(w, base, 2 * p).second, bs0),
                    e.imul(scaleMin(w, base, 2 * p + 1).second, bs1));
    }
    if (format == WeightFormat::q5_k) {
      Value all = e.iadd(e.iadd(e.iadd(P[0], P[1]), P[2]), P[3]);
      next[8] = e.fma(e.sitofp(all), dmin, acc[8]);
    } else {
      for (int p = 0; p < 4; ++p)
        next[8 + p] = e.fma(dmin, e.sitofp(P[p]), acc[8 + p]);
    }
    for (int l = 0; l < 8; ++l)
      next[l] = e.fma(d, e.sitofp(T[l]), acc[l]);
    break;
  }
  case LanesQ6_K: {
    Value d = e.fmul(auxAt(t, b, 0), f16At(w, base, 208));
    for (int l = 0; l < 8; ++l)
      next[l] = e.fma(d, e.sitofp(T[l]), acc[l]);
    break;
  }
  case LanesNVFP4: {
    // Lanes 0-3 take sub-block 2h's scale, 4-7 sub-block 2h+1's, each
    // times the Q8_0 block's d (scale bytes 2h, 2h+1: word h of the block).
    auto [block, half] = nvfp4Half(row, b);
    Value pair = e.fromI16(e.load(w, e.add(block, half)));
    Value dy = auxAt(t, b, 0);
    Value lo = e.fmul(e.ue4m3(e.band(pair, 255)), dy);
    Value hi = e.fmul(e.ue4m3(e.shr(pair, 8)), dy);
    for (int l = 0; l < 8; ++l)
      next[l] = e.fma(l < 4 ? lo : hi, e.sitofp(T[l]), acc[l]);
    break;
  }
  }
  return next;
}

/// The row's dot product from its accumulators.
Value QuantDot::finish(ArrayRef<Value> acc) {
  switch (kind) {
  case ChainQ4_0:
    return acc[0];
  case GemmQ4_K:
    return e.fsub(acc[0], acc[1]);
  case Lanes32Affine:
  case LanesK: {
    Value sum = hsum8(e, acc.take_front(8));
    if (acc.size() == 9)
      return e.fadd(sum, acc[8]);
    return e.fadd(sum, e.fadd(e.fadd(acc[8], acc[10]),
                              e.fadd(acc[9], acc[11])));
  }
  default:
    return hsum8(e, acc.take_front(8));
  }
}

} // namespace gemmac::gpukernels::detail
