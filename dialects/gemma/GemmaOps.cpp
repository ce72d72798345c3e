//===- GemmaOps.cpp - verifiers of the gemma operations -------------------===//

#include "abi/formats.h"
#include "dialects/gemma/GemmaDialect.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/PatternMatch.h"

#include <cmath>

using namespace mlir;
using namespace gemmac::gemma;

#define GET_OP_CLASSES
#include "dialects/gemma/GemmaOps.cpp.inc"

/// I64Attr getters return uint64_t; verifiers compare signed values.
static int64_t sv(uint64_t v) { return static_cast<int64_t>(v); }

/// Features per row of a [tokens, features] activation.
static int64_t width(Value v) {
  if (auto blocks = dyn_cast<ActBlocksType>(v.getType()))
    return blocks.getCols();
  return cast<RankedTensorType>(v.getType()).getDimSize(1);
}

static LogicalResult checkWidth(Operation *op, StringRef what, int64_t got,
                                int64_t want) {
  if (ShapedType::isDynamic(got) || got == want)
    return success();
  return op->emitOpError() << what << " has " << got << " features, expected "
                           << want;
}

/// A matvec's input: f32 rows, or the int8 blocks its weight multiplies.
/// Int8 blocks as a matvec input must be the ones its weight multiplies.
static LogicalResult checkInputBlocks(Operation *op, Value input,
                                      WeightType w) {
  if (auto blocks = dyn_cast<ActBlocksType>(input.getType()))
    if (ActBlocksType::quantizerFor(w.getFormat()) != blocks.getQuantizer())
      return op->emitOpError("input ")
             << blocks << " is not what a "
             << stringifyWeightFormat(w.getFormat()) << " weight multiplies";
  return success();
}

static LogicalResult checkMatvecInput(Operation *op, Value input,
                                      WeightType w) {
  if (failed(checkInputBlocks(op, input, w)))
    return failure();
  return checkWidth(op, "input", width(input), w.getCols());
}

