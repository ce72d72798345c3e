//===- compile-model.cpp - a Gemma 4 checkpoint in, a program out ---------===//
//
//   compile-model MODEL.gguf --target cpu -o OUT
//   compile-model MODEL.gguf --target cuda:sm_90 --emit ptx -o OUT.ptx
//   compile-model MODEL.gguf --target vulkan --emit spirv -o OUT.spv
//   compile-model MODEL.gguf --srd RESIDUALS [--srd-format F] -o OUT
//
// writes OUT (a native executable) and OUT.weights (mmapped by OUT at run
// time), or with --emit the device code alone. --compile-to=PHASE stops
// after a phase and prints its IR.
//
//===----------------------------------------------------------------------===//

#include "compiler/artifact/WeightsFile.h"
#include "compiler/pipeline/Pipeline.h"
#include "compiler/targets/cpu/CpuTarget.h"
#include "compiler/targets/gpu/GpuProgram.h"
#include "compiler/targets/gpu/GpuTarget.h"
#include "dialects/gemma/GemmaDialect.h"
#include "frontends/gguf/GGUFImport.h"
#include "frontends/gguf/GGUFTokenizer.h"
#include "formats/srd/OpenResiduals.h"
#include "formats/srd/SealedContainer.h"
#include "compiler/driver/Reports.h"
#include "passes/FoldSRD.h"
#include "passes/Passes.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/ControlFlow/IR/ControlFlow.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/SCF/IR/SCF.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/WithColor.h"
#include "llvm/Support/raw_ostream.h"

#include <chrono>
#include <sys/resource.h>
#include <unistd.h>

using namespace gemmac;
namespace cl = llvm::cl;

static cl::OptionCategory category("compile-model options");
static cl::opt<std::string> inputPath(cl::Positional, cl::desc("MODEL.gguf"),
                                      cl::cat(category));
static cl::opt<std::string> outputPath("o", cl::desc("output program path"),
                                       cl::value_desc("OUT"),
                                       cl::cat(category));
static cl::opt<std::string>
    targetSpec("target",
               cl::desc("cpu, or cpu:<cpu name>/cpu:<+feature,...> "
                        "(default: the host CPU); cuda[:sm_80|sm_89|sm_90|"
                        "sm_100|sm_120]; vulkan"),
               cl::init("cpu"), cl::cat(category));
static cl::opt<std::string> compileTo(
    "compile-to",
    cl::desc("stop after a phase and print its IR: import, model, quant, "
             "kernel, target"),
    cl::cat(category));
static cl::list<std::string>
    disabledPasses("disable-pass", cl::desc("switch off an optional pass"),
                   cl::value_desc("NAME"), cl::cat(category));
static cl::opt<std::string>
    kvCacheType("kv-cache",
                cl::desc("element type of the KV cache: f16 (default, as "
                         "llama.cpp) or f32"),
                cl::init("f16"), cl::cat(category));
static cl::opt<bool> printMemoryPlan(
    "print-memory-plan",
    cl::desc("print the KV cache plan (per-layer bytes and total) for --ctx "
             "tokens and exit"),
    cl::cat(category));
static cl::opt<int64_t> contextTokens(
    "ctx", cl::desc("context length for --print-memory-plan (default 4096)"),
    cl::init(4096), cl::cat(category));
static cl::opt<bool> kernelReport(
    "kernel-report",
    cl::desc("print the kernel chosen for every weight op and exit"),
    cl::cat(category));
static cl::opt<std::string>
    emitDeviceCode("emit",
                   cl::desc("write the device code alone to -o (a file, or "
                            "a directory to hold one file per module): ptx "
                            "(--target cuda) or spirv (--target vulkan)"),
                   cl::value_desc("ptx|spirv"), cl::cat(category));
static cl::opt<bool> printLaunchPlan(
    "print-launch-plan",
    cl::desc("GPU targets: print every kernel launch of a forward step with "
             "its grid and buffer ranges, and exit"),
    cl::cat(category));
static cl::opt<bool> keepObject("keep-object",
                                cl::desc("keep OUT.o after linking"),
                                cl::cat(category));
static cl::opt<bool> quiet("quiet", cl::desc("no progress or summary"),
                           cl::cat(category));
