//===- compile-model.cpp - a Gemma 4 checkpoint in, a program out ---------===//
//
//   compile-model MODEL.gguf --target cpu -o OUT
//   compile-model HF_DIR --target cpu -o OUT   (Hugging Face safetensors)
//   compile-model MODEL.gguf --emit lib [--embed-weights] -o DIR/NAME
//   compile-model MODEL.gguf --target cuda:sm_90 --emit ptx -o OUT.ptx
//   compile-model MODEL.gguf --target vulkan --emit spirv -o OUT.spv
//   compile-model MODEL.gguf --srd RESIDUALS [--srd-format F] -o OUT
//
// writes OUT (a native executable) and OUT.weights (mmapped by OUT at run
// time); with --emit lib a model library (DIR/libNAME.a, libNAME.so, NAME.h
// and NAME.weights); with --emit ptx|spirv the device code alone. --compile-to=PHASE stops
// after a phase and prints its IR. The work is a CompileSession over the
// --target's Target; this file maps the flags onto them.
//
//===----------------------------------------------------------------------===//

#include "abi/formats.h"
#include "abi/version.h"
#include "compiler/driver/CompileSession.h"
#include "compiler/driver/Reports.h"
#include "dialects/gemma/GemmaDialect.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Format.h"
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
static cl::opt<std::string> inputPath(cl::Positional, cl::desc("MODEL.gguf | HF_DIR | HF_DIR/config.json | FILE.safetensors"),
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
                         "llama.cpp), f32, or f8 (E4M3 with the checkpoint's "
                         "k_scale/v_scale, else 1.0; CPU targets)"),
                cl::init("f16"), cl::cat(category));
static cl::opt<int64_t> draftMaxOption(
    "draft-max",
    cl::desc("the most tokens one speculative decoding step drafts (0-64, "
             "default 0): sliding-window caches keep that many rows beyond "
             "the window, so a verify step can be rolled back "
             "(gemmac_session_truncate)"),
    cl::value_desc("N"), cl::init(0), cl::cat(category));
static cl::opt<std::string> draftPath(
    "draft",
    cl::desc("an MTP drafter paired with this model (a gemma4-assistant "
             "GGUF, or a Hugging Face Gemma4AssistantForCausalLM / "
             "Gemma4UnifiedAssistantForCausalLM checkpoint) compiled into "
             "the program for speculative decoding (--draft-max defaults to "
             "6 with it)"),
    cl::value_desc("ASSISTANT"), cl::cat(category));
static cl::opt<std::string> draftHeadOption(
    "draft-head",
    cl::desc("the logits head of an E2B/E4B drafter that ships a centroid "
             "head (use_ordered_embeddings): checkpoint (default: as its "
             "config.json says), centroid (transformers' masked embedder: "
             "only the best clusters' tokens are scored, the rest -inf) or "
             "dense (the whole table, as llama.cpp)"),
    cl::value_desc("checkpoint|centroid|dense"), cl::init("checkpoint"),
    cl::cat(category));
static cl::opt<std::string> gptqActivations(
    "gptq-activations",
    cl::desc("what GPTQ weights multiply: q8_0 (llama.cpp's Q4_0/Q8_0 "
             "numerics, the default) or f32 (W4A16, as vLLM computes them)"),
    cl::value_desc("q8_0|f32"), cl::init("q8_0"), cl::cat(category));
static cl::opt<std::string> nvfp4Activations(
    "nvfp4-activations",
    cl::desc("what NVFP4 weights multiply: q8_0 (llama.cpp's numerics, the "
             "default), f32 (W4A16, as vLLM's Marlin kernel on Hopper) or fp4 "
             "(W4A4, Blackwell's: activations quantized with the checkpoint's "
             "input_scale)"),
    cl::value_desc("q8_0|f32|fp4"), cl::init("q8_0"), cl::cat(category));
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
static cl::opt<std::string> emitKind(
    "emit",
    cl::desc("what to write: program (default: OUT and OUT.weights); lib (a "
             "model library: -o DIR/NAME writes DIR/libNAME.a, libNAME.so, "
             "NAME.h and NAME.weights); ptx (--target cuda) or spirv "
             "(--target vulkan): the device code alone, to a file or a "
             "directory"),
    cl::value_desc("program|lib|ptx|spirv"), cl::init("program"),
    cl::cat(category));
