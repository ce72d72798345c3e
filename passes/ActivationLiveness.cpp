//===- ActivationLiveness.cpp - when each activation dies -----------------===//

#include "passes/ActivationLiveness.h"

#include "mlir/IR/Operation.h"

using namespace mlir;

namespace gemmac {

ActivationLiveness
computeActivationLiveness(Block &body, function_ref<Value(Value)> storageOf,
                          function_ref<bool(Operation *)> reads) {
  ActivationLiveness live;
  int64_t i = 0;
  for (Operation &op : body)
    live.order[&op] = i++;
  for (Operation &op : body) {
    if (reads && !reads(&op))
      continue;
    int64_t at = live.order[&op];
    for (Value operand : op.getOperands())
      for (Value v = operand; v; v = storageOf ? storageOf(v) : Value()) {
        int64_t &last = live.lastUse[v];
        last = std::max(last, at);
      }
  }
  return live;
}

} // namespace gemmac
