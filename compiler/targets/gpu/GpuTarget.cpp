//===- GpuTarget.cpp - device code for CUDA (PTX) and Vulkan (SPIR-V) -----===//

#include "compiler/targets/gpu/GpuTarget.h"
#include "compiler/targets/gpu/GpuProgram.h"
#include "passes/Passes.h"

#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/GPUToNVVM/GPUToNVVM.h"
#include "mlir/Conversion/GPUToNVVM/GPUToNVVMPass.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/MemRefToLLVM/MemRefToLLVM.h"
#include "mlir/Conversion/UBToLLVM/UBToLLVM.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/SPIRV/IR/SPIRVDialect.h"
#include "mlir/Dialect/SPIRV/IR/SPIRVOps.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVM/NVVM/Target.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/GPU/GPUToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h"
#include "mlir/Target/SPIRV/Serialization.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"

using namespace mlir;

namespace gemmac {

const char *ptxFeatures(llvm::StringRef chip) {
  return llvm::StringSwitch<const char *>(chip)
      .Case("sm_80", "+ptx70")
      .Case("sm_89", "+ptx78")
      .Case("sm_90", "+ptx80")
      .Case("sm_100", "+ptx86")
      .Case("sm_120", "+ptx87")
      .Default(nullptr);
}

bool isGpuTargetSpec(llvm::StringRef spec) {
  return spec == "cuda" || spec.starts_with("cuda:") || spec == "vulkan";
}

llvm::Expected<GpuTarget> parseGpuTarget(llvm::StringRef spec) {
  auto host = parseCpuTarget("cpu");
  if (!host)
    return host.takeError();
  GpuTarget t;
  t.spec = spec.str();
  t.host = *host;
  if (spec == "vulkan") {
    t.kind = GpuTarget::Kind::Vulkan;
    return t;
  }
  t.chip = spec.consume_front("cuda:") ? spec.str() : "sm_80";
  if (!ptxFeatures(t.chip))
    return llvm::createStringError(
        "--target cuda:" + t.chip +
        ": unknown architecture (sm_80, sm_89, sm_90, sm_100, sm_120)");
  return t;
}

void registerGpuTargetDialects(DialectRegistry &registry) {
  registry.insert<gpu::GPUDialect, NVVM::NVVMDialect, spirv::SPIRVDialect,
                  cf::ControlFlowDialect, LLVM::LLVMDialect>();
  NVVM::registerNVVMTargetInterfaceExternalModels(registry);
  // convert-gpu-to-nvvm converts every dialect through these interfaces.
  arith::registerConvertArithToLLVMInterface(registry);
  cf::registerConvertControlFlowToLLVMInterface(registry);
  registerConvertMathToLLVMInterface(registry);
  registerConvertMemRefToLLVMInterface(registry);
  ub::registerConvertUBToLLVMInterface(registry);
  NVVM::registerConvertGpuToNVVMInterface(registry);
  registerBuiltinDialectTranslation(registry);
  registerLLVMDialectTranslation(registry);
  registerNVVMDialectTranslation(registry);
  registerGPUDialectTranslation(registry);
}

llvm::Error GpuTarget::checkOptions(const EmitOptions &options) const {
  const char *code = kind == Kind::CUDA ? "ptx" : "spirv";
  if (!options.deviceCode.empty() && options.deviceCode != code)
    return llvm::createStringError("--emit " + options.deviceCode +
                                   " does not fit --target " + spec +
                                   " (it emits " + code + ")");
  return llvm::Error::success();
}

void GpuTarget::addPhasePasses(OpPassManager &pm, Phase phase,
                               const PipelineOptions &options) const {
  switch (phase) {
  case Phase::Quant:
    // GPU kernels read the checkpoint's rows as they are.
    pm.addPass(createLayoutWeights(LayoutWeightsOptions{256}));
    return;
  case Phase::Kernel:
    // The GPU fusions, as gemma ops that get one kernel each; the norm
    // fusions first, so that the quantizer sees what is left to quantize.
    if (options.enabled("fuse-rms-norm-rope"))
      pm.addNestedPass<func::FuncOp>(createFuseRMSNormRope());
    if (options.enabled("fuse-rms-norm-add"))
      pm.addNestedPass<func::FuncOp>(createFuseRMSNormAdd());
    if (options.enabled("fuse-rms-norm-quantize"))
      pm.addNestedPass<func::FuncOp>(createFuseRMSNormQuantize());
    pm.addNestedPass<func::FuncOp>(createQuantizeActivations());
    pm.addPass(createLowerToGPU(
        LowerToGPUOptions{kind == Kind::CUDA ? "nvvm" : "spirv"}));
    pm.addPass(createPlanGpuArena());
    return;
  case Phase::Target:
    pm.addPass(createLowerDeviceCode(chip));
    return;
  default:
    return;
  }
}

/// The target phase's output, or an error saying it is missing.
static llvm::Expected<ModuleOp> loweredDeviceCode(ModuleOp module) {
  auto device = module.lookupSymbol<ModuleOp>(kDeviceModule);
  if (!device)
    return llvm::createStringError(
        "the module has no module @gemmac_device (run the target phase of a "
        "GPU target first)");
  return device;
}

llvm::Expected<std::string> emitPTX(ModuleOp module) {
  auto device = loweredDeviceCode(module);
  if (!device)
    return device.takeError();
  // Serialized from a copy: the module keeps its NVVM form.
  OwningOpRef<ModuleOp> copy(device->clone());
  PassManager serialize(module.getContext());
  GpuModuleToBinaryPassOptions binary;
  binary.compilationTarget = "isa";
  serialize.addPass(createGpuModuleToBinaryPass(binary));
  if (failed(serialize.run(*copy)))
    return llvm::createStringError("generating PTX failed");
  std::string ptx;
  copy->walk([&](gpu::BinaryOp bin) {
    for (Attribute a : bin.getObjects())
      if (auto object = dyn_cast<gpu::ObjectAttr>(a))
        ptx = object.getObject().str();
  });
  if (ptx.empty())
    return llvm::createStringError("the NVPTX back end produced no PTX");
  return ptx;
}

llvm::Expected<std::vector<uint32_t>> emitSPIRV(ModuleOp module) {
  auto device = loweredDeviceCode(module);
  if (!device)
    return device.takeError();
  spirv::ModuleOp spirvModule;
  device->walk([&](spirv::ModuleOp m) { spirvModule = m; });
  if (!spirvModule)
    return llvm::createStringError("module @gemmac_device holds no SPIR-V");
  SmallVector<uint32_t> words;
  if (failed(spirv::serialize(spirvModule, words)))
    return llvm::createStringError("serializing the SPIR-V module failed");
  return std::vector<uint32_t>(words.begin(), words.end());
}

/// The device code: PTX text or SPIR-V words as bytes.
static llvm::Expected<std::vector<uint8_t>>
deviceCode(ModuleOp module, GpuTarget::Kind kind) {
  if (kind == GpuTarget::Kind::CUDA) {
    auto ptx = emitPTX(module);
    if (!ptx)
      return ptx.takeError();
    return std::vector<uint8_t>(ptx->begin(), ptx->end());
  }
  auto words = emitSPIRV(module);
  if (!words)
    return words.takeError();
  const auto *bytes = reinterpret_cast<const uint8_t *>(words->data());
  return std::vector<uint8_t>(bytes, bytes + words->size() * sizeof(uint32_t));
}

/// --emit: the device code to `path` or, when `path` is a directory, to
/// path/gemmac_kernels.{ptx,spv}. Returns the file written.
static llvm::Expected<std::string>
writeDeviceCode(llvm::ArrayRef<uint8_t> code, bool cuda, llvm::StringRef path) {
  std::string file = path.str();
  if (llvm::sys::fs::is_directory(path) || path.ends_with("/")) {
    if (std::error_code ec = llvm::sys::fs::create_directories(path))
      return llvm::createStringError(path + ": " + ec.message());
    llvm::SmallString<256> joined(path);
    llvm::sys::path::append(joined, cuda ? "gemmac_kernels.ptx"
                                         : "gemmac_kernels.spv");
    file = joined.str().str();
  }
  std::error_code ec;
  llvm::raw_fd_ostream os(file, ec);
  if (ec)
    return llvm::createStringError(file + ": " + ec.message());
  os.write(reinterpret_cast<const char *>(code.data()), code.size());
  os.close();
  if (os.has_error())
    return llvm::createStringError(file + ": " + os.error().message());
  return file;
}

llvm::Expected<Emitted> GpuTarget::emitDeviceCode(ModuleOp module,
                                                  const EmitOptions &options) const {
  bool cuda = kind == Kind::CUDA;
  auto code = deviceCode(module, kind);
  if (!code)
    return code.takeError();
  if (!options.deviceCode.empty()) {
    auto file = writeDeviceCode(*code, cuda, options.outputPath);
    if (!file)
      return file.takeError();
    return Emitted{{*file}};
  }
  auto image = buildGpuProgram(module, *code, cuda);
  if (!image)
    return image.takeError();
  printGpuProgram(*image, llvm::outs());
  return Emitted{};
}

llvm::Error GpuTarget::emitModelObject(ModuleOp module,
                                       const ProgramTableSpec &table,
                                       llvm::StringRef objectPath) const {
  auto code = deviceCode(module, kind);
  if (!code)
    return code.takeError();
  auto image = buildGpuProgram(module, *code, kind == Kind::CUDA);
  if (!image)
    return image.takeError();
  return emitGpuProgramObject(module, *image, host, table, objectPath);
}

} // namespace gemmac
