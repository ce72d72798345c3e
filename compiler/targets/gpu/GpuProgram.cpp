//===- GpuProgram.cpp - launch plan and program image of a GPU target -----===//
//
// Every activation gets a slot of max_batch rows in the arena (first fit,
// released after its last use, never shared with the op's own operands: GPU
// kernels read neighbours of the element they write), so every descriptor
// range is a compile-time constant and a backend binds each launch once per
// session. KV ranges grow with the session's context: offset and size are
// `fixed + perCtx x n_ctx`, as the CPU target lays them out.
//
//===----------------------------------------------------------------------===//

#include "compiler/targets/gpu/GpuProgram.h"
#include "abi/gpu_program.h"
#include "abi/model_abi.h"
#include "dialects/gemma/GemmaDialect.h"
#include "passes/ArenaPlanner.h"
#include "compiler/targets/gpu/kernels/KernelLibrary.h"
#include "passes/KVPlan.h"
#include "passes/ModelMeta.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/Format.h"

#include <cstring>

using namespace mlir;
using namespace gemmac::gemma;
namespace g = gemmac::gpu;

namespace gemmac {
namespace {

constexpr int64_t kWG = gpukernels::kWorkgroupSize;
constexpr int64_t kBatch = gpukernels::kMaxBatch;
constexpr int64_t kSlotAlign = 256; // per-row bytes; x max_batch stays aligned

llvm::Error error(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

int64_t widthOf(Value v) {
  return cast<RankedTensorType>(v.getType()).getDimSize(1);
}
uint32_t ceilDiv(int64_t a, int64_t b) {
  return static_cast<uint32_t>((a + b - 1) / b);
}

class Planner {
public:
  Planner(ModuleOp module, func::FuncOp entry, mlir::gpu::GPUModuleOp kernels)
      : module(module), entry(entry), kernels(kernels) {}

  llvm::Error run();

  std::vector<g::KernelEntry> kernelTable;
  std::vector<g::LaunchEntry> launches;
  std::vector<g::BindingEntry> bindings;
  std::vector<float> constants;
  std::vector<g::RopeEntry> ropes;
  int64_t arenaBytes = 0;
  KVPlanSize kvSize;
  int64_t logitsOffset = 0, logitsWidth = 0;

private:
  struct Slot {
    int64_t offset = 0, bytes = 0; // per row
    g::Rows rows = g::Rows::Tokens;
  };

  llvm::Error planOp(Operation *op);
  llvm::Expected<uint32_t> kernel(Operation *op, StringRef attr);
  llvm::Error launch(uint32_t kernel, uint32_t gridX, g::Rows rows,
                     ArrayRef<g::BindingEntry> args,
                     uint32_t tokensPerGroup = 1);
  llvm::Expected<std::pair<g::BindingEntry, g::BindingEntry>>
  quantizeInput(Operation *op, Value input, WeightType weight);
  /// The input activation of a linear/geglu: f32 rows, or int8 blocks.
  llvm::Error matvecInput(Operation *op, Value input, WeightType weight,
                          std::vector<g::BindingEntry> &args);
  /// An activation's int8 blocks for one ActQuant, in an arena slot of
  /// their own: written once, read by every quantized matvec of that input
  /// (q, k and v share one), released with the activation.
  struct QuantizedInput {
    int64_t offset, bytes;
    g::BindingEntry qs, aux;
  };
  llvm::DenseMap<std::pair<Value, unsigned>, QuantizedInput> quantized;
  /// Allocates v's int8 blocks for `q`; returns their (qs, aux) ranges.
  std::pair<g::BindingEntry, g::BindingEntry>
  quantizedSlot(Value v, gpukernels::ActQuant q);
  /// Releases v's slot and its quantized copies.
  void release(Value v);
  /// The values op's kernel reads: its operands, with a fused op's result
  /// (`gpu_fused_into_user`) replaced by that op's own operands.
  static SmallVector<Value> reads(Operation *op) {
    SmallVector<Value> out;
    for (Value v : op->getOperands()) {
      if (Operation *def = fused(v))
        out.append(reads(def));
      else
        out.push_back(v);
    }
    return out;
  }
  /// The op computing v inside its user's kernel, if any.
  static Operation *fused(Value v) {
    Operation *def = v.getDefiningOp();
    return def && def->hasAttr("gpu_fused_into_user") ? def : nullptr;
  }
  /// The arguments of a fused norm + residual kernel (rmsNormAdd) that
  /// computes `add`: (x, y[, w], residual).
  void normAddArgs(AddOp add, Value result, std::vector<g::BindingEntry> &args) {
    bool lhs = fused(add.getLhs()) != nullptr;
    auto norm = cast<RMSNormOp>(fused(lhs ? add.getLhs() : add.getRhs()));
    allocate(result, rowsOf(norm.getInput()));
    args = {act(norm.getInput()), act(result)};
    if (Value w = norm.getWeight())
      args.push_back(weight(w));
    args.push_back(act(lhs ? add.getRhs() : add.getLhs()));
  }
  g::BindingEntry act(Value v) {
    const Slot &s = slots.at(v);
    return {static_cast<uint32_t>(g::Space::Arena), 0,
            static_cast<uint64_t>(s.offset * kBatch), 0,
            static_cast<uint64_t>(s.bytes * kBatch), 0};
  }
  g::BindingEntry weight(Value handle) {
    auto def = module.lookupSymbol<WeightDefOp>(
        handle.getDefiningOp<WeightOp>().getNameAttr());
    return {static_cast<uint32_t>(g::Space::Weights), 0,
            static_cast<uint64_t>(*def.getBlobOffset()), 0,
            static_cast<uint64_t>(def.getWeightType().getStorageBytes()), 0};
  }
  g::BindingEntry space(g::Space s, uint64_t bytes) {
    return {static_cast<uint32_t>(s), 0, 0, 0, bytes, 0};
  }
  g::BindingEntry params() {
    return space(g::Space::Params, gpukernels::kNumParams * 4);
  }
  g::BindingEntry geluTable() {
    return space(g::Space::Tables, g::kGeluTableBytes);
  }
  /// The (cos, sin) table of a RoPE, shared by the ops with its constants.
  g::BindingEntry ropeTable(RopeOp r);
  /// The K and V ranges of cache `id`.
  llvm::Expected<std::pair<g::BindingEntry, g::BindingEntry>>
  cache(Operation *op, int64_t id);
  Value allocate(Value result, g::Rows rows);
  g::Rows rowsOf(Value v) { return slots.at(v).rows; }

  ModuleOp module;
  func::FuncOp entry;
  mlir::gpu::GPUModuleOp kernels;
  std::map<int64_t, KVCacheAttr> plan;
  int64_t kvElement = 2;
  ArenaPlanner arena;
  llvm::DenseMap<Value, Slot> slots;
  llvm::DenseMap<Value, int64_t> lastUse;
  llvm::StringMap<uint32_t> kernelIndex;
  Value returned;
};

g::BindingEntry Planner::ropeTable(RopeOp r) {
  RopeAttr rope = r.getRope();
  g::RopeEntry want{static_cast<float>(rope.getThetaValue()),
                    static_cast<uint32_t>(rope.getFreqDim()),
                    static_cast<uint32_t>(rope.getRotatedPairs()), 0};
  auto binding = [](uint64_t before, uint32_t pairs) {
    return g::BindingEntry{static_cast<uint32_t>(g::Space::Rope), 0, 0, before,
                           0, uint64_t(pairs) * 8};
  };
  uint64_t before = 0; // bytes per context token of the tables before it
  for (const g::RopeEntry &e : ropes) {
    if (e.theta == want.theta && e.freqDim == want.freqDim &&
        e.pairs == want.pairs)
      return binding(before, e.pairs);
    before += uint64_t(e.pairs) * 8;
  }
  ropes.push_back(want);
  return binding(before, want.pairs);
}

Value Planner::allocate(Value result, g::Rows rows) {
  int64_t bytes = (widthOf(result) * 4 + kSlotAlign - 1) / kSlotAlign * kSlotAlign;
  slots[result] = {arena.allocate(bytes), bytes, rows};
  return result;
}

llvm::Expected<std::pair<g::BindingEntry, g::BindingEntry>>
Planner::cache(Operation *op, int64_t id) {
  auto it = plan.find(id);
  if (it == plan.end())
    return error("op " + op->getName().getStringRef() + " uses KV cache " +
                 llvm::Twine(id) + ", which the plan lacks");
  KVCacheAttr c = it->second;
  // K at offset + perToken x n_ctx, V right after it.
  uint64_t rowBytes = c.getWidth() * kvElement;
  g::BindingEntry k{static_cast<uint32_t>(g::Space::KV), 0,
                    static_cast<uint64_t>(c.getOffset()),
                    static_cast<uint64_t>(c.getPerToken()), 0, 0};
  if (c.getRows())
    k.bytes = c.getRows() * rowBytes;
  else
    k.bytesPerCtx = rowBytes;
  g::BindingEntry v = k;
  v.offset += k.bytes;
  v.offsetPerCtx += k.bytesPerCtx;
  return std::make_pair(k, v);
}

llvm::Expected<uint32_t> Planner::kernel(Operation *op, StringRef attr) {
  auto kernelAttr = op->getAttrOfType<FlatSymbolRefAttr>(attr);
  if (!kernelAttr)
    return error("op " + op->getName().getStringRef() + " has no " + attr +
                 " (run gemma-lower-to-gpu first)");
  StringRef name = kernelAttr.getValue();
  auto fn = kernels.lookupSymbol<mlir::gpu::GPUFuncOp>(name);
  if (!fn)
    return error("kernel @" + name + " is not in the gpu.module");
  if (name.size() >= sizeof(g::KernelEntry::name))
    return error("kernel name @" + name + " is too long");
  auto [it, inserted] = kernelIndex.try_emplace(name, kernelTable.size());
  if (inserted) {
    g::KernelEntry e{};
    std::memcpy(e.name, name.data(), name.size());
    e.numBuffers = fn.getNumArguments();
    kernelTable.push_back(e);
  }
  return it->second;
}

llvm::Error Planner::launch(uint32_t kernel, uint32_t gridX, g::Rows rows,
                            ArrayRef<g::BindingEntry> args,
                            uint32_t tokensPerGroup) {
  const g::KernelEntry &k = kernelTable[kernel];
  if (args.size() != k.numBuffers)
    return error(llvm::Twine("kernel @") + k.name + " takes " +
                 llvm::Twine(k.numBuffers) + " buffers, its op supplies " +
                 llvm::Twine(args.size()));
  launches.push_back({kernel, gridX, static_cast<uint32_t>(rows),
                      static_cast<uint32_t>(bindings.size()),
                      static_cast<uint32_t>(args.size()), tokensPerGroup});
  bindings.insert(bindings.end(), args.begin(), args.end());
  return llvm::Error::success();
}

/// Quantized weights: the input's int8 blocks, written by a launch of the
/// op's `gpu_quantize` kernel unless an earlier op's launch already did;
/// returns their two ranges.
llvm::Expected<std::pair<g::BindingEntry, g::BindingEntry>>
Planner::quantizeInput(Operation *op, Value input, WeightType weight) {
  gpukernels::ActQuant q = gpukernels::activationQuant(weight.getFormat());
  if (auto it = quantized.find({input, static_cast<unsigned>(q)});
      it != quantized.end())
    return std::make_pair(it->second.qs, it->second.aux);
  auto [qs, aux] = quantizedSlot(input, q);
  auto index = kernel(op, "gpu_quantize");
  if (!index)
    return index.takeError();
  const int64_t blocks = weight.getCols() / gpukernels::actBlockElems(q);
  if (llvm::Error e = launch(*index, ceilDiv(blocks, kWG), rowsOf(input),
                             {act(input), qs, aux}))
    return std::move(e);
  return std::make_pair(qs, aux);
}

std::pair<g::BindingEntry, g::BindingEntry>
Planner::quantizedSlot(Value v, gpukernels::ActQuant q) {
  const int64_t cols = widthOf(v);
  const int64_t qsBytes = (cols + kSlotAlign - 1) / kSlotAlign * kSlotAlign;
  const int64_t auxBytes = cols / gpukernels::actBlockElems(q) *
                           gpukernels::actAuxPerBlock(q) * 4;
  const int64_t slot =
      qsBytes + (auxBytes + kSlotAlign - 1) / kSlotAlign * kSlotAlign;
  const int64_t offset = arena.allocate(slot);
  g::BindingEntry qs{static_cast<uint32_t>(g::Space::Arena), 0,
                     static_cast<uint64_t>(offset * kBatch), 0,
                     static_cast<uint64_t>(cols * kBatch), 0};
  g::BindingEntry aux{static_cast<uint32_t>(g::Space::Arena), 0,
                      static_cast<uint64_t>((offset + qsBytes) * kBatch), 0,
                      static_cast<uint64_t>(auxBytes * kBatch), 0};
  quantized[{v, static_cast<unsigned>(q)}] = {offset, slot, qs, aux};
  return {qs, aux};
}

void Planner::release(Value v) {
  Slot &s = slots.find(v)->second;
  arena.release(s.offset, s.bytes);
  s.bytes = 0;
  for (unsigned q = 0; q <= static_cast<unsigned>(gpukernels::ActQuant::Q8_K);
       ++q)
    if (auto it = quantized.find({v, q}); it != quantized.end()) {
      arena.release(it->second.offset, it->second.bytes);
      quantized.erase(it);
    }
}

llvm::Error Planner::planOp(Operation *op) {
  if (op->hasAttr("gpu_fused_into_user"))
    return llvm::Error::success(); // its user's kernel computes it
  for (Value operand : reads(op))
    if (isa<RankedTensorType>(operand.getType()) && !slots.count(operand) &&
        !isa<EmbedOp>(op))
      return error("op " + op->getName().getStringRef() +
                   " reads a value no earlier op computes");

  std::vector<g::BindingEntry> args;
  uint32_t gridX = 1;
  g::Rows rows = g::Rows::Tokens;
  auto columns = [&](int64_t width, g::Rows r) {
    gridX = ceilDiv(width, kWG);
    rows = r;
  };
  uint32_t tokensPerGroup = 1;
  // Quantized matvecs take groups of tokens and the params buffer last.
  auto matvecGrid = [&](WeightType t) {
    bool quantized = !isFloatFormat(t.getFormat());
    gridX = ceilDiv(t.getRows(), g::matvecRowsPerGroup(!quantized, t.getRows(),
                                                       t.getCols()));
    if (quantized) {
      args.push_back(params());
      tokensPerGroup = g::kQuantMatvecTokensPerGroup;
    }
  };
  std::string failure;
  llvm::TypeSwitch<Operation *>(op)
      .Case<EmbedOp>([&](EmbedOp e) {
        allocate(e.getResult(), g::Rows::Tokens);
        args = {weight(e.getTable()), space(g::Space::Tokens, kBatch * 4),
                act(e.getResult())};
        columns(e.getTable().getType().getCols(), g::Rows::Tokens);
      })
      .Case<RMSNormOp>([&](RMSNormOp n) {
        allocate(n.getResult(), rowsOf(n.getInput()));
        args = {act(n.getInput()), act(n.getResult())};
        if (Value w = n.getWeight())
          args.push_back(weight(w));
        if (auto q = op->getAttrOfType<IntegerAttr>("gpu_result_quant")) {
          auto [qs, aux] = quantizedSlot(
              n.getResult(), static_cast<gpukernels::ActQuant>(q.getInt()));
          args.push_back(qs);
          args.push_back(aux);
        }
        gridX = static_cast<uint32_t>(widthOf(n.getInput()) / n.getGroup());
        rows = rowsOf(n.getInput());
      })
      .Case<LinearOp>([&](LinearOp l) {
        WeightType t = l.getWeight().getType();
        args = {weight(l.getWeight())};
        if (llvm::Error e = matvecInput(op, l.getInput(), t, args)) {
          failure = llvm::toString(std::move(e));
          return;
        }
        allocate(l.getResult(), rowsOf(l.getInput()));
        args.push_back(act(l.getResult()));
        matvecGrid(t);
        rows = rowsOf(l.getInput());
      })
      .Case<GeGLUOp>([&](GeGLUOp gg) {
        WeightType t = gg.getGate().getType();
        args = {weight(gg.getGate()), weight(gg.getUp())};
        if (llvm::Error e = matvecInput(op, gg.getInput(), t, args)) {
          failure = llvm::toString(std::move(e));
          return;
        }
        allocate(gg.getResult(), rowsOf(gg.getInput()));
        args.push_back(act(gg.getResult()));
        args.push_back(geluTable());
        matvecGrid(t);
        rows = rowsOf(gg.getInput());
      })
      .Case<RopeOp>([&](RopeOp r) {
        // A fused per-head norm: the RoPE reads the norm's input and weight.
        auto norm = r.getInput().getDefiningOp<RMSNormOp>();
        if (!norm || !norm->hasAttr("gpu_fused_into_user"))
          norm = {};
        Value input = norm ? norm.getInput() : r.getInput();
        allocate(r.getResult(), rowsOf(input));
        args = {act(input), act(r.getResult()), params(), ropeTable(r)};
        if (norm && norm.getWeight())
          args.push_back(weight(norm.getWeight()));
        gridX = static_cast<uint32_t>(r.getNumHeads());
        rows = rowsOf(input);
      })
      .Case<AttentionOp>([&](AttentionOp a) {
        auto kv = cache(op, a.getKvCache());
        if (!kv) {
          failure = llvm::toString(kv.takeError());
          return;
        }
        allocate(a.getResult(), g::Rows::Tokens);
        args = {act(a.getQ()), act(a.getK()), act(a.getV()), kv->first,
                kv->second, act(a.getResult()), params()};
        gridX = static_cast<uint32_t>(a.getNumHeads());
      })
      .Case<KVStoreOp>([&](KVStoreOp s) {
        auto kv = cache(op, s.getKvCache());
        if (!kv) {
          failure = llvm::toString(kv.takeError());
          return;
        }
        args = {act(s.getK()), act(s.getV()), kv->first, kv->second, params()};
        columns(plan[s.getKvCache()].getWidth(), g::Rows::Tokens);
      })
      .Case<AddOp, MulOp>([&](auto e) {
        if constexpr (std::is_same_v<decltype(e), AddOp>)
          if (fused(e.getLhs()) || fused(e.getRhs())) {
            normAddArgs(e, e.getResult(), args);
            rows = rowsOf(e.getResult()); // one workgroup per row
            return;
          }
        allocate(e.getResult(), rowsOf(e.getLhs()));
        args = {act(e.getLhs()), act(e.getRhs()), act(e.getResult())};
        columns(widthOf(e.getResult()), rowsOf(e.getLhs()));
      })
      .Case<ScaleOp, GeluOp, SoftcapOp>([&](auto e) {
        if constexpr (std::is_same_v<decltype(e), ScaleOp>)
          if (fused(e.getInput())) { // norm + residual, then this scale
            normAddArgs(cast<AddOp>(fused(e.getInput())), e.getResult(), args);
            rows = rowsOf(e.getResult());
            return;
          }
        allocate(e.getResult(), rowsOf(e.getInput()));
        args = {act(e.getInput()), act(e.getResult())};
        if constexpr (std::is_same_v<decltype(e), GeluOp>)
          if (e.getApproximation() == GeluApprox::tanh)
            args.push_back(geluTable());
        columns(widthOf(e.getResult()), rowsOf(e.getInput()));
      })
      .Case<ScaleByWeightOp>([&](ScaleByWeightOp s) {
        allocate(s.getResult(), rowsOf(s.getInput()));
        auto w = s.getFactor().getDefiningOp<WeightOp>();
        auto def = module.lookupSymbol<WeightDefOp>(w.getNameAttr());
        g::BindingEntry factor;
        if (auto value = def.getValueAttr()) {
          // A scalar the checkpoint stores as metadata: a program constant.
          factor = {static_cast<uint32_t>(g::Space::Constants), 0,
                    constants.size() * 4, 0, 4, 0};
          constants.push_back(
              cast<DenseFPElementsAttr>(value).getValues<float>()[0]);
        } else {
          factor = weight(s.getFactor());
          factor.bytes = 4;
        }
        args = {act(s.getInput()), factor, act(s.getResult())};
        columns(widthOf(s.getResult()), rowsOf(s.getInput()));
      })
      .Case<ColumnSliceOp>([&](ColumnSliceOp s) {
        allocate(s.getResult(), rowsOf(s.getInput()));
        args = {act(s.getInput()), act(s.getResult())};
        columns(s.getSize(), rowsOf(s.getInput()));
      })
      .Case<LastRowsOp>([&](LastRowsOp r) {
        allocate(r.getResult(), g::Rows::Outputs);
        args = {act(r.getInput()), act(r.getResult()), params()};
        columns(widthOf(r.getResult()), g::Rows::Outputs);
      })
      .Default([&](Operation *other) {
        failure = ("op " + other->getName().getStringRef() +
                   " has no GPU launch").str();
      });
  if (!failure.empty())
    return error(failure);
  auto index = kernel(op, "gpu_kernel");
  if (!index)
    return index.takeError();
  return launch(*index, gridX, rows, args, tokensPerGroup);
}

llvm::Error Planner::matvecInput(Operation *op, Value input, WeightType weight,
                                 std::vector<g::BindingEntry> &args) {
  if (isFloatFormat(weight.getFormat())) {
    args.push_back(act(input));
    return llvm::Error::success();
  }
  auto blocks = quantizeInput(op, input, weight);
  if (!blocks)
    return blocks.takeError();
  args.push_back(blocks->first);
  args.push_back(blocks->second);
  return llvm::Error::success();
}

llvm::Error Planner::run() {
  if (!entry.getBody().hasOneBlock())
    return error("the entry function must be a single block");
  auto recorded = moduleKVPlan(module, entry);
  if (mlir::failed(recorded))
    return error("no usable KV cache plan for the entry function");
  plan = std::move(*recorded);
  auto bytes = kvElementBytes(module);
  if (mlir::failed(bytes))
    return error("unknown KV cache element type");
  kvElement = *bytes;
  kvSize = kvPlanSize(plan, kvElement);

  Block &body = entry.front();
  returned = cast<func::ReturnOp>(body.getTerminator()).getOperand(0);
  llvm::DenseMap<Operation *, int64_t> order;
  int64_t i = 0;
  for (Operation &op : body)
    order[&op] = i++;
  for (Operation &op : body)
    for (Value operand : reads(&op))
      lastUse[operand] = std::max(lastUse.lookup(operand), order[&op]);

  for (Operation &op : body) {
    if (isa<WeightOp, func::ReturnOp>(op))
      continue;
    if (llvm::Error e = planOp(&op))
      return e;
    // Operands whose last reader this was give their slots back; outputs
    // were placed first, so a kernel never writes what it reads.
    for (Value operand : reads(&op)) {
      auto it = slots.find(operand);
      if (it != slots.end() && operand != returned &&
          lastUse.lookup(operand) == order[&op] && it->second.bytes)
        release(operand);
    }
  }
  auto out = slots.find(returned);
  if (out == slots.end() || out->second.rows != g::Rows::Outputs)
    return error("the entry function must return the last n_out rows");
  logitsOffset = out->second.offset * kBatch;
  logitsWidth = widthOf(returned);
  arenaBytes = arena.peak * kBatch;
  return llvm::Error::success();
}

template <typename T> void append(std::vector<uint8_t> &out, const T *p,
                                  size_t n) {
  const auto *bytes = reinterpret_cast<const uint8_t *>(p);
  out.insert(out.end(), bytes, bytes + n * sizeof(T));
}

} // namespace

llvm::Expected<std::vector<uint8_t>>
buildGpuProgram(ModuleOp module, llvm::ArrayRef<uint8_t> code, bool ptx) {
  func::FuncOp entry = lookupEntry(module);
  auto kernels = module.lookupSymbol<mlir::gpu::GPUModuleOp>("gemmac_kernels");
  if (!entry || !kernels)
    return error("no entry function or gpu.module @gemmac_kernels (run the "
                 "kernel phase of a GPU target first)");
  Planner p(module, entry, kernels);
  if (llvm::Error e = p.run())
    return std::move(e);

  g::ProgramHeader h{};
  std::memcpy(h.magic, g::kProgramMagic, sizeof h.magic);
  h.version = g::kProgramVersion;
  h.codeKind = static_cast<uint32_t>(ptx ? g::CodeKind::PTX : g::CodeKind::SPIRV);
  h.numKernels = p.kernelTable.size();
  h.numLaunches = p.launches.size();
  h.numBindings = p.bindings.size();
  h.numConstants = p.constants.size();
  h.numRopes = p.ropes.size();
  h.maxBatch = kBatch;
  h.workgroupSize = kWG;
  h.arenaBytes = p.arenaBytes;
  h.kvFixedBytes = p.kvSize.fixed;
  h.kvPerCtxBytes = p.kvSize.perToken;
  h.logitsOffset = p.logitsOffset;
  h.logitsWidth = p.logitsWidth;
  uint64_t tables = sizeof h + p.kernelTable.size() * sizeof(g::KernelEntry) +
                    p.launches.size() * sizeof(g::LaunchEntry) +
                    p.bindings.size() * sizeof(g::BindingEntry) +
                    p.constants.size() * sizeof(float) +
                    p.ropes.size() * sizeof(g::RopeEntry);
  h.codeOffset = (tables + 15) / 16 * 16;
  h.codeBytes = code.size() + (ptx ? 1 : 0); // PTX keeps its terminating NUL

  std::vector<uint8_t> image;
  image.reserve(h.codeOffset + h.codeBytes);
  append(image, &h, 1);
  append(image, p.kernelTable.data(), p.kernelTable.size());
  append(image, p.launches.data(), p.launches.size());
  append(image, p.bindings.data(), p.bindings.size());
  append(image, p.constants.data(), p.constants.size());
  append(image, p.ropes.data(), p.ropes.size());
  image.resize(h.codeOffset, 0);
  image.insert(image.end(), code.begin(), code.end());
  if (ptx)
    image.push_back(0);
  return image;
}

void printGpuProgram(llvm::ArrayRef<uint8_t> image, llvm::raw_ostream &os) {
  // The image is 8-byte aligned in the executable; copy it to be so here.
  std::vector<uint64_t> aligned((image.size() + 7) / 8);
  std::memcpy(aligned.data(), image.data(), image.size());
  g::ProgramView v;
  std::string err;
  if (!g::parseGpuProgram(reinterpret_cast<const uint8_t *>(aligned.data()),
                          image.size(), v, err)) {
    os << err << "\n";
    return;
  }
  const g::ProgramHeader &h = *v.header;
  static const char *spaces[] = {"weights", "arena",     "kv",
                                 "tokens",  "params",    "constants",
                                 "tables",  "rope"};
  static const char *rows[] = {"1", "tokens", "n_out"};
  os << llvm::format("gpu program: %s, %u kernels, %u launches, arena %llu "
                     "bytes, kv %llu + %llu x n_ctx bytes, logits at arena "
                     "+%llu (%llu per row)\n",
                     h.codeKind == static_cast<uint32_t>(g::CodeKind::PTX)
                         ? "ptx"
                         : "spirv",
                     h.numKernels, h.numLaunches,
                     (unsigned long long)h.arenaBytes,
                     (unsigned long long)h.kvFixedBytes,
                     (unsigned long long)h.kvPerCtxBytes,
                     (unsigned long long)h.logitsOffset,
                     (unsigned long long)h.logitsWidth);
  for (uint32_t i = 0; i < h.numLaunches; ++i) {
    const g::LaunchEntry &l = v.launches[i];
    os << llvm::format("%4u %s grid(%u, %s", i, v.kernels[l.kernel].name,
                       l.gridX, rows[l.rows]);
    if (l.tokensPerGroup > 1)
      os << " / " << l.tokensPerGroup;
    os << ")";
    for (uint32_t j = 0; j < l.numBindings; ++j) {
      const g::BindingEntry &b = v.bindings[l.firstBinding + j];
      os << " " << spaces[b.space] << "[" << b.offset;
      if (b.offsetPerCtx)
        os << "+" << b.offsetPerCtx << "c";
      os << ":" << b.bytes;
      if (b.bytesPerCtx)
        os << "+" << b.bytesPerCtx << "c";
      os << "]";
    }
    os << "\n";
  }
}

llvm::Error emitGpuProgramObject(ModuleOp module, llvm::ArrayRef<uint8_t> image,
                                 const CpuTarget &host,
                                 llvm::StringRef objectPath) {
  func::FuncOp entry = lookupEntry(module);
  if (!entry)
    return error("no entry function");
  SmallVector<int64_t> meta = computeModelMeta(module, entry, kBatch);
  MLIRContext *ctx = module.getContext();
  OwningOpRef<ModuleOp> host_module = ModuleOp::create(UnknownLoc::get(ctx));
  emitModelMeta(*host_module, meta);
  OpBuilder b(ctx);
  b.setInsertionPointToEnd(host_module->getBody());
  Location loc = host_module->getLoc();
  auto bytesType = RankedTensorType::get({static_cast<int64_t>(image.size())},
                                         b.getI8Type());
  auto value = DenseElementsAttr::getFromRawBuffer(
      bytesType, llvm::ArrayRef<char>(
                     reinterpret_cast<const char *>(image.data()), image.size()));
  auto program = LLVM::GlobalOp::create(
      b, loc, LLVM::LLVMArrayType::get(b.getI8Type(), image.size()),
      /*isConstant=*/true, LLVM::Linkage::External, abi::kGpuProgramSymbol,
      value);
  program.setAlignment(16);
  LLVM::GlobalOp::create(b, loc, b.getI64Type(), /*isConstant=*/true,
                         LLVM::Linkage::External, abi::kGpuProgramBytesSymbol,
                         b.getI64IntegerAttr(image.size()));
  return emitObject(*host_module, host, objectPath);
}

} // namespace gemmac
