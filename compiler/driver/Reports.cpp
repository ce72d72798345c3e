//===- Reports.cpp - compile-model's --print-memory-plan, --kernel-report -===//
//
// --print-memory-plan: the KV cache plan (gemma.kv_plan) and each layer's
// shape (gemma.layers); --kernel-report: the kernel of every weight op.
//
//===----------------------------------------------------------------------===//

#include "compiler/driver/Reports.h"
#include "dialects/gemma/GemmaDialect.h"
#include "passes/KVPlan.h"

#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdio>
#include <map>

using namespace mlir;
using namespace gemmac;
using namespace gemmac::gemma;

static std::string mib(int64_t bytes) {
  return llvm::formatv("{0:F2} MiB", bytes / (1024.0 * 1024.0)).str();
}

/// Each decoder layer's shape as gemma-specialize-layers pinned it.
static void printLayers(ModuleOp module, llvm::raw_ostream &os) {
  ArrayAttr layers =
      gemmaDialect(module.getContext())->getLayersAttrHelper().getAttr(module);
  if (!layers)
    return;
  os << "layer  kind     heads  kv_heads  head_dim  window  kv_source  k=v  "
        "ffn\n";
  for (Attribute a : layers) {
    auto l = cast<LayerAttr>(a);
    os << llvm::formatv("{0,5}  {1,-7}  {2,5}  {3,8}  {4,8}  {5,6}  {6,9}  "
                        "{7,-3}  {8}\n",
                        l.getIndex(), l.getSliding() ? "sliding" : "global",
                        l.getNumHeads(), l.getNumKvHeads(), l.getHeadDim(),
                        l.getWindow(), l.getKvSource(),
                        l.getKEqualsV() ? "yes" : "no", l.getFfnDim());
  }
}

void gemmac::printKVPlan(ModuleOp module, int64_t nCtx) {
  llvm::raw_ostream &os = llvm::outs();
  ArrayAttr planAttr =
      gemmaDialect(module.getContext())->getKvPlanAttrHelper().getAttr(module);
  auto elem = kvElementBytes(module);
  if (!planAttr || failed(elem)) {
    os << "no KV plan (gemma-plan-kv-cache did not run)\n";
    return;
  }
  std::map<int64_t, KVCacheAttr> plan;
  std::map<int64_t, int64_t> cacheOfLayer;
  for (Attribute a : planAttr) {
    auto c = cast<KVCacheAttr>(a);
    plan[c.getOwner()] = c;
    for (int64_t r : c.getReaders())
      cacheOfLayer[r] = c.getOwner();
  }
  std::string typeName;
  llvm::raw_string_ostream(typeName) << kvCacheType(module);
  const bool scaled = isa<Float8E4M3FNType>(kvCacheType(module));
  os << llvm::formatv("KV cache plan for a context of {0} tokens "
                      "({1}-byte elements, {2}{3})\n",
                      nCtx, *elem, typeName,
                      scaled ? "; each cache stores e4m3(x / scale)" : "");
  os << "layer  cache  rows            width  bytes\n";
  int64_t full = 0, total = 0;
  for (auto &[layer, owner] : cacheOfLayer) {
    KVCacheAttr c = plan[owner];
    // A ring as a CPU program sizes it for this context.
    if (c.getRows())
      c = KVCacheAttr::get(module.getContext(), owner, c.getReaders(),
                           c.getWidth(), cpuRingRows(c.getRows(), nCtx),
                           c.getOffset(), 0);
    std::string rows = c.getRows()
                           ? llvm::formatv("ring {0}", c.getRows()).str()
                           : llvm::formatv("context {0}", nCtx).str();
    // A full-length cache for every layer is what planning avoids.
    full += kvCacheBytes(KVCacheAttr::get(module.getContext(), owner, {},
                                          c.getWidth(), 0, 0, 0),
                         *elem, nCtx);
    // What the program allocates: 64-aligned rings, then the context rows.
    if (owner == layer)
      total += c.getRows() ? (kvCacheBytes(c, *elem, nCtx) + 63) / 64 * 64
                           : kvCacheBytes(c, *elem, nCtx);
    if (owner == layer && scaled) {
      auto [ks, vs] = kvScales(module, owner);
      char scales[64];
      std::snprintf(scales, sizeof scales, "k_scale %g v_scale %g", ks, vs);
      os << llvm::formatv("{0,5}  {1,5}  {2,-14}  {3,5}  {4}  {5}\n", layer,
                          owner, rows, c.getWidth(),
                          kvCacheBytes(c, *elem, nCtx), scales);
    } else if (owner == layer)
      os << llvm::formatv("{0,5}  {1,5}  {2,-14}  {3,5}  {4}\n", layer, owner,
                          rows, c.getWidth(),
                          kvCacheBytes(c, *elem, nCtx));
    else
      os << llvm::formatv("{0,5}  {1,5}  {2,-14}  {3,5}  0 (reads layer {1})\n",
                          layer, owner, rows, c.getWidth());
  }
  os << llvm::formatv("total {0} bytes ({1}); a full-length cache for every "
                      "layer: {2} bytes ({3}), {4:F1}x larger\n",
                      total, mib(total), full, mib(full),
                      total ? double(full) / total : 0.0);
  if (int64_t extra = draftMax(module))
    os << llvm::formatv("rings keep {0} rows beyond the window (--draft-max "
                        "{0}): a session rolls back up to {1} positions\n",
                        extra, extra + 1);
  printLayers(module, os);
}