LogicalResult WeightDefOp::verify() {
  if (sv(getSourceOffset()) < 0)
    return emitOpError("source_offset must be non-negative");
  if (isInterleaved()) {
    WeightType t = getWeightType();
    const auto format = static_cast<gemmac::abi::Format>(t.getFormat());
    if (!gemmac::abi::hasX8Layout(format))
      return emitOpError("layout x8 exists only for q4_0 and q4_k weights, not ")
             << stringifyWeightFormat(t.getFormat());
    if (t.getRank() == 1 ||
        !gemmac::abi::isRepackedShape(format, t.getExpertRows()))
      return emitOpError("layout x8 needs a matrix with a multiple of 8 rows "
                         "(per expert)");
  }
  if (std::optional<WeightFormat> from = getWidenFrom()) {
    if ((*from != WeightFormat::f16 && *from != WeightFormat::bf16) ||
        getWeightType().getFormat() != WeightFormat::f32)
      return emitOpError("widen_from widens f16 or bf16 values into an f32 "
                         "weight, not ")
             << stringifyWeightFormat(*from) << " into "
             << stringifyWeightFormat(getWeightType().getFormat());
    if (getSrdAttr() || getGptqAttr() || getFp8BlocksAttr() ||
        getNvfp4SourceAttr())
      return emitOpError("a widened weight has no other source transform");
  }
  if (ArrayAttr parts = getPartsAttr()) {
    WeightType t = getWeightType();
    if (getSrdAttr() || getGptqAttr() || getFp8BlocksAttr() ||
        getNvfp4SourceAttr() || getWidenFrom())
      return emitOpError("a weight made of parts has no other source "
                         "transform");
    int64_t rows = 0;
    // What a part's tensors are: 0 float, 1 GPTQ, 2 NVFP4, 3 FP8 blocks; one
    // kind for all.
    int kind = 0;
    for (auto [i, a] : llvm::enumerate(parts.getAsRange<WeightPartAttr>())) {
      if (a.getRows() <= 0 || a.getSourceOffset() < 0)
        return emitOpError("part ") << i << " has " << a.getRows()
                                    << " rows at offset "
                                    << a.getSourceOffset();
      if (static_cast<bool>(a.getGptq()) + static_cast<bool>(a.getNvfp4Source()) +
              static_cast<bool>(a.getFp8Blocks()) > 1)
        return emitOpError("part ")
               << i << " has more than one of gptq, nvfp4_source, fp8_blocks";
      const int partKind = a.getGptq()          ? 1
                           : a.getNvfp4Source() ? 2
                           : a.getFp8Blocks()   ? 3
                                                : 0;
      if (i > 0 && partKind != kind)
        return emitOpError("parts must all be float, all GPTQ, all NVFP4 or "
                           "all FP8 tensors");
      kind = partKind;
      auto part = WeightType::get(getContext(), t.getFormat(),
                                  {a.getRows(), t.getCols()});
      auto partError = [&] { return emitOpError("part ") << i << ": "; };
      if (GPTQSourceAttr g = a.getGptq()) {
        if (failed(g.verifyFor(part, partError)))
          return failure();
      } else if (NVFP4SourceAttr nv = a.getNvfp4Source()) {
        if (failed(nv.verifyFor(part, partError)))
          return failure();
      } else if (FP8BlocksSourceAttr fp8 = a.getFp8Blocks()) {
        if (failed(fp8.verifyFor(part, partError)))
          return failure();
      } else if (!isFloatFormat(t.getFormat())) {
        return emitOpError("part ")
               << i << " is not GPTQ, NVFP4 or FP8, so the weight must be "
                       "f32, f16 or bf16";
      }
      rows += a.getRows();
    }
    if (rows != t.getRows())
      return emitOpError("parts hold ")
             << rows << " rows, the weight " << t.getRows();
  }
  if (SRDFoldAttr srd = getSrdAttr())
    if (failed(srd.verifyFor(getWeightType(), [&] { return emitOpError(); })))
      return failure();
  if (FP8BlocksSourceAttr fp8 = getFp8BlocksAttr()) {
    if (getSrdAttr() || getGptqAttr())
      return emitOpError("FP8 blocks cannot also be GPTQ or SRD-corrected");
    if (failed(fp8.verifyFor(getWeightType(), [&] { return emitOpError(); })))
      return failure();
  }
  if (NVFP4SourceAttr nv = getNvfp4SourceAttr()) {
    if (getSrdAttr() || getGptqAttr() || getFp8BlocksAttr())
      return emitOpError("an NVFP4 source cannot also be GPTQ, FP8 or "
                         "SRD-corrected");
    if (failed(nv.verifyFor(getWeightType(), [&] { return emitOpError(); })))
      return failure();
  }
  if (GPTQSourceAttr gptq = getGptqAttr()) {
    if (getSrdAttr())
      return emitOpError("an SRD fold cannot correct a GPTQ weight");
    if (failed(gptq.verifyFor(getWeightType(), [&] { return emitOpError(); })))
      return failure();
  }
  if (auto value = getValueAttr()) {
    int64_t n = cast<ElementsAttr>(value).getNumElements();
    if (n != getWeightType().getNumElements())
      return emitOpError("value has ")
             << n << " elements, the weight "
             << getWeightType().getNumElements();
  }
  return success();
}

LogicalResult QuantizeFP4Op::verify() {
  const float g = getGlobalScale().convertToFloat();
  if (!std::isfinite(g) || !(g > 0))
    return emitOpError("global_scale must be finite and positive");
  if (width(getInput()) % 16 != 0)
    return emitOpError("quantizes 16 features at a time; the input has ")
           << width(getInput());
  return success();
}

LogicalResult WeightOp::verifySymbolUses(SymbolTableCollection &symbolTable) {
  auto def = symbolTable.lookupNearestSymbolFrom<WeightDefOp>(*this,
                                                              getNameAttr());
  if (!def)
    return emitOpError("references unknown weight ") << getNameAttr();
  if (def.getType() != getType())
    return emitOpError("type ")
           << getType() << " does not match the definition's " << def.getType();
  return success();
}

LogicalResult EmbedOp::verify() {
  WeightType table = getTable().getType();
  if (table.getRank() != 2)
    return emitOpError("embedding table must be 2-D");
  return checkWidth(*this, "result", width(getResult()), table.getCols());
}

LogicalResult RMSNormOp::verify() {
  int64_t n = width(getInput());
  if (sv(getGroup()) <= 0 ||
      (!ShapedType::isDynamic(n) && n % sv(getGroup()) != 0))
    return emitOpError("group ") << getGroup() << " does not divide the "
                                 << n << " features";
  if (getEps().convertToFloat() < 0)
    return emitOpError("eps must be non-negative");
  if (getInput().getType() != getResult().getType())
    return emitOpError("result type must equal the input type");
  if (Value w = getWeight()) {
    auto wt = cast<WeightType>(w.getType());
    if (wt.getRank() != 1 || wt.getCols() != sv(getGroup()))
      return emitOpError("norm weight must be 1-D of ")
             << getGroup() << " elements, got " << wt;
    if (!isFloatFormat(wt.getFormat()))
      return emitOpError("norm weight must be f32, f16 or bf16");
  }
  return success();
}

