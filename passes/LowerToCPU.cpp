//===- LowerToCPU.cpp - gemma ops -> kernel calls and loops over buffers --===//
//
// The kernel phase for CPU targets. The tensor-level entry function becomes
// `gemmac_forward(rt, weights, kv, arena, tokens, logits, n_tokens, pos0,
// n_ctx, n_out)`, a straight line of kernel calls (weights, norms, rope,
// attention) and generated loops (residual adds, scales, GELU, softcap), every
// shape a constant. Buffers:
//   - activations live in a scratch arena. Every activation is [tokens, width]
//     and all of them scale with the token count, so offsets are planned once
//     per token and multiplied by n_tokens at run time;
//   - KV caches: a ring of `window` rows per sliding cache (independent of the
//     context), `n_ctx` rows per global cache, f16;
//   - the returned logits are written straight into the caller's buffer.
//
//===----------------------------------------------------------------------===//

#include "dialects/gemma/GemmaDialect.h"
#include "passes/ArenaPlanner.h"
#include "passes/KVPlan.h"
#include "passes/ModelMeta.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/SymbolTable.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/TypeSwitch.h"

#include <map>

namespace gemmac {
#define GEN_PASS_DEF_LOWERTOCPU
#include "passes/Passes.h.inc"
} // namespace gemmac

using namespace mlir;
using namespace gemmac;
using namespace gemmac::gemma;

namespace {

constexpr int64_t kAlign = 64;
using abi::kMaxBatch; // tokens per forward call (runtime chunks)

int64_t alignUp(int64_t x) { return (x + kAlign - 1) / kAlign * kAlign; }

int64_t widthOf(Value v) {
  return cast<RankedTensorType>(v.getType()).getDimSize(1);
}

/// Where an activation lives: a buffer of the arena (or the caller's logits)
/// and a view of it.
struct Buffer {
  int64_t offset = 0; // per-token bytes into the arena
  int64_t size = 0;
  int64_t lastUse = -1;
  bool external = false; // the logits buffer: never released
};

struct Activation {
  Value view;  // memref<?xf32> over rows * width elements
  Value rows;  // index: the token count or n_out
  int64_t width = 0;
  int buffer = -1;
  bool wholeBuffer = true; // false for views into part of a buffer
};

class Lowering {
public:
  Lowering(ModuleOp module, func::FuncOp entry)
      : module(module), entry(entry), b(module.getContext()),
        ctx(module.getContext()) {}

  LogicalResult run();

private:
  // -- helpers ---------------------------------------------------------------
  Value idx(int64_t v) { return arith::ConstantIndexOp::create(b, loc, v); }
  Value f32(float v) {
    return arith::ConstantOp::create(b, loc, b.getF32FloatAttr(v));
  }
  Value i32(int32_t v) {
    return arith::ConstantOp::create(b, loc, b.getI32IntegerAttr(v));
  }
  Value mul(Value a, Value c) { return arith::MulIOp::create(b, loc, a, c); }
  Value add(Value a, Value c) { return arith::AddIOp::create(b, loc, a, c); }

  MemRefType dyn(Type elem) {
    return MemRefType::get({ShapedType::kDynamic}, elem);
  }
  /// A view of `count` elements of `elem` at byte `shift` of a byte buffer.
  Value view(Value bytes, Value shift, Value count, Type elem) {
    return memref::ViewOp::create(b, loc, dyn(elem), bytes, shift,
                                  ValueRange{count});
  }

  void callKernel(StringRef name, ArrayRef<Value> args);
  void elementwise(ArrayRef<Value> ins, Value out,
                   function_ref<Value(OpBuilder &, Location, ValueRange)> body);

  FailureOr<std::string> weightKernel(Operation *op, StringRef kind,
                                      ArrayRef<Value> handles);
  Value weightView(Value handle);
  FailureOr<std::pair<Value, Value>> cacheViews(Operation *op, int64_t cache,
                                                Value &capacity);
  /// The buffer of an activation lowered before (every operand of a gemma op
  /// is: the entry's only tensor argument is the token list).
  bool known(Value v) { return acts.count(v); }
  Activation &allocate(Value result, Value rows, Operation *op,
                       Value reuseFrom = {});
  void releaseDead(int64_t index);

  LogicalResult collectCaches();
  void computeLiveness();
  LogicalResult lowerOp(Operation *op);
  void emitSizeFunctions();