static cl::opt<bool> embedWeights(
    "embed-weights",
    cl::desc("put the weight file inside the program or library: one "
             "self-contained file"),
    cl::cat(category));
static cl::opt<std::string> runtimeDirOption(
    "runtime-dir",
    cl::desc("directory holding libgemmac_runtime.{a,so} and libgemmac_cli.a "
             "(default: $GEMMAC_RUNTIME_DIR, else ../lib beside compile-model)"),
    cl::value_desc("DIR"), cl::cat(category));
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
// The formats a corrected weight can be stored in: every row of the table.
static const std::string srdFormatHelp = [] {
  std::string help =
      "storage format of corrected weights (default: the base weight's):";
  for (const gemmac::abi::FormatInfo &f : gemmac::abi::kFormats)
    help += std::string(" ") + f.name;
  return help;
}();
static cl::opt<std::string> srdFormat(
    "srd-format", cl::desc(srdFormatHelp),
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

/// --disable-pass, checked against the optional passes.
static llvm::Expected<PipelineOptions> pipelineOptions() {
  PipelineOptions options;
  for (const std::string &p : disabledPasses) {
    if (!llvm::is_contained(optionalPasses(), p)) {
      std::string known;
      for (llvm::StringRef n : optionalPasses())
        known += " " + n.str();
      return llvm::createStringError("--disable-pass: unknown pass '" + p +
                                     "' (optional:" + known + ")");
    }
    options.disabledPasses.insert(p);
  }
  if (gptqActivations != "q8_0" && gptqActivations != "f32")
    return llvm::createStringError("--gptq-activations must be q8_0 or f32, "
                                   "got '" + gptqActivations + "'");
  options.gptqActivations = gptqActivations;
  if (nvfp4Activations != "q8_0" && nvfp4Activations != "f32" &&
      nvfp4Activations != "fp4")
    return llvm::createStringError("--nvfp4-activations must be q8_0, f32 or "
                                   "fp4, got '" + nvfp4Activations + "'");
  options.nvfp4Activations = nvfp4Activations;
  return options;
}

static llvm::Expected<ResidualOptions> residualOptions() {
  if (srdPath.empty() && (!srdFormat.empty() || !srdAlpha.empty() ||
                          allowPartial || !srdPublicKey.empty()))
    return llvm::createStringError(
        "--srd-format, --srd-alpha, --srd-public-key and --allow-partial "
        "need --srd PATH");
  return ResidualOptions{srdPath,   srdFormat,    srdAlpha,
                         srdKeyEnv, srdPublicKey, allowPartial};
}

/// The runtime libraries' directory: --runtime-dir, $GEMMAC_RUNTIME_DIR, or
/// ../lib beside compile-model's real location (symbolic links followed), so
/// that an installed or copied tree finds its own.
static std::string runtimeDir(const char *argv0) {
  if (!runtimeDirOption.empty())
    return runtimeDirOption;
  if (const char *env = std::getenv("GEMMAC_RUNTIME_DIR"); env && *env)
    return env;
  static int anchor;
  llvm::SmallString<256> exe(llvm::sys::fs::getMainExecutable(argv0, &anchor));
  llvm::SmallString<256> real;
  if (!llvm::sys::fs::real_path(exe, real))
    exe = real;
  llvm::sys::path::remove_filename(exe);
  llvm::sys::path::append(exe, "..", "lib");
  llvm::sys::path::remove_dots(exe, /*remove_dot_dot=*/true);
  return exe.str().str();
}

/// Runs the phases up to `stopAfter`; the reports that stop after a phase
/// print and end the run (true).
static llvm::Expected<bool> runPhases(CompileSession &session,
                                      Phase stopAfter, bool progress) {
  static const char *kNames[] = {"import passes", "model passes", "quant passes",
                                 "kernel passes", "target lowering"};
  int index = 0;
  for (Phase phase : {Phase::Import, Phase::Model, Phase::Quant, Phase::Kernel,
                      Phase::Target}) {
    auto phaseStart = std::chrono::steady_clock::now();
    if (progress)
      llvm::errs() << "compile-model: " << kNames[index] << "...";
    if (llvm::Error e = session.runPhase(phase))
      return std::move(e);
    if (progress)
      llvm::errs() << llvm::format(" %.1f s\n", secondsSince(phaseStart));
    ++index;
    if (phase == Phase::Model && printMemoryPlan) {
      printKVPlan(session.module(), contextTokens);
      return true;
    }
    if (phase == Phase::Quant && kernelReport) {
      printKernelReport(session.module());
      return true;
    }
    if (phase == stopAfter) {
      session.module()->print(llvm::outs());
      llvm::outs() << "\n";
      return true;
    }
  }
  return false;
}

/// Never write over what the user gave: no file of the compile (OUT and
/// OUT.weights, a library's files, the object kept beside them) may be the
/// checkpoint or the residuals.
static llvm::Error
checkOutputsAreNotInputs(const EmitOptions &options,
                         std::vector<std::string> inputs = {}) {
  if (outputPath.empty())
    return llvm::Error::success();
  inputs.push_back(inputPath.getValue());
  inputs.push_back(srdPath.getValue());
  for (const std::string &out : outputFiles(options))
    for (const std::string &in : inputs) {
      if (in.empty())
        continue;
      bool same = false;
      if (out == in || (!llvm::sys::fs::equivalent(out, in, same) && same))
        return llvm::createStringError(
            "output '" + out + "' is the input '" + in +
            "': compile-model never writes over its inputs (choose another "
            "-o)");
    }
  return llvm::Error::success();
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(category);
  cl::SetVersionPrinter(
      [](llvm::raw_ostream &os) { os << "compile-model (gemmac) " << gemmac::abi::kGemmacVersion << "\n"; });
  cl::ParseCommandLineOptions(
      argc, argv,
      "compile-model: compiles a Gemma 4 checkpoint into a native program\n\n"
      "  compile-model MODEL.gguf --target cpu -o OUT\n"
      "  compile-model HF_CHECKPOINT_DIR --target cpu -o OUT\n\n"
      "writes OUT and OUT.weights; run `OUT --help` for the program's CLI.\n");
  auto start = std::chrono::steady_clock::now();

  if (inputPath.empty())
    return fail("no input model (usage: compile-model MODEL.gguf -o OUT)");
  Phase stopAfter = Phase::Artifact;
  if (!compileTo.empty()) {
    std::optional<Phase> phase = parsePhase(compileTo);
    if (!phase || *phase == Phase::Artifact)
      return fail("unknown phase '" + compileTo +
                  "' (import, model, quant, kernel, target)");
    stopAfter = *phase;
  }
  if (stopAfter == Phase::Artifact && outputPath.empty() && !printMemoryPlan &&
      !kernelReport && !printLaunchPlan)
    return fail("no output path (-o OUT)");
  EmitOptions emitOptions;
  emitOptions.outputPath = outputPath;
  if (emitKind == "lib")
    emitOptions.library = true;
  else if (emitKind == "ptx" || emitKind == "spirv")
    emitOptions.deviceCode = emitKind;
  else if (emitKind != "program")
    return fail("--emit must be program, lib, ptx or spirv, got '" + emitKind + "'");
  if (embedWeights && !emitOptions.deviceCode.empty())
    return fail("--embed-weights needs --emit program or --emit lib");
  emitOptions.embedWeights = embedWeights;
  emitOptions.printLaunchPlan = printLaunchPlan;
  emitOptions.keepObject = keepObject;
  emitOptions.runtimeDir = runtimeDir(argv[0]);
  if (llvm::Error e = checkOutputsAreNotInputs(emitOptions))
    return fail(std::move(e));
  auto target = parseTarget(targetSpec);
  if (!target)
    return fail(target.takeError());
  if (llvm::Error e = (*target)->checkOptions(emitOptions))
    return fail(std::move(e));
  if (!draftPath.empty() && !llvm::StringRef((*target)->describe()).starts_with("cpu"))
    return fail("--draft: the MTP drafter is compiled for CPU targets only, not " +
                (*target)->describe());
  auto options = pipelineOptions();
  if (!options)
    return fail(options.takeError());
  auto residuals = residualOptions();
  if (!residuals)
    return fail(residuals.takeError());
  if (kvCacheType != "f16" && kvCacheType != "f32" && kvCacheType != "f8")
    return fail("--kv-cache must be f16, f32 or f8, got '" + kvCacheType +
                "'");
  std::optional<gemmac::DraftHead> draftHead =
      draftHeadOption == "checkpoint" ? gemmac::DraftHead::Checkpoint
      : draftHeadOption == "centroid" ? gemmac::DraftHead::Centroid
      : draftHeadOption == "dense"
          ? std::optional<gemmac::DraftHead>(gemmac::DraftHead::Dense)
          : std::nullopt;
  if (!draftHead)
    return fail("--draft-head must be checkpoint, centroid or dense, got '" +
                draftHeadOption + "'");
  if (draftHeadOption.getNumOccurrences() && draftPath.empty())
    return fail("--draft-head applies to the drafter of --draft");
  if (draftMaxOption < 0 || draftMaxOption > gemmac::gemma::kMaxDraftTokens)
    return fail("--draft-max must be between 0 and " +
                std::to_string(gemmac::gemma::kMaxDraftTokens) + ", got " +
                std::to_string(draftMaxOption));

  // Progress on a terminal: every long step says what it is doing.
  const bool tty = !quiet && isatty(2) && compileTo.empty();
  auto importStart = std::chrono::steady_clock::now();
  if (tty)
    llvm::errs() << "compile-model: reading " << inputPath << "...";
  CompileSession session(std::move(*target), std::move(*options));
  const int64_t draftMax =
      !draftPath.empty() && draftMaxOption.getNumOccurrences() == 0
          ? 6
          : int64_t(draftMaxOption);
  if (llvm::Error e = session.import(inputPath, *residuals, kvCacheType,
                                     draftMax, draftPath, *draftHead))
    return fail(std::move(e));
  // A checkpoint directory's files are inputs too.
  if (llvm::Error e = checkOutputsAreNotInputs(emitOptions, session.inputFiles()))
    return fail(std::move(e));
  if (tty)
    llvm::errs() << llvm::format(" %.1f s\n", secondsSince(importStart));
  auto stopped = runPhases(session, stopAfter, tty);
  if (!stopped)
    return fail(stopped.takeError());
  if (*stopped)
    return 0;

  if (tty)
    llvm::errs() << "compile-model: the weights, then code generation (LLVM) and linking\n";
  auto emitted = session.emit(emitOptions, tty);
  if (!emitted)
    return fail(emitted.takeError());
  if (quiet || emitted->files.empty())
    return 0;
  // The code first, then what it loads (the reverse of the commit order).
  std::string written;
  for (size_t i = 0; i < emitted->files.size(); ++i)
    written += (i == 0 ? "" : i + 1 == emitted->files.size() ? " and " : ", ") +
               emitted->files[emitted->files.size() - 1 - i];
  llvm::errs() << llvm::format(
      "compile-model: wrote %s in %.1f s (peak memory %ld MiB, target %s)\n",
      written.c_str(), secondsSince(start), peakRssMiB(),
      session.target().describe().c_str());
  return 0;
}
