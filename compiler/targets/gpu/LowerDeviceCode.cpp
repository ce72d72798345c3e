//===- LowerDeviceCode.cpp - the GPU target phase: NVVM or SPIR-V ---------===//
//
// Lowers a copy of gpu.module @gemmac_kernels into `module @gemmac_device`:
// to the NVVM and LLVM dialects for CUDA (the math functions MLIR would take
// from libdevice defined as LLVM intrinsics), or to a spirv.module for
// Vulkan with every float operation marked NoContraction. Emission only
// serializes what this pass leaves.
//
//===----------------------------------------------------------------------===//

#include "compiler/targets/gpu/GpuTarget.h"

#include "mlir/Conversion/GPUToNVVM/GPUToNVVMPass.h"
#include "mlir/Conversion/GPUToSPIRV/GPUToSPIRVPass.h"
#include "mlir/Conversion/MathToSPIRV/MathToSPIRVPass.h"
#include "mlir/Conversion/MemRefToSPIRV/MemRefToSPIRVPass.h"
#include "mlir/Conversion/ReconcileUnrealizedCasts/ReconcileUnrealizedCasts.h"
#include "mlir/Conversion/SCFToControlFlow/SCFToControlFlow.h"
#include "mlir/Dialect/GPU/IR/GPUDialect.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/Dialect/SPIRV/IR/SPIRVDialect.h"
#include "mlir/Dialect/SPIRV/IR/SPIRVOps.h"
#include "mlir/Dialect/SPIRV/IR/TargetAndABI.h"
#include "mlir/Dialect/SPIRV/Transforms/Passes.h"
#include "mlir/IR/Builders.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"

using namespace mlir;

namespace gemmac {

static constexpr llvm::StringLiteral kKernelModule = "gemmac_kernels";

/// MLIR's NVVM lowering calls libdevice for a few math functions. The ones
/// the kernels use have exact PTX instructions, so they are defined here as
/// LLVM intrinsics: the PTX needs no libdevice and no CUDA toolkit.
static LogicalResult defineDeviceMath(gpu::GPUModuleOp kernels) {
  WalkResult walked = kernels.walk([&](LLVM::LLVMFuncOp fn) {
    if (!fn.isExternal() || !fn.getName().starts_with("__nv_"))
      return WalkResult::advance();
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
      fn.emitError("a GPU kernel calls " + name +
                   ", which gemmac does not provide");
      return WalkResult::interrupt();
    }
    LLVM::ReturnOp::create(b, loc, r);
    fn.setLinkage(LLVM::Linkage::Internal);
    return WalkResult::advance();
  });
  return failure(walked.wasInterrupted());
}

/// Vulkan 1.3 (SPIR-V 1.6: MLIR takes OpSDot's capabilities from 1.6 on)
/// with 8- and 16-bit storage: weights are bytes, KV caches f16, int8 dot
/// products packed in words. spirv-update-vce keeps only what the code uses.
static void setVulkanTargetEnv(gpu::GPUModuleOp kernels) {
  MLIRContext *ctx = kernels.getContext();
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
  kernels->setAttr(
      spirv::getTargetEnvAttrName(),
      spirv::TargetEnvAttr::get(triple, spirv::getDefaultResourceLimits(ctx),
                                spirv::ClientAPI::Vulkan));
  kernels.walk([&](gpu::GPUFuncOp fn) {
    SmallVector<int32_t, 3> size = {1, 1, 1};
    if (auto known = fn.getKnownBlockSizeAttr())
      size.assign(known.asArrayRef().begin(), known.asArrayRef().end());
    fn->setAttr(spirv::getEntryPointABIAttrName(),
                spirv::getEntryPointABIAttr(ctx, size));
  });
}

/// What the SPIR-V conversion leaves, made fit for Vulkan drivers.
static void finishSPIRV(spirv::ModuleOp spirvModule) {
  MLIRContext *ctx = spirvModule.getContext();
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
}

