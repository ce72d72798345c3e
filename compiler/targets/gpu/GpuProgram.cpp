//===- GpuProgram.cpp - the program image of a GPU target -----------------===//
//
// Serializes the host side of a GPU program as the kernel phase left it: the
// entry function's `gpu.launch_func`s, in order, with their grids
// (gemma.gpu_rows) and buffer ranges (gemma.gpu_view, placed by
// gemma-plan-gpu-arena; gemma.gpu_constant and gemma.gpu_rope_table, whose
// tables are laid out here), into the image of abi/gpu_program.h. Nothing
// about a launch is derived here: a kernel's arguments are written once, by
// gemma-lower-to-gpu, next to the kernel.
//
//===----------------------------------------------------------------------===//

#include "compiler/targets/gpu/GpuProgram.h"
#include "abi/gpu_program.h"
#include "abi/model_abi.h"
#include "compiler/targets/gpu/kernels/KernelLibrary.h"
#include "dialects/gemma/GemmaDialect.h"
#include "passes/KVPlan.h"
#include "passes/ModelMeta.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Utils/StaticValueUtils.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/Format.h"

#include <cstring>

using namespace mlir;
using namespace gemmac::gemma;
namespace g = gemmac::gpu;

namespace gemmac {
namespace {

constexpr int64_t kWG = gpukernels::kWorkgroupSize;
constexpr int64_t kBatch = gpukernels::kMaxBatch;

static_assert(static_cast<uint32_t>(GpuSpace::weights) ==
                  static_cast<uint32_t>(g::Space::Weights) &&
              static_cast<uint32_t>(GpuSpace::arena) ==
                  static_cast<uint32_t>(g::Space::Arena) &&
              static_cast<uint32_t>(GpuSpace::kv) ==
                  static_cast<uint32_t>(g::Space::KV) &&
              static_cast<uint32_t>(GpuSpace::tokens) ==
                  static_cast<uint32_t>(g::Space::Tokens) &&
              static_cast<uint32_t>(GpuSpace::params) ==
                  static_cast<uint32_t>(g::Space::Params) &&
              static_cast<uint32_t>(GpuSpace::constants) ==
                  static_cast<uint32_t>(g::Space::Constants) &&
              static_cast<uint32_t>(GpuSpace::tables) ==
                  static_cast<uint32_t>(g::Space::Tables) &&
              static_cast<uint32_t>(GpuSpace::rope) ==
                  static_cast<uint32_t>(g::Space::Rope) &&
              g::kNumSpaces == 8);
static_assert(static_cast<uint32_t>(GpuRows::one) ==
                  static_cast<uint32_t>(g::Rows::One) &&
              static_cast<uint32_t>(GpuRows::tokens) ==
                  static_cast<uint32_t>(g::Rows::Tokens) &&
              static_cast<uint32_t>(GpuRows::n_out) ==
                  static_cast<uint32_t>(g::Rows::Outputs));

llvm::Error error(const llvm::Twine &message) {
  return llvm::createStringError(llvm::inconvertibleErrorCode(), message);
}

g::BindingEntry entry(g::Space space, uint64_t offset, uint64_t offsetPerCtx,
                      uint64_t bytes, uint64_t bytesPerCtx) {
  g::BindingEntry e{};
  e.space = static_cast<uint32_t>(space);
  e.offset = offset;
  e.offsetPerCtx = offsetPerCtx;
  e.bytes = bytes;
  e.bytesPerCtx = bytesPerCtx;
  return e;
}

/// The tables of an image, in launch order.
struct ImageTables {
  std::vector<g::KernelEntry> kernels;
  std::vector<g::LaunchEntry> launches;
  std::vector<g::BindingEntry> bindings;
  std::vector<float> constants;
  std::vector<g::RopeEntry> ropes;
  llvm::StringMap<uint32_t> kernelIndex;

