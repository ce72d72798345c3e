//===- FoldSRD.cpp - SRD corrections onto the weights they replace --------===//
//
// W' itself is computed when compile-model writes the weight file (row by
// row, from the source); this pass decides which weight each correction
// replaces and in which format W' is stored, so every later pass sees the
// final format and size.
//
//===----------------------------------------------------------------------===//

#include "passes/FoldSRD.h"
#include "abi/formats.h"
#include "dialects/gemma/GemmaDialect.h"
#include "formats/srd/SRD4File.h"
#include "frontends/common/TensorNames.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/Support/FormatVariadic.h"

#include <cmath>

namespace gemmac {
#define GEN_PASS_DEF_FOLDSRD
#include "passes/Passes.h.inc"
} // namespace gemmac

using namespace mlir;
using namespace gemmac;
using namespace gemmac::gemma;

namespace {

std::string shapeString(int64_t rows, int64_t cols) {
  return llvm::formatv("[{0}, {1}]", rows, cols).str();
}

struct FoldSRDPass : public gemmac::impl::FoldSRDBase<FoldSRDPass> {
  using FoldSRDBase::FoldSRDBase;
  FoldSRDPass(std::shared_ptr<const srd::ResidualSource> source,
              FoldSRDOptions options)
      : FoldSRDBase(std::move(options)), source(std::move(source)) {}

  void runOnOperation() override {
    ModuleOp module = getOperation();
    MLIRContext *ctx = &getContext();
    bool failed = false;
    // At the location only: printing the operation would print the model.
    auto error = [&](Operation *at, const llvm::Twine &message) {
      mlir::emitError(at->getLoc(), message);
      failed = true;
    };

    std::shared_ptr<const srd::ResidualSource> src = source;
    if (!src) {
      if (path.empty()) {
        error(module, "gemma-fold-srd: no residuals (path=FILE)");
        return signalPassFailure();
      }
      // The pass reads a .srd4 sidecar itself (lit tests); the verified
      // containers (.axm, sealed) are opened by compile-model, which links
      // their crypto, and handed in as a ResidualSource.
      auto opened = srd::SRD4File::open(path);
      if (!opened) {
        error(module, llvm::toString(opened.takeError()));
        return signalPassFailure();
      }
      src = std::move(*opened);
    }

    std::optional<WeightFormat> forced;
    if (!format.empty()) {
      forced = symbolizeWeightFormat(format);
      if (!forced) {
        std::string known;
        for (const abi::FormatInfo &f : abi::kFormats)
          known += (known.empty() ? "" : ", ") + std::string(f.name);
        error(module,
              "unknown SRD storage format '" + format + "' (" + known + ")");
        return signalPassFailure();
      }
    }
    float a = src->alpha();
    if (!alpha.empty()) {
      double v;
      if (llvm::StringRef(alpha).getAsDouble(v) || !std::isfinite(v)) {
        error(module, "SRD alpha '" + alpha + "' is not a number");
        return signalPassFailure();
      }
      a = static_cast<float>(v);
    }

    llvm::StringMap<WeightDefOp> defs;
    for (WeightDefOp def : module.getOps<WeightDefOp>())
      defs[def.getSymName()] = def;
    llvm::StringMap<WeightType> retyped;
    const std::string from = src->sourceName().str();
    auto tensors = src->tensors();
    for (size_t i = 0; i < tensors.size(); ++i) {
      const srd::ResidualTensorInfo &t = tensors[i];
      std::string what =
          llvm::formatv("{0}: residual tensor '{1}' (#{2})", from, t.name, i)
              .str();
      std::optional<std::string> gguf = ggufNameForHF(t.name);
      if (!gguf) {
        error(module, what +
                          " is not a linear weight of Gemma 4 (q/k/v/o_proj, "
                          "gate/up/down_proj, per_layer_input_gate, "
                          "per_layer_projection, per_layer_model_projection, "
                          "lm_head)");
        continue;
      }
      auto it = defs.find(*gguf);
      if (it == defs.end()) {
        error(module, what + " corrects weight '" + *gguf +
                          "', which the model does not have");
        continue;
      }
      WeightDefOp def = it->second;
      if (def.getSrdAttr()) {
        error(def, what + ": weight '" + *gguf +
                       "' already has a correction (two tensors map to it)");
        continue;
      }
      WeightType type = def.getWeightType();
      if (type.getRank() != 2 || type.getRows() != t.rows ||
          type.getCols() != t.cols) {
        std::string has = type.getRank() == 2
                              ? shapeString(type.getRows(), type.getCols())
                              : "not a matrix";
        error(def, what + " is " + shapeString(t.rows, t.cols) +
                       " (out, in), weight '" + *gguf + "' is " + has);
        continue;
      }
      WeightFormat base = type.getFormat();
      WeightFormat stored = forced.value_or(base);
      if (t.cols % formatBlockElems(stored) != 0) {
        error(def, what + ": " + stringifyWeightFormat(stored) +
                       " stores rows in blocks of " +
                       llvm::Twine(formatBlockElems(stored)) +
                       " elements; weight '" + *gguf + "' has rows of " +
                       llvm::Twine(t.cols));
        continue;
      }
      auto newType = WeightType::get(ctx, stored, type.getShape());
      def.setTypeAttr(TypeAttr::get(newType));
      def.setSrdAttr(
          SRDFoldAttr::get(ctx, static_cast<int64_t>(i), stored, base, a));
      retyped[*gguf] = newType;
    }
    module.walk([&](WeightOp w) {
      auto it = retyped.find(w.getName());
      if (it != retyped.end())
        w.getResult().setType(it->second);
    });
    // One kernel reads both weights of a fused GeGLU: they need one format.
    module.walk([&](GeGLUOp g) {
      WeightFormat gate = g.getGate().getType().getFormat();
      WeightFormat up = g.getUp().getType().getFormat();
      if (gate != up)
        error(g, llvm::Twine("after SRD folding the fused GeGLU's gate is ") +
                     stringifyWeightFormat(gate) + " and its up " +
                     stringifyWeightFormat(up) +
                     ": correct both or neither, or pick one --srd-format");
    });
    if (failed)
      signalPassFailure();
  }

  std::shared_ptr<const srd::ResidualSource> source;
};

} // namespace

std::unique_ptr<Pass>
gemmac::createFoldSRD(std::shared_ptr<const srd::ResidualSource> source,
                      FoldSRDOptions options) {
  return std::make_unique<FoldSRDPass>(std::move(source), std::move(options));
}
