//===- CPULowering.cpp - the state the CPU lowering patterns share --------===//
//
// Buffers of the new entry point:
//   - activations live in a scratch arena. Every activation is [tokens, width]
//     and all of them scale with the token count, so offsets are planned once
//     per token and multiplied by n_tokens at run time;
//   - KV caches: a ring of `window` rows per sliding cache (independent of the
//     context), `n_ctx` rows per global cache;
//   - the returned logits are written straight into the caller's buffer;
//   - the final hidden state (the output projection's input) is copied to the
//     caller's `hidden` buffer when it passes one.
//
//===----------------------------------------------------------------------===//

#include "passes/cpu/CPULowering.h"
#include "abi/step.h"
#include "passes/ActivationLiveness.h"
#include "passes/KVPlan.h"
#include "passes/KernelCatalogue.h"
#include "passes/ModelMeta.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"

using namespace mlir;
using namespace gemmac;
using namespace gemmac::cpu;
using namespace gemmac::gemma;

namespace {

constexpr int64_t kAlign = 64;
using abi::kMaxBatch; // tokens per forward call (runtime chunks)

int64_t alignUp(int64_t x) { return (x + kAlign - 1) / kAlign * kAlign; }

int64_t widthOf(Value v) {
  return cast<RankedTensorType>(v.getType()).getDimSize(1);
}

MemRefType dyn(Type elem) {
  return MemRefType::get({ShapedType::kDynamic}, elem);
}

} // namespace

CPULowering::CPULowering(ModuleOp module, func::FuncOp entry, EntryKind kind)
    : module(module), entry(entry), kind(kind), b(module.getContext()),
      ctx(module.getContext()), currentLoc(entry.getLoc()) {}

// -- builders -----------------------------------------------------------------

Value CPULowering::idx(int64_t v) {
  return arith::ConstantIndexOp::create(b, currentLoc, v);
}
Value CPULowering::f32(float v) {
  return arith::ConstantOp::create(b, currentLoc, b.getF32FloatAttr(v));
}
Value CPULowering::i32(int32_t v) {
  return arith::ConstantOp::create(b, currentLoc, b.getI32IntegerAttr(v));
}
Value CPULowering::mul(Value a, Value c) {
  return arith::MulIOp::create(b, currentLoc, a, c);
}
Value CPULowering::add(Value a, Value c) {
  return arith::AddIOp::create(b, currentLoc, a, c);
}
Value CPULowering::view(Value bytes, Value shift, Value count, Type elem) {
  return memref::ViewOp::create(b, currentLoc, dyn(elem), bytes, shift,
                                ValueRange{count});
}

void CPULowering::elementwise(
    ArrayRef<Value> ins, Value out,
    function_ref<Value(OpBuilder &, Location, ValueRange)> body) {
  SmallVector<AffineMap> maps(ins.size() + 1,
                              AffineMap::getMultiDimIdentityMap(1, ctx));
  linalg::GenericOp::create(
      b, currentLoc, ValueRange(ins), ValueRange{out}, maps,
      SmallVector<utils::IteratorType>{utils::IteratorType::parallel},
      [&](OpBuilder &nb, Location l, ValueRange args) {
        linalg::YieldOp::create(nb, l, body(nb, l, args.drop_back()));
      });
}

// -- kernels, weights and caches
// ------------------------------------------------

LogicalResult CPULowering::callKernel(Operation *op, StringRef name,
                                      ArrayRef<Value> args) {
  const KernelRow *row = lookupKernel(name);
  if (!row)
    return op->emitOpError("kernel '")
           << name << "' is not in the runtime's catalogue (abi/kernels.def)";
  return callKernel(op, *row, args);
}

LogicalResult CPULowering::callKernel(Operation *op, const KernelRow &row,
                                      ArrayRef<Value> args) {
  return buildKernelCall(b, currentLoc, op, module, row, args);
}