void gemmac::printKernelReport(ModuleOp module) {
  llvm::raw_ostream &os = llvm::outs();
  os << "op          weight(s)                                 format  shape           kernel\n";
  module.walk([&](Operation *op) {
    FlatSymbolRefAttr kernel =
        gemmaDialect(op->getContext())->getKernelAttrHelper().getAttr(op);
    std::string weights, format, shape;
    auto describe = [&](Value w) {
      auto def = w.getDefiningOp<WeightOp>();
      auto t = cast<WeightType>(w.getType());
      weights += (weights.empty() ? "" : "+") +
                 (def ? def.getName().str() : std::string("?"));
      format = stringifyWeightFormat(t.getFormat()).str();
      shape = t.getRank() == 3
                  ? llvm::formatv("{0}x{1}x{2}", t.getExperts(),
                                  t.getExpertRows(), t.getCols())
                        .str()
                  : llvm::formatv("{0}x{1}", t.getRows(), t.getCols()).str();
    };
    if (auto l = dyn_cast<LinearOp>(op))
      describe(l.getWeight());
    else if (auto g = dyn_cast<GeGLUOp>(op)) {
      describe(g.getGate());
      describe(g.getUp());
    } else if (auto e = dyn_cast<EmbedOp>(op))
      describe(e.getTable());
    else if (auto e = dyn_cast<ExpertLinearOp>(op))
      describe(e.getWeight());
    else if (auto e = dyn_cast<ExpertGeGLUOp>(op)) {
      describe(e.getGate());
      auto name = [](Value w) { return w.getDefiningOp<WeightOp>().getName(); };
      if (name(e.getUp()) != name(e.getGate())) // not one fused gate_up
        describe(e.getUp());
    } else if (!isa<AttentionOp>(op))
      return;
    if (isa<AttentionOp>(op)) {
      auto a = cast<AttentionOp>(op);
      weights = llvm::formatv("layer {0} (kv cache {1})", a.getLayer(),
                              a.getKvCache())
                    .str();
      format = "-";
      shape = llvm::formatv("{0}x{1}", a.getNumHeads(), a.getHeadDim()).str();
    }
    os << llvm::formatv("{0,-11} {1,-41} {2,-7} {3,-15} {4}\n",
                        op->getName().stripDialect(), weights, format, shape,
                        kernel ? kernel.getValue() : "(default)");
  });
}
