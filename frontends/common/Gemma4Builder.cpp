//===- Gemma4Builder.cpp - Gemma 4 config + weights -> gemma IR -----------===//
//
// Emits the model in its unfused form (separate gate/up linears, GELU, mul),
// so that fusion and specialization are passes with tests of their own.

#include "frontends/common/Gemma4Builder.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "llvm/ADT/ScopeExit.h"
#include "llvm/Support/FormatVariadic.h"

#include <cmath>

using namespace mlir;
using namespace gemmac;
using namespace gemmac::gemma;

namespace {

/// Tags every op created while a decoder layer is built with its index
/// (gemma.layer): passes read the layer from the attribute, not the location.
struct LayerTagger : OpBuilder::Listener {
  std::optional<int64_t> layer;
  void notifyOperationInserted(Operation *op,
                               OpBuilder::InsertPoint) override {
    if (layer && !isa<WeightDefOp>(op))
      gemmaDialect(op->getContext())
          ->getLayerAttrHelper()
          .setAttr(op, IntegerAttr::get(IntegerType::get(op->getContext(), 64),
                                        *layer));
  }
};

class ModuleBuilder {
public:
  ModuleBuilder(MLIRContext &ctx, const Gemma4Config &cfg, const WeightSource &ws,
          StringRef path)
      : ctx(ctx), cfg(cfg), ws(ws), b(&ctx, &layerTagger), path(path.str()),
        fileLoc(FileLineColLoc::get(&ctx, path, 0, 0)) {}

  llvm::Expected<OwningOpRef<ModuleOp>> build();
  /// The drafter's function, added to the target's `module` (this builder's
  /// config and weights are the drafter's).
  llvm::Error buildDraft(ModuleOp module, const Gemma4Config &target);

private:
  RankedTensorType act(int64_t width) {
    return RankedTensorType::get({ShapedType::kDynamic, width},
                                 b.getF32Type());
  }
  Location locFor(const Twine &name) {
    return NameLoc::get(b.getStringAttr(name), fileLoc);
  }

  /// A weight handle: declares it once at module level, references it here.
  llvm::Expected<Value> weight(StringRef name, ArrayRef<int64_t> shape);
  llvm::Expected<Value> optionalWeight(StringRef name, ArrayRef<int64_t> shape,
                                       bool &present);

  Value rmsNorm(Value x, Value w, int64_t group) {
    return RMSNormOp::create(b, loc,
                             x.getType(), x, w, b.getF32FloatAttr(cfg.rmsEps),
                             b.getI64IntegerAttr(group));
  }
  Value linear(Value x, Value w) {
    auto wt = cast<WeightType>(w.getType());
    return LinearOp::create(b, loc, act(wt.getRows()), x, w);
  }
  Value add(Value a, Value c) { return AddOp::create(b, loc, a, c); }
  Value mul(Value a, Value c) { return MulOp::create(b, loc, a, c); }
  Value scale(Value x, float f) {
    return ScaleOp::create(b, loc, x, b.getF32FloatAttr(f));
  }
  Value gelu(Value x) {
    return GeluOp::create(b, loc, x,
                          GeluApproxAttr::get(&ctx, GeluApprox::tanh));
  }

  llvm::Error buildLayer(int64_t l, Value &h, Value ple, Value pos0,
                         std::vector<std::pair<Value, Value>> &layerKV);
  llvm::Error buildDraftLayer(int64_t l, Value &h, Value pos0);
  /// x times weight `name`.weight, times its output scale where the
  /// checkpoint has one (NVFP4's per-tensor weight_scale_2, "<name>.scale"
  /// in GGUF): llama.cpp multiplies the product by it (build_lora_mm).
  llvm::Expected<Value> projectWeight(Value x, const std::string &name,
                                      ArrayRef<int64_t> shape);
  /// h + post_ffw_norm(GeGLU MLP(ffn_norm(h))) of layer l: the dense MLP
  /// with its sandwich norms (experts, when the layer has them, beside it).
  llvm::Error addMLP(int64_t l, Value &h);
  llvm::Expected<Value> buildExperts(int64_t l, Value r);