LogicalResult LinearOp::verify() {
  WeightType w = getWeight().getType();
  if (w.getRank() != 2)
    return emitOpError("weight must be 2-D");
  if (failed(checkMatvecInput(*this, getInput(), w)))
    return failure();
  return checkWidth(*this, "result", width(getResult()), w.getRows());
}

LogicalResult MaskedLogitsOp::verify() {
  WeightType table = getTable().getType(), order = getOrdering().getType();
  if (table.getRank() != 2)
    return emitOpError("table must be 2-D");
  if (order.getRank() != 1 || order.getFormat() != WeightFormat::f32 ||
      order.getCols() != table.getRows())
    return emitOpError("ordering must be a 1-D f32 weight of ")
           << table.getRows() << " token ids, got " << order;
  const int64_t clusters = width(getScores()), k = sv(getTopK());
  if (ShapedType::isDynamic(clusters) || clusters <= 0 ||
      table.getRows() % clusters)
    return emitOpError("the ") << clusters << " cluster scores do not divide "
                               << table.getRows() << " tokens";
  if (k <= 0 || k > clusters)
    return emitOpError("top_k ") << k << " must be in 1.." << clusters;
  if (failed(checkWidth(*this, "input", width(getInput()), table.getCols())))
    return failure();
  return checkWidth(*this, "result", width(getResult()), table.getRows());
}

LogicalResult GeGLUOp::verify() {
  WeightType g = getGate().getType(), u = getUp().getType();
  if (g.getRank() != 2 || g.getShape() != u.getShape())
    return emitOpError("gate and up weights must be 2-D of the same shape");
  if (failed(checkMatvecInput(*this, getInput(), g)))
    return failure();
  return checkWidth(*this, "result", width(getResult()), g.getRows());
}

//===----------------------------------------------------------------------===//
// Mixture of experts
//===----------------------------------------------------------------------===//

/// Slots per token of a routing ([tokens, 2 * k]); 0 if malformed.
static int64_t slotsOf(Value routing) {
  int64_t w = width(routing);
  return ShapedType::isDynamic(w) || w <= 0 || w % 2 ? 0 : w / 2;
}

static LogicalResult checkRouting(Operation *op, Value routing) {
  if (!slotsOf(routing))
    return op->emitOpError("routing must have 2 * k features (weights, then "
                           "expert indices), got ")
           << width(routing);
  return success();
}

/// An expert weight and the slice [first, first + n) of each expert's rows.
static LogicalResult checkExpertWeight(Operation *op, StringRef what,
                                       WeightType w, int64_t first, int64_t n) {
  if (w.getRank() != 3)
    return op->emitOpError() << what << " must be 3-D [experts, rows, cols]";
  if (first < 0 || n <= 0 || first + n > w.getExpertRows())
    return op->emitOpError() << what << " rows [" << first << ", "
                             << first + n << ") exceed its "
                             << w.getExpertRows() << " rows per expert";
  return success();
}

LogicalResult ScaleColumnsOp::verify() {
  WeightType f = getFactors().getType();
  if (f.getRank() != 1 || (f.getFormat() != WeightFormat::f32 &&
                           f.getFormat() != WeightFormat::f16 &&
                           f.getFormat() != WeightFormat::bf16))
    return emitOpError("factors must be a 1-D f32, f16 or bf16 weight, got ")
           << f;
  return checkWidth(*this, "input", width(getInput()), f.getCols());
}

LogicalResult MoERouteOp::verify() {
  const int64_t k = sv(getNumUsed()), e = width(getLogits());
  if (k <= 0 || (!ShapedType::isDynamic(e) && k > e))
    return emitOpError("num_used ") << k << " must be in 1.." << e
                                    << " (the experts)";
  return checkWidth(*this, "routing", width(getRouting()), 2 * k);
}

bool ExpertLinearOp::isPerSlot() {
  const int64_t k = slotsOf(getRouting());
  return k > 1 && width(getInput()) == k * getWeight().getType().getCols();
}

