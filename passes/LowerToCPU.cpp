//===- LowerToCPU.cpp - gemma ops -> kernel calls and loops over buffers --===//
//
// The kernel phase for CPU targets. The tensor-level entry function becomes
// `gemmac_forward(rt, weights, kv, arena, tokens, logits, hidden, n_tokens,
// positions, seqs, n_seqs, out_rows, n_out, n_ctx, kv_slots, kv_stride)`
// (abi/program_table.h), a straight line of kernel calls (weights, norms, rope,
// attention) and generated loops (residual adds, scales, GELU, softcap), every
// shape a constant.
//
// Each op is lowered by its pattern (passes/cpu/, one file per op family)
// through the state they share (passes/cpu/CPULowering.h). The driver visits
// the entry's ops once, in program order, because the activations' arena is
// planned by liveness as the ops are lowered: an op's buffer is placed when
// it is computed and given back after its last reader.
//
//===----------------------------------------------------------------------===//

#include "passes/Passes.h"
#include "passes/cpu/CPULowering.h"

#include "mlir/Rewrite/FrozenRewritePatternSet.h"
#include "mlir/Rewrite/PatternApplicator.h"

namespace gemmac {
#define GEN_PASS_DEF_LOWERTOCPU
#include "passes/Passes.h.inc"
} // namespace gemmac

using namespace mlir;
using namespace gemmac;
using namespace gemmac::cpu;
using namespace gemmac::gemma;

namespace {

/// Applies the pattern of every op of the entry, in order.
LogicalResult lowerEntry(CPULowering &lowering,
                         const FrozenRewritePatternSet &patterns) {
  PatternApplicator applicator(patterns);
  applicator.applyDefaultCostModel();
  for (Operation &op : lowering.entryBlock()) {
    // Weight handles become views where they are read; the return is the
    // logits buffer the result was written to.
    if (!isa<WeightOp, func::ReturnOp>(op)) {
      // Every operand of a gemma op was computed before (the entry's only
      // tensor argument is the token list, which only gemma.embed reads).
      if (!isa<EmbedOp>(op))
        for (Value operand : op.getOperands())
          if (isa<RankedTensorType>(operand.getType()) &&
              !lowering.isComputed(operand))
            return op.emitOpError("operand is not an activation computed in "
                                  "the entry function");
      if (failed(applicator.matchAndRewrite(&op, lowering.rewriter())))
        return op.emitOpError("has no CPU lowering");
      if (lowering.hasFailed())
        return failure();
    }
    lowering.endOp(&op);
  }
  return success();
}

// gemma.column_slice lowers to scf.for loops: Passes.td lists SCF among the
// pass's dependent dialects, so it is loaded even where nothing else has
// (gemmac-opt on a printed module).
struct LowerToCPUPass : public gemmac::impl::LowerToCPUBase<LowerToCPUPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    func::FuncOp entry = lookupEntry(module);
    if (!entry) {
      module.emitError("no function marked gemma.entry");
      return signalPassFailure();
    }
    // The drafter first: it shares the forward's arena, whose size function
    // the forward's lowering emits.
    int64_t draftArena = 0;
    if (func::FuncOp draft = lookupDraft(module)) {
      auto peak = lower(module, draft, EntryKind::Draft, 0);
      if (failed(peak))
        return signalPassFailure();
      draftArena = *peak;
    }
    if (failed(lower(module, entry, EntryKind::Forward, draftArena)))
      return signalPassFailure();
    // Weight handles are now constant offsets into the weight buffer.
    for (WeightDefOp def :
         llvm::make_early_inc_range(module.getOps<WeightDefOp>()))
      def.erase();
  }

  /// Lowers one function; the arena bytes per token it needs.
  FailureOr<int64_t> lower(ModuleOp module, func::FuncOp fn, EntryKind kind,
                           int64_t arenaCover) {
    CPULowering lowering(module, fn, kind);
    lowering.coverArena(arenaCover);
    if (failed(lowering.begin()))
      return failure();
    RewritePatternSet patterns(&getContext());
    populateWeightProductLowerings(patterns, lowering);
    populateAttentionLowerings(patterns, lowering);
    populateNormLowerings(patterns, lowering);
    populateElementwiseLowerings(patterns, lowering);
    populateExpertLowerings(patterns, lowering);
    if (failed(
            lowerEntry(lowering, FrozenRewritePatternSet(std::move(patterns)))))
      return failure();
    lowering.finish();
    return lowering.arenaPeak();
  }
};

} // namespace
