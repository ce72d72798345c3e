// libFuzzer harness: a hostile Hugging Face checkpoint directory through the
// safetensors frontend, as far as compile-model takes it before code
// generation: the shards' headers and the index, config.json, tokenizer.json,
// tokenizer_config.json, chat_template.jinja and generation_config.json, then
// the gemma IR module (verified); an MTP drafter's checkpoint (as
// compile-model --draft reads one) is paired with a target built to fit it
// and added to that target's module. Every input must be refused with an
// error or imported; no crash, hang, sanitizer report or unbounded
// allocation.
//
// Input: the directory's files, each introduced by a line "@@file NAME\n"
// (bytes before the first such line are ignored; a NAME given twice keeps
// the last).
#include "dialects/gemma/GemmaDialect.h"
#include "frontends/safetensors/HFConfig.h"
#include "frontends/safetensors/HFTokenizer.h"
#include "frontends/safetensors/SafetensorsImport.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"

#include <cstdint>
#include <map>
#include <string_view>

using namespace gemmac;

/// The checkpoint as an MTP drafter of a target whose last sliding and last
/// full layer fit its first layer of each kind, and whose module holds the
/// embedding table the drafter reads.
static void importAsDrafter(mlir::MLIRContext &context,
                            const st::Checkpoint &checkpoint) {
  auto text = checkpoint.readText("config.json");
  if (!text || !*text) {
    if (!text)
      llvm::consumeError(text.takeError());
    return;
  }
  auto config = st::readHFConfig("config.json", **text);
  if (!config || !config->assistant) {
    if (!config)
      llvm::consumeError(config.takeError());
    return;
  }
  Gemma4Config target;
  target.hidden = config->config.backboneHidden;
  target.vocabSize = config->config.vocabSize;
  for (bool sliding : {true, false})
    for (const Gemma4LayerConfig &l : config->config.layers)
      if (l.sliding == sliding) {
        target.layers.push_back(l);
        break;
      }
  target.numLayers = static_cast<int64_t>(target.layers.size());
  mlir::OpBuilder b(&context);
  auto module = mlir::ModuleOp::create(b.getUnknownLoc());
  b.setInsertionPointToEnd(module.getBody());
  auto table = gemma::WeightType::get(
      &context, gemma::WeightFormat::f32, {target.vocabSize, target.hidden});
  gemma::WeightDefOp::create(b, b.getUnknownLoc(),
                             b.getStringAttr("token_embd.weight"),
                             mlir::TypeAttr::get(table), b.getI64IntegerAttr(0),
                             mlir::IntegerAttr(), gemma::WeightLayoutAttr(),
                             mlir::DenseFPElementsAttr());
  // The target's vocabulary: the drafter's own where it has one, so that
  // the import goes on to the weights.
  std::vector<std::string> tokens;
  if (auto t = st::readHFTokenizer(checkpoint, *config))
    tokens = std::move(t->tokens);
  else
    llvm::consumeError(t.takeError());
  if (llvm::Error e = st::importDrafter(module, target, tokens, "target",
                                        checkpoint))
    llvm::consumeError(std::move(e));
  else
    (void)mlir::verify(module);
  module->erase();
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static mlir::MLIRContext *context = [] {
    auto *c = new mlir::MLIRContext();
    c->loadDialect<gemma::GemmaDialect, mlir::func::FuncDialect>();
    c->getDiagEngine().registerHandler([](mlir::Diagnostic &) {
      return mlir::success();
    });
    return c;
  }();
  constexpr std::string_view kMarker = "@@file ";
  std::string_view in(reinterpret_cast<const char *>(data), size);
  std::map<std::string, std::string> files;
  size_t at = in.find(kMarker);
  while (at != std::string_view::npos) {
    size_t nameStart = at + kMarker.size();
    size_t eol = in.find('\n', nameStart);
    if (eol == std::string_view::npos)
      break;
    size_t next = in.find(kMarker, eol + 1);
    size_t end = next == std::string_view::npos ? in.size() : next;
    files[std::string(in.substr(nameStart, eol - nameStart))] =
        std::string(in.substr(eol + 1, end - eol - 1));
    at = next;
  }
  auto checkpoint = st::Checkpoint::fromMemory(std::move(files));
  if (!checkpoint) {
    llvm::consumeError(checkpoint.takeError());
    return 0;
  }
  importAsDrafter(*context, **checkpoint);
  auto imported = st::importGemma4(*context, **checkpoint);
  if (!imported) {
    llvm::consumeError(imported.takeError());
    return 0;
  }
  (void)mlir::verify(imported->module.get());
  return 0;
}
