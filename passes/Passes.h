//===- Passes.h - gemmac passes ----------------------------------*- C++ -*-===//
#pragma once

#include "abi/model_abi.h"

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

namespace gemmac {

#define GEN_PASS_DECL
#include "passes/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "passes/Passes.h.inc"

/// The program's symbols (abi/model_abi.h) as the lowering spells them.
namespace abi {
inline constexpr llvm::StringLiteral kForward = kForwardSymbol;
inline constexpr llvm::StringLiteral kDraft = kDraftSymbol;
inline constexpr llvm::StringLiteral kKVBytes = kKVBytesSymbol;
inline constexpr llvm::StringLiteral kArenaBytes = kArenaBytesSymbol;
inline constexpr llvm::StringLiteral kModelMeta = kModelMetaSymbol;
} // namespace abi

} // namespace gemmac
