// libFuzzer harness: a hostile GGUF through the reader and the Gemma 4
// import, as far as compile-model takes it before code generation: header,
// metadata, tensor infos, the Gemma 4 configuration, the tokenizer and the
// gemma IR module (verified); read as an MTP drafter (gemma4-assistant, as
// compile-model --draft reads one), its configuration, and its pairing with
// a target built to fit it. Every input must be refused with an error or
// imported; no crash, hang, sanitizer report or unbounded allocation.
#include "dialects/gemma/GemmaDialect.h"
#include "frontends/gguf/GGUFFile.h"
#include "frontends/gguf/GGUFImport.h"
#include "frontends/gguf/GGUFTokenizer.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "llvm/Support/MemoryBuffer.h"

#include <cstdint>

using namespace gemmac;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static mlir::MLIRContext *context = [] {
    auto *c = new mlir::MLIRContext();
    c->loadDialect<gemma::GemmaDialect, mlir::func::FuncDialect>();
    // Import errors are returned as llvm::Error; the verifier's go nowhere.
    c->getDiagEngine().registerHandler([](mlir::Diagnostic &) {
      return mlir::success();
    });
    return c;
  }();
  auto buffer = llvm::MemoryBuffer::getMemBufferCopy(
      llvm::StringRef(reinterpret_cast<const char *>(data), size), "fuzz.gguf");
  auto file = gguf::GGUFFile::parse(std::move(buffer), "fuzz.gguf");
  if (!file) {
    llvm::consumeError(file.takeError());
    return 0;
  }
  if (auto config = gguf::readGemma4Config(**file); !config)
    llvm::consumeError(config.takeError());
  if (auto draft = gguf::readGemma4Config(**file, /*assistant=*/true); !draft) {
    llvm::consumeError(draft.takeError());
  } else {
    // A target whose last sliding and last full layer fit the drafter's
    // first layer of each kind: the pairing must accept it, or say why.
    Gemma4Config target;
    target.hidden = draft->backboneHidden;
    target.vocabSize = draft->vocabSize;
    for (bool sliding : {true, false})
      for (const Gemma4LayerConfig &l : draft->layers)
        if (l.sliding == sliding) {
          target.layers.push_back(l);
          break;
        }
    target.numLayers = static_cast<int64_t>(target.layers.size());
    (void)pairGemma4Drafter(*draft, target);
  }
  if (auto tokenizer = gguf::readTokenizer(**file); !tokenizer)
    llvm::consumeError(tokenizer.takeError());
  else if (auto suppress = gguf::readSuppressTokens(**file, tokenizer->tokens.size()); !suppress)
    llvm::consumeError(suppress.takeError());
  auto module = gguf::importGemma4(*context, **file);
  if (!module) {
    llvm::consumeError(module.takeError());
    return 0;
  }
  (void)mlir::verify(module->get());
  return 0;
}