FailureOr<const KernelRow *>
CPULowering::weightKernel(Operation *op, StringRef kind,
                          ArrayRef<Value> handles) {
  bool interleaved = false;
  for (auto [i, handle] : llvm::enumerate(handles)) {
    WeightDefOp def = weightDef(handle);
    if (i > 0 && def.isInterleaved() != interleaved)
      return op->emitOpError("reads weights in different layouts");
    interleaved = def.isInterleaved();
  }
  WeightType t = cast<WeightType>(handles.front().getType());
  StringRef format = stringifyWeightFormat(t.getFormat());
  // The kernel gemma-select-kernels chose, else the catalogue's for the
  // weights' format and layout.
  FailureOr<const KernelRow *> row = chosenKernel(op);
  if (succeeded(row) && !*row)
    row = catalogueKernel(op, kind, format, interleaved ? "x8" : "");
  if (failed(row))
    return failure();
  if ((*row)->isInterleaved() != interleaved)
    return op->emitOpError("kernel '")
           << (*row)->symbol << "' does not read the "
           << (interleaved ? "x8" : "rows") << " layout of its weights";
  if ((*row)->format != format)
    return op->emitOpError("kernel '")
           << (*row)->symbol << "' reads " << (*row)->format << " weights, not "
           << format;
  return row;
}

FailureOr<const KernelRow *> CPULowering::catalogueKernel(Operation *op,
                                                          StringRef kind,
                                                          StringRef format,
                                                          StringRef variant) {
  if (const KernelRow *row = findKernel(kind, format, variant))
    return row;
  InFlightDiagnostic diag = op->emitOpError("the runtime has no ")
                            << kind << " kernel for " << format;
  if (!variant.empty())
    diag << " (" << variant << ")";
  return failure();
}

Value CPULowering::weightFormat(Value handle) {
  return i32(static_cast<int32_t>(cast<WeightType>(handle.getType()).getFormat()));
}

WeightDefOp CPULowering::weightDef(Value handle) {
  return module.lookupSymbol<WeightDefOp>(
      handle.getDefiningOp<WeightOp>().getNameAttr());
}

Value CPULowering::weightView(Value handle) {
  WeightDefOp def = weightDef(handle);
  WeightType type = def.getWeightType();
  return view(weights, idx(*def.getBlobOffset()), idx(type.getStorageBytes()),
              b.getI8Type());
}

FailureOr<KVCacheAttr> CPULowering::kvCache(Operation *op, int64_t cache) {
  auto it = plan.find(cache);
  if (it == plan.end())
    return op->emitOpError("uses KV cache ")
           << cache << ", which the plan lacks";
  return it->second;
}

CPULowering::KVLayout CPULowering::kvLayout(Value nCtx) {
  KVLayout layout;
  Value rows64 = mul(arith::DivUIOp::create(b, currentLoc, add(nCtx, idx(63)),
                                            idx(64)),
                     idx(64));
  Value end = idx(0);
  for (auto &[owner, c] : plan) {
    if (!c.getRows())
      continue;
    Value shorter = arith::CmpIOp::create(b, currentLoc, arith::CmpIPredicate::ult,
                                          rows64, idx(c.getRows()));
    // A whole window keeps its planned (64-aligned) size; rows64 rows are
    // 64-byte multiples already.
    int64_t rowBytes = 2 * c.getWidth() * kvBytes;
    int64_t windowBytes = (c.getRows() * rowBytes + 63) / 64 * 64;
    Value bytes = arith::SelectOp::create(b, currentLoc, shorter,
                                          mul(rows64, idx(rowBytes)),
                                          idx(windowBytes));
    layout.ringOffset[owner] = end;
    layout.ringRows[owner] =
        arith::SelectOp::create(b, currentLoc, shorter, rows64, idx(c.getRows()));
    end = add(end, bytes);
  }
  layout.ringsEnd = end;
  return layout;
}

/// K at its offset (a ring's, or after the rings + per_token * n_ctx), V
/// after it.
CPULowering::CacheViews CPULowering::cacheViews(KVCacheAttr c) {
  Value capacity = c.getRows() ? kvAtEntry.ringRows.lookup(c.getOwner()) : nCtx;
  Value base = c.getRows()
                   ? kvAtEntry.ringOffset.lookup(c.getOwner())
                   : add(kvAtEntry.ringsEnd, mul(nCtx, idx(c.getPerToken())));
  Value elems = mul(capacity, idx(c.getWidth()));
  Value k = view(kv, base, elems, kvElement);
  Value v = view(kv, add(base, mul(elems, idx(kvBytes))), elems, kvElement);
  return {k, v, capacity};
}