LogicalResult ExpertLinearOp::verify() {
  WeightType w = getWeight().getType();
  if (failed(checkRouting(*this, getRouting())) ||
      failed(checkExpertWeight(*this, "weight", w, sv(getFirstRow()),
                               sv(getNumRows()))))
    return failure();
  if (failed(checkInputBlocks(*this, getInput(), w)))
    return failure();
  const int64_t k = slotsOf(getRouting()), in = width(getInput());
  if (in != w.getCols() && in != k * w.getCols())
    return emitOpError("input has ")
           << in << " features, expected " << w.getCols() << " (per token) or "
           << k * w.getCols() << " (per slot)";
  return checkWidth(*this, "result", width(getResult()), k * sv(getNumRows()));
}

LogicalResult ExpertGeGLUOp::verify() {
  WeightType g = getGate().getType(), u = getUp().getType();
  if (failed(checkRouting(*this, getRouting())) ||
      failed(checkExpertWeight(*this, "gate", g, sv(getGateFirstRow()),
                               sv(getNumRows()))) ||
      failed(checkExpertWeight(*this, "up", u, sv(getUpFirstRow()),
                               sv(getNumRows()))))
    return failure();
  if (g.getFormat() != u.getFormat() || g.getCols() != u.getCols() ||
      g.getExperts() != u.getExperts())
    return emitOpError("gate and up must have the same format, experts and "
                       "columns");
  const int64_t k = slotsOf(getRouting());
  if (failed(checkMatvecInput(*this, getInput(), g)))
    return failure();
  return checkWidth(*this, "result", width(getResult()), k * sv(getNumRows()));
}

LogicalResult ExpertScaleOp::verify() {
  WeightType s = getScales().getType();
  if (failed(checkRouting(*this, getRouting())))
    return failure();
  if (s.getRank() != 1 || (s.getFormat() != WeightFormat::f32 &&
                           s.getFormat() != WeightFormat::f16 &&
                           s.getFormat() != WeightFormat::bf16))
    return emitOpError("scales must be a 1-D f32, f16 or bf16 weight, got ")
           << s;
  const int64_t k = slotsOf(getRouting()), in = width(getInput());
  if (!ShapedType::isDynamic(in) && in % k)
    return emitOpError("input has ") << in << " features, not k = " << k
                                     << " slots' rows";
  return success();
}

LogicalResult MoECombineOp::verify() {
  if (failed(checkRouting(*this, getRouting())))
    return failure();
  const int64_t k = slotsOf(getRouting());
  return checkWidth(*this, "input", width(getInput()),
                    k * width(getResult()));
}

/// The checks gemma.rope and gemma.rms_norm_rope share: heads, widths and
/// the rotated frequencies.
template <typename RopeLikeOp> static LogicalResult verifyRope(RopeLikeOp op) {
  if (sv(op.getNumHeads()) <= 0 || sv(op.getHeadDim()) <= 0 ||
      op.getHeadDim() % 2 != 0)
    return op.emitOpError("needs positive num_heads and an even head_dim");
  if (failed(checkWidth(op, "input", width(op.getInput()),
                        op.getNumHeads() * op.getHeadDim())))
    return failure();
  if (op.getInput().getType() != op.getResult().getType())
    return op.emitOpError("result type must equal the input type");
  if (op.getRope().getFreqDim() > sv(op.getHeadDim()))
    return op.emitOpError("rope freq_dim ")
           << op.getRope().getFreqDim() << " exceeds the head dim "
           << op.getHeadDim();
  return success();
}

LogicalResult RopeOp::verify() { return verifyRope(*this); }

LogicalResult AttentionOp::verify() {
  int64_t nh = getNumHeads(), nkv = getNumKvHeads(), hd = getHeadDim();
  if (nh <= 0 || nkv <= 0 || hd <= 0)
    return emitOpError("needs positive num_heads, num_kv_heads and head_dim");
  if (nh % nkv != 0)
    return emitOpError("num_heads ") << nh << " is not a multiple of num_kv_heads "
                                     << nkv;
  if (sv(getWindow()) < 0 || sv(getKvCache()) < 0 || sv(getLayer()) < 0)
    return emitOpError("window, kv_cache and layer must be non-negative");
  if (failed(checkWidth(*this, "q", width(getQ()), nh * hd)) ||
      failed(checkWidth(*this, "k", width(getK()), nkv * hd)) ||
      failed(checkWidth(*this, "v", width(getV()), nkv * hd)) ||
      failed(checkWidth(*this, "result", width(getResult()), nh * hd)))
    return failure();
  return success();
}

