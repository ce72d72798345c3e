//===- SelectKernels.cpp - a kernel for every weight op -------------------===//

#include "dialects/gemma/GemmaDialect.h"
#include "passes/Passes.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/StringSet.h"

namespace gemmac {
#define GEN_PASS_DEF_SELECTKERNELS
#include "passes/Passes.h.inc"
} // namespace gemmac

using namespace mlir;
using namespace gemmac;
using namespace gemmac::gemma;

namespace {

/// Every kernel the runtime provides (runtime/kernels/catalogue.def).
const llvm::StringSet<> &availableKernels() {
  static const llvm::StringSet<> names = [] {
    llvm::StringSet<> s;
#define GEMMAC_KERNEL(symbol, kind, format, variant) s.insert(#symbol);
#include "runtime/kernels/catalogue.def"
#undef GEMMAC_KERNEL
    return s;
  }();
  return names;
}

/// Rows from which a projection is the vocabulary-sized output projection:
/// its own kernel splits the rows over threads in large slabs and streams the
/// matrix once for all tokens.
constexpr int64_t kVocabRows = 32768;

struct SelectKernelsPass
    : public gemmac::impl::SelectKernelsBase<SelectKernelsPass> {
  using SelectKernelsBase::SelectKernelsBase;

  /// The instruction-set suffix for this target's features.
  std::string isa() const {
    StringRef f(features);
    bool avx2 = f.contains("+avx2") && f.contains("+fma") && f.contains("+f16c");
    return avx2 ? "_avx2" : "";
  }

  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    const std::string suffix = isa();
    // The variant for this target's instruction set when the runtime has
    // one, else the portable kernel.
    auto set = [&](Operation *op, const std::string &base) {
      if (op->hasAttr("kernel"))
        return;
      std::string name = base + suffix;
      if (!availableKernels().contains(name))
        name = base;
      op->setAttr("kernel", StringAttr::get(ctx, name));
    };
    getOperation().walk([&](Operation *op) {
      if (auto l = dyn_cast<LinearOp>(op)) {
        WeightType w = l.getWeight().getType();
        std::string fmt = stringifyWeightFormat(w.getFormat()).str();
        set(op, (w.getRows() >= kVocabRows ? "gmk_logits_" : "gmk_linear_") +
                    fmt);
      } else if (auto g = dyn_cast<GeGLUOp>(op)) {
        set(op, "gmk_geglu_" +
                    stringifyWeightFormat(g.getGate().getType().getFormat())
                        .str());
      } else if (auto e = dyn_cast<EmbedOp>(op)) {
        set(op, "gmk_embed_" +
                    stringifyWeightFormat(e.getTable().getType().getFormat())
                        .str());
      }
    });
  }
};

} // namespace
