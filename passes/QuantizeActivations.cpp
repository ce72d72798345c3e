//===- QuantizeActivations.cpp - int8 blocks for quantized matvecs --------===//
//
// A linear or geglu (or expert product) over a quantized weight multiplies
// its input's int8 blocks (llama.cpp's vec_dot_type). Each (activation, quantizer) gets one
// gemma.quantize_activation, placed before its first reader, whose result
// every such matvec reads: q, k and v share one.
//
//===----------------------------------------------------------------------===//

#include "dialects/gemma/GemmaDialect.h"
#include "passes/Passes.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/DenseMap.h"

namespace gemmac {
#define GEN_PASS_DEF_QUANTIZEACTIVATIONS
#include "passes/Passes.h.inc"
} // namespace gemmac

using namespace mlir;
using namespace gemmac::gemma;

namespace {

struct QuantizeActivationsPass
    : public gemmac::impl::QuantizeActivationsBase<QuantizeActivationsPass> {
  void runOnOperation() override {
    llvm::DenseMap<std::pair<Value, unsigned>, Value> blocks;
    getOperation().walk([&](Operation *op) {
      WeightType weight;
      if (auto l = dyn_cast<LinearOp>(op))
        weight = l.getWeight().getType();
      else if (auto g = dyn_cast<GeGLUOp>(op))
        weight = g.getGate().getType();
      else if (auto e = dyn_cast<ExpertLinearOp>(op))
        weight = e.getWeight().getType();
      else if (auto e = dyn_cast<ExpertGeGLUOp>(op))
        weight = e.getGate().getType();
      else
        return;
      Value input = op->getOperand(0);
      std::optional<ActQuantizer> q =
          ActBlocksType::quantizerFor(weight.getFormat());
      if (!q || !isa<RankedTensorType>(input.getType()))
        return; // float weights read f32 rows; blocks are already blocks
      Value &quantized = blocks[{input, static_cast<unsigned>(*q)}];
      if (!quantized) {
        // The blocks span the input's rows: an expert product's per-slot
        // input holds k rows of `cols` each.
        OpBuilder b(op);
        int64_t cols = cast<RankedTensorType>(input.getType()).getDimSize(1);
        quantized = QuantizeActivationOp::create(
            b, op->getLoc(), ActBlocksType::get(&getContext(), *q, cols),
            input);
      }
      op->setOperand(0, quantized);
    });
  }
};

} // namespace
