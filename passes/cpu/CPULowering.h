//===- CPULowering.h - what the CPU lowering patterns share -----*- C++ -*-===//
//
// gemma-lower-to-cpu (passes/LowerToCPU.cpp) rewrites the tensor-level entry
// function into `gemmac_forward(rt, weights, kv, arena, tokens, logits,
// hidden, n_tokens, positions, seqs, n_seqs, out_rows, n_out, n_ctx, kv_slots,
// kv_stride)` (abi/program_table.h): a straight line of kernel calls and
// loops over views of byte buffers. One pattern per gemma op, grouped one file per
// op family in this folder, builds that op's code; this header is what they
// share:
//   - CPULowering: the entry point's values, where every activation lives
//     (arena views planned by liveness with passes/ArenaPlanner.h), and the
//     builders for views, constants, loops and catalogue kernel calls;
//   - CPUOpLowering<Op>: the base of every pattern.
// The pass visits the entry's ops in order and applies the pattern of each,
// so an op's pattern runs after those of its operands and the arena plan
// follows program order. Adding an op is one pattern in its family's file.
//
//===----------------------------------------------------------------------===//
#pragma once

#include "dialects/gemma/GemmaDialect.h"
#include "passes/ArenaPlanner.h"
#include "passes/KernelCatalogue.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/PatternMatch.h"
#include "llvm/ADT/DenseMap.h"

#include <map>
#include <vector>

namespace gemmac::cpu {

/// Where an activation lives: a range of the arena (or the caller's logits).
struct Buffer {
  int64_t offset = 0; // per-token bytes into the arena
  int64_t size = 0;   // 0 once released
  int64_t lastUse = -1;
  bool external = false; // the logits buffer: never released
};

/// An activation and the view it is read and written through.
struct Activation {
  mlir::Value view; // memref<?xf32> over rows * width elements
  mlir::Value rows; // index: the token count or n_out
  int64_t width = 0;
  int buffer = -1;
};

/// Which C entry point a tensor-level function becomes.
enum class EntryKind {
  Forward, // the model's step: gemmac_forward
  Draft,   // the MTP drafter's step (gemma.draft): gemmac_draft, which
           // takes the hidden rows h_in as one more argument
};

class CPULowering {
public:
  CPULowering(mlir::ModuleOp module, mlir::func::FuncOp entry,
              EntryKind kind = EntryKind::Forward);

  /// Checks the module and the entry, plans the KV caches and the entry's
  /// liveness, and builds the new entry point up to its body.
  mlir::LogicalResult begin();
  /// Starts lowering `op`: code goes to the end of the new body, at op's
  /// location.
  void beginOp(mlir::Operation *op);
  /// Gives back the arena ranges whose last reader was `op`.
  void endOp(mlir::Operation *op);
  /// Closes the new entry point and removes the tensor-level function; the
  /// forward lowering also emits the size functions and the model meta.
  void finish();
  /// Arena bytes per token the lowered function needs (after finish()).
  int64_t arenaPeak() const { return planner.peak; }
  /// The forward's arena size covers at least `peak` bytes per token (the
  /// drafter's, which shares the arena).
  void coverArena(int64_t peak) { arenaCover = peak; }

  mlir::PatternRewriter &rewriter() { return b; }
  mlir::MLIRContext *getContext() { return ctx; }
  mlir::ModuleOp getModule() { return module; }
  /// The tensor-level entry's ops, in program order.
  mlir::Block &entryBlock() { return entry.front(); }

  // -- the entry point's values --------------------------------------------
  mlir::Value rt, weights, kv, arena, tokens, logitsBytes, nTokens, nCtx, nOut;
  /// The step's rows (abi/step.h): each row's position (memref<?xi64>), the
  /// segment table and its length, the rows whose outputs are wanted.
  mlir::Value positions, seqs, nSeqs, outRows;
  /// Elements (of kvElement) from one KV slot's caches to the next.
  mlir::Value seqStride;
  /// The caller's hidden-state pointer (may be null): the final norm's rows
  /// (the output projection's input) are copied there.
  mlir::Value hiddenPtr;
  /// The KV caches' element type (module attribute gemma.kv_cache_type; an
  /// E4M3 cache's views are i8).
  mlir::Type kvElement;
  int64_t kvBytes = 2;
  llvm::StringRef kvName = "f16";

