// libFuzzer harness: a hostile Hugging Face checkpoint directory through the
// safetensors frontend, as far as compile-model takes it before code
// generation: the shards' headers and the index, config.json, tokenizer.json,
// tokenizer_config.json, chat_template.jinja and generation_config.json, then
// the gemma IR module (verified). Every input must be refused with an error
// or imported; no crash, hang, sanitizer report or unbounded allocation.
//
// Input: the directory's files, each introduced by a line "@@file NAME\n"
// (bytes before the first such line are ignored; a NAME given twice keeps
// the last).
#include "dialects/gemma/GemmaDialect.h"
#include "frontends/safetensors/SafetensorsImport.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"

#include <cstdint>
#include <map>
#include <string_view>

using namespace gemmac;

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
  auto imported = st::importGemma4(*context, **checkpoint);
  if (!imported) {
    llvm::consumeError(imported.takeError());
    return 0;
  }
  (void)mlir::verify(imported->module.get());
  return 0;
}
