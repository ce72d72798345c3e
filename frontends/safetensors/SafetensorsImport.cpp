//===- SafetensorsImport.cpp - Gemma 4 HF checkpoint -> gemma IR ----------===//

#include "frontends/safetensors/SafetensorsImport.h"
#include "frontends/common/TensorNames.h"
#include "frontends/safetensors/HFConfig.h"
#include "frontends/safetensors/HFTokenizer.h"
#include "support/BinaryReader.h"

#include "llvm/Support/FormatVariadic.h"

#include <bit>
#include <cmath>
#include <cstring>

using namespace gemmac;
using namespace gemmac::st;
using llvm::Expected;
using llvm::StringRef;
using support::fileError;

namespace {

std::string shapeText(llvm::ArrayRef<int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

/// The value of a one-element float tensor.
float scalarValue(const Tensor &t, const uint8_t *p) {
  switch (t.dtype) {
  case DType::F32: {
    float v;
    std::memcpy(&v, p, 4);
    return v;
  }
  case DType::BF16: {
    uint32_t bits = uint32_t(p[0] | (p[1] << 8)) << 16;
    float v;
    std::memcpy(&v, &bits, 4);
    return v;
  }
  default: { // F16
    uint16_t h = static_cast<uint16_t>(p[0] | (p[1] << 8));
    return static_cast<float>(std::bit_cast<_Float16>(h));
  }
  }
}

/// The checkpoint's tensors under the gemma builder's (GGUF) names.
class HFWeights : public WeightSource {
public:
  HFWeights(const Checkpoint &c, std::string root) : c(c), root(std::move(root)) {}

  std::string hfName(StringRef gguf) const {
    std::optional<std::string> hf = hfTensorForGGUF(gguf);
    if (!hf)
      return "";
    return *hf == "lm_head.weight" ? *hf : root + *hf;
  }
  bool has(StringRef name) const override {
    std::string hf = hfName(name);
    return !hf.empty() && c.find(hf);
  }

  Expected<WeightRef> get(StringRef name,
                          llvm::ArrayRef<int64_t> shape) const override {
    std::string hf = hfName(name);
    const Tensor *t = hf.empty() ? nullptr : c.find(hf);
    if (!t) {
      StringRef module(hf);
      module.consume_back(".weight");
      if (c.find((module + ".qweight").str()))
        return fileError(c.directory(), std::nullopt,
                         "'" + module + "' is GPTQ-quantized (" + module +
                             ".qweight): GPTQ checkpoints are not supported "
                             "yet");
      return fileError(c.directory(), std::nullopt,
                       "missing tensor '" + (hf.empty() ? name.str() : hf) +
                           "'");
    }
    if (llvm::ArrayRef<int64_t>(t->shape) != shape)
      return fileError(c.shardPath(*t), t->fileOffset,
                       "tensor '" + hf + "' has shape " + shapeText(t->shape) +
                           ", expected " + shapeText(shape));
    WeightRef ref;
    switch (t->dtype) {
    case DType::BF16: ref.format = gemma::WeightFormat::bf16; break;
    case DType::F16: ref.format = gemma::WeightFormat::f16; break;
    case DType::F32: ref.format = gemma::WeightFormat::f32; break;
    default:
      return fileError(c.shardPath(*t), t->fileOffset,
                       "tensor '" + hf + "' is " + dtypeName(t->dtype) +
                           ": gemmac reads BF16, F16 and F32 tensors "
                           "(quantized safetensors are not supported yet)");
    }
    ref.shape.assign(shape.begin(), shape.end());
    ref.offset = static_cast<int64_t>(t->offset);
    if (t->elements == 1) {
      float v = scalarValue(*t, c.data(*t));
      if (!std::isfinite(v))
        return fileError(c.shardPath(*t), t->fileOffset,
                         "tensor '" + hf + "' holds a non-finite value");
      ref.scalar = v;
    }
    return ref;
  }

private:
  const Checkpoint &c;
  std::string root;
};

} // namespace

Expected<Imported> gemmac::st::importGemma4(mlir::MLIRContext &context,
                                            const Checkpoint &c) {
  auto configText = c.readText("config.json");
  if (!configText)
    return configText.takeError();
  if (!*configText)
    return fileError(c.pathOf("config.json"), std::nullopt,
                     "cannot open: a Hugging Face checkpoint needs its "
                     "config.json");
  auto config = readHFConfig(c.pathOf("config.json"), **configText);
  if (!config)
    return config.takeError();

  // Where the text model lives: under the multimodal wrapper, or alone.
  std::string root;
  bool found = false;
  for (StringRef prefix :
       {"model.language_model.", "model.", "language_model.model.", ""})
    if (c.find((prefix + "embed_tokens.weight").str())) {
      root = prefix.str();
      found = true;
      break;
    }
  if (!found)
    return fileError(c.directory(), std::nullopt,
                     "no 'embed_tokens.weight' under 'model.language_model.' "
                     "or 'model.': not a Gemma 4 checkpoint");
  if (!config->tieWordEmbeddings && !c.find("lm_head.weight"))
    return fileError(c.directory(), std::nullopt,
                     "config.json says tie_word_embeddings is false, but "
                     "there is no 'lm_head.weight'");
  for (int64_t l = 0; l < config->config.numLayers; ++l)
    config->config.layers[l].hasOutputScale =
        c.find(llvm::formatv("{0}layers.{1}.layer_scalar", root, l).str());

  auto tokenizer = readHFTokenizer(c, *config);
  if (!tokenizer)
    return tokenizer.takeError();
  config->config.suppressTokens = tokenizer->suppress;

  HFWeights weights(c, root);
  auto module = buildGemma4Module(context, config->config, weights,
                                  c.directory());
  if (!module)
    return module.takeError();
  return Imported{std::move(*module), std::move(*tokenizer)};
}