// -- activations
// ----------------------------------------------------------------

void CPULowering::computeLiveness() {
  ActivationLiveness live =
      computeActivationLiveness(entry.front());
  order = std::move(live.order);
  lastUse = std::move(live.lastUse);
}

Activation &CPULowering::allocate(Value result, Value rows, Value reuseFrom) {
  Activation a;
  a.rows = rows;
  a.width = widthOf(result);
  Value count = mul(rows, idx(a.width));
  if (result == returned) {
    // The model's output goes straight to the caller's logits buffer.
    a.view = view(logitsBytes, idx(0), count, b.getF32Type());
    buffers.push_back({0, 0, lastUse.lookup(result), true});
    a.buffer = buffers.size() - 1;
    return acts[result] = a;
  }
  int64_t size = alignUp(a.width * 4);
  if (reuseFrom) {
    Activation &src = acts[reuseFrom];
    Buffer &buf = buffers[src.buffer];
    if (!buf.external && buf.lastUse == current &&
        buf.size == size && lastUse.lookup(reuseFrom) == current) {
      // Elementwise op on a value that dies here: write in place.
      buf.lastUse = lastUse.lookup(result);
      a.buffer = src.buffer;
      a.view = src.view;
      return acts[result] = a;
    }
  }
  int64_t offset = planner.allocate(size);
  buffers.push_back({offset, size, lastUse.lookup(result), false});
  a.buffer = buffers.size() - 1;
  a.view = view(arena, mul(nTokens, idx(offset)), count, b.getF32Type());
  return acts[result] = a;
}

void CPULowering::beginOp(Operation *op) {
  currentLoc = op->getLoc();
  current = order.lookup(op);
  b.setInsertionPointToEnd(body);
}

void CPULowering::endOp(Operation *op) {
  if (hidden && hidden.getDefiningOp() == op)
    copyHidden(); // before its buffer can be given back
  int64_t index = order.lookup(op);
  for (Buffer &buf : buffers)
    if (!buf.external && buf.size > 0 && buf.lastUse == index) {
      planner.release(buf.offset, buf.size);
      buf.size = 0; // released
    }
}

// -- the entry point
// --------------------------------------------------------------

LogicalResult CPULowering::checkEntry() {
  if (!entry.getBody().hasOneBlock())
    return entry.emitOpError("entry must be a single block");
  // The tensor-level signature: (tokens, pos0, num_outputs); the C entry
  // point replaces pos0 with the step's rows and num_outputs with out_rows.
  // The drafter's: (tokens, hidden rows, pos0, num_outputs) -> (logits,
  // next hidden rows).
  FunctionType fnType = entry.getFunctionType();
  const bool draft = kind == EntryKind::Draft;
  const unsigned inputs = draft ? 4 : 3, results = draft ? 2 : 1;
  auto tokensType = dyn_cast<RankedTensorType>(
      fnType.getNumInputs() ? fnType.getInput(0) : Type());
  auto hiddenType = draft && fnType.getNumInputs() > 1
                        ? dyn_cast<RankedTensorType>(fnType.getInput(1))
                        : RankedTensorType();
  if (fnType.getNumInputs() != inputs || !tokensType ||
      tokensType.getRank() != 1 || !tokensType.getElementType().isInteger(32) ||
      (draft && (!hiddenType || hiddenType.getRank() != 2 ||
                 !hiddenType.getElementType().isF32())) ||
      !fnType.getInput(inputs - 2).isIndex() ||
      !fnType.getInput(inputs - 1).isIndex() ||
      fnType.getNumResults() != results)
    return entry.emitOpError(
        draft ? "the drafter must take (tensor<?xi32> tokens, tensor<?xHxf32> "
                "hidden, index pos0, index num_outputs) and return (logits, "
                "hidden)"
              : "entry must take (tensor<?xi32> tokens, index pos0, index "
                "num_outputs) and return the logits");
  if (!gemmaDialect(ctx)->getWeightsBytesAttrHelper().isAttrPresent(module))
    return module.emitError("weights have no blob layout; run "
                            "gemma-layout-weights first");
  kvElement = b.getF16Type();
  if (kvCacheType(module).isF32()) { // the dialect admits f16, f32 or E4M3
    kvElement = b.getF32Type();
    kvBytes = 4;
    kvName = "f32";
  } else if (isa<Float8E4M3FNType>(kvCacheType(module))) {
    kvElement = b.getI8Type();
    kvBytes = 1;
    kvName = "f8";
  }
  return success();
}