static cl::opt<std::string>
    srdPath("srd",
            cl::desc("fold SRD corrections into the weights, verified first: "
                     "a .srd4 sidecar, an .axm container (ZIP or directory) "
                     "or a sealed container (gemmac-seal)"),
            cl::value_desc("PATH"), cl::cat(category));
static cl::opt<std::string> srdFormat(
    "srd-format",
    cl::desc("storage format of corrected weights (default: the base "
             "weight's): f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 q4_k q5_k q6_k"),
    cl::value_desc("F"), cl::cat(category));
static cl::opt<std::string>
    srdAlpha("srd-alpha", cl::desc("alpha of W' = S4*W4 + alpha*S8*D8 "
                                   "(default: the residual file's)"),
             cl::value_desc("A"), cl::cat(category));
static cl::opt<std::string> srdKeyEnv(
    "srd-key-env",
    cl::desc("environment variable holding the residuals' master key"),
    cl::value_desc("NAME"), cl::init("AXIOM_MASTER_KEY"), cl::cat(category));
static cl::opt<std::string> srdPublicKey(
    "srd-public-key",
    cl::desc("trusted Ed25519 public key (64 hex digits) that must have "
             "signed a sealed container"),
    cl::value_desc("HEX"), cl::cat(category));
static cl::opt<bool> allowPartial(
    "allow-partial",
    cl::desc("compile with a sealed container's undamaged corrections; rows "
             "of damaged shards keep the base weights"),
    cl::cat(category));

static int fail(const llvm::Twine &message) {
  llvm::WithColor::error(llvm::errs(), "compile-model") << message << "\n";
  return 1;
}

static int fail(llvm::Error e) {
  std::string msg = llvm::toString(std::move(e));
  return fail(msg);
}

/// Peak resident memory of this process in MiB.
static long peakRssMiB() {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss / 1024;
}

static double secondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() -
                                       start)
      .count();
}

struct FoldedResiduals {
  std::shared_ptr<const srd::ResidualSource> source;
  std::string provenance; // recorded in OUT.weights
};

/// --srd: opens and verifies the residuals (any failure stops the compile),
/// prints the reader's warnings and attaches the corrections to the weights.
static llvm::Expected<FoldedResiduals> foldResiduals(mlir::ModuleOp module) {
  srd::ResidualOpenOptions o;
  o.keyEnv = srdKeyEnv;
  o.allowPartial = allowPartial;
  if (!srdPublicKey.empty()) {
    auto key = srd::digestFromHex(srdPublicKey);
    if (!key)
      return llvm::createStringError("--srd-public-key must be 64 hex digits");
    o.publicKey = *key;
  }
  auto opened = srd::openResiduals(srdPath, o);
  if (!opened)
    return opened.takeError();
  for (const std::string &w : opened->warnings)
    llvm::WithColor::warning(llvm::errs(), "compile-model") << w << "\n";
  if (opened->format == srd::ResidualFormat::Sealed)
    if (llvm::Error e = static_cast<const srd::SealedContainer &>(
                            *opened->source)
                            .checkBase(inputPath))
      return std::move(e);
  static const char *kKinds[] = {"srd4", "axm", "sealed"};
  FoldedResiduals out;
  out.provenance = kKinds[static_cast<int>(opened->format)];
  if (!opened->fingerprint.empty())
    out.provenance += " " + opened->fingerprint;
  out.source = std::move(opened->source);
  FoldSRDOptions fold;
  fold.format = srdFormat;
  fold.alpha = srdAlpha;
  mlir::PassManager pm(module.getContext());
  pm.addPass(createFoldSRD(out.source, fold));
  if (mlir::failed(pm.run(module)))
    return llvm::createStringError("--srd " + srdPath +
                                   ": the corrections do not fit " +
                                   inputPath);
  return out;
}

