//===- ModelMeta.cpp - the model facts every compiled program exports -----===//

#include "passes/ModelMeta.h"
#include "dialects/gemma/GemmaDialect.h"
#include "passes/Passes.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "llvm/ADT/StringMap.h"

using namespace mlir;
using namespace gemmac::gemma;

namespace gemmac {

/// Weight bytes one decoded token reads: every matrix a product reads, one
/// row of a table only looked up, and the small vectors (norms, scalars).
static int64_t decodeWeightBytes(ModuleOp module, func::FuncOp entry) {
  llvm::StringMap<bool> lookedUpOnly;
  entry.walk([&](WeightOp w) {
    bool lookup = llvm::all_of(w->getUsers(),
                               [](Operation *u) { return isa<EmbedOp>(u); });
    auto [it, inserted] = lookedUpOnly.try_emplace(w.getName(), lookup);
    if (!inserted)
      it->second = it->second && lookup;
  });
  int64_t bytes = 0;
  for (WeightDefOp def : module.getOps<WeightDefOp>()) {
    auto it = lookedUpOnly.find(def.getSymName());
    if (it == lookedUpOnly.end())
      continue;
    WeightType t = def.getWeightType();
    bytes += it->second ? t.getStorageBytes() / t.getRows() : t.getStorageBytes();
  }
  return bytes;
}

SmallVector<int64_t> computeModelMeta(ModuleOp module, func::FuncOp entry,
                                      int64_t maxBatch) {
  auto attrInt = [&](StringRef name) -> int64_t {
    if (auto a = module->getAttrOfType<IntegerAttr>(name))
      return a.getInt();
    return 0;
  };
  SmallVector<int64_t> meta(abi::kMetaCount, 0);
  meta[abi::kMetaAbiVersion] = abi::kAbiVersion;
  meta[abi::kMetaVocab] = attrInt("gemma.vocab_size");
  meta[abi::kMetaHidden] = attrInt("gemma.hidden_size");
  meta[abi::kMetaLayers] = attrInt("gemma.num_layers");
  meta[abi::kMetaContext] = attrInt("gemma.context_length");
  meta[abi::kMetaWeightsBytes] = attrInt("gemma.weights_bytes");
  meta[abi::kMetaFingerprint] = attrInt("gemma.weights_fingerprint");
  meta[abi::kMetaMaxBatch] = maxBatch;
  meta[abi::kMetaDecodeBytes] = decodeWeightBytes(module, entry);
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