namespace {
struct LowerDeviceCode : PassWrapper<LowerDeviceCode, OperationPass<ModuleOp>> {
  MLIR_DEFINE_EXPLICIT_INTERNAL_INLINE_TYPE_ID(LowerDeviceCode)
  explicit LowerDeviceCode(StringRef chip) : chip(chip.str()) {}
  StringRef getArgument() const override { return "gemmac-lower-device-code"; }
  StringRef getDescription() const override {
    return "lower gpu.module @gemmac_kernels to NVVM or SPIR-V";
  }

  bool cuda() const { return !chip.empty(); }

  /// The device pipeline, run on `module @gemmac_device`.
  OpPassManager pipeline() const {
    OpPassManager pm(ModuleOp::getOperationName());
    OpPassManager &onKernels = pm.nest<gpu::GPUModuleOp>();
    onKernels.addPass(createCanonicalizerPass());
    if (cuda()) {
      onKernels.addPass(createSCFToControlFlowPass());
      ConvertGpuOpsToNVVMOpsOptions nvvm;
      nvvm.useBarePtrCallConv = true;
      onKernels.addPass(createConvertGpuOpsToNVVMOps(nvvm));
      pm.addPass(createReconcileUnrealizedCastsPass());
      return pm;
    }
    onKernels.addPass(createConvertMathToSPIRVPass()); // fma, sqrt, abs, ...
    pm.addPass(createMapMemRefStorageClassPass());
    pm.addPass(createConvertGPUToSPIRVPass(/*mapMemorySpace=*/true));
    OpPassManager &spv = pm.nest<spirv::ModuleOp>();
    spv.addPass(spirv::createSPIRVLowerABIAttributesPass());
    spv.addPass(spirv::createSPIRVUpdateVCEPass());
    return pm;
  }

  void getDependentDialects(DialectRegistry &registry) const override {
    registerGpuTargetDialects(registry);
    pipeline().getDependentDialects(registry);
  }

  void runOnOperation() override;

  std::string chip; // CUDA: sm_XX; empty: Vulkan
};
} // namespace

void LowerDeviceCode::runOnOperation() {
  ModuleOp module = getOperation();
  MLIRContext *ctx = module.getContext();
  auto kernels = module.lookupSymbol<gpu::GPUModuleOp>(kKernelModule);
  if (!kernels) {
    module.emitError("the module has no gpu.module @gemmac_kernels (run "
                     "gemma-lower-to-gpu first)");
    return signalPassFailure();
  }
  if (auto previous = module.lookupSymbol<ModuleOp>(kDeviceModule))
    previous.erase();
  ModuleOp device = ModuleOp::create(module.getLoc(), kDeviceModule);
  device->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                  UnitAttr::get(ctx));
  OpBuilder b(ctx);
  b.setInsertionPointAfter(kernels);
  b.insert(device);
  OpBuilder inDevice(device.getBodyRegion());
  auto copy = cast<gpu::GPUModuleOp>(inDevice.clone(*kernels));
  if (cuda())
    copy.setTargetsAttr(ArrayAttr::get(
        ctx,
        {NVVM::NVVMTargetAttr::get(ctx, /*optLevel=*/3, "nvptx64-nvidia-cuda",
                                   chip, ptxFeatures(chip))}));
  else
    setVulkanTargetEnv(copy);

  OpPassManager devicePipeline = pipeline();
  if (failed(runPipeline(devicePipeline, device)))
    return signalPassFailure();
  if (cuda()) {
    if (failed(defineDeviceMath(copy)))
      return signalPassFailure();
    return;
  }
  spirv::ModuleOp spirvModule;
  device.walk([&](spirv::ModuleOp m) { spirvModule = m; });
  if (!spirvModule) {
    module.emitError("the SPIR-V conversion produced no module");
    return signalPassFailure();
  }
  finishSPIRV(spirvModule);
  // The conversion leaves the gpu.module it converted beside the SPIR-V
  // module: only the SPIR-V module is device code.
  if (!copy->isAncestor(spirvModule))
    copy.erase();
}

std::unique_ptr<Pass> createLowerDeviceCode(StringRef chip) {
  return std::make_unique<LowerDeviceCode>(chip);
}

} // namespace gemmac