/// A model returns softcap?(linear(hidden, output projection)); an entry
/// that returns something else (a fragment) has no hidden state to give, and
/// its model meta says so (kMetaHiddenOutput 0).
void CPULowering::findHidden() {
  if (kind == EntryKind::Draft) { // the next draft step's input
    hidden = cast<func::ReturnOp>(entry.front().getTerminator()).getOperand(1);
    return;
  }
  Value logits = returned;
  if (auto cap = logits.getDefiningOp<SoftcapOp>())
    logits = cap.getInput();
  if (auto head = logits.getDefiningOp<LinearOp>())
    if (isa<RankedTensorType>(head.getInput().getType()))
      hidden = head.getInput();
}

/// if (hidden != null) hidden[0 .. rows * width) = the hidden state's rows.
void CPULowering::copyHidden() {
  b.setInsertionPointToEnd(body);
  const Activation &h = acts[hidden];
  Value count = mul(h.rows, idx(h.width));
  auto ptr = LLVM::LLVMPointerType::get(ctx);
  Value null = LLVM::ZeroOp::create(b, currentLoc, ptr);
  Value given = LLVM::ICmpOp::create(b, currentLoc, LLVM::ICmpPredicate::ne,
                                     hiddenPtr, null);
  auto ifOp = scf::IfOp::create(b, currentLoc, given, /*withElseRegion=*/false);
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(ifOp.thenBlock());
  Value bytes = BufferOp::create(b, currentLoc, dyn(b.getI8Type()), hiddenPtr,
                                 mul(count, idx(4)));
  elementwise({h.view}, view(bytes, idx(0), count, b.getF32Type()),
              [](OpBuilder &, Location, ValueRange args) { return args[0]; });
}

