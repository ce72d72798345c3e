//===- gemmac-seal.cpp - seals SRD residuals, verifies any residual file
//---===//
//
//   gemmac-seal IN(.srd4|.axm) -o OUT.qrc [--key-env NAME]
//               [--sign-seed-env NAME] [--shard-bytes N] [--base BASE.gguf]
//   gemmac-seal --verify FILE [--key-env NAME] [--public-key HEX]
//               [--allow-partial] [--base BASE.gguf]
//
// Sealing verifies an .axm input first (its master key comes from the same
// environment variable). Verifying reports every failure: for a sealed
// container each damaged shard with its tensor and row range, for an .axm
// each file and check that failed. Exit status 0 only when everything
// verifies (with --allow-partial, when only shards are damaged).
//
//===----------------------------------------------------------------------===//

#include "formats/srd/OpenResiduals.h"
#include "formats/srd/SealedContainer.h"
#include "tools/srd/SealedWriter.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdlib>

using namespace gemmac::srd;
namespace cl = llvm::cl;

static cl::OptionCategory category("gemmac-seal options");

static cl::opt<std::string> input(cl::Positional, cl::desc("INPUT"),
                                  cl::Required, cl::cat(category));
static cl::opt<std::string> output("o", cl::desc("sealed output file"),
                                   cl::value_desc("OUT.qrc"),
                                   cl::cat(category));
static cl::opt<bool> verifyOnly("verify",
                                cl::desc("verify INPUT instead of sealing it"),
                                cl::cat(category));
static cl::opt<std::string>
    keyEnv("key-env", cl::desc("environment variable holding the master key"),
           cl::init("AXIOM_MASTER_KEY"), cl::cat(category));
static cl::opt<std::string>
    signSeedEnv("sign-seed-env",
                cl::desc("environment variable holding a 64-hex-digit Ed25519 "
                         "seed: adds a public signature"),
                cl::init(""), cl::cat(category));
static cl::opt<std::string>
    publicKey("public-key",
              cl::desc("trusted Ed25519 public key (64 hex digits) to verify a "
                       "signed container without the master key"),
              cl::init(""), cl::cat(category));
static cl::opt<bool> allowPartial(
    "allow-partial",
    cl::desc("accept a sealed container with damaged shards, reporting the "
             "rows that would stay uncorrected"),
    cl::cat(category));
static cl::opt<std::string>
    baseGGUF("base",
             cl::desc("sealing: bind the residuals to this base GGUF (its "
                      "SHA-256); verifying: check the binding"),
             cl::value_desc("BASE.gguf"), cl::init(""), cl::cat(category));
static cl::opt<uint64_t> shardBytes("shard-bytes",
                                    cl::desc("shard size target in bytes"),
                                    cl::init(4u << 20), cl::cat(category));

static int fail(const llvm::Twine &msg) {
  llvm::errs() << "gemmac-seal: " << msg << "\n";
  return 1;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(argc, argv,
                              "seals SRD residuals with located-tamper "
                              "verification, or verifies a residual file\n");
  ResidualOpenOptions o;
  o.keyEnv = keyEnv;
  o.allowPartial = allowPartial;
  if (!publicKey.empty()) {
    auto k = digestFromHex(publicKey);
    if (!k)
      return fail("--public-key is not 64 hex digits");
    o.publicKey = *k;
  }
  auto opened = openResiduals(input, o);
  if (!opened)
    return fail(llvm::toString(opened.takeError()));
  for (const std::string &w : opened->warnings)
    llvm::errs() << "gemmac-seal: warning: " << w << "\n";

  if (verifyOnly) {
    if (!baseGGUF.empty()) {
      auto *sealedSource =
          opened->format == ResidualFormat::Sealed
              ? static_cast<SealedContainer *>(opened->source.get())
              : nullptr;
      if (!sealedSource)
        return fail("--base checks a sealed container's binding; " + input +
                    " is not one");
      if (llvm::Error e = sealedSource->checkBase(baseGGUF))
        return fail(llvm::toString(std::move(e)));
    }
    llvm::outs() << input
                 << (opened->format == ResidualFormat::SRD4
                         ? ": well-formed (unsigned: nothing to verify)"
                         : ": verified");
    if (!opened->fingerprint.empty())
      llvm::outs() << ", fingerprint " << opened->fingerprint;
    llvm::outs() << ", " << opened->source->tensors().size() << " tensors\n";
    return 0;
  }
  if (output.empty())
    return fail("give -o OUT.qrc (or --verify)");
  SealOptions so;
  const char *master = std::getenv(keyEnv.c_str());
  if (!master || !*master)
    return fail("the master key is not set: export " + keyEnv);
  so.master = master;
  so.shardBytes = shardBytes;
  so.sourceName = input;
  so.sourceFingerprint = opened->fingerprint;
  if (!baseGGUF.empty()) {
    auto d = sha256File(baseGGUF);
    if (!d)
      return fail(llvm::toString(d.takeError()));
    so.baseDigest = *d;
  }
  if (!signSeedEnv.empty()) {
    const char *hex = std::getenv(signSeedEnv.c_str());
    auto d = hex ? digestFromHex(hex) : std::nullopt;
    if (!d)
      return fail(signSeedEnv + " does not hold 64 hex digits");
    so.signingSeed = *d;
    llvm::outs() << "public key " << toHex(ed25519PublicKey(*d)) << "\n";
  }
  if (llvm::Error e = writeSealed(*opened->source, so, output))
    return fail(llvm::toString(std::move(e)));
  llvm::outs() << "sealed " << opened->source->tensors().size()
               << " tensors into " << output << "\n";
  return 0;
}
