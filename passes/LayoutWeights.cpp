//===- LayoutWeights.cpp - place weights in the program's weight blob -----===//

#include "dialects/gemma/GemmaDialect.h"
#include "passes/Passes.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/SetVector.h"

namespace gemmac {
#define GEN_PASS_DEF_LAYOUTWEIGHTS
#include "passes/Passes.h.inc"
} // namespace gemmac

using namespace mlir;
using namespace gemmac;
using namespace gemmac::gemma;

namespace {

/// FNV-1a, enough to tell two layouts apart.
struct Fingerprint {
  uint64_t h = 1469598103934665603ull;
  void add(StringRef s) {
    for (char c : s)
      h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
    add(uint64_t(s.size()));
  }
  void add(uint64_t v) {
    for (int i = 0; i < 8; ++i)
      h = (h ^ ((v >> (8 * i)) & 0xFF)) * 1099511628211ull;
  }
};

struct LayoutWeightsPass
    : public gemmac::impl::LayoutWeightsBase<LayoutWeightsPass> {
  using LayoutWeightsBase::LayoutWeightsBase;

  void runOnOperation() override {
    if (alignment <= 0 || (alignment & (alignment - 1)) != 0) {
      getOperation().emitError("gemma-layout-weights: alignment ")
          << alignment << " is not a power of two";
      return signalPassFailure();
    }
    ModuleOp module = getOperation();
    llvm::SetVector<StringRef> used;
    module.walk([&](WeightOp op) { used.insert(op.getName()); });

    Fingerprint fp;
    GemmaDialect *dialect = gemmaDialect(&getContext());
    if (StringAttr src = dialect->getSourceAttrHelper().getAttr(module))
      fp.add(src.getValue());
    if (StringAttr src = dialect->getDraftSourceAttrHelper().getAttr(module))
      fp.add(src.getValue());
    int64_t offset = 0;
    for (WeightDefOp def :
         llvm::make_early_inc_range(module.getOps<WeightDefOp>())) {
      if (!used.contains(def.getSymName())) {
        def.erase();
        continue;
      }
      WeightType type = def.getWeightType();
      offset = (offset + alignment - 1) / alignment * alignment;
      def.setBlobOffsetAttr(
          IntegerAttr::get(IntegerType::get(&getContext(), 64), offset));
      fp.add(def.getSymName());
      fp.add(static_cast<uint64_t>(type.getFormat()));
      fp.add(static_cast<uint64_t>(def.isInterleaved()));
      for (int64_t d : type.getShape())
        fp.add(static_cast<uint64_t>(d));
      fp.add(static_cast<uint64_t>(def.getSourceOffset()));
      fp.add(static_cast<uint64_t>(def.getSourceFile().value_or(0)));
      if (FP8BlocksSourceAttr f = def.getFp8BlocksAttr()) {
        fp.add(static_cast<uint64_t>(f.getScales()));
        fp.add(static_cast<uint64_t>(f.getBlock()));
      }
      if (NVFP4SourceAttr nv = def.getNvfp4SourceAttr())
        fp.add(static_cast<uint64_t>(nv.getScales()));
      if (std::optional<WeightFormat> from = def.getWidenFrom())
        fp.add(0x5749'0000ull + static_cast<uint64_t>(*from));
      if (GPTQSourceAttr q = def.getGptqAttr())
        for (int64_t v : {q.getQzeros(), q.getScales(), q.getGIdx(),
                          q.getGroup(), q.getZeroOffset()})
          fp.add(static_cast<uint64_t>(v));
      fp.add(static_cast<uint64_t>(offset));
      offset += type.getStorageBytes();
    }
    Builder b(&getContext());
    dialect->getWeightsBytesAttrHelper().setAttr(module,
                                                 b.getI64IntegerAttr(offset));
    dialect->getWeightsFingerprintAttrHelper().setAttr(
        module, b.getI64IntegerAttr(static_cast<int64_t>(fp.h)));
  }
};

} // namespace