  ModuleOp module;
  func::FuncOp entry;
  OpBuilder b;
  MLIRContext *ctx;
  Location loc = UnknownLoc::get(ctx);

  // The new entry point's values.
  Value rt, weights, kv, arena, tokens, logitsBytes, nTokens, pos0, nCtx,
      nOut;
  Value returned; // the tensor the old entry returns

  std::map<int64_t, KVCacheAttr> plan;
  // Element type of the KV caches (module attribute gemma.kv_cache_type).
  Type kvElement;
  int64_t kvBytes = 2;
  StringRef kvName = "f16";
  int64_t kvFixedBytes = 0, kvPerCtxBytes = 0;
  SmallVector<int64_t> meta; // gemmac_model_meta

  llvm::DenseMap<Operation *, int64_t> order;
  llvm::DenseMap<Value, int64_t> lastUse;
  llvm::DenseMap<Value, Activation> acts;
  std::vector<Buffer> buffers;
  ArenaPlanner planner;
  int64_t current = 0;
};

LogicalResult Lowering::collectCaches() {
  auto recorded = moduleKVPlan(module, entry);
  if (failed(recorded))
    return failure();
  plan = std::move(*recorded);
  KVPlanSize size = kvPlanSize(plan, kvBytes);
  kvFixedBytes = size.fixed;
  kvPerCtxBytes = size.perToken;
  return success();
}

void Lowering::computeLiveness() {
  int64_t i = 0;
  for (Operation &op : entry.front())
    order[&op] = i++;
  for (Operation &op : entry.front())
    for (Value operand : op.getOperands())
      lastUse[operand] = std::max(lastUse.lookup(operand), order[&op]);
  // A view keeps the buffer it looks into alive.
  for (Operation &op : llvm::reverse(entry.front()))
    if (auto rowsOp = dyn_cast<LastRowsOp>(op))
      lastUse[rowsOp.getInput()] = std::max(lastUse.lookup(rowsOp.getInput()),
                                            lastUse.lookup(rowsOp.getResult()));
}

void Lowering::callKernel(StringRef name, ArrayRef<Value> args) {
  SmallVector<Type> types;
  for (Value a : args)
    types.push_back(a.getType());
  if (!module.lookupSymbol<func::FuncOp>(name)) {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(module.getBody());
    auto fn = func::FuncOp::create(b, loc, name,
                                   b.getFunctionType(types, {}));
    fn.setPrivate();
  }
  func::CallOp::create(b, loc, name, TypeRange{}, args);
}

void Lowering::elementwise(
    ArrayRef<Value> ins, Value out,
    function_ref<Value(OpBuilder &, Location, ValueRange)> body) {
  SmallVector<AffineMap> maps(ins.size() + 1,
                              AffineMap::getMultiDimIdentityMap(1, ctx));
  linalg::GenericOp::create(
      b, loc, ValueRange(ins), ValueRange{out}, maps,
      SmallVector<utils::IteratorType>{utils::IteratorType::parallel},
      [&](OpBuilder &nb, Location l, ValueRange args) {
        linalg::YieldOp::create(nb, l, body(nb, l, args.drop_back()));
      });
}

/// The kernel of a weight op: the one chosen by gemma-select-kernels, else
/// the default for the weight's format and layout. A kernel must read the
/// layout the weights are written in ("_x8" kernels the interleaved one).
FailureOr<std::string> Lowering::weightKernel(Operation *op, StringRef kind,
                                              ArrayRef<Value> handles) {
  bool interleaved = false;
  for (auto [i, handle] : llvm::enumerate(handles)) {
    auto def = module.lookupSymbol<WeightDefOp>(
        handle.getDefiningOp<WeightOp>().getNameAttr());
    if (i > 0 && def.isInterleaved() != interleaved)
      return op->emitOpError("reads weights in different layouts");
    interleaved = def.isInterleaved();
  }
  WeightType t = cast<WeightType>(handles.front().getType());
  std::string kernel =
      op->hasAttr("kernel")
          ? op->getAttrOfType<StringAttr>("kernel").str()
          : ("gmk_" + kind + "_" + stringifyWeightFormat(t.getFormat()) +
             (interleaved ? "_x8" : ""))
                .str();
  if (StringRef(kernel).ends_with("_x8") != interleaved)
    return op->emitOpError("kernel '")
           << kernel << "' does not read the "
           << (interleaved ? "x8" : "rows") << " layout of its weights";
  return kernel;
}

Value Lowering::weightView(Value handle) {
  auto op = handle.getDefiningOp<WeightOp>();
  auto def = module.lookupSymbol<WeightDefOp>(op.getNameAttr());
  WeightType type = def.getWeightType();
  return view(weights, idx(*def.getBlobOffset()),
              idx(type.getStorageBytes()), b.getI8Type());
}

/// K and V arrays of a cache: K at offset + per_token * n_ctx, V after it.
FailureOr<std::pair<Value, Value>> Lowering::cacheViews(Operation *op,
                                                        int64_t cache,
                                                        Value &capacity) {
  auto it = plan.find(cache);
  if (it == plan.end())
    return op->emitOpError("uses KV cache ") << cache << ", which the plan lacks";
  KVCacheAttr c = it->second;
  capacity = c.getRows() ? idx(c.getRows()) : nCtx;
  Value base = add(idx(c.getOffset()), mul(nCtx, idx(c.getPerToken())));
  Value elems = mul(capacity, idx(c.getWidth()));
  Value k = view(kv, base, elems, kvElement);
  Value v = view(kv, add(base, mul(elems, idx(kvBytes))), elems, kvElement);
  return std::pair<Value, Value>(k, v);
}

Activation &Lowering::allocate(Value result, Value rows, Operation *op,
                               Value reuseFrom) {
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
    if (src.wholeBuffer && !buf.external && buf.lastUse == current &&
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

void Lowering::releaseDead(int64_t index) {
  for (Buffer &buf : buffers)
    if (!buf.external && buf.size > 0 && buf.lastUse == index) {
      planner.release(buf.offset, buf.size);
      buf.size = 0; // released
    }
}

LogicalResult Lowering::lowerOp(Operation *op) {
  loc = op->getLoc();
  if (!isa<EmbedOp, WeightOp, func::ReturnOp>(op))
    for (Value operand : op->getOperands())
      if (isa<RankedTensorType>(operand.getType()) && !known(operand))
        return op->emitOpError("operand is not an activation computed in the "
                               "entry function");
  return llvm::TypeSwitch<Operation *, LogicalResult>(op)
      .Case<WeightOp>([&](auto) { return success(); })
      .Case<EmbedOp>([&](EmbedOp e) {
        WeightType t = e.getTable().getType();
        FailureOr<std::string> kernel = weightKernel(op, "embed", e.getTable());
        if (failed(kernel))
          return failure();
        Activation &out = allocate(e.getResult(), nTokens, op);
        callKernel(*kernel,
                   {rt, out.view, tokens, nTokens, weightView(e.getTable()),
                    idx(t.getRows()), idx(t.getCols()),
                    f32(e.getScale().convertToFloat())});
        return success();
      })
      .Case<RMSNormOp>([&](RMSNormOp n) {
        Activation in = acts[n.getInput()];
        Activation &out = allocate(n.getResult(), in.rows, op, n.getInput());
        if (Value w = n.getWeight()) {
          auto wt = cast<WeightType>(w.getType());
          callKernel("gmk_rms_norm",
                     {rt, out.view, in.view, in.rows, idx(in.width),
                      idx(n.getGroup()), weightView(w),
                      i32(static_cast<int32_t>(wt.getFormat())),
                      f32(n.getEps().convertToFloat())});
        } else {
          callKernel("gmk_rms_norm_unweighted",
                     {rt, out.view, in.view, in.rows, idx(in.width),
                      idx(n.getGroup()), f32(n.getEps().convertToFloat())});
        }
        return success();
      })
      .Case<LinearOp>([&](LinearOp l) {
        WeightType t = l.getWeight().getType();
        Activation in = acts[l.getInput()];
        FailureOr<std::string> kernel =
            weightKernel(op, "linear", l.getWeight());
        if (failed(kernel))
          return failure();
        Activation &out = allocate(l.getResult(), in.rows, op);
        callKernel(*kernel, {rt, out.view, in.view, in.rows,
                            weightView(l.getWeight()), idx(t.getRows()),
                            idx(t.getCols())});
        return success();
      })
      .Case<GeGLUOp>([&](GeGLUOp g) {
        WeightType t = g.getGate().getType();
        Activation in = acts[g.getInput()];
        FailureOr<std::string> kernel =
            weightKernel(op, "geglu", {g.getGate(), g.getUp()});
        if (failed(kernel))
          return failure();
        Activation &out = allocate(g.getResult(), in.rows, op);
        callKernel(*kernel, {rt, out.view, in.view, in.rows,
                            weightView(g.getGate()), weightView(g.getUp()),
                            idx(t.getRows()), idx(t.getCols())});
        return success();
      })
      .Case<RopeOp>([&](RopeOp r) {
        Activation in = acts[r.getInput()];
        Activation &out = allocate(r.getResult(), in.rows, op, r.getInput());
        RopeAttr rope = r.getRope();
        callKernel("gmk_rope",
                   {rt, out.view, in.view, in.rows, idx(r.getNumHeads()),
                    idx(r.getHeadDim()), pos0,
                    f32(static_cast<float>(rope.getThetaValue())),
                    idx(rope.getFreqDim()), idx(rope.getRotatedPairs())});
        return success();
      })
      .Case<AttentionOp>([&](AttentionOp a) {
        Activation &out = allocate(a.getResult(), nTokens, op);
        Value capacity;
        auto views = cacheViews(op, a.getKvCache(), capacity);
        if (failed(views))
          return failure();
        auto [kCache, vCache] = *views;
        std::string kernel = a->hasAttr("kernel")
            ? a->getAttrOfType<StringAttr>("kernel").str()
            : ("gmk_attention_" + kvName).str();
        callKernel(kernel,
                   {rt, out.view, acts[a.getQ()].view, acts[a.getK()].view,
                    acts[a.getV()].view, nTokens, pos0, idx(a.getNumHeads()),
                    idx(a.getNumKvHeads()), idx(a.getHeadDim()),
                    idx(a.getWindow()), kCache, vCache, capacity,
                    f32(a.getScale().convertToFloat())});
        return success();
      })
      .Case<KVStoreOp>([&](KVStoreOp s) {
        Value capacity;
        auto views = cacheViews(op, s.getKvCache(), capacity);
        if (failed(views))
          return failure();
        auto [kCache, vCache] = *views;
        KVCacheAttr c = plan[s.getKvCache()];
        callKernel(("gmk_kv_store_" + kvName).str(),
                   {rt, kCache, vCache, acts[s.getK()].view,
                    acts[s.getV()].view, nTokens, pos0, idx(c.getWidth()),
                    idx(c.getRows()), capacity});
        return success();
      })
      .Case<AddOp, MulOp>([&](auto e) {
        Activation lhs = acts[e.getLhs()], rhs = acts[e.getRhs()];
        Activation &out = allocate(e.getResult(), lhs.rows, op, e.getLhs());
        bool isAdd = isa<AddOp>(op);
        elementwise({lhs.view, rhs.view}, out.view,
                    [&](OpBuilder &nb, Location l, ValueRange x) -> Value {
                      if (isAdd)
                        return arith::AddFOp::create(nb, l, x[0], x[1]);
                      return arith::MulFOp::create(nb, l, x[0], x[1]);
                    });
        return success();
      })
      .Case<ScaleOp>([&](ScaleOp s) {
        Activation in = acts[s.getInput()];
        Activation &out = allocate(s.getResult(), in.rows, op, s.getInput());
        Value factor = f32(s.getFactor().convertToFloat());
        elementwise({in.view}, out.view,
                    [&](OpBuilder &nb, Location l, ValueRange x) -> Value {
                      return arith::MulFOp::create(nb, l, x[0], factor);
                    });
        return success();
      })
      .Case<ScaleByWeightOp>([&](ScaleByWeightOp s) {
        Activation in = acts[s.getInput()];
        Activation &out = allocate(s.getResult(), in.rows, op, s.getInput());
        auto w = s.getFactor().getDefiningOp<WeightOp>();
        auto def = module.lookupSymbol<WeightDefOp>(w.getNameAttr());
        Value factor;
        if (auto value = def.getValueAttr()) {
          factor = f32(cast<DenseFPElementsAttr>(value)
                           .getValues<float>()[0]);
        } else {
          Value cell = view(weights, idx(*def.getBlobOffset()), idx(1),
                            b.getF32Type());
          factor = memref::LoadOp::create(b, loc, cell, ValueRange{idx(0)});
        }
        elementwise({in.view}, out.view,
                    [&](OpBuilder &nb, Location l, ValueRange x) -> Value {
                      return arith::MulFOp::create(nb, l, x[0], factor);
                    });
        return success();
      })
      .Case<GeluOp>([&](GeluOp g) {
        Activation in = acts[g.getInput()];
        Activation &out = allocate(g.getResult(), in.rows, op, g.getInput());
        callKernel(g.getApproximation() == GeluApprox::tanh ? "gmk_gelu_tanh"
                                                            : "gmk_gelu_erf",
                   {rt, out.view, in.view, mul(in.rows, idx(in.width))});
        return success();
      })
      .Case<SoftcapOp>([&](SoftcapOp s) {
        Activation in = acts[s.getInput()];
        Activation &out = allocate(s.getResult(), in.rows, op, s.getInput());
        float cap = s.getCap().convertToFloat();
        Value inv = f32(1.0f / cap), capV = f32(cap);
        elementwise({in.view}, out.view,
                    [&](OpBuilder &nb, Location l, ValueRange x) -> Value {
                      Value t = math::TanhOp::create(
                          nb, l, arith::MulFOp::create(nb, l, x[0], inv));
                      return arith::MulFOp::create(nb, l, t, capV);
                    });
        return success();
      })
      .Case<ColumnSliceOp>([&](ColumnSliceOp s) {
        Activation in = acts[s.getInput()];
        Activation &out = allocate(s.getResult(), in.rows, op);
        int64_t w = in.width, off = s.getOffset(), n = s.getSize();
        Value c0 = idx(0), c1 = idx(1);
        auto rowsLoop = scf::ForOp::create(b, loc, c0, in.rows, c1);
        {
          OpBuilder::InsertionGuard g(b);
          b.setInsertionPointToStart(rowsLoop.getBody());
          Value t = rowsLoop.getInductionVar();
          auto colLoop = scf::ForOp::create(b, loc, c0, idx(n), c1);
          b.setInsertionPointToStart(colLoop.getBody());
          Value c = colLoop.getInductionVar();
          Value src = add(add(mul(t, idx(w)), idx(off)), c);
          Value dst = add(mul(t, idx(n)), c);
          Value v = memref::LoadOp::create(b, loc, in.view, ValueRange{src});
          memref::StoreOp::create(b, loc, v, out.view, ValueRange{dst});
        }
        return success();
      })
      .Case<LastRowsOp>([&](LastRowsOp r) {
        Activation in = acts[r.getInput()];
        Activation a = in;
        a.rows = nOut;
        a.wholeBuffer = false;
        Buffer &buf = buffers[in.buffer];
        buf.lastUse = std::max(buf.lastUse, lastUse.lookup(r.getResult()));
        // The last n_out rows of the input: a view at row (T - n_out).
        Value skip = arith::SubIOp::create(b, loc, nTokens, nOut);
        Value shift = add(mul(nTokens, idx(buf.offset)),
                          mul(skip, idx(in.width * 4)));
        a.view = view(arena, shift, mul(nOut, idx(in.width)), b.getF32Type());
        if (r.getResult() == returned) {
          Activation &out = allocate(r.getResult(), nOut, op);
          elementwise({a.view}, out.view,
                      [](OpBuilder &, Location, ValueRange x) { return x[0]; });
          return success();
        }
        acts[r.getResult()] = a;
        return success();
      })
      .Case<func::ReturnOp>([&](auto) { return success(); })
      .Default([&](Operation *other) {
        return other->emitOpError("has no CPU lowering");
      });
}

void Lowering::emitSizeFunctions() {
  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToEnd(module.getBody());
  auto idxTy = b.getIndexType();
  auto makeFn = [&](StringRef name, int64_t perUnit, int64_t fixed) {
    auto fn = func::FuncOp::create(b, loc, name,
                                   b.getFunctionType({idxTy}, {idxTy}));
    Block *body = fn.addEntryBlock();
    OpBuilder::InsertionGuard g(b);
    b.setInsertionPointToStart(body);
    Value r = add(mul(body->getArgument(0), idx(perUnit)), idx(fixed));
    func::ReturnOp::create(b, loc, r);
  };
  makeFn(abi::kKVBytes, kvPerCtxBytes, kvFixedBytes);
  makeFn(abi::kArenaBytes, planner.peak, kAlign);
}

LogicalResult Lowering::run() {
  if (!entry.getBody().hasOneBlock())
    return entry.emitOpError("entry must be a single block");
  // The entry's signature is the C ABI's: (tokens, pos0, num_outputs).
  FunctionType fnType = entry.getFunctionType();
  auto tokensType = dyn_cast<RankedTensorType>(
      fnType.getNumInputs() ? fnType.getInput(0) : Type());
  if (fnType.getNumInputs() != 3 || !tokensType || tokensType.getRank() != 1 ||
      !tokensType.getElementType().isInteger(32) ||
      !fnType.getInput(1).isIndex() || !fnType.getInput(2).isIndex() ||
      fnType.getNumResults() != 1)
    return entry.emitOpError("entry must take (tensor<?xi32> tokens, index "
                             "pos0, index num_outputs) and return the logits");
  if (!module->hasAttr("gemma.weights_bytes"))
    return module.emitError("weights have no blob layout; run "
                            "gemma-layout-weights first");
  kvElement = b.getF16Type();
  if (auto t = module->getAttrOfType<StringAttr>("gemma.kv_cache_type")) {
    if (t.getValue() == "f32") {
      kvElement = b.getF32Type();
      kvBytes = 4;
      kvName = "f32";
    } else if (t.getValue() != "f16") {
      return module.emitError("gemma.kv_cache_type must be \"f16\" or "
                              "\"f32\", got \"")
             << t.getValue() << "\"";
    }
  }
  if (failed(collectCaches()))
    return failure();
  meta = computeModelMeta(module, entry, kMaxBatch);
  auto ret = cast<func::ReturnOp>(entry.front().getTerminator());
  returned = ret.getOperand(0);
  computeLiveness();

  // The C entry point.
  auto ptr = LLVM::LLVMPointerType::get(ctx);
  auto idxTy = b.getIndexType();
  b.setInsertionPointToEnd(module.getBody());
  loc = entry.getLoc();
  auto fn = func::FuncOp::create(
      b, loc, abi::kForward,
      b.getFunctionType({ptr, ptr, ptr, ptr, ptr, ptr, idxTy, idxTy, idxTy,
                         idxTy},
                        {}));
  const char *names[] = {"rt",     "weights", "kv",   "arena", "tokens",
                         "logits", "n_tokens", "pos0", "n_ctx", "n_out"};
  for (unsigned i = 0; i < 10; ++i)
    fn.setArgAttr(i, "gemma.name", b.getStringAttr(names[i]));
  Block *body = fn.addEntryBlock();
  b.setInsertionPointToStart(body);
  rt = body->getArgument(0);
  nTokens = body->getArgument(6);
  pos0 = body->getArgument(7);
  nCtx = body->getArgument(8);
  nOut = body->getArgument(9);
  auto bytesTy = dyn(b.getI8Type());
  int64_t weightBytes =
      module->getAttrOfType<IntegerAttr>("gemma.weights_bytes").getInt();
  weights = BufferOp::create(b, loc, bytesTy, body->getArgument(1),
                             idx(weightBytes));
  kv = BufferOp::create(b, loc, bytesTy, body->getArgument(2),
                        add(mul(nCtx, idx(kvPerCtxBytes)), idx(kvFixedBytes)));
  // The arena's size is known once every activation has its place: its
  // size operand is set after the body is lowered.
  auto arenaOp = BufferOp::create(b, loc, bytesTy, body->getArgument(3),
                                  nTokens);
  arena = arenaOp;
  Value tokBytes = BufferOp::create(b, loc, bytesTy, body->getArgument(4),
                                    mul(nTokens, idx(4)));
  tokens = view(tokBytes, idx(0), nTokens, b.getI32Type());
  logitsBytes = BufferOp::create(
      b, loc, bytesTy, body->getArgument(5),
      mul(nOut, idx(widthOf(returned) * 4)));

  for (Operation &op : entry.front()) {
    current = order[&op];
    if (failed(lowerOp(&op)))
      return failure();
    releaseDead(current);
  }
  loc = entry.getLoc();
  func::ReturnOp::create(b, loc);
  {
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPoint(arenaOp);
    arenaOp->setOperand(1, add(mul(nTokens, idx(planner.peak)), idx(kAlign)));
  }

  emitSizeFunctions();
  emitModelMeta(module, meta);
  entry.erase();
  // Weight handles are now constant offsets into the weight buffer.
  for (WeightDefOp def : llvm::make_early_inc_range(module.getOps<WeightDefOp>()))
    def.erase();
  return success();
}

struct LowerToCPUPass : public gemmac::impl::LowerToCPUBase<LowerToCPUPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    func::FuncOp entry = lookupEntry(module);
    if (!entry) {
      module.emitError("no function marked gemma.entry");
      return signalPassFailure();
    }
    Lowering lowering(module, entry);
    if (failed(lowering.run()))
      signalPassFailure();
  }
};

} // namespace
