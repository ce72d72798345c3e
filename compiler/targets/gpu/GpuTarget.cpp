//===- GpuTarget.cpp - device code for CUDA (PTX) and Vulkan (SPIR-V) -----===//

#include "compiler/targets/gpu/GpuTarget.h"

#include "mlir/Conversion/ArithToLLVM/ArithToLLVM.h"
#include "mlir/Conversion/ControlFlowToLLVM/ControlFlowToLLVM.h"
#include "mlir/Conversion/GPUToNVVM/GPUToNVVM.h"
#include "mlir/Conversion/GPUToNVVM/GPUToNVVMPass.h"
#include "mlir/Conversion/MathToLLVM/MathToLLVM.h"
#include "mlir/Conversion/MathToSPIRV/MathToSPIRVPass.h"
#include "mlir/Conversion/Passes.h"
#include "mlir/Conversion/MemRefToLLVM/MemRefToLLVM.h"
#include "mlir/Conversion/MemRefToSPIRV/MemRefToSPIRVPass.h"
#include "mlir/Conversion/UBToLLVM/UBToLLVM.h"
#include "mlir/Conversion/GPUToSPIRV/GPUToSPIRVPass.h"
#include "mlir/Conversion/Passes.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/GPU/Transforms/Passes.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/SPIRV/IR/SPIRVDialect.h"
#include "mlir/Dialect/SPIRV/IR/SPIRVOps.h"
#include "mlir/Dialect/SPIRV/IR/TargetAndABI.h"
#include "mlir/Dialect/SPIRV/Transforms/Passes.h"
#include "mlir/IR/Builders.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Target/LLVM/NVVM/Target.h"
#include "mlir/Target/LLVMIR/Dialect/Builtin/BuiltinToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/GPU/GPUToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/LLVMIR/LLVMToLLVMIRTranslation.h"
#include "mlir/Target/LLVMIR/Dialect/NVVM/NVVMToLLVMIRTranslation.h"
#include "mlir/Target/SPIRV/Serialization.h"
#include "mlir/Transforms/Passes.h"
#include "llvm/ADT/StringSwitch.h"

using namespace mlir;

