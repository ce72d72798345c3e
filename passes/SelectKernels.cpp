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

  /// The catalogue kind of the kernel a weight op calls, if it calls one.
  static std::optional<StringRef> kindOf(Operation *op) {
    if (auto l = dyn_cast<LinearOp>(op))
      return l.getWeight().getType().getRows() >= kVocabRows ? "logits"
                                                             : "linear";
    if (isa<GeGLUOp>(op))
      return "geglu";
    if (isa<EmbedOp>(op))
      return "embed";
    if (isa<ExpertLinearOp>(op))
      return "expert_linear";
    if (isa<ExpertGeGLUOp>(op))
      return "expert_geglu";
    if (isa<MaskedLogitsOp>(op))
      return "masked_logits";
    return std::nullopt;
  }

  static bool hasKernel(Operation *op) {
    return gemmaDialect(op->getContext())
        ->getKernelAttrHelper()
        .isAttrPresent(op);
  }

  /// The runtime's attention over `kvType` caches instantiated for
  /// `headDim` (a "_d<N>" row of abi/kernels.def), if it has one.
  static const KernelRow *specializedAttention(StringRef kvType,
                                               int64_t headDim) {
    return findKernel("attention", kvType, std::to_string(headDim));
  }

  /// The (first) weight a weight op reads.
  static Value weightOf(Operation *op) {
    if (auto l = dyn_cast<LinearOp>(op))
      return l.getWeight();
    if (auto g = dyn_cast<GeGLUOp>(op))
      return g.getGate();
    if (auto e = dyn_cast<ExpertLinearOp>(op))
      return e.getWeight();
    if (auto e = dyn_cast<ExpertGeGLUOp>(op))
      return e.getGate();
    if (auto m = dyn_cast<MaskedLogitsOp>(op))
      return m.getTable();
    return cast<EmbedOp>(op).getTable();
  }

  /// Whether every op reading `def` can take its rows interleaved by eight:
  /// the runtime has an x8 kernel of its kind for the format, the row count
  /// allows the layout, and no op had its kernel chosen before.
  static bool canInterleave(WeightDefOp def, ArrayRef<Operation *> users) {
    WeightType t = def.getWeightType();
    if (t.getRank() == 1 || users.empty() ||
        !abi::isRepackedShape(static_cast<abi::Format>(t.getFormat()),
                              t.getExpertRows()))
      return false;
    // An expert slice must start on a group of eight rows.
    auto alignedSlices = [](Operation *op) {
      if (auto e = dyn_cast<ExpertLinearOp>(op))
        return e.getFirstRow() % 8 == 0;
      if (auto e = dyn_cast<ExpertGeGLUOp>(op))
        return e.getGateFirstRow() % 8 == 0 && e.getUpFirstRow() % 8 == 0;
      return true;
    };
    if (!llvm::all_of(users, alignedSlices))
      return false;
    // A weight stacked from parts is repacked part by part.
    if (ArrayAttr parts = def.getPartsAttr())
      if (!llvm::all_of(parts.getAsRange<WeightPartAttr>(),
                        [](WeightPartAttr p) { return p.getRows() % 8 == 0; }))
        return false;
    StringRef format = stringifyWeightFormat(t.getFormat());
    return llvm::all_of(users, [&](Operation *op) {
      std::optional<StringRef> kind = kindOf(op);
      return kind && !hasKernel(op) && findKernel(*kind, format, "x8");
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
    auto isInterleaved = [&](Value weight) {
      auto w = weight.getDefiningOp<WeightOp>();
      return w && interleaved.contains(w.getName());
    };

    // The catalogue's kernel for the op's kind, its weights' format and
    // layout (abi/kernels.def); the variant for this target's instruction set
    // when the runtime has one, else the portable kernel. The MTP drafter's
    // products take llama.cpp's one-token arithmetic where it differs
    // ("vec": a drafter step there is one token).
    func::FuncOp draft = lookupDraft(module);
    WalkResult result = module.walk([&](Operation *op) {
      std::optional<StringRef> kind = kindOf(op);
      if (!kind || hasKernel(op))
        return WalkResult::advance();
      Value weight = weightOf(op);
      WeightType t = cast<WeightType>(weight.getType());
      StringRef format = stringifyWeightFormat(t.getFormat());
      bool x8 = isInterleaved(weight);
      const KernelRow *row = nullptr;
      if (draft && !x8 && op->getParentOfType<func::FuncOp>() == draft)
        row = findKernel(*kind, format, "vec");
      if (!row)
        row = findKernel(*kind, format, x8 ? "x8" : "");
      if (!row) {
        op->emitOpError("the runtime has no ")
            << *kind << " kernel for " << format << " weights"
            << (x8 ? " in the x8 layout" : "");
        return WalkResult::interrupt();
      }
      if (const KernelRow *isaRow = lookupKernel((row->symbol + suffix).str()))
        row = isaRow;
      return failed(setKernel(op, module, *row)) ? WalkResult::interrupt()
                                                 : WalkResult::advance();
    });
    // Attention: one instantiation per head dim, shared by every layer of
    // that shape, when the runtime has it (else the lowering calls the one
    // for any head dim).
    Type kvType = kvCacheType(module);
    StringRef kv = kvType.isF32()                    ? "f32"
                   : isa<Float8E4M3FNType>(kvType) ? "f8"
                                                   : "f16";
    if (!result.wasInterrupted())
      result = module.walk([&](AttentionOp att) {
        const KernelRow *row = specializedAttention(kv, att.getHeadDim());
        if (hasKernel(att) || !row)
          return WalkResult::advance();
        return failed(setKernel(att, module, *row)) ? WalkResult::interrupt()
                                                    : WalkResult::advance();
      });
    if (result.wasInterrupted())
      signalPassFailure();
  }
};

} // namespace
