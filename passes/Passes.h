//===- Passes.h - gemmac passes ----------------------------------*- C++ -*-===//
#pragma once

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/Dialect/SPIRV/IR/SPIRVDialect.h"
#include "mlir/Pass/Pass.h"
#include "runtime/src/model_meta.h"

namespace gemmac {

#define GEN_PASS_DECL
#include "passes/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/Passes.h.inc"

/// Names shared by the lowering, the runtime ABI and the artifact writer.
namespace abi {
inline constexpr llvm::StringLiteral kForward = "gemmac_forward";
inline constexpr llvm::StringLiteral kKVBytes = "gemmac_kv_bytes";
inline constexpr llvm::StringLiteral kArenaBytes = "gemmac_arena_bytes";
inline constexpr llvm::StringLiteral kModelMeta = "gemmac_model_meta";
} // namespace abi

} // namespace gemmac
