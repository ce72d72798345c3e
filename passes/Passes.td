//===- Passes.td - gemmac passes ---------------------------*- tablegen -*-===//
#ifndef GEMMAC_PASSES
#define GEMMAC_PASSES

include "mlir/Pass/PassBase.td"

#endif // GEMMAC_PASSES
