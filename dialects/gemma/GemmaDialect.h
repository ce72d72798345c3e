//===- GemmaDialect.h - the gemma dialect -------------------------*- C++ -*-===//
#pragma once

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Dialect.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/SymbolTable.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "dialects/gemma/GemmaDialect.h.inc"
#include "dialects/gemma/GemmaEnums.h.inc"

#define GET_TYPEDEF_CLASSES
#include "dialects/gemma/GemmaTypes.h.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/gemma/GemmaAttrs.h.inc"

namespace gemmac::gemma {

/// The KV caches of a compiled model: attention reads them, kv_store writes.
struct KVCacheResource
    : public mlir::SideEffects::Resource::Base<KVCacheResource> {
  llvm::StringRef getName() final { return "gemma.kv_cache"; }
};

/// Elements per block and bytes per block of a storage format.
int64_t formatBlockElems(WeightFormat format);
int64_t formatBlockBytes(WeightFormat format);
/// True for the formats whose values are plain floats (usable for norms).
bool isFloatFormat(WeightFormat format);

/// Names of module attributes the importer records the model config under.
namespace attr {
inline constexpr llvm::StringLiteral kEntry = GemmaDialect::EntryAttrHelper::getNameStr();
inline constexpr llvm::StringLiteral kDraft = GemmaDialect::DraftAttrHelper::getNameStr();
} // namespace attr

/// The dialect, for its discardable attributes' accessors
/// (gemmaDialect(ctx)->getKvCacheTypeAttrHelper().getAttr(module)).
GemmaDialect *gemmaDialect(mlir::MLIRContext *context);

/// The module's KV cache element type (gemma.kv_cache_type): f16 unless the
/// module records f32 or f8E4M3FN (the verifier admits nothing else).
mlir::Type kvCacheType(mlir::ModuleOp module);

/// The K and V scales of the cache layer `owner` writes (gemma.kv_scales;
/// 1.0 without it). Only an E4M3 cache uses them.
std::pair<float, float> kvScales(mlir::ModuleOp module, int64_t owner);

/// compile-model --draft-max: at most this many tokens per speculative step
/// (a verify step of draft + 1 rows stays far below the batch size).
inline constexpr int64_t kMaxDraftTokens = 64;

/// The most tokens a speculative step drafts (gemma.draft_max; 0 without).
int64_t draftMax(mlir::ModuleOp module);

/// The module's function marked gemma.entry, or null when there is none.
mlir::func::FuncOp lookupEntry(mlir::ModuleOp module);
/// The MTP drafter's function (gemma.draft), if the module has one.
mlir::func::FuncOp lookupDraft(mlir::ModuleOp module);

} // namespace gemmac::gemma

#define GET_OP_CLASSES
#include "dialects/gemma/GemmaOps.h.inc"