  // -- builders at the current op ------------------------------------------
  mlir::Location loc() const { return currentLoc; }
  mlir::Value idx(int64_t v);
  mlir::Value f32(float v);
  mlir::Value i32(int32_t v);
  mlir::Value mul(mlir::Value a, mlir::Value c);
  mlir::Value add(mlir::Value a, mlir::Value c);
  /// A view of `count` elements of `elem` at byte `shift` of a byte buffer.
  mlir::Value view(mlir::Value bytes, mlir::Value shift, mlir::Value count,
                   mlir::Type elem);
  /// A linalg.generic over 1-D views: out[i] = body(ins[i]...).
  void
  elementwise(llvm::ArrayRef<mlir::Value> ins, mlir::Value out,
              llvm::function_ref<mlir::Value(mlir::OpBuilder &, mlir::Location,
                                             mlir::ValueRange)>
                  body);

  /// A call of catalogue kernel `name` (abi/kernels.def) for `op`, its
  /// arguments checked against the kernel's signature.
  mlir::LogicalResult callKernel(mlir::Operation *op, llvm::StringRef name,
                                 llvm::ArrayRef<mlir::Value> args);
  mlir::LogicalResult callKernel(mlir::Operation *op, const KernelRow &row,
                                 llvm::ArrayRef<mlir::Value> args);
  /// The kernel of a weight op: the one gemma-select-kernels chose, else the
  /// default of `kind` for the weights' format and layout. It must read the
  /// weights' format and layout.
  mlir::FailureOr<const KernelRow *>
  weightKernel(mlir::Operation *op, llvm::StringRef kind,
               llvm::ArrayRef<mlir::Value> handles);
  /// The catalogue's kernel of `kind` for `format` in `variant`; an error on
  /// `op` when the runtime has none.
  mlir::FailureOr<const KernelRow *>
  catalogueKernel(mlir::Operation *op, llvm::StringRef kind,
                  llvm::StringRef format, llvm::StringRef variant = "");
  /// The bytes of a weight (a gemma.weight handle) in the weight buffer.
  mlir::Value weightView(mlir::Value handle);
  /// A weight's format id (an 'n' kernel argument: the kernel reads a
  /// vector weight of any float format).
  mlir::Value weightFormat(mlir::Value handle);
  /// The weight definition a gemma.weight handle names.
  gemma::WeightDefOp weightDef(mlir::Value handle);
  /// The plan of KV cache `cache`; an error on `op` when the plan lacks it.
  mlir::FailureOr<gemma::KVCacheAttr> kvCache(mlir::Operation *op,
                                              int64_t cache);
  /// K and V arrays of a cache and its capacity in rows.
  struct CacheViews {
    mlir::Value k, v, capacity;
  };
  CacheViews cacheViews(gemma::KVCacheAttr cache);
  /// Where the caches lie for a context of `nCtx` tokens: a ring (a sliding
  /// window's cache) holds min(window, nCtx rounded up to 64) rows, so a
  /// context shorter than the window does not pay for the whole window;
  /// the per-context caches follow the rings.
  struct KVLayout {
    mlir::Value ringsEnd; // bytes of all rings, 64-aligned
    llvm::DenseMap<int64_t, mlir::Value> ringOffset, ringRows;
  };
  KVLayout kvLayout(mlir::Value nCtx);

  // -- activations ----------------------------------------------------------
  /// The activation an earlier op computed for `v`.
  Activation &act(mlir::Value v) { return acts[v]; }
  bool isComputed(mlir::Value v) const { return acts.count(v); }
  /// Places `result` ([rows, width] f32): in the caller's logits buffer when
  /// the entry returns it, in place of `reuseFrom` when that dies here and
  /// has the same size, else in a new arena range.
  Activation &allocate(mlir::Value result, mlir::Value rows,
                       mlir::Value reuseFrom = {});
  /// Whether the entry returns `v` (it is written to the caller's buffer).
  bool isReturned(mlir::Value v) const { return v == returned; }

