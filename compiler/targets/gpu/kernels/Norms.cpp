//===- Norms.cpp - RMSNorm kernels and RoPE -------------------------------===//
//
// RMSNorm as llama.cpp computes it, alone or with what the fusions put in
// its kernel: the int8 blocks of its output, a residual add and layer scale
// after it, or (per head) the RoPE that reads it.
//
//===----------------------------------------------------------------------===//

#include "compiler/targets/gpu/kernels/KernelBuilder.h"

#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace gemmac::gemma;
using namespace gemmac::gpukernels::detail;

namespace gemmac::gpukernels {

/// RMSNorm of the `group` values at x[base...] as llama.cpp computes it:
/// the squares (rounded to f32) summed in double (through the f64
/// workgroup buffer `scratch`), the mean rounded to f32, scale =
/// 1/sqrtf(mean + eps); returns i -> (x[base + i] * scale) * w[i].
std::function<Value(Value)>
detail::rmsNormed(Emitter &e, Value x, Value base, int64_t group, Value w,
          std::optional<WeightFormat> weight, float eps, Value scratch) {
  Value tid = e.threadId();
  Value partial =
      e.loop(tid, e.idx(group), e.idx(kWG), {e.f64(0.0)},
             [&](Value i, ValueRange acc) -> SmallVector<Value> {
               Value xi = e.load(x, e.add(base, i));
               return {e.fadd(acc[0], e.toF64(e.fmul(xi, xi)))};
             })[0];
  Value sum = e.reduceF64(partial, scratch, tid);
  Value mean = e.toF32(e.fdiv(sum, e.f64(static_cast<double>(group))));
  Value scale = e.fdiv(e.f32(1.0f),
                       math::SqrtOp::create(e.b, e.fadd(mean, e.f32(eps))));
  return [&e, x, base, scale, w, weight, group](Value i) {
    Value y = e.fmul(e.load(x, e.add(base, i)), scale);
    if (weight)
      y = e.fmul(y, e.weightAt(*weight, w, e.idx(0), i, group));
    return y;
  };
}

std::string KernelLibrary::rmsNorm(int64_t width, int64_t group,
                                   std::optional<WeightFormat> weight,
                                   float eps, ActQuant quantizeAs) {
  const bool quantize = quantizeAs != ActQuant::None;
  assert((!quantize || group == width) && "quantizing needs whole rows");
  std::string name = llvm::formatv(
      "rms_norm_{0}_g{1}_{2}{3}{4}", width, group, normTag(weight, eps),
      quantize ? "_" : "", quantize ? actQuantName(quantizeAs) : "");
  KernelBuilder kb{module, target};
  if (kb.exists(name))
    return name;
  SmallVector<Type> args = kb.normArgs(width, weight, group);
  if (quantize) {
    args.push_back(kb.actQuants(width));
    args.push_back(kb.actAux(quantizeAs, width));
  }
  kb.build(
      name, args, 0, 0,
      [&](Emitter &e, ValueRange a, ValueRange shared) {
        Value g = e.blockId(mgpu::Dimension::x);
        Value t = e.blockId(mgpu::Dimension::y);
        Value tid = e.threadId();
        Value base = e.add(e.mul(t, width), e.mul(g, group));
        auto normed = rmsNormed(e, a[0], base, group, weight ? a[2] : Value(),
                                weight, eps, shared.back());
        e.loop(tid, e.idx(group), e.idx(kWG), [&](Value i) {
          e.store(normed(i), a[1], e.add(base, i));
        });
        if (!quantize)
          return;
        // The quantizer of the matvecs that read y, fused: a thread per
        // block recomputes the block's outputs (the same operations, so the
        // same bits) rather than reading back what other threads stored.
        const int64_t be = actBlockElems(quantizeAs);
        const int64_t blocks = width / be, per = actAuxPerBlock(quantizeAs);
        // (Not a.take_back: on NVVM `a` ends with the workgroup buffers.)
        ValueRange out = a.slice(weight ? 3 : 2, 2);
        e.loop(tid, e.idx(blocks), e.idx(kWG), [&](Value blk) {
          Value first = e.mul(blk, be);
          quantizeBlock(
              e, quantizeAs, [&](Value i) { return normed(e.add(first, i)); },
              out[0], out[1], e.add(base, first),
              e.mul(e.add(e.mul(t, blocks), blk), per));
        });
      },
      /*f64Scratch=*/true);
  return name;
}

std::string KernelLibrary::rmsNormAdd(int64_t width,
                                      std::optional<WeightFormat> weight,
                                      float eps, NormEpilogue epilogue) {
  std::string name = llvm::formatv(
      "rms_norm_{0}_{1}_add{2}{3}", width, normTag(weight, eps),
      epilogue.scale ? "_scale_c" : "",
      epilogue.scale ? bitsOf(*epilogue.scale) : std::string());
  KernelBuilder kb{module, target};
  if (kb.exists(name))
    return name;
  SmallVector<Type> args = kb.normArgs(width, weight, width);
  args.push_back(kb.f32Buf(kMaxBatch * width));
  // The add and scale kernels' operations, on the norm's values.
  kb.build(
      name, args, 0, 0,
      [&](Emitter &e, ValueRange a, ValueRange shared) {
        Value t = e.blockId(mgpu::Dimension::y);
        Value base = e.mul(t, width);
        auto normed = rmsNormed(e, a[0], base, width, weight ? a[2] : Value(),
                                weight, eps, shared.back());
        Value residual = a[weight ? 3 : 2];
        e.loop(e.threadId(), e.idx(width), e.idx(kWG), [&](Value i) {
          Value y = e.fadd(normed(i), e.load(residual, e.add(base, i)));
          if (epilogue.scale)
            y = e.fmul(y, e.f32(*epilogue.scale));
          e.store(y, a[1], e.add(base, i));
        });
      },
      /*f64Scratch=*/true);
  return name;
}

std::string KernelLibrary::rope(int64_t heads, int64_t headDim,
                                int64_t freqDim, int64_t rotatedPairs,
                                std::optional<HeadNorm> norm) {
  std::string name = llvm::formatv("rope_h{0}_d{1}_f{2}_p{3}", heads, headDim,
                                   freqDim, rotatedPairs);
  if (norm)
    name = llvm::formatv("rms_norm_{0}_{1}_{2}", headDim,
                         normTag(norm->weight, norm->eps), name);
  KernelBuilder kb{module, target};
  if (kb.exists(name))
    return name;
  const int64_t width = heads * headDim, half = freqDim / 2;
  SmallVector<Type> args = {kb.f32Buf(kMaxBatch * width),
                            kb.f32Buf(kMaxBatch * width), kb.params(),
                            kb.f32Buf(int64_t(1) << 30)};
  if (norm && norm->weight)
    args.push_back(kb.weightBuf(*norm->weight, headDim));
  // The angles' cos and sin come from a table the runtime fills with the
  // host's sincosf (as llama.cpp computes them): [position][pair] (cos, sin).
  kb.build(name, args, 0, 0,
           [&](Emitter &e, ValueRange a, ValueRange shared) {
             Value h = e.blockId(mgpu::Dimension::x);
             Value t = e.blockId(mgpu::Dimension::y);
             Value tid = e.threadId();
             Value base = e.add(e.mul(t, width), e.mul(h, headDim));
             Value pos = rowPosition(e, a[2], t);
             Value rowBase = e.mul(pos, 2 * rotatedPairs);
             // The head's input element i: x, or (fused) its RMSNorm, which
             // every thread recomputes for the elements it reads.
             std::function<Value(Value)> in = [&](Value i) {
               return e.load(a[0], e.add(base, i));
             };
             if (norm)
               in = rmsNormed(e, a[0], base, headDim,
                              norm->weight ? a[4] : Value(), norm->weight,
                              norm->eps, shared.back());
             // Thread pairs: element j with j + half for j < rotatedPairs.
             e.loop(tid, e.idx(rotatedPairs), e.idx(kWG), [&](Value j) {
               Value c = e.load(a[3], e.add(rowBase, e.mul(j, 2)));
               Value sn = e.load(a[3], e.add(e.add(rowBase, e.mul(j, 2)), 1));
               Value x0 = in(j);
               Value x1 = in(e.add(j, half));
               e.store(e.fma(x0, c, arith::NegFOp::create(e.b, e.fmul(x1, sn))),
                       a[1], e.add(base, j));
               e.store(e.fma(x0, sn, e.fmul(x1, c)), a[1],
                       e.add(base, e.add(j, half)));
             });
             // Everything else is copied.
             e.loop(tid, e.idx(headDim), e.idx(kWG), [&](Value i) {
               Value j = e.rem(i, half);
               Value rotated = arith::AndIOp::create(
                   e.b, e.ult(i, e.idx(freqDim)),
                   e.ult(j, e.idx(rotatedPairs)));
               e.when(arith::XOrIOp::create(
                          e.b, rotated,
                          arith::ConstantIntOp::create(e.b, 1, 1)),
                      [&] { e.store(in(i), a[1], e.add(base, i)); });
             });
           },
           /*f64Scratch=*/norm.has_value());
  return name;
}

} // namespace gemmac::gpukernels