LogicalResult CachedAttentionOp::verify() {
  int64_t nh = getNumHeads(), nkv = getNumKvHeads(), hd = getHeadDim();
  if (nh <= 0 || nkv <= 0 || hd <= 0 || nh % nkv != 0)
    return emitOpError("needs positive num_heads, num_kv_heads and head_dim, "
                       "num_heads a multiple of num_kv_heads");
  if (sv(getWindow()) < 0 || sv(getKvCache()) < 0)
    return emitOpError("window and kv_cache must be non-negative");
  if (failed(checkWidth(*this, "q", width(getQ()), nh * hd)) ||
      failed(checkWidth(*this, "result", width(getResult()), nh * hd)))
    return failure();
  return success();
}

LogicalResult ConcatColumnsOp::verify() {
  if (failed(checkWidth(*this, "result", width(getResult()),
                        width(getLhs()) + width(getRhs()))))
    return failure();
  return success();
}

LogicalResult KVStoreOp::verify() {
  if (getK().getType() != getV().getType())
    return emitOpError("k and v must have the same type");
  if (sv(getKvCache()) < 0)
    return emitOpError("kv_cache must be non-negative");
  return success();
}

LogicalResult ScaleByWeightOp::verify() {
  WeightType f = getFactor().getType();
  // F16 and BF16 factors (a Hugging Face checkpoint's layer_scalar) are
  // folded to their value at import; the lowerings load only F32 ones.
  if (f.getNumElements() != 1 ||
      (f.getFormat() != WeightFormat::f32 && f.getFormat() != WeightFormat::f16 &&
       f.getFormat() != WeightFormat::bf16))
    return emitOpError("factor must be a one-element f32, f16 or bf16 weight, "
                       "got ")
           << f;
  if (getInput().getType() != getResult().getType())
    return emitOpError("result type must equal the input type");
  return success();
}

LogicalResult SoftcapOp::verify() {
  if (getCap().convertToFloat() <= 0)
    return emitOpError("cap must be positive");
  return success();
}

LogicalResult ColumnSliceOp::verify() {
  int64_t n = width(getInput());
  if (sv(getOffset()) < 0 || sv(getSize()) <= 0 ||
      (!ShapedType::isDynamic(n) &&
       sv(getOffset() + getSize()) > n))
    return emitOpError("slice [")
           << getOffset() << ", " << getOffset() + getSize()
           << ") is outside the " << n << " features";
  return checkWidth(*this, "result", width(getResult()), getSize());
}

//===----------------------------------------------------------------------===//
// Canonicalization: folds that give the same bits as the unfolded form.
//===----------------------------------------------------------------------===//

/// True when f is a power of two: multiplying by it is exact (barring
/// overflow), so (x*a)*f == x*(a*f) and the two scales may merge.
static bool isPowerOfTwo(float f) {
  int exp;
  return f != 0 && std::isfinite(f) && std::fabs(std::frexp(f, &exp)) == 0.5f;
}

/// a*b in f32, if merging the two multiplications changes no result.
static std::optional<float> exactProduct(float a, float b) {
  if (!isPowerOfTwo(a) && !isPowerOfTwo(b))
    return std::nullopt;
  float p = a * b;
  if (!std::isfinite(p) || p == 0 || !std::isnormal(p))
    return std::nullopt;
  return p;
}

OpFoldResult ScaleOp::fold(FoldAdaptor) {
  if (getFactor().convertToFloat() == 1.0f)
    return getInput();
  return {};
}

namespace {
/// scale(scale(x, a), b) -> scale(x, a*b) when exact.
struct MergeScales : public OpRewritePattern<ScaleOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ScaleOp op,
                                PatternRewriter &rewriter) const override {
    auto inner = op.getInput().getDefiningOp<ScaleOp>();
    if (!inner || !inner->hasOneUse())
      return failure();
    auto p = exactProduct(inner.getFactor().convertToFloat(),
                          op.getFactor().convertToFloat());
    if (!p)
      return failure();
    rewriter.replaceOpWithNewOp<ScaleOp>(op, inner.getInput(),
                                         rewriter.getF32FloatAttr(*p));
    rewriter.eraseOp(inner);
    return success();
  }
};

