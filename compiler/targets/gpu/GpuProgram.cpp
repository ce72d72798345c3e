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

  /// A launch's arguments and grid.
  struct Launch {
    std::vector<g::BindingEntry> args;
    uint32_t gridX = 1;
    g::Rows rows = g::Rows::Tokens;
    uint32_t tokensPerGroup = 1;
    void columns(int64_t width, g::Rows r) {
      gridX = ceilDiv(width, kWG);
      rows = r;
    }
  };
  llvm::Error planOp(Operation *op);
  /// The launch of a norm, RoPE or quantizer (fused or not); false if `op`
  /// is none of them.
  bool planNormOp(Operation *op, Launch &l);
  /// The launch of a linear or geglu.
  llvm::Error planMatvec(Operation *op, Launch &l);
  llvm::Expected<uint32_t> kernel(Operation *op);
  llvm::Error launch(uint32_t kernel, const Launch &l);
  /// The input of a linear/geglu: f32 rows, or the int8 blocks an earlier
  /// launch wrote.
  llvm::Error matvecInput(Value input, std::vector<g::BindingEntry> &args);
  /// A one-element weight: a program constant when its value is known.
  g::BindingEntry scalarWeight(Value handle);
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
  /// The activations op's kernel reads: its operands, with int8 blocks
  /// standing for the activation they quantize (the blocks live and die
  /// with it).
  static SmallVector<Value> reads(Operation *op) {
    SmallVector<Value> out;
    for (Value v : op->getOperands())
      out.push_back(blocksSource(v));
    return out;
  }
  static Value blocksSource(Value v) {
    if (!isa<ActBlocksType>(v.getType()))
      return v;
    if (auto q = v.getDefiningOp<QuantizeActivationOp>())
      return q.getInput();
    return cast<RMSNormQuantizeOp>(v.getDefiningOp()).getResult();
  }
  static gpukernels::ActQuant actQuant(ActBlocksType t) {
    return static_cast<gpukernels::ActQuant>(t.getQuantizer());
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
  g::BindingEntry ropeTable(RopeAttr rope);
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

g::BindingEntry Planner::ropeTable(RopeAttr rope) {
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

llvm::Expected<uint32_t> Planner::kernel(Operation *op) {
  auto kernelAttr = op->getAttrOfType<FlatSymbolRefAttr>("gpu_kernel");
  if (!kernelAttr)
    return error("op " + op->getName().getStringRef() +
                 " has no gpu_kernel (run gemma-lower-to-gpu first)");
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

llvm::Error Planner::launch(uint32_t kernel, const Launch &l) {
  const g::KernelEntry &k = kernelTable[kernel];
  if (l.args.size() != k.numBuffers)
    return error(llvm::Twine("kernel @") + k.name + " takes " +
                 llvm::Twine(k.numBuffers) + " buffers, its op supplies " +
                 llvm::Twine(l.args.size()));
  launches.push_back({kernel, l.gridX, static_cast<uint32_t>(l.rows),
                      static_cast<uint32_t>(bindings.size()),
                      static_cast<uint32_t>(l.args.size()), l.tokensPerGroup});
  bindings.insert(bindings.end(), l.args.begin(), l.args.end());
  return llvm::Error::success();
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

bool Planner::planNormOp(Operation *op, Launch &l) {
  // The (x, y[, w]) of a norm kernel, y allocated with x's rows.
  auto normArgs = [&](Value input, Value result, Value w) {
    allocate(result, rowsOf(input));
    l.args = {act(input), act(result)};
    if (w)
      l.args.push_back(weight(w));
    l.rows = rowsOf(input);
  };
  return llvm::TypeSwitch<Operation *, bool>(op)
      .Case<RMSNormOp>([&](RMSNormOp n) {
        normArgs(n.getInput(), n.getResult(), n.getWeight());
        l.gridX = static_cast<uint32_t>(widthOf(n.getInput()) / n.getGroup());
        return true;
      })
      .Case<RMSNormQuantizeOp>([&](RMSNormQuantizeOp n) {
        normArgs(n.getInput(), n.getResult(), n.getWeight());
        auto [qs, aux] =
            quantizedSlot(n.getResult(), actQuant(n.getBlocks().getType()));
        l.args.push_back(qs);
        l.args.push_back(aux);
        return true;
      })
      .Case<RMSNormAddOp>([&](RMSNormAddOp n) {
        // One workgroup per row: (x, y[, w], residual).
        normArgs(n.getInput(), n.getResult(), n.getWeight());
        l.args.push_back(act(n.getResidual()));
        return true;
      })
      .Case<QuantizeActivationOp>([&](QuantizeActivationOp q) {
        ActBlocksType t = q.getResult().getType();
        auto [qs, aux] = quantizedSlot(q.getInput(), actQuant(t));
        l.args = {act(q.getInput()), qs, aux};
        l.columns(t.getCols() / ActBlocksType::blockElems(t.getQuantizer()),
                  rowsOf(q.getInput()));
        return true;
      })
      .Case<RopeOp, RMSNormRopeOp>([&](auto r) {
        // (x, y, params, table[, the fused norm's weight]).
        allocate(r.getResult(), rowsOf(r.getInput()));
        l.args = {act(r.getInput()), act(r.getResult()), params(),
                  ropeTable(r.getRope())};
        if constexpr (std::is_same_v<decltype(r), RMSNormRopeOp>)
          if (Value w = r.getWeight())
            l.args.push_back(weight(w));
        l.gridX = static_cast<uint32_t>(r.getNumHeads());
        l.rows = rowsOf(r.getInput());
        return true;
      })
      .Default([](Operation *) { return false; });
}

llvm::Error Planner::planMatvec(Operation *op, Launch &l) {
  auto linear = dyn_cast<LinearOp>(op);
  auto geglu = dyn_cast<GeGLUOp>(op);
  Value input = op->getOperand(0), result = op->getResult(0);
  WeightType t =
      linear ? linear.getWeight().getType() : geglu.getGate().getType();
  l.args = {weight(linear ? linear.getWeight() : geglu.getGate())};
  if (geglu)
    l.args.push_back(weight(geglu.getUp()));
  if (llvm::Error e = matvecInput(input, l.args))
    return e;
  g::Rows rows = rowsOf(blocksSource(input));
  allocate(result, rows);
  l.args.push_back(act(result));
  if (geglu)
    l.args.push_back(geluTable());
  // Quantized matvecs take groups of tokens and the params buffer last.
  bool quantized = !isFloatFormat(t.getFormat());
  l.gridX = ceilDiv(t.getRows(), g::matvecRowsPerGroup(!quantized, t.getRows(),
                                                       t.getCols()));
  if (quantized) {
    l.args.push_back(params());
    l.tokensPerGroup = g::kQuantMatvecTokensPerGroup;
  }
  l.rows = rows;
  return llvm::Error::success();
}

llvm::Error Planner::planOp(Operation *op) {
  for (Value operand : reads(op))
    if (isa<RankedTensorType>(operand.getType()) && !slots.count(operand) &&
        !isa<EmbedOp>(op))
      return error("op " + op->getName().getStringRef() +
                   " reads a value no earlier op computes");

  Launch l;
  std::string failure;
  if (isa<LinearOp, GeGLUOp>(op)) {
    if (llvm::Error e = planMatvec(op, l))
      return e;
  } else if (!planNormOp(op, l)) {
    llvm::TypeSwitch<Operation *>(op)
        .Case<EmbedOp>([&](EmbedOp e) {
          allocate(e.getResult(), g::Rows::Tokens);
          l.args = {weight(e.getTable()), space(g::Space::Tokens, kBatch * 4),
                    act(e.getResult())};
          l.columns(e.getTable().getType().getCols(), g::Rows::Tokens);
        })
        .Case<AttentionOp>([&](AttentionOp a) {
          auto kv = cache(op, a.getKvCache());
          if (!kv) {
            failure = llvm::toString(kv.takeError());
            return;
          }
          allocate(a.getResult(), g::Rows::Tokens);
          l.args = {act(a.getQ()), act(a.getK()), act(a.getV()), kv->first,
                    kv->second, act(a.getResult()), params()};
          l.gridX = static_cast<uint32_t>(a.getNumHeads());
        })
        .Case<KVStoreOp>([&](KVStoreOp s) {
          auto kv = cache(op, s.getKvCache());
          if (!kv) {
            failure = llvm::toString(kv.takeError());
            return;
          }
          l.args = {act(s.getK()), act(s.getV()), kv->first, kv->second,
                    params()};
          l.columns(plan[s.getKvCache()].getWidth(), g::Rows::Tokens);
        })
        .Case<AddOp, MulOp>([&](auto e) {
          allocate(e.getResult(), rowsOf(e.getLhs()));
          l.args = {act(e.getLhs()), act(e.getRhs()), act(e.getResult())};
          l.columns(widthOf(e.getResult()), rowsOf(e.getLhs()));
        })
        .Case<ScaleOp, GeluOp, SoftcapOp>([&](auto e) {
          allocate(e.getResult(), rowsOf(e.getInput()));
          l.args = {act(e.getInput()), act(e.getResult())};
          if constexpr (std::is_same_v<decltype(e), GeluOp>)
            if (e.getApproximation() == GeluApprox::tanh)
              l.args.push_back(geluTable());
          l.columns(widthOf(e.getResult()), rowsOf(e.getInput()));
        })
        .Case<ScaleByWeightOp>([&](ScaleByWeightOp s) {
          allocate(s.getResult(), rowsOf(s.getInput()));
          l.args = {act(s.getInput()), scalarWeight(s.getFactor()),
                    act(s.getResult())};
          l.columns(widthOf(s.getResult()), rowsOf(s.getInput()));
        })
        .Case<ColumnSliceOp>([&](ColumnSliceOp s) {
          allocate(s.getResult(), rowsOf(s.getInput()));
          l.args = {act(s.getInput()), act(s.getResult())};
          l.columns(s.getSize(), rowsOf(s.getInput()));
        })
        .Case<LastRowsOp>([&](LastRowsOp r) {
          allocate(r.getResult(), g::Rows::Outputs);
          l.args = {act(r.getInput()), act(r.getResult()), params()};
          l.columns(widthOf(r.getResult()), g::Rows::Outputs);
        })
        .Default([&](Operation *other) {
          failure = ("op " + other->getName().getStringRef() +
                     " has no GPU launch")
                        .str();
        });
  }
  if (!failure.empty())
    return error(failure);
  auto index = kernel(op);
  if (!index)
    return index.takeError();
  return launch(*index, l);
}

g::BindingEntry Planner::scalarWeight(Value handle) {
  auto w = handle.getDefiningOp<WeightOp>();
  auto def = module.lookupSymbol<WeightDefOp>(w.getNameAttr());
  if (auto value = def.getValueAttr()) {
    // A scalar the checkpoint stores as metadata: a program constant.
    g::BindingEntry factor{static_cast<uint32_t>(g::Space::Constants), 0,
                           constants.size() * 4, 0, 4, 0};
    constants.push_back(cast<DenseFPElementsAttr>(value).getValues<float>()[0]);
    return factor;
  }
  g::BindingEntry factor = weight(handle);
  factor.bytes = 4;
  return factor;
}

llvm::Error Planner::matvecInput(Value input,
                                 std::vector<g::BindingEntry> &args) {
  auto blocks = dyn_cast<ActBlocksType>(input.getType());
  if (!blocks) {
    args.push_back(act(input));
    return llvm::Error::success();
  }
  auto it = quantized.find(
      {blocksSource(input), static_cast<unsigned>(actQuant(blocks))});
  if (it == quantized.end())
    return error("int8 blocks read before any launch wrote them");
  args.push_back(it->second.qs);
  args.push_back(it->second.aux);
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