/// The device code of the kernel module: PTX text or SPIR-V words as bytes.
static llvm::Expected<std::vector<uint8_t>>
deviceCode(mlir::ModuleOp module, const GpuTarget &target) {
  if (target.kind == GpuTarget::Kind::CUDA) {
    auto ptx = emitPTX(module, target);
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
/// path/gemmac_kernels.{ptx,spv}.
static int writeDeviceCode(llvm::ArrayRef<uint8_t> code,
                           const GpuTarget &target, llvm::StringRef path,
                           std::chrono::steady_clock::time_point start) {
  bool cuda = target.kind == GpuTarget::Kind::CUDA;
  std::string file = path.str();
  if (llvm::sys::fs::is_directory(path) || path.ends_with("/")) {
    if (std::error_code ec = llvm::sys::fs::create_directories(path))
      return fail(path + ": " + ec.message());
    llvm::SmallString<256> joined(path);
    llvm::sys::path::append(joined, cuda ? "gemmac_kernels.ptx"
                                         : "gemmac_kernels.spv");
    file = joined.str().str();
  }
  std::error_code ec;
  llvm::raw_fd_ostream os(file, ec);
  if (ec)
    return fail(file + ": " + ec.message());
  os.write(reinterpret_cast<const char *>(code.data()), code.size());
  os.close();
  if (os.has_error())
    return fail(file + ": " + os.error().message());
  if (!quiet)
    llvm::errs() << llvm::format(
        "compile-model: wrote %s in %.1f s (peak memory %ld MiB, target %s)\n",
        file.c_str(), secondsSince(start), peakRssMiB(),
        target.describe().c_str());
  return 0;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(category);
  cl::SetVersionPrinter(
      [](llvm::raw_ostream &os) { os << "compile-model (gemmac) 0.1\n"; });
  cl::ParseCommandLineOptions(
      argc, argv,
      "compile-model: compiles a Gemma 4 checkpoint into a native program\n\n"
      "  compile-model MODEL.gguf --target cpu -o OUT\n\n"
      "writes OUT and OUT.weights; run `OUT --help` for the program's CLI.\n");
  auto start = std::chrono::steady_clock::now();

  if (inputPath.empty())
    return fail("no input model (usage: compile-model MODEL.gguf -o OUT)");
  std::optional<Phase> stopAfter = Phase::Artifact;
  if (!compileTo.empty()) {
    stopAfter = parsePhase(compileTo);
    if (!stopAfter || *stopAfter == Phase::Artifact)
      return fail("unknown phase '" + compileTo +
                  "' (import, model, quant, kernel, target)");
  }
  if (*stopAfter == Phase::Artifact && outputPath.empty() && !printMemoryPlan &&
      !kernelReport && !printLaunchPlan)
    return fail("no output path (-o OUT)");
  std::optional<GpuTarget> gpuTarget;
  if (isGpuTargetSpec(targetSpec)) {
    auto parsed = parseGpuTarget(targetSpec);
    if (!parsed)
      return fail(parsed.takeError());
    gpuTarget = *parsed;
    const char *code =
        gpuTarget->kind == GpuTarget::Kind::CUDA ? "ptx" : "spirv";
    if (!emitDeviceCode.empty() && emitDeviceCode != code)
      return fail("--emit " + emitDeviceCode + " does not fit --target " +
                  targetSpec + " (it emits " + code + ")");
  } else if (!emitDeviceCode.empty() || printLaunchPlan) {
    return fail(std::string(printLaunchPlan ? "--print-launch-plan"
                                            : "--emit " + emitDeviceCode) +
                " needs --target cuda[:sm_XX] or --target vulkan");
  }
  auto target =
      parseCpuTarget(gpuTarget ? llvm::StringRef("cpu") : targetSpec);
  if (!target)
    return fail(target.takeError());

  mlir::DialectRegistry registry;
  registry.insert<gemma::GemmaDialect, mlir::func::FuncDialect,
                  mlir::arith::ArithDialect, mlir::memref::MemRefDialect,
                  mlir::linalg::LinalgDialect, mlir::scf::SCFDialect,
                  mlir::math::MathDialect, mlir::cf::ControlFlowDialect,
                  mlir::LLVM::LLVMDialect>();
  registerGpuTargetDialects(registry);
  mlir::MLIRContext context(registry);
  context.loadAllAvailableDialects();

  auto file = gguf::GGUFFile::open(inputPath);
  if (!file)
    return fail(file.takeError());
  auto module = gguf::importGemma4(context, **file);
  if (!module)
    return fail(module.takeError());
  if (mlir::failed(mlir::verify(**module)))
    return fail(inputPath + ": the imported module does not verify");
  // Before the model phase, so GeGLU fusion, kernel selection and the blob
  // layout see the corrected weights' format.
  FoldedResiduals residuals;
  if (!srdPath.empty()) {
    auto folded = foldResiduals(**module);
    if (!folded)
      return fail(folded.takeError());
    residuals = std::move(*folded);
  } else if (!srdFormat.empty() || !srdAlpha.empty() || allowPartial ||
             !srdPublicKey.empty()) {
    return fail("--srd-format, --srd-alpha, --srd-public-key and "
                "--allow-partial need --srd PATH");
  }
  if (kvCacheType != "f16" && kvCacheType != "f32")
    return fail("--kv-cache must be f16 or f32, got '" + kvCacheType + "'");
  (**module)->setAttr("gemma.kv_cache_type",
                      mlir::StringAttr::get(&context, kvCacheType));
  auto tokenizer = gguf::readTokenizer(**file);
  if (!tokenizer)
    return fail(tokenizer.takeError());

  WeightBlobLayout layout;
  PipelineOptions options;
  options.targetFeatures = target->features;
  if (gpuTarget)
    options.gpuTarget =
        gpuTarget->kind == GpuTarget::Kind::CUDA ? "nvvm" : "spirv";
  for (const std::string &p : disabledPasses) {
    if (!llvm::is_contained(optionalPasses(), p)) {
      std::string known;
      for (llvm::StringRef n : optionalPasses())
        known += " " + n.str();
      return fail("--disable-pass: unknown pass '" + p + "' (optional:" +
                  known + ")");
    }
    options.disabledPasses.insert(p);
  }
  for (Phase phase : {Phase::Import, Phase::Model, Phase::Quant, Phase::Kernel,
                      Phase::Target}) {
    mlir::PassManager pm(&context);
    addPhasePasses(pm, phase, options);
    if (mlir::failed(pm.run(**module)))
      return fail("the " + phaseName(phase) + " phase failed on " + inputPath);
    if (phase == Phase::Model && printMemoryPlan) {
      printKVPlan(**module, contextTokens);
      return 0;
    }
    if (phase == Phase::Quant && kernelReport) {
      printKernelReport(**module);
      return 0;
    }
    if (phase == Phase::Quant) {
      auto collected = collectBlobLayout(**module);
      if (!collected)
        return fail(collected.takeError());
      layout = std::move(*collected);
    }
    if (phase == *stopAfter) {
      (*module)->print(llvm::outs());
      llvm::outs() << "\n";
      return 0;
    }
  }

  const bool tty = !quiet && isatty(2);
  std::string object = outputPath + ".o";
  if (gpuTarget) {
    auto code = deviceCode(**module, *gpuTarget);
    if (!code)
      return fail(code.takeError());
    if (!emitDeviceCode.empty())
      return writeDeviceCode(*code, *gpuTarget, outputPath, start);
    auto image = buildGpuProgram(**module, *code,
                                 gpuTarget->kind == GpuTarget::Kind::CUDA);
    if (!image)
      return fail(image.takeError());
    if (printLaunchPlan) {
      printGpuProgram(*image, llvm::outs());
      return 0;
    }
    if (llvm::Error e = emitGpuProgramObject(**module, *image, *target, object))
      return fail(std::move(e));
  } else if (llvm::Error e = emitObject(**module, *target, object)) {
    return fail(std::move(e));
  }
  static int anchor;
  std::string exeDir = llvm::sys::path::parent_path(
                           llvm::sys::fs::getMainExecutable(argv[0], &anchor))
                           .str();
  std::string runtime = exeDir + "/../lib/libgemmac_runtime.a";
  if (llvm::Error e = linkProgram(object, runtime, outputPath))
    return fail(std::move(e));
  if (!keepObject)
    llvm::sys::fs::remove(object);
  std::string targetName =
      gpuTarget ? gpuTarget->describe() : target->describe();
  WeightsSource source{(*file)->base(), (*file)->fileSize(), inputPath,
                       residuals.source.get(), residuals.provenance};
  if (llvm::Error e = writeWeightsFile(outputPath + ".weights", layout,
                                       source, *tokenizer, targetName, tty))
    return fail(std::move(e));

  if (!quiet) {
    double secs = secondsSince(start);
    llvm::errs() << llvm::format(
        "compile-model: wrote %s and %s.weights in %.1f s (peak memory %ld "
        "MiB, target %s)\n",
        outputPath.c_str(), outputPath.c_str(), secs, peakRssMiB(),
        targetName.c_str());
  }
  return 0;
}
