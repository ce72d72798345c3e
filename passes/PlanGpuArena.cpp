//===- PlanGpuArena.cpp - place a GPU program's activations ---------------===//
//
// Every activation of a GPU program gets a slot of max_batch rows in the
// arena (first fit, ArenaPlanner.h), taken when its op computes it and given
// back after its last reader (ActivationLiveness.h), so every launch's
// ranges are compile-time constants and a backend binds each launch once per
// session. A slot is never shared with the op's own operands: results are
// placed before the operands that die at the op are released, since GPU
// kernels read neighbours of the element they write. An activation's int8
// blocks have a slot of their own (quants, then side values), written once,
// read by every quantized matvec of that activation, and released with it.
//
// The pass replaces each gemma.gpu_slot by the gemma.gpu_view of its arena
// range and records the arena's size and the logits' offset in
// gemma.gpu_arena.
//
//===----------------------------------------------------------------------===//

#include "compiler/targets/gpu/kernels/KernelLibrary.h"
#include "dialects/gemma/GemmaDialect.h"
#include "passes/ActivationLiveness.h"
#include "passes/ArenaPlanner.h"
#include "passes/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/DenseMap.h"

namespace gemmac {
#define GEN_PASS_DEF_PLANGPUARENA
#include "passes/Passes.h.inc"
} // namespace gemmac

using namespace mlir;
using namespace gemmac;
using namespace gemmac::gemma;

namespace {

constexpr int64_t kBatch = gpukernels::kMaxBatch;
constexpr int64_t kSlotAlign = 256; // per-row bytes; x max_batch stays aligned

int64_t alignSlot(int64_t bytes) {
  return (bytes + kSlotAlign - 1) / kSlotAlign * kSlotAlign;
}

/// The per-row layout of a value's slot.
struct SlotLayout {
  int64_t bytes = 0;       // the whole slot
  int64_t quantsBytes = 0; // int8 blocks: the quants' part, then the aux
  int64_t auxBytes = 0;
};

SlotLayout layoutOf(Type type) {
  if (auto blocks = dyn_cast<ActBlocksType>(type)) {
    auto q = static_cast<gpukernels::ActQuant>(blocks.getQuantizer());
    int64_t cols = blocks.getCols();
    SlotLayout l;
    l.quantsBytes = alignSlot(cols);
    l.auxBytes =
        cols / gpukernels::actBlockElems(q) * gpukernels::actAuxPerBlock(q) * 4;
    l.bytes = l.quantsBytes + alignSlot(l.auxBytes);
    return l;
  }
  return {alignSlot(cast<RankedTensorType>(type).getDimSize(1) * 4)};
}

/// The activation whose storage int8 blocks belong to (they die with it).
Value blocksSource(Value v) {
  if (!isa<ActBlocksType>(v.getType()))
    return {};
  if (auto q = v.getDefiningOp<QuantizeActivationOp>())
    return q.getInput();
  if (auto n = v.getDefiningOp<RMSNormQuantizeOp>())
    return n.getResult();
  return {};
}

bool isActivation(Value v) {
  return isa<RankedTensorType, ActBlocksType>(v.getType());
}

struct Slot {
  int64_t offset = 0;
  SlotLayout layout;
  bool live = true;
  SmallVector<Value> blocks; // int8 blocks released with this value
};

struct PlanGpuArenaPass
    : public gemmac::impl::PlanGpuArenaBase<PlanGpuArenaPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    func::FuncOp entry = lookupEntry(module);
    if (!entry || !entry.getBody().hasOneBlock()) {
      module.emitError("no single-block function marked gemma.entry");
      return signalPassFailure();
    }
    Block &body = entry.front();
    bool planned = !body.getOps<GpuArenaOp>().empty();
    if (planned && body.getOps<GpuSlotOp>().empty())
      return; // placed before
    if (planned) {
      entry.emitOpError("has gemma.gpu_slot ops and a gemma.gpu_arena");
      return signalPassFailure();
    }
    if (failed(place(body)))
      return signalPassFailure();
  }

  LogicalResult place(Block &body) {
    // gemma.gpu_slot only names a launch's argument; the op reads it.
    ActivationLiveness live = computeActivationLiveness(
        body, blocksSource, [](Operation *op) { return !isa<GpuSlotOp>(op); });
    Value returned = body.getTerminator()->getOperand(0);
    for (Operation &op : body) {
      if (isa<GpuSlotOp>(op))
        continue;
      for (Value result : op.getResults())
        if (isActivation(result))
          allocate(result);
      // Operands whose last reader this is give their slots back; results
      // were placed first, so a kernel never writes what it reads.
      for (Value operand : op.getOperands()) {
        Value v = blocksSource(operand) ? blocksSource(operand) : operand;
        auto it = slots.find(v);
        if (it != slots.end() && it->second.live && v != returned &&
            live.lastUseOf(v) == live.order.lookup(&op))
          release(it->second);
      }
    }
    auto out = slots.find(returned);
    if (out == slots.end())
      return body.getTerminator()->emitOpError(
          "returns a value no op computes");

    for (GpuSlotOp s : llvm::make_early_inc_range(body.getOps<GpuSlotOp>())) {
      auto it = slots.find(s.getValue());
      if (it == slots.end())
        return s.emitOpError("names a value no earlier op computes");
      const Slot &slot = it->second;
      int64_t offset = slot.offset, bytes = slot.layout.bytes;
      if (s.getPart() == GpuSlotPart::quants) {
        bytes = cast<ActBlocksType>(s.getValue().getType()).getCols();
      } else if (s.getPart() == GpuSlotPart::aux) {
        offset += slot.layout.quantsBytes;
        bytes = slot.layout.auxBytes;
      }
      OpBuilder b(s);
      Value view =
          GpuViewOp::create(b, s.getLoc(), s.getType(), GpuSpace::arena,
                            offset * kBatch, 0, bytes * kBatch, 0);
      s.replaceAllUsesWith(view);
      s.erase();
    }
    OpBuilder b = OpBuilder::atBlockBegin(&body);
    GpuArenaOp::create(b, body.getParentOp()->getLoc(), arena.peak * kBatch,
                       out->second.offset * kBatch);
    return success();
  }

  void allocate(Value v) {
    Slot s;
    s.layout = layoutOf(v.getType());
    s.offset = arena.allocate(s.layout.bytes);
    slots[v] = s;
    if (Value source = blocksSource(v)) {
      auto it = slots.find(source);
      if (it != slots.end())
        it->second.blocks.push_back(v);
    }
  }

  void release(Slot &s) {
    arena.release(s.offset, s.layout.bytes);
    s.live = false;
    for (Value v : s.blocks) {
      Slot &b = slots.find(v)->second;
      if (b.live) {
        arena.release(b.offset, b.layout.bytes);
        b.live = false;
      }
    }
  }

  ArenaPlanner arena;
  llvm::DenseMap<Value, Slot> slots;
};

} // namespace