/// scale(embed(t, s), f) -> embed(t, s*f) when exact.
struct ScaleIntoEmbed : public OpRewritePattern<ScaleOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ScaleOp op,
                                PatternRewriter &rewriter) const override {
    auto embed = op.getInput().getDefiningOp<EmbedOp>();
    if (!embed || !embed->hasOneUse())
      return failure();
    auto p = exactProduct(embed.getScale().convertToFloat(),
                          op.getFactor().convertToFloat());
    if (!p)
      return failure();
    rewriter.replaceOpWithNewOp<EmbedOp>(op, op.getType(), embed.getTokens(),
                                         embed.getTable(),
                                         rewriter.getF32FloatAttr(*p));
    rewriter.eraseOp(embed);
    return success();
  }
};

/// scale_by_weight(x, w) -> scale(x, value of w) when the value is known.
struct KnownWeightScale : public OpRewritePattern<ScaleByWeightOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ScaleByWeightOp op,
                                PatternRewriter &rewriter) const override {
    auto w = op.getFactor().getDefiningOp<WeightOp>();
    if (!w)
      return failure();
    auto def = SymbolTable::lookupNearestSymbolFrom<WeightDefOp>(
        op, w.getNameAttr());
    if (!def || !def.getValueAttr())
      return failure();
    float value = cast<DenseFPElementsAttr>(def.getValueAttr())
                      .getValues<float>()[0];
    rewriter.replaceOpWithNewOp<ScaleOp>(op, op.getInput(),
                                         rewriter.getF32FloatAttr(value));
    return success();
  }
};
} // namespace

void ScaleOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                          MLIRContext *context) {
  results.add<MergeScales, ScaleIntoEmbed>(context);
}

void ScaleByWeightOp::getCanonicalizationPatterns(RewritePatternSet &results,
                                                  MLIRContext *context) {
  results.add<KnownWeightScale>(context);
}

//===----------------------------------------------------------------------===//
// Activation blocks and the fused operations
//===----------------------------------------------------------------------===//

std::optional<ActQuantizer> ActBlocksType::quantizerFor(WeightFormat format) {
  // abi/formats.def's actQuant column; the enums agree (WeightFormat.cpp).
  gemmac::abi::ActQuant q =
      gemmac::abi::activationQuant(static_cast<gemmac::abi::Format>(format));
  if (q == gemmac::abi::ActQuant::None)
    return std::nullopt;
  return static_cast<ActQuantizer>(q);
}

LogicalResult
ActBlocksType::verify(function_ref<InFlightDiagnostic()> emitError,
                      ActQuantizer quantizer, int64_t cols) {
  if (cols <= 0 || cols % blockElems(quantizer) != 0)
    return emitError() << stringifyActQuantizer(quantizer)
                       << " blocks need a positive multiple of "
                       << blockElems(quantizer) << " columns, got " << cols;
  return success();
}

/// An RMSNorm's optional weight: 1-D of `group` float elements.
static LogicalResult checkNormWeight(Operation *op, Value weight, int64_t group,
                                     FloatAttr eps) {
  if (eps.getValueAsDouble() < 0)
    return op->emitOpError("eps must be non-negative");
  if (!weight)
    return success();
  auto wt = cast<WeightType>(weight.getType());
  if (wt.getRank() != 1 || wt.getCols() != group)
    return op->emitOpError("norm weight must be 1-D of ")
           << group << " elements, got " << wt;
  if (!isFloatFormat(wt.getFormat()))
    return op->emitOpError("norm weight must be f32, f16 or bf16");
  return success();
}

LogicalResult QuantizeActivationOp::verify() {
  return checkWidth(*this, "input", width(getInput()),
                    getResult().getType().getCols());
}

LogicalResult RMSNormQuantizeOp::verify() {
  if (getInput().getType() != getResult().getType())
    return emitOpError("result type must equal the input type");
  int64_t n = width(getInput());
  if (ShapedType::isDynamic(n))
    return emitOpError("needs a static row width");
  if (failed(checkWidth(*this, "blocks", getBlocks().getType().getCols(), n)))
    return failure();
  return checkNormWeight(*this, getWeight(), n, getEpsAttr());
}

LogicalResult RMSNormAddOp::verify() {
  if (getInput().getType() != getResult().getType() ||
      getResidual().getType() != getResult().getType())
    return emitOpError("input, residual and result types must be equal");
  int64_t n = width(getInput());
  if (ShapedType::isDynamic(n))
    return emitOpError("needs a static row width");
  return checkNormWeight(*this, getWeight(), n, getEpsAttr());
}

LogicalResult RMSNormRopeOp::verify() {
  if (failed(verifyRope(*this)))
    return failure();
  return checkNormWeight(*this, getWeight(), sv(getHeadDim()), getEpsAttr());
}
