//===- ModelMeta.cpp - the model facts every compiled program exports -----===//

#include "passes/ModelMeta.h"
#include "dialects/gemma/GemmaDialect.h"
#include "passes/KVPlan.h"
#include "passes/Passes.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "llvm/ADT/StringMap.h"

using namespace mlir;
using namespace gemmac::gemma;

namespace gemmac {

/// Weight bytes one decoded token reads: every matrix a product reads, one
/// row of a table only looked up, the slabs of the experts a token is routed
/// to (k of each 3-D expert weight), and the small vectors (norms, scalars).
static int64_t decodeWeightBytes(ModuleOp module, func::FuncOp entry) {
  struct Use {
    bool lookedUpOnly = true;
    int64_t expertsRead = 0; // slots per token of the expert ops reading it
  };
  llvm::StringMap<Use> uses;
  entry.walk([&](WeightOp w) {
    Use &u = uses[w.getName()];
    for (Operation *user : w->getUsers()) {
      u.lookedUpOnly = u.lookedUpOnly && isa<EmbedOp>(user);
      Value routing;
      if (auto e = dyn_cast<ExpertLinearOp>(user))
        routing = e.getRouting();
      else if (auto e = dyn_cast<ExpertGeGLUOp>(user))
        routing = e.getRouting();
      if (routing)
        u.expertsRead = std::max(
            u.expertsRead,
            cast<RankedTensorType>(routing.getType()).getDimSize(1) / 2);
    }
  });
  int64_t bytes = 0;
  for (WeightDefOp def : module.getOps<WeightDefOp>()) {
    auto it = uses.find(def.getSymName());
    if (it == uses.end())
      continue;
    WeightType t = def.getWeightType();
    const Use &u = it->second;
    if (u.lookedUpOnly)
      bytes += t.getStorageBytes() / t.getRows();
    else if (t.getRank() == 3 && u.expertsRead)
      bytes += t.getStorageBytes() / t.getExperts() *
               std::min(u.expertsRead, t.getExperts());
    else
      bytes += t.getStorageBytes();
  }
  return bytes;
}

SmallVector<int64_t> computeModelMeta(ModuleOp module, func::FuncOp entry,
                                      int64_t maxBatch) {
  gemma::GemmaDialect *d = gemma::gemmaDialect(module.getContext());
  auto attrInt = [&](auto helper) -> int64_t {
    if (IntegerAttr a = helper.getAttr(module))
      return a.getInt();
    return 0;
  };
  SmallVector<int64_t> meta(abi::kMetaCount, 0);
  meta[abi::kMetaAbiVersion] = abi::kAbiVersion;
  meta[abi::kMetaVocab] = attrInt(d->getVocabSizeAttrHelper());
  meta[abi::kMetaHidden] = attrInt(d->getHiddenSizeAttrHelper());
  meta[abi::kMetaLayers] = attrInt(d->getNumLayersAttrHelper());
  meta[abi::kMetaContext] = attrInt(d->getContextLengthAttrHelper());
  meta[abi::kMetaWeightsBytes] = attrInt(d->getWeightsBytesAttrHelper());
  meta[abi::kMetaFingerprint] = attrInt(d->getWeightsFingerprintAttrHelper());
  meta[abi::kMetaMaxBatch] = maxBatch;
  meta[abi::kMetaDecodeBytes] = decodeWeightBytes(module, entry);
  // The rings' window and rows beyond it: how far a session can roll back
  // (gemmac_session_truncate).
  meta[abi::kMetaDraftMax] = draftMax(module);
  meta[abi::kMetaCpuFeatures] = attrInt(d->getCpuFeaturesAttrHelper());
  meta[abi::kMetaKernelsAtStartup] =
      d->getKernelsAtStartupAttrHelper().isAttrPresent(module);
  if (auto plan = moduleKVPlan(module, entry); succeeded(plan))
    for (auto &[owner, c] : *plan)
      if (c.getRows())
        meta[abi::kMetaWindow] = std::max(meta[abi::kMetaWindow],
                                          c.getRows() - meta[abi::kMetaDraftMax]);
  return meta;
}

void emitModelMeta(ModuleOp module, ArrayRef<int64_t> meta) {
  OpBuilder b(module.getContext());
  b.setInsertionPointToEnd(module.getBody());
  auto type = LLVM::LLVMArrayType::get(b.getI64Type(), meta.size());
  auto value = DenseIntElementsAttr::get(
      RankedTensorType::get({static_cast<int64_t>(meta.size())},
                            b.getI64Type()),
      meta);
  LLVM::GlobalOp::create(b, module.getLoc(), type, /*isConstant=*/true,
                         LLVM::Linkage::External, abi::kModelMeta, value);
}

} // namespace gemmac