LogicalResult CPULowering::begin() {
  if (failed(checkEntry()))
    return failure();
  const bool draft = kind == EntryKind::Draft;
  // The drafter reads the caches the model's step plans.
  func::FuncOp model = draft ? lookupEntry(module) : entry;
  if (!model)
    return module.emitError("a drafter needs the function marked gemma.entry");
  auto recorded = moduleKVPlan(module, model);
  if (failed(recorded))
    return failure();
  plan = std::move(*recorded);
  kvPerCtxBytes = kvPlanSize(plan, kvBytes).perToken;
  returned = cast<func::ReturnOp>(entry.front().getTerminator()).getOperand(0);
  findHidden();
  if (!draft) {
    meta = computeModelMeta(module, entry, kMaxBatch);
    meta[abi::kMetaHiddenOutput] = hidden ? 1 : 0;
  }
  computeLiveness();

  // The C entry point (abi/program_table.h).
  auto ptr = LLVM::LLVMPointerType::get(ctx);
  auto idxTy = b.getIndexType();
  b.setInsertionPointToEnd(module.getBody());
  currentLoc = entry.getLoc();
  SmallVector<Type> args = {ptr,   ptr, ptr,   ptr,   ptr,   ptr,
                            ptr,   idxTy, ptr, ptr,   idxTy, ptr,
                            idxTy, idxTy, idxTy, idxTy};
  if (draft)
    args.push_back(ptr); // h_in
  auto fn = func::FuncOp::create(b, currentLoc,
                                 draft ? abi::kDraft : abi::kForward,
                                 b.getFunctionType(args, {}));
  body = fn.addEntryBlock();
  b.setInsertionPointToStart(body);
  rt = body->getArgument(0);
  hiddenPtr = body->getArgument(6);
  nTokens = body->getArgument(7);
  nSeqs = body->getArgument(10);
  nOut = body->getArgument(12);
  nCtx = body->getArgument(13);
  Value kvSlots = body->getArgument(14), kvStride = body->getArgument(15);
  auto bytesTy = dyn(b.getI8Type());
  int64_t weightBytes =
      gemmaDialect(ctx)->getWeightsBytesAttrHelper().getAttr(module).getInt();
  weights = BufferOp::create(b, currentLoc, bytesTy, body->getArgument(1),
                             idx(weightBytes));
  kvAtEntry = kvLayout(nCtx);
  // Slot s's caches lie kv_stride bytes after slot s - 1's; the views are
  // slot 0's, and kernels reach a slot through seqStride elements.
  kv = BufferOp::create(b, currentLoc, bytesTy, body->getArgument(2),
                        mul(kvSlots, kvStride));
  seqStride = arith::DivUIOp::create(b, currentLoc, kvStride, idx(kvBytes));
  auto i64Array = [&](unsigned arg, Value count) {
    Value bytes = BufferOp::create(b, currentLoc, bytesTy,
                                   body->getArgument(arg), mul(count, idx(8)));
    return view(bytes, idx(0), count, b.getI64Type());
  };
  positions = i64Array(8, nTokens);
  seqs = i64Array(9, mul(nSeqs, idx(GEMMAC_SEQ_FIELDS)));
  outRows = i64Array(11, nOut);
  // The arena's size is known once every activation has its place: its
  // size operand is set in finish().
  arenaOp =
      BufferOp::create(b, currentLoc, bytesTy, body->getArgument(3), nTokens);
  arena = arenaOp->getResult(0);
  Value tokBytes = BufferOp::create(b, currentLoc, bytesTy,
                                    body->getArgument(4), mul(nTokens, idx(4)));
  tokens = view(tokBytes, idx(0), nTokens, b.getI32Type());
  logitsBytes = BufferOp::create(b, currentLoc, bytesTy, body->getArgument(5),
                                 mul(nOut, idx(widthOf(returned) * 4)));
  if (draft) {
    // The caller's hidden rows: an activation of every row, never released.
    Value in = entry.getArgument(1);
    Activation a;
    a.rows = nTokens;
    a.width = widthOf(in);
    Value count = mul(nTokens, idx(a.width));
    Value bytes = BufferOp::create(b, currentLoc, bytesTy, body->getArgument(16),
                                   mul(count, idx(4)));
    a.view = view(bytes, idx(0), count, b.getF32Type());
    buffers.push_back({0, 0, lastUse.lookup(in), true});
    a.buffer = buffers.size() - 1;
    acts[in] = a;
  }
  return success();
}

void CPULowering::emitSizeFunctions() {
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToEnd(module.getBody());
  auto idxTy = b.getIndexType();
  // size(n) = n * perUnit + fixed(n)
  auto makeFn = [&](StringRef name, int64_t perUnit,
                    llvm::function_ref<Value(Value)> fixed) {
    auto fn = func::FuncOp::create(b, currentLoc, name,
                                   b.getFunctionType({idxTy}, {idxTy}));
    Block *fnBody = fn.addEntryBlock();
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(fnBody);
    Value n = fnBody->getArgument(0);
    func::ReturnOp::create(b, currentLoc, add(mul(n, idx(perUnit)), fixed(n)));
  };
  makeFn(abi::kKVBytes, kvPerCtxBytes,
         [&](Value n) { return kvLayout(n).ringsEnd; });
  makeFn(abi::kArenaBytes, std::max(planner.peak, arenaCover),
         [&](Value) { return idx(kAlign); });
}

void CPULowering::finish() {
  currentLoc = entry.getLoc();
  b.setInsertionPointToEnd(body);
  func::ReturnOp::create(b, currentLoc);
  b.setInsertionPoint(arenaOp);
  arenaOp->setOperand(1, add(mul(nTokens, idx(planner.peak)), idx(kAlign)));
  if (kind == EntryKind::Forward) {
    emitSizeFunctions();
    emitModelMeta(module, meta);
  }
  entry.erase();
}
