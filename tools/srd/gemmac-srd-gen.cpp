//===- gemmac-srd-gen.cpp - writes SRD residual test data
//------------------===//
//
// Quantizes pseudo-random weights with SRD and writes every residual format
// the compiler reads, signed with one master key:
//
//   gemmac-srd-gen -o DIR [--tensor NAME:OUT:IN]... [--seed N] [--alpha A]
//                  [--top-k P] [--key-env NAME] [--sign-seed-env NAME]
//                  [--shard-bytes N] [--hostile]
//
// DIR receives model.srd4, model-srd4.axm(.d), model-realpack.axm(.d),
// model.qrc and reference/<NAME>.f32 (W' row-major, little-endian f32).
// --hostile adds containers that verify but must still be refused:
// model-pickle.axm.d (a real pack whose srd_dense.pt calls os.system,
// signed with the right key) and model-escape.axm (a ZIP with a member
// "weights/../../escape.sh").
//
//===----------------------------------------------------------------------===//

#include "tools/srd/AXMWriter.h"
#include "tools/srd/PickleWriter.h"
#include "tools/srd/SRDTestData.h"
#include "tools/srd/TorchSave.h"
#include "tools/srd/ZipWriter.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <cstdlib>

using namespace gemmac::srd;
namespace cl = llvm::cl;

static cl::OptionCategory category("gemmac-srd-gen options");

static cl::opt<std::string> outDir("o", cl::desc("output directory"),
                                   cl::value_desc("DIR"), cl::Required,
                                   cl::cat(category));
static cl::list<std::string>
    tensorSpecs("tensor",
                cl::desc("a tensor NAME:OUT:IN (IN a multiple of 64); "
                         "default: two small projections"),
                cl::value_desc("NAME:OUT:IN"), cl::cat(category));
static cl::opt<uint64_t> seed("seed", cl::desc("weight generator seed"),
                              cl::init(1), cl::cat(category));
static cl::opt<float> alpha("alpha", cl::desc("alpha recorded in the files"),
                            cl::init(1.0f), cl::cat(category));
static cl::opt<double>
    topK("top-k", cl::desc("fraction of D8 kept (0 = SRD-4, 1 = dense)"),
         cl::init(0.0), cl::cat(category));
static cl::opt<std::string>
    keyEnv("key-env",
           cl::desc("environment variable holding the master key "
                    "(a fixed test key when unset)"),
           cl::init("AXIOM_MASTER_KEY"), cl::cat(category));
static cl::opt<std::string>
    signSeedEnv("sign-seed-env",
                cl::desc("environment variable holding a 64-hex-digit Ed25519 "
                         "seed: signs the sealed container"),
                cl::init(""), cl::cat(category));
static cl::opt<uint64_t> shardBytes("shard-bytes",
                                    cl::desc("sealed shard size target"),
                                    cl::init(4u << 20), cl::cat(category));

static cl::opt<bool>
    hostile("hostile",
            cl::desc("also write model-pickle.axm.d and model-escape.axm"),
            cl::cat(category));

static int fail(const llvm::Twine &msg) {
  llvm::errs() << "gemmac-srd-gen: " << msg << "\n";
  return 1;
}

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  cl::HideUnrelatedOptions(category);
  cl::ParseCommandLineOptions(argc, argv, "writes SRD residual test data\n");

  std::vector<GenTensor> tensors;
  std::vector<std::string> specs(tensorSpecs.begin(), tensorSpecs.end());
  if (specs.empty())
    specs = {"model.layers.0.mlp.down_proj:128:256",
             "model.layers.0.self_attn.q_proj:64:128"};
  uint64_t s = seed;
  for (const std::string &spec : specs) {
    llvm::StringRef rest = spec;
    auto [head, in] = rest.rsplit(':');
    auto [name, out] = head.rsplit(':');
    int64_t rows, cols;
    if (name.empty() || out.getAsInteger(10, rows) ||
        in.getAsInteger(10, cols) || rows <= 0 || cols <= 0 || cols % 64)
      return fail("bad --tensor " + spec +
                  ": expected NAME:OUT:IN with IN a "
                  "positive multiple of 64");
    tensors.push_back(randomTensor(name.str(), rows, cols, s++));
  }

  TestDataOptions o;
  if (const char *k = std::getenv(keyEnv.c_str()); k && *k)
    o.master = k;
  o.alpha = alpha;
  o.topKPct = topK;
  o.shardBytes = shardBytes;
  if (!signSeedEnv.empty()) {
    const char *hex = std::getenv(signSeedEnv.c_str());
    auto d = hex ? digestFromHex(hex) : std::nullopt;
    if (!d)
      return fail(signSeedEnv + " does not hold 64 hex digits");
    o.signingSeed = *d;
  }
  auto paths = writeTestData(outDir, tensors, o);
  if (!paths)
    return fail(llvm::toString(paths.takeError()));

  SRDTensorSet set = quantizeAll(tensors, o);
  for (size_t i = 0; i < set.tensors().size(); ++i) {
    auto w = set.correctedTensor(i);
    if (!w)
      return fail(llvm::toString(w.takeError()));
    llvm::SmallString<256> p(outDir.getValue());
    llvm::sys::path::append(p, "reference", set.tensors()[i].name + ".f32");
    if (llvm::Error e =
            writeFileBytes(p, llvm::ArrayRef<uint8_t>(
                                  reinterpret_cast<const uint8_t *>(w->data()),
                                  w->size() * sizeof(float))))
      return fail(llvm::toString(std::move(e)));
  }
  if (hostile) {
    AXMWriteOptions pickle;
    pickle.master = o.master;
    pickle.layout = ResidualLayout::RealPack;
    auto alter = [](AXMFiles &weights) {
      PickleWriter w;
      w.emptyDict();
      w.mark();
      w.string("model.norm.weight");
      w.global("os", "system");
      w.string("touch /tmp/gemmac-pwned");
      w.tuple(1);
      w.reduce();
      w.setItems();
      for (auto &[rel, bytes] : weights)
        if (rel == "srd_dense.pt")
          bytes = torchSaveRawPickle(w.finish(), "srd_dense");
    };
    auto files = buildAXM(set, pickle, nullptr, alter);
    if (!files)
      return fail(llvm::toString(files.takeError()));
    llvm::SmallString<256> p(outDir.getValue());
    llvm::sys::path::append(p, "model-pickle.axm.d");
    if (llvm::Error e = writeAXMDirectory(*files, p))
      return fail(llvm::toString(std::move(e)));

    AXMWriteOptions plain;
    plain.master = o.master;
    auto escape = buildAXM(set, plain);
    if (!escape)
      return fail(llvm::toString(escape.takeError()));
    escape->emplace_back("weights/../../escape.sh", std::vector<uint8_t>{'x'});
    llvm::SmallString<256> z(outDir.getValue());
    llvm::sys::path::append(z, "model-escape.axm");
    if (llvm::Error e = writeAXMZip(*escape, z))
      return fail(llvm::toString(std::move(e)));
  }
  llvm::outs() << "wrote " << paths->srd4 << ", " << paths->axmSrd4Zip
               << "(.d), " << paths->axmRealPackZip << "(.d), " << paths->sealed
               << "\n.axm fingerprints " << paths->axmSrd4Fingerprint
               << " (srd4), " << paths->axmRealPackFingerprint
               << " (real-pack)\n";
  return 0;
}