  /// An error was reported on some op: the pass fails once the patterns ran.
  void markFailed() { anyFailed = true; }
  bool hasFailed() const { return anyFailed; }

private:
  mlir::LogicalResult checkEntry();
  void findHidden();
  void copyHidden();
  void computeLiveness();
  void emitSizeFunctions();

  mlir::ModuleOp module;
  mlir::func::FuncOp entry;
  EntryKind kind;
  int64_t arenaCover = 0;
  mlir::PatternRewriter b;
  mlir::MLIRContext *ctx;
  mlir::Location currentLoc;
  mlir::Block *body = nullptr;        // the new entry point's
  mlir::Operation *arenaOp = nullptr; // its arena buffer, sized at the end
  mlir::Value returned;               // the tensor the old entry returns
  mlir::Value hidden; // the output projection's input: the final hidden state

  std::map<int64_t, gemma::KVCacheAttr> plan;
  int64_t kvPerCtxBytes = 0;
  KVLayout kvAtEntry; // kvLayout(n_ctx) at the entry point's start
  llvm::SmallVector<int64_t> meta; // gemmac_model_meta

  llvm::DenseMap<mlir::Operation *, int64_t> order;
  llvm::DenseMap<mlir::Value, int64_t> lastUse;
  llvm::DenseMap<mlir::Value, Activation> acts;
  std::vector<Buffer> buffers;
  ArenaPlanner planner;
  int64_t current = 0;
  bool anyFailed = false;
};

/// The base of the CPU lowering patterns: a pattern for gemma op OpT whose
/// `lower` builds the op's code through the shared CPULowering. The pattern
/// matches every OpT; an error is recorded for the pass rather than letting
/// the pattern driver try another.
template <typename OpT>
class CPUOpLowering : public mlir::OpRewritePattern<OpT> {
public:
  explicit CPUOpLowering(CPULowering &lowering)
      : mlir::OpRewritePattern<OpT>(lowering.getContext()), lowering(lowering) {
  }

  mlir::LogicalResult matchAndRewrite(OpT op,
                                      mlir::PatternRewriter &) const final {
    lowering.beginOp(op);
    if (mlir::failed(lower(op, lowering)))
      lowering.markFailed();
    return mlir::success();
  }

protected:
  virtual mlir::LogicalResult lower(OpT op, CPULowering &l) const = 0;

private:
  CPULowering &lowering;
};

/// gmk_rope rotating `in` into `out` (which may be `in`): `numHeads` heads of
/// `headDim` at the step's positions (Attention.cpp).
mlir::LogicalResult callRope(CPULowering &l, mlir::Operation *op,
                             const Activation &out, const Activation &in,
                             int64_t numHeads, int64_t headDim,
                             gemma::RopeAttr rope);

/// The patterns of each op family, one file each.
/// WeightProducts.cpp: gemma.embed, gemma.linear (projections and logits),
/// gemma.geglu.
void populateWeightProductLowerings(mlir::RewritePatternSet &patterns,
                                    CPULowering &lowering);
/// Attention.cpp: gemma.attention, gemma.kv_store, gemma.rope.
void populateAttentionLowerings(mlir::RewritePatternSet &patterns,
                                CPULowering &lowering);
/// Norms.cpp: gemma.rms_norm, gemma.rms_norm_add, gemma.rms_norm_rope.
void populateNormLowerings(mlir::RewritePatternSet &patterns,
                           CPULowering &lowering);
/// Elementwise.cpp: gemma.add/mul/scale/scale_by_weight/gelu/softcap and the
/// slices gemma.column_slice/last_rows.
void populateElementwiseLowerings(mlir::RewritePatternSet &patterns,
                                  CPULowering &lowering);
/// Experts.cpp: gemma.moe_route, expert_linear, expert_geglu, expert_scale,
/// moe_combine and the router's gemma.scale_columns.
void populateExpertLowerings(mlir::RewritePatternSet &patterns,
                             CPULowering &lowering);

} // namespace gemmac::cpu