  MLIRContext &ctx;
  const Gemma4Config &cfg;
  const WeightSource &ws;
  LayerTagger layerTagger;
  OpBuilder b;
  std::string path;
  Location fileLoc;
  Location loc = UnknownLoc::get(&ctx);
  ModuleOp module;
  llvm::StringMap<WeightDefOp> defs;
  // The drafter's weights: symbols "draft." + their checkpoint name, read
  // from the second checkpoint (source_file 1).
  std::string symbolPrefix;
  int64_t sourceFile = 0;
};

llvm::Expected<Value> ModuleBuilder::weight(StringRef name,
                                      ArrayRef<int64_t> shape) {
  auto ref = ws.get(name, shape);
  if (!ref)
    return ref.takeError();
  auto type = WeightType::get(&ctx, ref->format, ref->shape);
  const std::string symbol = symbolPrefix + name.str();
  auto it = defs.find(symbol);
  if (it == defs.end()) {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(module.getBody(), std::prev(module.getBody()->end()));
    auto def = WeightDefOp::create(b, locFor(name), b.getStringAttr(symbol),
                                   TypeAttr::get(type),
                                   b.getI64IntegerAttr(ref->offset),
                                   IntegerAttr(), WeightLayoutAttr(),
                                   DenseFPElementsAttr());
    if (sourceFile)
      def.setSourceFileAttr(b.getI64IntegerAttr(sourceFile));
    if (ref->scalar)
      def.setValueAttr(DenseFPElementsAttr::get(
          RankedTensorType::get({1}, b.getF32Type()), {*ref->scalar}));
    if (!ref->values.empty())
      def.setValueAttr(DenseFPElementsAttr::get(
          RankedTensorType::get({static_cast<int64_t>(ref->values.size())},
                                b.getF32Type()),
          llvm::ArrayRef<float>(ref->values)));
    if (ref->fp8Scales)
      def.setFp8BlocksAttr(
          FP8BlocksSourceAttr::get(&ctx, *ref->fp8Scales, ref->fp8Block));
    if (ref->nvfp4Scales)
      def.setNvfp4SourceAttr(NVFP4SourceAttr::get(&ctx, *ref->nvfp4Scales));
    if (ref->inputScale)
      def.setInputScaleAttr(b.getF32FloatAttr(*ref->inputScale));
    if (ref->widenFrom)
      def.setWidenFromAttr(WeightFormatAttr::get(&ctx, *ref->widenFrom));
    auto gptqAttr = [&](const GPTQRef &q) {
      return GPTQSourceAttr::get(&ctx, q.qzeros, q.scales, q.gIdx, q.group,
                                 q.zeroOffset, q.symmetric, q.blockUniform);
    };
    if (const std::optional<GPTQRef> &q = ref->gptq)
      def.setGptqAttr(gptqAttr(*q));
    if (!ref->parts.empty()) {
      SmallVector<Attribute> parts;
      for (const WeightRef &p : ref->parts)
        parts.push_back(WeightPartAttr::get(
            &ctx, p.offset, p.shape[0],
            p.gptq ? gptqAttr(*p.gptq) : GPTQSourceAttr(),
            p.nvfp4Scales ? NVFP4SourceAttr::get(&ctx, *p.nvfp4Scales)
                          : NVFP4SourceAttr(),
            p.fp8Scales
                ? FP8BlocksSourceAttr::get(&ctx, *p.fp8Scales, p.fp8Block)
                : FP8BlocksSourceAttr()));
      def.setPartsAttr(b.getArrayAttr(parts));
    }
    it = defs.try_emplace(symbol, def).first;
  }
  return WeightOp::create(b, loc, type, FlatSymbolRefAttr::get(&ctx, symbol))
      .getResult();
}

llvm::Expected<Value> ModuleBuilder::optionalWeight(StringRef name,
                                              ArrayRef<int64_t> shape,
                                              bool &present) {
  present = ws.has(name);
  if (!present)
    return Value();
  return weight(name, shape);
}

llvm::Expected<Value> ModuleBuilder::projectWeight(Value x,
                                                   const std::string &name,
                                                   ArrayRef<int64_t> shape) {
  auto w = weight(name + ".weight", shape);
  if (!w)
    return w.takeError();
  Value y = linear(x, *w);
  if (!ws.has(name + ".scale"))
    return y;
  auto s = weight(name + ".scale", {1});
  if (!s)
    return s.takeError();
  return ScaleByWeightOp::create(b, loc, y.getType(), y, *s).getResult();
}

#define TRY(var, expr)                                                         \
  auto var##OrErr = (expr);                                                    \
  if (!var##OrErr)                                                             \
    return var##OrErr.takeError();                                             \
  Value var = *var##OrErr;

llvm::Error ModuleBuilder::addMLP(int64_t l, Value &h) {
  const Gemma4LayerConfig &L = cfg.layers[l];
  const int64_t H = cfg.hidden;
  const std::string p = llvm::formatv("blk.{0}.", l).str();
  auto W = [&](StringRef suffix, ArrayRef<int64_t> shape) {
    return weight(p + suffix.str(), shape);
  };
  auto project = [&](Value x, StringRef name, ArrayRef<int64_t> shape) {
    return projectWeight(x, p + name.str(), shape);
  };
  // GeGLU MLP (on MoE layers, the dense branch beside the experts).
  TRY(ffnNorm, W("ffn_norm.weight", {H}));
  Value f = rmsNorm(h, ffnNorm, H);
  TRY(gateOut, project(f, "ffn_gate", {L.ffnDim, H}));
  TRY(upOut, project(f, "ffn_up", {L.ffnDim, H}));
  Value m = mul(gelu(gateOut), upOut);
  TRY(downOut, project(m, "ffn_down", {H, L.ffnDim}));
  Value ffnOut = downOut;
  if (L.numExperts) {
    TRY(post1, W("post_ffw_norm_1.weight", {H}));
    TRY(experts, buildExperts(l, h));
    TRY(post2, W("post_ffw_norm_2.weight", {H}));
    ffnOut = add(rmsNorm(downOut, post1, H), rmsNorm(experts, post2, H));
  }
  TRY(postFfnNorm, W("post_ffw_norm.weight", {H}));
  h = add(h, rmsNorm(ffnOut, postFfnNorm, H));
  return llvm::Error::success();
}

/// A drafter layer (llama.cpp's gemma4-assistant graph): the target's
/// sandwich, with query-only attention over the cache of the target layer
/// it was paired with; no per-layer inputs, no experts.
llvm::Error ModuleBuilder::buildDraftLayer(int64_t l, Value &h, Value pos0) {
  const Gemma4LayerConfig &L = cfg.layers[l];
  const int64_t H = cfg.hidden, hd = L.headDim, nh = L.numHeads;
  const std::string p = llvm::formatv("blk.{0}.", l).str();
  loc = locFor("draft.blk." + Twine(l));
  auto W = [&](StringRef suffix, ArrayRef<int64_t> shape) {
    return weight(p + suffix.str(), shape);
  };
  TRY(attnNorm, W("attn_norm.weight", {H}));
  Value a = rmsNorm(h, attnNorm, H);
  TRY(qProj, projectWeight(a, p + "attn_q", {nh * hd, H}));
  TRY(qNorm, W("attn_q_norm.weight", {hd}));
  Value q = rmsNorm(qProj, qNorm, hd);
  auto rope = RopeAttr::get(&ctx, llvm::APFloat(L.ropeTheta), L.rotatedPairs,
                            L.ropeFreqDim);
  q = RopeOp::create(b, loc, q.getType(), q, pos0, b.getI64IntegerAttr(nh),
                     b.getI64IntegerAttr(hd), rope);
  Value o = CachedAttentionOp::create(
      b, loc, act(nh * hd), q, pos0, b.getI64IntegerAttr(nh),
      b.getI64IntegerAttr(L.numKVHeads), b.getI64IntegerAttr(hd),
      b.getI64IntegerAttr(L.window), b.getI64IntegerAttr(L.kvSource),
      b.getF32FloatAttr(1.0f));
  TRY(attnOut, projectWeight(o, p + "attn_output", {H, nh * hd}));
  TRY(postAttnNorm, W("post_attention_norm.weight", {H}));
  h = add(h, rmsNorm(attnOut, postAttnNorm, H));
  if (llvm::Error e = addMLP(l, h))
    return e;
  if (L.hasOutputScale) {
    TRY(s, W("layer_output_scale.weight", {1}));
    h = ScaleByWeightOp::create(b, loc, h.getType(), h, s);
  }
  return llvm::Error::success();
}

llvm::Error ModuleBuilder::buildDraft(ModuleOp target,
                                      const Gemma4Config &targetCfg) {
  module = target;
  symbolPrefix = "draft.";
  sourceFile = 1;
  for (WeightDefOp def : module.getOps<WeightDefOp>())
    defs.try_emplace(def.getSymName(), def);
  GemmaDialect *dialect = gemmaDialect(&ctx);
  dialect->getDraftSourceAttrHelper().setAttr(module, b.getStringAttr(path));
  const int64_t Ht = targetCfg.hidden, H = cfg.hidden, V = cfg.vocabSize;
  auto tokensType = RankedTensorType::get({ShapedType::kDynamic},
                                          b.getI32Type());
  auto fnType = b.getFunctionType(
      {tokensType, act(Ht), b.getIndexType(), b.getIndexType()},
      {act(V), act(Ht)});
  b.setInsertionPointToEnd(module.getBody());
  auto fn = func::FuncOp::create(b, fileLoc, "draft", fnType);
  dialect->getDraftAttrHelper().setAttr(fn, b.getUnitAttr());
  Block *entry = fn.addEntryBlock();
  b.setInsertionPointToStart(entry);
  Value tokens = entry->getArgument(0), hidden = entry->getArgument(1),
        pos0 = entry->getArgument(2);

  // pre_projection([E_target[token] * sqrt(H_target) ; h]).
  loc = locFor("draft.input");
  auto targetTable = module.lookupSymbol<WeightDefOp>("token_embd.weight");
  if (!targetTable)
    return llvm::createStringError("the target has no token_embd.weight");
  Value table = WeightOp::create(b, loc, targetTable.getWeightType(),
                                 FlatSymbolRefAttr::get(&ctx, "token_embd.weight"));
  Value x = EmbedOp::create(b, loc, act(Ht), tokens, table,
                            b.getF32FloatAttr(std::sqrt(float(Ht))));
  Value xh = ConcatColumnsOp::create(b, loc, act(2 * Ht), x, hidden);
  TRY(pre, weight("nextn.pre_projection.weight", {H, 2 * Ht}));
  Value h = linear(xh, pre);
  for (int64_t l = 0; l < cfg.numLayers; ++l)
    if (llvm::Error e = buildDraftLayer(l, h, pos0))
      return e;

  // Logits from the drafter's own (tied) table, no softcap (the whole table,
  // or the centroid head's share of it); the next step's hidden state from
  // post_projection, both of the normed rows.
  loc = locFor("draft.output");
  TRY(outNorm, weight("output_norm.weight", {H}));
  Value y = rmsNorm(h, outNorm, H);
  TRY(head, weight(ws.has("output.weight") ? "output.weight"
                                           : "token_embd.weight",
                   {V, H}));
  Value logits;
  if (const int64_t C = cfg.centroidClusters) {
    // The centroid head: cluster scores, then only the best clusters' rows.
    TRY(centroids, weight("masked_embd_centroids.weight", {C, H}));
    TRY(ordering, weight("masked_embd_ordering", {V}));
    logits =
        MaskedLogitsOp::create(b, loc, act(V), y, linear(y, centroids), head,
                               ordering, b.getI64IntegerAttr(cfg.centroidTopK));
  } else {
    logits = linear(y, head);
  }
  TRY(post, weight("nextn.post_projection.weight", {Ht, H}));
  func::ReturnOp::create(b, loc, ValueRange{logits, linear(y, post)});
  return llvm::Error::success();
}
#undef TRY

llvm::Error ModuleBuilder::buildLayer(int64_t l, Value &h, Value ple, Value pos0,
                                std::vector<std::pair<Value, Value>> &layerKV) {
  const Gemma4LayerConfig &L = cfg.layers[l];
  const int64_t H = cfg.hidden, hd = L.headDim, nh = L.numHeads,
                nkv = L.numKVHeads;
  std::string p = llvm::formatv("blk.{0}.", l).str();
  loc = locFor("blk." + Twine(l));
  layerTagger.layer = l;
  auto untag = llvm::make_scope_exit([&] { layerTagger.layer.reset(); });
  auto W = [&](StringRef suffix, ArrayRef<int64_t> shape) {
    return weight(p + suffix.str(), shape);
  };
  auto project = [&](Value x, StringRef name, ArrayRef<int64_t> shape) {
    return projectWeight(x, p + name.str(), shape);
  };
#define TRY(var, expr)                                                         \
  auto var##OrErr = (expr);                                                    \
  if (!var##OrErr)                                                             \
    return var##OrErr.takeError();                                             \
  Value var = *var##OrErr;

  // Attention block.
  TRY(attnNorm, W("attn_norm.weight", {H}));
  Value a = rmsNorm(h, attnNorm, H);
  TRY(qProj, project(a, "attn_q", {nh * hd, H}));
  TRY(qNorm, W("attn_q_norm.weight", {hd}));
  Value q = rmsNorm(qProj, qNorm, hd);
  auto rope = RopeAttr::get(&ctx, llvm::APFloat(L.ropeTheta), L.rotatedPairs,
                            L.ropeFreqDim);
  q = RopeOp::create(b, loc, q.getType(), q, pos0, b.getI64IntegerAttr(nh),
                     b.getI64IntegerAttr(hd), rope);

  int64_t source = L.kvSource < 0 ? l : L.kvSource;
  if (L.kvSource < 0) {
    TRY(k0, project(a, "attn_k", {nkv * hd, H}));
    Value k = k0;
    Value v = k; // K=V global layers: V is the K projection before k_norm
    if (!L.kEqualsV) {
      TRY(v0, project(a, "attn_v", {nkv * hd, H}));
      v = v0;
    }
    TRY(kNorm, W("attn_k_norm.weight", {hd}));
    k = rmsNorm(k, kNorm, hd);
    k = RopeOp::create(b, loc, k.getType(), k, pos0, b.getI64IntegerAttr(nkv),
                       b.getI64IntegerAttr(hd), rope);
    v = rmsNorm(v, Value(), hd);
    layerKV[l] = {k, v};
  }
  auto [k, v] = layerKV[source];
  Value o = AttentionOp::create(
      b, loc, act(nh * hd), q, k, v, pos0, b.getI64IntegerAttr(l),
      b.getI64IntegerAttr(nh), b.getI64IntegerAttr(nkv),
      b.getI64IntegerAttr(hd), b.getI64IntegerAttr(L.window),
      b.getI64IntegerAttr(source), b.getF32FloatAttr(1.0f));
  // The owner writes its cache right after reading it; the KV planning
  // pass moves the store after the cache's last reader.
  if (L.kvSource < 0)
    KVStoreOp::create(b, loc, k, v, pos0, b.getI64IntegerAttr(l));
  TRY(attnOut, project(o, "attn_output", {H, nh * hd}));
  TRY(postAttnNorm, W("post_attention_norm.weight", {H}));
  h = add(h, rmsNorm(attnOut, postAttnNorm, H));

  if (llvm::Error e = addMLP(l, h))
    return e;

  // Per-layer embedding injection (E2B/E4B).
  if (ple) {
    const int64_t D = cfg.perLayerInputDim;
    TRY(gate, W("inp_gate.weight", {D, H}));
    TRY(proj, W("proj.weight", {H, D}));
    TRY(postNorm, W("post_norm.weight", {H}));
    Value slice = ColumnSliceOp::create(b, loc, act(D), ple,
                                        b.getI64IntegerAttr(l * D),
                                        b.getI64IntegerAttr(D));
    Value g = mul(gelu(linear(h, gate)), slice);
    h = add(h, rmsNorm(linear(g, proj), postNorm, H));
  }

  if (L.hasOutputScale) {
    TRY(s, W("layer_output_scale.weight", {1}));
    h = ScaleByWeightOp::create(b, loc, h.getType(), h, s);
  }
#undef TRY
  return llvm::Error::success();
}

/// The routed experts of layer l on the residual r (llama.cpp's gemma4
/// graph and build_moe_ffn): the router on the unweighted-normed residual,
/// the experts on pre_ffw_norm_2(r), their outputs weighted and summed.
llvm::Expected<Value> ModuleBuilder::buildExperts(int64_t l, Value r) {
  const Gemma4LayerConfig &L = cfg.layers[l];
  const int64_t H = cfg.hidden, E = L.numExperts, F = L.expertFFNDim;
  const std::string p = llvm::formatv("blk.{0}.", l).str();
  auto W = [&](StringRef suffix, ArrayRef<int64_t> shape) {
    return weight(p + suffix.str(), shape);
  };
#define TRY(var, expr)                                                         \
  auto var##OrErr = (expr);                                                    \
  if (!var##OrErr)                                                             \
    return var##OrErr.takeError();                                             \
  Value var = *var##OrErr;
  // Router: ((rms_norm(r) * H^-1/2) * scale) times the f32 router weights.
  TRY(routerScale, W("ffn_gate_inp.scale", {H}));
  TRY(router, W("ffn_gate_inp.weight", {E, H}));
  Value t = scale(rmsNorm(r, Value(), H), 1.0f / std::sqrt(float(H)));
  t = ScaleColumnsOp::create(b, loc, t, routerScale);
  Value routing = MoERouteOp::create(b, loc, act(2 * L.numExpertsUsed),
                                     linear(t, router),
                                     b.getI64IntegerAttr(L.numExpertsUsed));
  const int64_t K = L.numExpertsUsed;
  auto experts = [&](Value x, Value w, int64_t first, int64_t rows) -> Value {
    return ExpertLinearOp::create(b, loc, act(K * rows), x, w, routing,
                                  b.getI64IntegerAttr(first),
                                  b.getI64IntegerAttr(rows));
  };
  // A per-expert output scale, where the checkpoint has one.
  auto scaled = [&](Value y, StringRef name) -> llvm::Expected<Value> {
    if (!ws.has(p + name.str()))
      return y;
    auto s = W(name, {E});
    if (!s)
      return s.takeError();
    return ExpertScaleOp::create(b, loc, y, routing, *s).getResult();
  };
  TRY(preNorm, W("pre_ffw_norm_2.weight", {H}));
  Value xe = rmsNorm(r, preNorm, H);
  Value gate, up;
  if (ws.has(p + "ffn_gate_up_exps.weight")) {
    // One weight per expert: the gate's F rows, then the up's.
    TRY(gateUp, W("ffn_gate_up_exps.weight", {E, 2 * F, H}));
    gate = experts(xe, gateUp, 0, F);
    up = experts(xe, gateUp, F, F);
  } else {
    TRY(gateW, W("ffn_gate_exps.weight", {E, F, H}));
    TRY(upW, W("ffn_up_exps.weight", {E, F, H}));
    TRY(g, scaled(experts(xe, gateW, 0, F), "ffn_gate_exps.scale"));
    TRY(u, scaled(experts(xe, upW, 0, F), "ffn_up_exps.scale"));
    gate = g;
    up = u;
  }
  TRY(downW, W("ffn_down_exps.weight", {E, H, F}));
  TRY(down, scaled(experts(mul(gelu(gate), up), downW, 0, H),
                   "ffn_down_exps.scale"));
#undef TRY
  return MoECombineOp::create(b, loc, act(H), down, routing).getResult();
}

llvm::Expected<OwningOpRef<ModuleOp>> ModuleBuilder::build() {
  OwningOpRef<ModuleOp> owned = ModuleOp::create(fileLoc);
  module = *owned;
  GemmaDialect *dialect = gemmaDialect(&ctx);
  dialect->getSourceAttrHelper().setAttr(module, b.getStringAttr(path));
  dialect->getVocabSizeAttrHelper().setAttr(
      module, b.getI64IntegerAttr(cfg.vocabSize));
  dialect->getHiddenSizeAttrHelper().setAttr(module,
                                             b.getI64IntegerAttr(cfg.hidden));
  dialect->getNumLayersAttrHelper().setAttr(
      module, b.getI64IntegerAttr(cfg.numLayers));
  dialect->getContextLengthAttrHelper().setAttr(
      module, b.getI64IntegerAttr(cfg.contextLength));

  const int64_t H = cfg.hidden, V = cfg.vocabSize;
  auto tokensType = RankedTensorType::get({ShapedType::kDynamic},
                                          b.getI32Type());
  auto fnType = b.getFunctionType({tokensType, b.getIndexType(),
                                   b.getIndexType()},
                                  {act(V)});
  b.setInsertionPointToEnd(module.getBody());
  auto fn = func::FuncOp::create(b, fileLoc, "forward", fnType);
  dialect->getEntryAttrHelper().setAttr(fn, b.getUnitAttr());
  Block *entry = fn.addEntryBlock();
  b.setInsertionPointToStart(entry);
  Value tokens = entry->getArgument(0), pos0 = entry->getArgument(1),
        numOut = entry->getArgument(2);

  // Token embedding: the table is tied to the output projection.
  loc = locFor("token_embd");
  auto table = weight("token_embd.weight", {V, H});
  if (!table)
    return table.takeError();
  // llama.cpp and HF scale by sqrt(H) computed in f32.
  Value x0 = EmbedOp::create(b, loc, act(H), tokens, *table,
                             b.getF32FloatAttr(std::sqrt(float(H))));

  // Per-layer inputs, computed once for all layers: [T, L*D].
  Value ple;
  if (cfg.perLayerInputDim > 0) {
    const int64_t D = cfg.perLayerInputDim, LD = cfg.numLayers * D;
    loc = locFor("per_layer_inputs");
    auto tok = weight("per_layer_token_embd.weight", {V, LD});
    if (!tok)
      return tok.takeError();
    auto proj = weight("per_layer_model_proj.weight", {LD, H});
    if (!proj)
      return proj.takeError();
    auto norm = weight("per_layer_proj_norm.weight", {D});
    if (!norm)
      return norm.takeError();
    Value fromTokens = EmbedOp::create(b, loc, act(LD), tokens, *tok,
                                       b.getF32FloatAttr(std::sqrt(float(D))));
    Value fromHidden = scale(linear(x0, *proj), 1.0f / std::sqrt(float(H)));
    fromHidden = rmsNorm(fromHidden, *norm, D);
    ple = scale(add(fromHidden, fromTokens), 1.0f / std::sqrt(2.0f));
  }

  Value h = x0;
  std::vector<std::pair<Value, Value>> layerKV(cfg.numLayers);
  for (int64_t l = 0; l < cfg.numLayers; ++l)
    if (llvm::Error e = buildLayer(l, h, ple, pos0, layerKV))
      return std::move(e);

  loc = locFor("output");
  h = LastRowsOp::create(b, loc, h, numOut);
  auto outNorm = weight("output_norm.weight", {H});
  if (!outNorm)
    return outNorm.takeError();
  h = rmsNorm(h, *outNorm, H);
  Value lmHead = *table;
  if (ws.has("output.weight")) {
    auto out = weight("output.weight", {V, H});
    if (!out)
      return out.takeError();
    lmHead = *out;
  }
  Value logits = linear(h, lmHead);
  if (cfg.finalSoftcap > 0)
    logits = SoftcapOp::create(b, loc, logits,
                               b.getF32FloatAttr(cfg.finalSoftcap));
  func::ReturnOp::create(b, loc, logits);
  return std::move(owned);
}

} // namespace

llvm::Error gemmac::addGemma4Drafter(ModuleOp module, const Gemma4Config &target,
                                     const Gemma4Config &draft,
                                     const WeightSource &draftWeights,
                                     StringRef draftPath) {
  return ModuleBuilder(*module.getContext(), draft, draftWeights, draftPath)
      .buildDraft(module, target);
}

llvm::Expected<OwningOpRef<ModuleOp>>
gemmac::buildGemma4Module(MLIRContext &context, const Gemma4Config &config,
                          const WeightSource &weights, StringRef sourcePath) {
  context.getOrLoadDialect<GemmaDialect>();
  context.getOrLoadDialect<func::FuncDialect>();
  return ModuleBuilder(context, config, weights, sourcePath).build();
}