namespace gemmac {

static constexpr llvm::StringLiteral kKernelModule = "gemmac_kernels";

/// PTX ISA version each supported architecture needs at least.
static const char *ptxFeatures(llvm::StringRef chip) {
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
  GpuTarget t;
  if (spec == "vulkan") {
    t.kind = GpuTarget::Kind::Vulkan;
    return t;
  }
  t.chip = spec.consume_front("cuda:") ? spec.str() : "sm_80";
  if (spec == "cuda")
    t.chip = "sm_80";
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

/// A module holding a copy of `module`'s kernel module, so that each target
/// lowers its own copy.
static llvm::Expected<std::pair<OwningOpRef<ModuleOp>, gpu::GPUModuleOp>>
copyKernels(ModuleOp module) {
  auto kernels = module.lookupSymbol<gpu::GPUModuleOp>(kKernelModule);
  if (!kernels)
    return llvm::createStringError(
        "the module has no gpu.module @gemmac_kernels (run "
        "gemma-lower-to-gpu first)");
  OwningOpRef<ModuleOp> holder = ModuleOp::create(module.getLoc());
  (*holder)->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                     UnitAttr::get(module.getContext()));
  OpBuilder b(holder->getBodyRegion());
  auto copy = cast<gpu::GPUModuleOp>(b.clone(*kernels));
  return std::make_pair(std::move(holder), copy);
}

/// MLIR's NVVM lowering calls libdevice for a few math functions. The ones
/// the kernels use have exact PTX instructions, so they are defined here as
/// LLVM intrinsics: the PTX needs no libdevice and no CUDA toolkit.
static llvm::Error defineDeviceMath(gpu::GPUModuleOp kernels) {
  llvm::Error error = llvm::Error::success();
  kernels.walk([&](LLVM::LLVMFuncOp fn) {
    if (!fn.isExternal() || !fn.getName().starts_with("__nv_") || error)
      return;
    StringRef name = fn.getName();
    OpBuilder b(fn.getContext());
    Block *entry = fn.addEntryBlock(b);
    b.setInsertionPointToStart(entry);
    Location loc = fn.getLoc();
    auto args = entry->getArguments();
    Value r;
    // f32 ("...f") and f64 forms alike.
    StringRef base = name.drop_front(5);
    if (base.ends_with("f"))
      base = base.drop_back();
    if (base == "sqrt")
      r = LLVM::SqrtOp::create(b, loc, args[0]);
    else if (base == "fma")
      r = LLVM::FMAOp::create(b, loc, args[0], args[1], args[2]);
    else if (base == "fabs")
      r = LLVM::FAbsOp::create(b, loc, args[0]);
    else if (base == "copysign")
      r = LLVM::CopySignOp::create(b, loc, args[0], args[1]);
    else if (base == "rint")
      r = LLVM::RoundEvenOp::create(b, loc, args[0]);
    if (!r) {
      error = llvm::createStringError("a GPU kernel calls " + name.str() +
                                      ", which gemmac does not provide");
      return;
    }
    LLVM::ReturnOp::create(b, loc, r);
    fn.setLinkage(LLVM::Linkage::Internal);
  });
  return error;
}

llvm::Expected<std::string> emitPTX(ModuleOp module, const GpuTarget &target) {
  MLIRContext *ctx = module.getContext();
  auto copied = copyKernels(module);
  if (!copied)
    return copied.takeError();
  auto &[holder, kernels] = *copied;
  kernels.setTargetsAttr(ArrayAttr::get(
      ctx, {NVVM::NVVMTargetAttr::get(ctx, /*optLevel=*/3,
                                      "nvptx64-nvidia-cuda", target.chip,
                                      ptxFeatures(target.chip))}));

  PassManager lower(ctx);
  OpPassManager &onKernels = lower.nest<gpu::GPUModuleOp>();
  onKernels.addPass(createCanonicalizerPass());
  onKernels.addPass(createSCFToControlFlowPass());
  ConvertGpuOpsToNVVMOpsOptions nvvm;
  nvvm.useBarePtrCallConv = true;
  onKernels.addPass(createConvertGpuOpsToNVVMOps(nvvm));
  lower.addPass(createReconcileUnrealizedCastsPass());
  if (failed(lower.run(*holder)))
    return llvm::createStringError("lowering the kernels to NVVM failed");
  if (llvm::Error e = defineDeviceMath(kernels))
    return std::move(e);

  PassManager serialize(ctx);
  GpuModuleToBinaryPassOptions binary;
  binary.compilationTarget = "isa";
  serialize.addPass(createGpuModuleToBinaryPass(binary));
  if (failed(serialize.run(*holder)))
    return llvm::createStringError("generating PTX for " + target.chip +
                                   " failed");
  std::string ptx;
  holder->walk([&](gpu::BinaryOp bin) {
    for (Attribute a : bin.getObjects())
      if (auto object = dyn_cast<gpu::ObjectAttr>(a))
        ptx = object.getObject().str();
  });
  if (ptx.empty())
    return llvm::createStringError("the NVPTX back end produced no PTX");
  return ptx;
}

llvm::Expected<std::vector<uint32_t>> emitSPIRV(ModuleOp module) {
  MLIRContext *ctx = module.getContext();
  auto copied = copyKernels(module);
  if (!copied)
    return copied.takeError();
  auto &[holder, kernels] = *copied;
  // Vulkan 1.3 (SPIR-V 1.6: MLIR takes OpSDot's capabilities from 1.6 on)
  // with 8- and 16-bit storage: weights are bytes, KV caches f16, int8 dot
  // products packed in words. spirv-update-vce keeps only what the code uses.
  using spirv::Capability;
  using spirv::Extension;
  auto triple = spirv::VerCapExtAttr::get(
      spirv::Version::V_1_6,
      {Capability::Shader, Capability::Int8, Capability::Int16,
       Capability::Float16, Capability::Float64,
       Capability::StorageBuffer8BitAccess,
       Capability::StorageBuffer16BitAccess, Capability::DotProduct,
       Capability::DotProductInput4x8BitPacked},
      {Extension::SPV_KHR_8bit_storage, Extension::SPV_KHR_16bit_storage,
       Extension::SPV_KHR_storage_buffer_storage_class,
       Extension::SPV_KHR_integer_dot_product},
      ctx);
  kernels->setAttr(spirv::getTargetEnvAttrName(),
                   spirv::TargetEnvAttr::get(
                       triple, spirv::getDefaultResourceLimits(ctx),
                       spirv::ClientAPI::Vulkan));
  kernels.walk([&](gpu::GPUFuncOp fn) {
    SmallVector<int32_t, 3> size = {1, 1, 1};
    if (auto known = fn.getKnownBlockSizeAttr())
      size.assign(known.asArrayRef().begin(), known.asArrayRef().end());
    fn->setAttr(spirv::getEntryPointABIAttrName(),
                spirv::getEntryPointABIAttr(ctx, size));
  });

  PassManager pm(ctx);
  OpPassManager &onKernels = pm.nest<gpu::GPUModuleOp>();
  onKernels.addPass(createCanonicalizerPass());
  onKernels.addPass(createConvertMathToSPIRVPass()); // fma, sqrt, abs, ...
  pm.addPass(createMapMemRefStorageClassPass());
  pm.addPass(createConvertGPUToSPIRVPass(/*mapMemorySpace=*/true));
  OpPassManager &spv = pm.nest<spirv::ModuleOp>();
  spv.addPass(spirv::createSPIRVLowerABIAttributesPass());
  spv.addPass(spirv::createSPIRVUpdateVCEPass());
  if (failed(pm.run(*holder)))
    return llvm::createStringError("lowering the kernels to SPIR-V failed");

  spirv::ModuleOp spirvModule;
  holder->walk([&](spirv::ModuleOp m) { spirvModule = m; });
  if (!spirvModule)
    return llvm::createStringError("the SPIR-V conversion produced no module");
  // The lowering lists every global variable in the entry points'
  // interfaces, which SPIR-V allows from 1.4 on: keep 1.6 where
  // spirv-update-vce deduced less (a module without int8 dot products).
  if (auto vce = spirvModule.getVceTriple();
      vce && vce->getVersion() < spirv::Version::V_1_6)
    spirvModule.setVceTripleAttr(spirv::VerCapExtAttr::get(
        spirv::Version::V_1_6, llvm::to_vector(vce->getCapabilities()),
        llvm::to_vector(vce->getExtensions()), ctx));
  // Every float operation exactly as written: without NoContraction a driver
  // may fuse a multiply into an add or reassociate (Mesa does), and the
  // kernels reproduce llama.cpp's arithmetic operation by operation.
  spirvModule.walk([&](Operation *op) {
    if (isa<spirv::FAddOp, spirv::FSubOp, spirv::FMulOp, spirv::FDivOp,
            spirv::FNegateOp, spirv::FRemOp, spirv::FModOp>(op))
      op->setAttr("no_contraction", UnitAttr::get(ctx));
  });
  SmallVector<uint32_t> words;
  if (failed(spirv::serialize(spirvModule, words)))
    return llvm::createStringError("serializing the SPIR-V module failed");
  return std::vector<uint32_t>(words.begin(), words.end());
}

} // namespace gemmac
