//===- SelectKernels.cpp - a kernel for every weight op -------------------===//

#include "abi/formats.h"
#include "dialects/gemma/GemmaDialect.h"
#include "passes/KernelCatalogue.h"
#include "passes/Passes.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/StringSet.h"

namespace gemmac {
#define GEN_PASS_DEF_SELECTKERNELS
#include "passes/Passes.h.inc"
} // namespace gemmac

using namespace mlir;
using namespace gemmac;
using namespace gemmac::gemma;

namespace {

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

  /// Whether every op reading `def` can take its rows interleaved by eight:
  /// the format has the layout, the row count allows it, and no op had its
  /// kernel chosen before.
  static bool canInterleave(WeightDefOp def, ArrayRef<Operation *> users) {
    WeightType t = def.getWeightType();
    if (t.getRank() != 2 || users.empty() ||
        !abi::isRepackedShape(static_cast<abi::Format>(t.getFormat()),
                              t.getRows()))
      return false;
    return llvm::all_of(users, [](Operation *op) {
      return isa<LinearOp, GeGLUOp, EmbedOp>(op) && !op->hasAttr("kernel");
    });
  }

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    const std::string suffix = isa();

    // Which ops read each weight.
    llvm::MapVector<StringRef, SmallVector<Operation *>> users;
    module.walk([&](WeightOp w) {
      for (Operation *user : w->getUsers())
        users[w.getName()].push_back(user);
    });
    // Interleave the rows of weights whose readers all have x8 kernels (the
    // repacked order is also the one llama.cpp computes with, see
    // docs/numerics.md).
    llvm::StringSet<> interleaved;
    for (WeightDefOp def : module.getOps<WeightDefOp>()) {
      if (!def.getLayout()) {
        auto it = users.find(def.getSymName());
        if (it != users.end() && canInterleave(def, it->second))
          def.setLayoutAttr(WeightLayoutAttr::get(ctx, WeightLayout::x8));
      }
      if (def.isInterleaved())
        interleaved.insert(def.getSymName());
    }
    auto layoutOf = [&](Value weight) -> std::string {
      auto w = weight.getDefiningOp<WeightOp>();
      return w && interleaved.contains(w.getName()) ? "_x8" : "";
    };

    // The variant for this target's instruction set when the runtime's
    // catalogue (abi/kernels.def) has one, else the portable kernel.
    auto set = [&](Operation *op, const std::string &base) {
      if (op->hasAttr("kernel"))
        return;
      std::string name = base + suffix;
      if (!lookupKernel(name))
        name = base;
      op->setAttr("kernel", StringAttr::get(ctx, name));
    };
    module.walk([&](Operation *op) {
      if (auto l = dyn_cast<LinearOp>(op)) {
        WeightType w = l.getWeight().getType();
        std::string fmt = stringifyWeightFormat(w.getFormat()).str();
        set(op, (w.getRows() >= kVocabRows ? "gmk_logits_" : "gmk_linear_") +
                    fmt + layoutOf(l.getWeight()));
      } else if (auto g = dyn_cast<GeGLUOp>(op)) {
        set(op, "gmk_geglu_" +
                    stringifyWeightFormat(g.getGate().getType().getFormat())
                        .str() +
                    layoutOf(g.getGate()));
      } else if (auto e = dyn_cast<EmbedOp>(op)) {
        set(op, "gmk_embed_" +
                    stringifyWeightFormat(e.getTable().getType().getFormat())
                        .str() +
                    layoutOf(e.getTable()));
      }
    });
  }
};

} // namespace
