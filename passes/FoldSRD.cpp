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
#include "frontends/srd/OpenResiduals.h"

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

std::optional<std::string> gemmac::ggufNameForHF(llvm::StringRef hfName) {
  llvm::StringRef n = hfName;
  n.consume_back(".weight");
  if (n == "lm_head")
    return std::string("output.weight");
  // Gemma 4 checkpoints nest the text model under model.language_model;
  // text-only exports drop the middle level.
  for (llvm::StringRef prefix :
       {"model.language_model.", "language_model.model.", "model."})
    if (n.consume_front(prefix))
      break;
  if (n == "per_layer_model_projection")
    return std::string("per_layer_model_proj.weight");
  if (!n.consume_front("layers."))
    return std::nullopt;
  auto [index, module] = n.split('.');
  unsigned layer;
  if (index.empty() || !llvm::all_of(index, llvm::isDigit) ||
      index.getAsInteger(10, layer))
    return std::nullopt;
  static const std::pair<llvm::StringLiteral, llvm::StringLiteral> kLayer[] = {
      {"self_attn.q_proj", "attn_q"},      {"self_attn.k_proj", "attn_k"},
      {"self_attn.v_proj", "attn_v"},      {"self_attn.o_proj", "attn_output"},
      {"mlp.gate_proj", "ffn_gate"},       {"mlp.up_proj", "ffn_up"},
      {"mlp.down_proj", "ffn_down"},       {"per_layer_input_gate", "inp_gate"},
      {"per_layer_projection", "proj"},
  };
  for (const auto &[hf, gguf] : kLayer)
    if (module == hf)
      return llvm::formatv("blk.{0}.{1}.weight", layer, gguf).str();
  return std::nullopt;
}

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
      srd::ResidualOpenOptions o;
      o.allowPartial = allowPartial;
      auto opened = srd::openResiduals(path, o);
      if (!opened) {
        error(module, llvm::toString(opened.takeError()));
        return signalPassFailure();
      }
      src = std::move(opened->source);
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
        error(module, what + " is not a linear weight of Gemma 4 (q/k/v/o_proj, "
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
      if (def->hasAttr(kSRDAttr)) {
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
      Builder b(ctx);
      def->setAttr(
          kSRDAttr,
          b.getDictionaryAttr(
              {b.getNamedAttr("tensor", b.getI64IntegerAttr(i)),
               b.getNamedAttr("format",
                              b.getStringAttr(stringifyWeightFormat(stored))),
               b.getNamedAttr("base",
                              b.getStringAttr(stringifyWeightFormat(base))),
               b.getNamedAttr("alpha", b.getF32FloatAttr(a))}));
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