  llvm::Error add(mlir::gpu::LaunchFuncOp launch,
                  mlir::gpu::GPUModuleOp module);

private:
  llvm::Expected<uint32_t> kernel(mlir::gpu::LaunchFuncOp launch,
                                  mlir::gpu::GPUModuleOp module);
  llvm::Expected<g::BindingEntry> binding(Value arg);
  /// The (cos, sin) table of a RoPE, shared by the launches of its constants.
  g::BindingEntry ropeTable(RopeAttr rope);
};

llvm::Expected<uint32_t> ImageTables::kernel(mlir::gpu::LaunchFuncOp launch,
                                             mlir::gpu::GPUModuleOp module) {
  StringRef name = launch.getKernelName().getValue();
  auto fn = module.lookupSymbol<mlir::gpu::GPUFuncOp>(name);
  if (launch.getKernelModuleName() != module.getSymNameAttr() || !fn)
    return error("a launch names kernel " +
                 llvm::Twine(launch.getKernelAttr().getLeafReference()) +
                 ", which is not in the gpu.module");
  if (name.size() >= sizeof(g::KernelEntry::name))
    return error("kernel name @" + name + " is too long");
  auto [it, inserted] = kernelIndex.try_emplace(name, kernels.size());
  if (inserted) {
    g::KernelEntry e{};
    std::memcpy(e.name, name.data(), name.size());
    e.numBuffers = fn.getNumArguments();
    kernels.push_back(e);
  }
  return it->second;
}

g::BindingEntry ImageTables::ropeTable(RopeAttr rope) {
  g::RopeEntry want{static_cast<float>(rope.getThetaValue()),
                    static_cast<uint32_t>(rope.getFreqDim()),
                    static_cast<uint32_t>(rope.getRotatedPairs()), 0};
  auto binding = [](uint64_t before, uint32_t pairs) {
    return entry(g::Space::Rope, 0, before, 0, uint64_t(pairs) * 8);
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

llvm::Expected<g::BindingEntry> ImageTables::binding(Value arg) {
  Operation *def = arg.getDefiningOp();
  if (auto view = dyn_cast_or_null<GpuViewOp>(def))
    return entry(static_cast<g::Space>(view.getSpace()), view.getOffset(),
                 view.getOffsetPerCtx(), view.getBytes(),
                 view.getBytesPerCtx());
  if (auto constant = dyn_cast_or_null<GpuConstantOp>(def)) {
    g::BindingEntry e = entry(g::Space::Constants, constants.size() * 4, 0,
                              /*bytes=*/4, 0);
    constants.push_back(constant.getValue().convertToFloat());
    return e;
  }
  if (auto table = dyn_cast_or_null<GpuRopeTableOp>(def))
    return ropeTable(table.getRope());
  if (isa_and_nonnull<GpuSlotOp>(def))
    return error("a launch reads an activation the arena does not place "
                 "(run gemma-plan-gpu-arena first)");
  return error("a launch argument is no gemma.gpu_view, gpu_constant or "
               "gpu_rope_table");
}

llvm::Error ImageTables::add(mlir::gpu::LaunchFuncOp launch,
                             mlir::gpu::GPUModuleOp module) {
  auto index = kernel(launch, module);
  if (!index)
    return index.takeError();
  mlir::gpu::KernelDim3 grid = launch.getGridSizeOperandValues();
  mlir::gpu::KernelDim3 block = launch.getBlockSizeOperandValues();
  auto rows = grid.y.getDefiningOp<GpuRowsOp>();
  std::optional<int64_t> gridX = getConstantIntValue(grid.x);
  if (!rows || !gridX || getConstantIntValue(grid.z) != 1 ||
      getConstantIntValue(block.x) != kWG ||
      getConstantIntValue(block.y) != 1 || getConstantIntValue(block.z) != 1)
    return error("launch of @" + launch.getKernelName().getValue() +
                 ": the grid must be (constant, gemma.gpu_rows, 1) and the "
                 "workgroup (" +
                 llvm::Twine(kWG) + ", 1, 1)");
  launches.push_back({*index, static_cast<uint32_t>(*gridX),
                      static_cast<uint32_t>(rows.getRows()),
                      static_cast<uint32_t>(bindings.size()),
                      static_cast<uint32_t>(launch.getNumKernelOperands()),
                      static_cast<uint32_t>(rows.getPerGroup())});
  for (Value arg : launch.getKernelOperands()) {
    auto b = binding(arg);
    if (!b)
      return b.takeError();
    bindings.push_back(*b);
  }
  return llvm::Error::success();
}

template <typename T>
void append(std::vector<uint8_t> &out, const T *p, size_t n) {
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
  if (!entry.getBody().hasOneBlock())
    return error("the entry function must be a single block");
  auto plan = moduleKVPlan(module, entry);
  auto kvElement = kvElementBytes(module);
  if (mlir::failed(plan) || mlir::failed(kvElement))
    return error("no usable KV cache plan for the entry function");
  KVPlanSize kv = kvPlanSize(*plan, *kvElement);
  Block &body = entry.front();
  auto arenas = body.getOps<GpuArenaOp>();
  if (arenas.empty())
    return error("the entry has no gemma.gpu_arena (run gemma-plan-gpu-arena "
                 "first)");
  GpuArenaOp arena = *arenas.begin();

  ImageTables p;
  for (auto launch : body.getOps<mlir::gpu::LaunchFuncOp>())
    if (llvm::Error e = p.add(launch, kernels))
      return std::move(e);

  g::ProgramHeader h{};
  std::memcpy(h.magic, g::kProgramMagic, sizeof h.magic);
  h.version = g::kProgramVersion;
  h.codeKind =
      static_cast<uint32_t>(ptx ? g::CodeKind::PTX : g::CodeKind::SPIRV);
  h.numKernels = p.kernels.size();
  h.numLaunches = p.launches.size();
  h.numBindings = p.bindings.size();
  h.numConstants = p.constants.size();
  h.numRopes = p.ropes.size();
  h.maxBatch = kBatch;
  h.workgroupSize = kWG;
  h.arenaBytes = arena.getBytes();
  h.kvFixedBytes = kv.fixed;
  h.kvPerCtxBytes = kv.perToken;
  h.logitsOffset = arena.getLogitsOffset();
  h.logitsWidth =
      cast<RankedTensorType>(body.getTerminator()->getOperand(0).getType())
          .getDimSize(1);
  uint64_t tables = sizeof h + p.kernels.size() * sizeof(g::KernelEntry) +
                    p.launches.size() * sizeof(g::LaunchEntry) +
                    p.bindings.size() * sizeof(g::BindingEntry) +
                    p.constants.size() * sizeof(float) +
                    p.ropes.size() * sizeof(g::RopeEntry);
  h.codeOffset = (tables + 15) / 16 * 16;
  h.codeBytes = code.size() + (ptx ? 1 : 0); // PTX keeps its terminating NUL

  std::vector<uint8_t> image;
  image.reserve(h.codeOffset + h.codeBytes);
  append(image, &h, 1);
  append(image, p.kernels.data(), p.kernels.size());
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
  static const char *spaces[] = {"weights", "arena",     "kv",     "tokens",
                                 "params",  "constants", "tables", "rope"};
  static const char *rows[] = {"1", "tokens", "n_out"};
  os << llvm::format(
      "gpu program: %s, %u kernels, %u launches, arena %llu "
      "bytes, kv %llu + %llu x n_ctx bytes, logits at arena "
      "+%llu (%llu per row)\n",
      h.codeKind == static_cast<uint32_t>(g::CodeKind::PTX) ? "ptx" : "spirv",
      h.numKernels, h.numLaunches, (unsigned long long)h.arenaBytes,
      (unsigned long long)h.kvFixedBytes, (unsigned long long)h.kvPerCtxBytes,
      (unsigned long long)h.logitsOffset, (unsigned long long)h.logitsWidth);
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
                                 const ProgramTableSpec &table,
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
      bytesType,
      llvm::ArrayRef<char>(reinterpret_cast<const char *>(image.data()),
                           image.size()));
  auto program = LLVM::GlobalOp::create(
      b, loc, LLVM::LLVMArrayType::get(b.getI8Type(), image.size()),
      /*isConstant=*/true, LLVM::Linkage::External, abi::kGpuProgramSymbol,
      value);
  program.setAlignment(16);
  LLVM::GlobalOp::create(b, loc, b.getI64Type(), /*isConstant=*/true,
                         LLVM::Linkage::External, abi::kGpuProgramBytesSymbol,
                         b.getI64IntegerAttr(image.size()));
  return emitObject(*host_module, host, table, objectPath);
}

} // namespace gemmac
