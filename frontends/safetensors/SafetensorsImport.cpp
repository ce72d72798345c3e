//===- SafetensorsImport.cpp - Gemma 4 HF checkpoint -> gemma IR ----------===//

#include "frontends/safetensors/SafetensorsImport.h"
#include "frontends/common/TensorNames.h"
#include "frontends/safetensors/HFConfig.h"
#include "frontends/safetensors/HFTokenizer.h"
#include "support/BinaryReader.h"

#include "llvm/Support/FormatVariadic.h"

#include <bit>
#include <cmath>
#include <cstdio>
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

/// The value of a per-tensor scale `t` (`what` names its kind in errors):
/// one finite, positive F32 ([] or [1]).
Expected<float> positiveScalar(const Checkpoint &c, const Tensor &t,
                               StringRef what) {
  if (t.dtype != DType::F32 || t.elements != 1 || t.shape.size() > 1)
    return fileError(c.shardPath(t), t.fileOffset,
                     what + " '" + t.name + "' is " + dtypeName(t.dtype) +
                         " " + shapeText(t.shape) +
                         ", expected one F32 ([] or [1])");
  float v = scalarValue(t, c.data(t));
  char text[32];
  std::snprintf(text, sizeof text, "%g", v);
  if (!std::isfinite(v) || !(v > 0))
    return fileError(c.shardPath(t), t.fileOffset,
                     what + " '" + t.name + "' = " + text +
                         " is not a finite positive number");
  return v;
}

/// The checkpoint's tensors under the gemma builder's (GGUF) names.
class HFWeights : public WeightSource {
public:
  HFWeights(const Checkpoint &c, std::string root, GPTQConfig gptq)
      : c(c), root(std::move(root)), gptqConfig(gptq) {}

  std::string hfName(StringRef gguf) const {
    std::optional<std::string> hf = hfTensorForGGUF(gguf);
    if (!hf)
      return "";
    return hfTensorAtRoot(*hf) ? *hf : root + *hf;
  }
  /// An NVFP4 linear's output scale, asked for by its GGUF name
  /// ("blk.N.ffn_up.scale", as llama.cpp's converter names it): the
  /// module's `weight_scale_2` when its weight is NVFP4; null otherwise.
  const Tensor *outputScale(StringRef name) const {
    StringRef base = name;
    if (!base.consume_back(".scale"))
      return nullptr;
    std::string weight = hfName((base + ".weight").str());
    StringRef module = weight;
    if (!module.consume_back(".weight"))
      return nullptr;
    const Tensor *w = c.find(weight);
    if (!w || w->dtype != DType::U8)
      return nullptr;
    return c.find((module + ".weight_scale_2").str());
  }

  /// The per-expert 2-D modules a quantized MoE export stores an expert
  /// weight as (experts.{e}.{gate,up,down}_proj), in the order of the fused
  /// weight's rows: gate then up of each expert for ffn_gate_up_exps, one
  /// projection for ffn_gate_exps, ffn_up_exps and ffn_down_exps; empty
  /// unless the checkpoint has the first of them.
  std::vector<std::string> perExpertModules(StringRef name,
                                            int64_t experts) const {
    size_t ffn = name.find(".ffn_");
    if (ffn == StringRef::npos)
      return {};
    std::vector<const char *> projections;
    if (name.ends_with(".ffn_gate_up_exps.weight"))
      projections = {"gate_proj", "up_proj"};
    else if (name.ends_with(".ffn_gate_exps.weight"))
      projections = {"gate_proj"};
    else if (name.ends_with(".ffn_up_exps.weight"))
      projections = {"up_proj"};
    else if (name.ends_with(".ffn_down_exps.weight"))
      projections = {"down_proj"};
    else
      return {};
    std::string fused =
        hfName((name.take_front(ffn + 1) + "ffn_gate_up_exps.weight").str());
    StringRef prefix(fused);
    if (!prefix.consume_back("gate_up_proj"))
      return {};
    std::vector<std::string> modules;
    for (int64_t e = 0; e < experts; ++e)
      for (const char *proj : projections)
        modules.push_back((prefix + std::to_string(e) + "." + proj).str());
    const std::string &first = modules.front();
    if (!c.find(first + ".weight") && !c.find(first + ".qweight"))
      return {};
    return modules;
  }

  /// An expert weight [experts, rows, cols] stacked from its per-expert
  /// modules: each a 2-D weight of rows / (modules per expert) rows, all
  /// BF16/F16/F32 of one type, or all GPTQ, NVFP4 or FP8.
  Expected<WeightRef> stackedExperts(StringRef name,
                                     const std::vector<std::string> &modules,
                                     llvm::ArrayRef<int64_t> shape) const {
    const int64_t perExpert = static_cast<int64_t>(modules.size()) / shape[0];
    const int64_t rows = shape[1] / perExpert;
    WeightRef stacked;
    stacked.shape.assign(shape.begin(), shape.end());
    for (const std::string &m : modules) {
      std::string weight = m + ".weight";
      Expected<WeightRef> part = [&]() -> Expected<WeightRef> {
        if (const Tensor *qweight = c.find(m + ".qweight"))
          return gptqWeight(m, *qweight, {rows, shape[2]});
        return tensorWeight(weight, {rows, shape[2]});
      }();
      if (!part)
        return part.takeError();
      if (!stacked.parts.empty() &&
          (part->format != stacked.format ||
           part->gptq.has_value() != stacked.parts[0].gptq.has_value()))
        return fileError(c.directory(), std::nullopt,
                         "'" + m + "' is stored unlike '" + modules[0] +
                             "': the experts of '" + name.str() +
                             "' must share one type");
      stacked.format = part->format;
      if (stacked.parts.empty())
        stacked.offset = part->offset;
      stacked.parts.push_back(std::move(*part));
    }
    return stacked;
  }

  /// Whether layer `blk.N.`'s per-expert `proj` modules (gate_proj,
  /// up_proj, down_proj) are ModelOpt NVFP4.
  bool nvfp4Experts(StringRef layer, StringRef proj) const {
    std::vector<std::string> m = perExpertModules(
        (layer + "ffn_" + proj.drop_back(5) + "_exps.weight").str(), 1);
    const Tensor *w = m.empty() ? nullptr : c.find(m[0] + ".weight");
    return w && w->dtype == DType::U8;
  }

  /// Per-expert NVFP4 experts as llama.cpp's converter writes them: gate
  /// and up apart (ffn_gate_exps, ffn_up_exps), each expert's
  /// `weight_scale_2` in a per-expert `.scale` [experts], and
  /// router.per_expert_scale folded into the down projection's (f32
  /// products). `has` of such a name, or none when `name` is not an expert
  /// weight of a layer stored so.
  std::optional<bool> hasNVFP4Expert(StringRef name) const {
    size_t ffn = name.find(".ffn_");
    if (!name.starts_with("blk.") || ffn == StringRef::npos)
      return std::nullopt;
    StringRef layer = name.take_front(ffn + 1), tail = name.drop_front(ffn + 1);
    const bool split = nvfp4Experts(layer, "gate_proj");
    if (tail == "ffn_gate_up_exps.weight" && split)
      return false;
    if (tail == "ffn_gate_exps.weight" || tail == "ffn_up_exps.weight" ||
        tail == "ffn_gate_exps.scale" || tail == "ffn_up_exps.scale")
      return split;
    if (tail == "ffn_down_exps.scale" && nvfp4Experts(layer, "down_proj"))
      return true;
    return std::nullopt;
  }

  /// The per-expert output scale [experts] of NVFP4 expert weight
  /// `weightName`: each module's weight_scale_2, times
  /// router.per_expert_scale[e] (in f32, as the converter folds it) for the
  /// down projection.
  Expected<WeightRef> nvfp4ExpertScales(StringRef weightName,
                                        int64_t experts) const {
    std::vector<std::string> modules = perExpertModules(weightName, experts);
    if (modules.size() != static_cast<size_t>(experts))
      return fileError(c.directory(), std::nullopt,
                       "no per-expert modules for '" + weightName + "'");
    const Tensor *perExpert = nullptr;
    if (weightName.ends_with(".ffn_down_exps.weight")) {
      std::string pes = hfName(
          (weightName.drop_back(strlen("ffn_down_exps.weight")) +
           "ffn_down_exps.scale").str());
      perExpert = pes.empty() ? nullptr : c.find(pes);
      if (perExpert &&
          (llvm::ArrayRef<int64_t>(perExpert->shape) !=
               llvm::ArrayRef<int64_t>{experts} ||
           (perExpert->dtype != DType::F32 && perExpert->dtype != DType::BF16 &&
            perExpert->dtype != DType::F16)))
        return fileError(c.shardPath(*perExpert), perExpert->fileOffset,
                         "'" + pes + "' is " + dtypeName(perExpert->dtype) +
                             " " + shapeText(perExpert->shape) +
                             ", expected F32, BF16 or F16 [" +
                             llvm::Twine(experts) + "]");
    }
    WeightRef ref;
    ref.format = gemma::WeightFormat::f32;
    ref.shape = {experts};
    for (int64_t e = 0; e < experts; ++e) {
      std::string name = modules[e] + ".weight_scale_2";
      const Tensor *t = c.find(name);
      if (!t)
        return fileError(c.directory(), std::nullopt,
                         "NVFP4 expert '" + modules[e] + "' has no '" + name +
                             "'");
      Expected<float> v = positiveScalar(c, *t, "NVFP4 scale");
      if (!v)
        return v.takeError();
      if (e == 0)
        ref.offset = static_cast<int64_t>(t->offset);
      float scale = *v;
      if (perExpert) {
        const size_t bytes = perExpert->dtype == DType::F32 ? 4 : 2;
        const float p = scalarValue(*perExpert, c.data(*perExpert) + e * bytes);
        if (!std::isfinite(p))
          return fileError(c.shardPath(*perExpert),
                           perExpert->fileOffset + e * bytes,
                           "'" + perExpert->name + "'[" + llvm::Twine(e) +
                               "] is not finite");
        scale *= p;
      }
      ref.values.push_back(scale);
    }
    return ref;
  }

  /// A ".scale" tensor HF stores under a name of its own (the router's
  /// scale, per_expert_scale), not an NVFP4 output scale.
  bool isNamedScale(StringRef name) const {
    std::string hf = hfName(name);
    return !hf.empty() && c.find(hf);
  }

  bool has(StringRef name) const override {
    if (std::optional<bool> expert = hasNVFP4Expert(name))
      return *expert;
    if (name.ends_with(".scale") && !isNamedScale(name))
      return outputScale(name) != nullptr;
    std::string hf = hfName(name);
    if (!hf.empty() && !c.find(hf) && !perExpertModules(name, 1).empty())
      return true;
    if (hf.empty())
      return false;
    StringRef module(hf);
    return c.find(hf) ||
           (module.consume_back(".weight") && c.find((module + ".qweight").str()));
  }

  Expected<WeightRef> get(StringRef name,
                          llvm::ArrayRef<int64_t> shape) const override {
    if (name == "masked_embd_ordering")
      return tokenOrdering(shape);
    if (hasNVFP4Expert(name).value_or(false)) {
      if (name.ends_with(".scale"))
        return nvfp4ExpertScales((name.drop_back(6) + ".weight").str(),
                                 shape[0]);
      return stackedExperts(name, perExpertModules(name, shape[0]), shape);
    }
    if (name.ends_with(".scale") && !isNamedScale(name)) {
      const Tensor *t = outputScale(name);
      if (!t)
        return fileError(c.directory(), std::nullopt,
                         "no NVFP4 'weight_scale_2' for '" + name + "'");
      return nvfp4Scalar(*t);
    }
    std::string hf = hfName(name);
    const Tensor *t = hf.empty() ? nullptr : c.find(hf);
    if (!t) {
      StringRef module(hf);
      module.consume_back(".weight");
      if (const Tensor *qweight = c.find((module + ".qweight").str()))
        return gptqWeight(module, *qweight, shape);
      if (shape.size() == 3)
        if (std::vector<std::string> modules =
                perExpertModules(name, shape[0]);
            !modules.empty())
          return stackedExperts(name, modules, shape);
      return fileError(c.directory(), std::nullopt,
                       "missing tensor '" + (hf.empty() ? name.str() : hf) +
                           "'");
    }
    return tensorWeight(hf, shape, name.ends_with("ffn_gate_inp.weight"));
  }

  /// The centroid head's token_ordering (I64 or I32 [vocab], a permutation
  /// of the token ids: cluster c's tokens at [c * vocab / clusters, ...)) as
  /// f32 ids, exact below 2^24.
  Expected<WeightRef> tokenOrdering(llvm::ArrayRef<int64_t> shape) const {
    const std::string hf = hfName("masked_embd_ordering");
    const Tensor *t = c.find(hf);
    if (!t)
      return fileError(c.directory(), std::nullopt,
                       "missing tensor '" + hf +
                           "' (use_ordered_embeddings is true)");
    if ((t->dtype != DType::I64 && t->dtype != DType::I32) ||
        llvm::ArrayRef<int64_t>(t->shape) != shape)
      return fileError(c.shardPath(*t), t->fileOffset,
                       "'" + hf + "' is " + dtypeName(t->dtype) + " " +
                           shapeText(t->shape) + ", expected I64 or I32 " +
                           shapeText(shape));
    const int64_t V = shape[0];
    if (V >= (int64_t(1) << 24))
      return fileError(c.shardPath(*t), t->fileOffset,
                       "'" + hf + "' orders " + llvm::Twine(V) +
                           " tokens; gemmac's centroid head takes fewer "
                           "than 2^24");
    const unsigned bytes = dtypeBytes(t->dtype);
    const uint8_t *data = c.data(*t);
    WeightRef ref;
    ref.format = gemma::WeightFormat::f32;
    ref.shape = {V};
    ref.offset = static_cast<int64_t>(t->offset);
    ref.values.resize(V);
    std::vector<bool> seen(V);
    for (int64_t i = 0; i < V; ++i) {
      int64_t id;
      if (bytes == 8) {
        std::memcpy(&id, data + i * 8, 8);
      } else {
        int32_t v;
        std::memcpy(&v, data + i * 4, 4);
        id = v;
      }
      if (id < 0 || id >= V || seen[id]) {
        const std::string why =
            id < 0 || id >= V
                ? "is not a token id (0.." + std::to_string(V - 1) + ")"
                : "repeats an earlier entry";
        return fileError(c.shardPath(*t), t->fileOffset + i * bytes,
                         "'" + hf + "'[" + llvm::Twine(i) +
                             "] = " + llvm::Twine(id) + " " + why);
      }
      seen[id] = true;
      ref.values[i] = static_cast<float>(id);
    }
    return ref;
  }

  /// The checkpoint tensor `hf` (found) as a weight of `shape`: BF16, F16,
  /// F32, FP8 blocks or NVFP4; a router (`widen`) stored as F32.
  Expected<WeightRef> tensorWeight(const std::string &hf,
                                   llvm::ArrayRef<int64_t> shape,
                                   bool widen = false) const {
    const Tensor *t = c.find(hf);
    if (!t)
      return fileError(c.directory(), std::nullopt,
                       "missing tensor '" + hf + "'");
    if (t->dtype == DType::U8)
      return nvfp4Weight(hf, *t, shape);
    if (llvm::ArrayRef<int64_t>(t->shape) != shape)
      return fileError(c.shardPath(*t), t->fileOffset,
                       "tensor '" + hf + "' has shape " + shapeText(t->shape) +
                           ", expected " + shapeText(shape));
    if (t->dtype == DType::F8_E4M3)
      return fp8Weight(hf, *t, shape);
    WeightRef ref;
    switch (t->dtype) {
    case DType::BF16: ref.format = gemma::WeightFormat::bf16; break;
    case DType::F16: ref.format = gemma::WeightFormat::f16; break;
    case DType::F32: ref.format = gemma::WeightFormat::f32; break;
    default:
      return fileError(c.shardPath(*t), t->fileOffset,
                       "tensor '" + hf + "' is " + dtypeName(t->dtype) +
                           ": gemmac reads BF16, F16, F32 and F8_E4M3 "
                           "tensors (and GPTQ modules)");
    }
    ref.shape.assign(shape.begin(), shape.end());
    ref.offset = static_cast<int64_t>(t->offset);
    // llama.cpp's converter stores a router as F32 whatever the checkpoint's
    // type, and llama.cpp multiplies it in f32: widen it the same way.
    if (widen && ref.format != gemma::WeightFormat::f32) {
      ref.widenFrom = ref.format;
      ref.format = gemma::WeightFormat::f32;
    }
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
  Expected<WeightRef> gptqWeight(StringRef module, const Tensor &qweight,
                                 llvm::ArrayRef<int64_t> shape) const;
  Expected<WeightRef> fp8Weight(StringRef name, const Tensor &weight,
                                llvm::ArrayRef<int64_t> shape) const;
  Expected<WeightRef> nvfp4Weight(StringRef name, const Tensor &weight,
                                  llvm::ArrayRef<int64_t> shape) const;
  Expected<WeightRef> nvfp4Scalar(const Tensor &t) const;

  const Checkpoint &c;
  std::string root;
  GPTQConfig gptqConfig;
};

uint32_t loadU32(const uint8_t *p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

/// An FP8 E4M3 linear with its F32 scales: ModelOpt's FP8_PB_WO
/// (`weight_scale` [ceil(N/128), 1, ceil(K/128), 1]), the same 2-D
/// (`weight_scale` or DeepSeek-style `weight_scale_inv`, both multiplied),
/// or one per-tensor scale (ModelOpt FP8; its `input_scale` is not used:
/// the activations stay f32). Every scale must be finite.
Expected<WeightRef> HFWeights::fp8Weight(StringRef name, const Tensor &weight,
                                         llvm::ArrayRef<int64_t> shape) const {
  StringRef module(name);
  module.consume_back(".weight");
  if (shape.size() != 2)
    return fileError(c.shardPath(weight), weight.fileOffset,
                     "tensor '" + name + "' is F8_E4M3 where a vector is "
                                         "expected");
  const int64_t N = shape[0], K = shape[1];
  const Tensor *scale = c.find((module + ".weight_scale").str());
  if (!scale)
    scale = c.find((module + ".weight_scale_inv").str());
  if (!scale)
    return fileError(c.directory(), std::nullopt,
                     "FP8 tensor '" + name + "' has no '" + module +
                         ".weight_scale'");
  if (scale->dtype != DType::F32)
    return fileError(c.shardPath(*scale), scale->fileOffset,
                     "FP8 scale '" + scale->name + "' is " +
                         dtypeName(scale->dtype) + ", expected F32");
  if (K % 64 != 0)
    return fileError(c.shardPath(weight), weight.fileOffset,
                     "FP8 tensor '" + name + "' has " + llvm::Twine(K) +
                         " columns: gemmac's FP8 rows need a multiple of 64");
  int64_t block = 128;
  const int64_t ob = (N + 127) / 128, ib = (K + 127) / 128;
  llvm::ArrayRef<int64_t> got(scale->shape);
  if (scale->elements == 1 && got.size() <= 1) {
    block = (std::max(N, K) + 63) / 64 * 64; // one block: the whole tensor
  } else if (got != llvm::ArrayRef<int64_t>{ob, 1, ib, 1} &&
             got != llvm::ArrayRef<int64_t>{ob, ib}) {
    return fileError(c.shardPath(*scale), scale->fileOffset,
                     "FP8 scale '" + scale->name + "' has shape " +
                         shapeText(scale->shape) + "; 128x128 blocks of a [" +
                         llvm::Twine(N) + ", " + llvm::Twine(K) +
                         "] weight need [" + llvm::Twine(ob) + ", 1, " +
                         llvm::Twine(ib) + ", 1] (or [" + llvm::Twine(ob) +
                         ", " + llvm::Twine(ib) + "], or one scale)");
  }
  const uint8_t *p = c.data(*scale);
  for (uint64_t i = 0; i < scale->elements; ++i) {
    float v;
    std::memcpy(&v, p + 4 * i, 4);
    if (!std::isfinite(v))
      return fileError(c.shardPath(*scale), scale->fileOffset + 4 * i,
                       "FP8 scale '" + scale->name + "'[" + llvm::Twine(i) +
                           "] is not finite");
  }
  WeightRef ref;
  ref.format = gemma::WeightFormat::f8_b64;
  ref.shape = {N, K};
  ref.offset = static_cast<int64_t>(weight.offset);
  ref.fp8Scales = static_cast<int64_t>(scale->offset);
  ref.fp8Block = block;
  return ref;
}

/// A ModelOpt NVFP4 linear: `weight` U8 [N, K/2] (two E2M1 codes a byte),
/// `weight_scale` F8_E4M3 [N, K/16], never NaN or negative (ggml's blocks
/// keep the byte without its sign). K must be whole ggml blocks of 64.
/// `weight_scale_2` (the output scale) and `input_scale` are scalars read
/// through nvfp4Scalar.
Expected<WeightRef> HFWeights::nvfp4Weight(StringRef name, const Tensor &weight,
                                           llvm::ArrayRef<int64_t> shape) const {
  StringRef module(name);
  module.consume_back(".weight");
  if (shape.size() != 2)
    return fileError(c.shardPath(weight), weight.fileOffset,
                     "tensor '" + name + "' is U8 (NVFP4) where a vector is "
                                         "expected");
  const int64_t N = shape[0], K = shape[1];
  if (llvm::ArrayRef<int64_t>(weight.shape) != llvm::ArrayRef<int64_t>{N, K / 2} ||
      K % 2 != 0)
    return fileError(c.shardPath(weight), weight.fileOffset,
                     "NVFP4 tensor '" + name + "' has shape " +
                         shapeText(weight.shape) + ", expected " +
                         shapeText({N, K / 2}) + " (two 4-bit codes a byte) "
                         "for a [" + llvm::Twine(N) + ", " + llvm::Twine(K) +
                         "] linear");
  if (K % 64 != 0)
    return fileError(c.shardPath(weight), weight.fileOffset,
                     "NVFP4 tensor '" + name + "' has " + llvm::Twine(K) +
                         " columns: ggml's NVFP4 blocks need a multiple of 64");
  std::string scaleName = (module + ".weight_scale").str();
  const Tensor *scale = c.find(scaleName);
  if (!scale)
    return fileError(c.directory(), std::nullopt,
                     "NVFP4 tensor '" + name + "' has no '" + scaleName + "'");
  if (scale->dtype != DType::F8_E4M3 ||
      llvm::ArrayRef<int64_t>(scale->shape) != llvm::ArrayRef<int64_t>{N, K / 16})
    return fileError(c.shardPath(*scale), scale->fileOffset,
                     "NVFP4 scale '" + scaleName + "' is " +
                         dtypeName(scale->dtype) + " " +
                         shapeText(scale->shape) + ", expected F8_E4M3 " +
                         shapeText({N, K / 16}) + " (one per 16 weights)");
  const uint8_t *p = c.data(*scale);
  for (uint64_t i = 0; i < scale->elements; ++i)
    if ((p[i] & 0x7F) == 0x7F || (p[i] & 0x80))
      return fileError(c.shardPath(*scale), scale->fileOffset + i,
                       "NVFP4 scale '" + scaleName + "'[" +
                           llvm::Twine(i / (K / 16)) + ", " +
                           llvm::Twine(i % (K / 16)) + "] is " +
                           ((p[i] & 0x7F) == 0x7F ? "an E4M3 NaN"
                                                  : "negative"));
  std::optional<float> inputScale;
  for (StringRef suffix : {".weight_scale_2", ".input_scale"}) {
    std::string other = (module + suffix).str();
    if (const Tensor *t = c.find(other)) {
      auto v = nvfp4Scalar(*t);
      if (!v)
        return v.takeError();
      if (suffix == ".input_scale")
        inputScale = v->scalar;
    } else if (suffix == ".weight_scale_2") {
      return fileError(c.directory(), std::nullopt,
                       "NVFP4 tensor '" + name + "' has no '" + other + "'");
    }
  }
  if (c.find((module + ".bias").str()))
    return fileError(c.directory(), std::nullopt,
                     "NVFP4 module '" + module + "' has a bias, which no "
                                                 "Gemma 4 linear has");
  WeightRef ref;
  ref.format = gemma::WeightFormat::nvfp4;
  ref.shape = {N, K};
  ref.offset = static_cast<int64_t>(weight.offset);
  ref.nvfp4Scales = static_cast<int64_t>(scale->offset);
  ref.inputScale = inputScale;
  return ref;
}

/// An NVFP4 module's per-tensor scale (`weight_scale_2` or `input_scale`).
Expected<WeightRef> HFWeights::nvfp4Scalar(const Tensor &t) const {
  auto v = positiveScalar(c, t, "NVFP4 scale");
  if (!v)
    return v.takeError();
  WeightRef ref;
  ref.format = gemma::WeightFormat::f32;
  ref.shape = {1};
  ref.offset = static_cast<int64_t>(t.offset);
  ref.scalar = *v;
  return ref;
}

/// A GPTQ linear (qweight, qzeros, scales, g_idx; HF's GPTQ layout): checks
/// every tensor's dtype and shape and every group index, and records whether
/// the zero points are all 8 and every 32 columns share a group (what the
/// lossless re-encodings need).
Expected<WeightRef> HFWeights::gptqWeight(StringRef module,
                                          const Tensor &qweight,
                                          llvm::ArrayRef<int64_t> shape) const {
  if (shape.size() != 2)
    return fileError(c.shardPath(qweight), qweight.fileOffset,
                     "'" + qweight.name + "': a GPTQ tensor where a vector is "
                                          "expected");
  const int64_t N = shape[0], K = shape[1];
  auto tensor = [&](StringRef suffix, DType dtype,
                    llvm::ArrayRef<int64_t> want,
                    bool optional = false) -> Expected<const Tensor *> {
    std::string name = (module + "." + suffix).str();
    const Tensor *t = c.find(name);
    if (!t) {
      if (optional)
        return nullptr;
      return fileError(c.directory(), std::nullopt,
                       "GPTQ module '" + module + "' has a qweight but no '" +
                           name + "'");
    }
    if (t->dtype != dtype)
      return fileError(c.shardPath(*t), t->fileOffset,
                       "GPTQ tensor '" + name + "' is " + dtypeName(t->dtype) +
                           ", expected " + dtypeName(dtype));
    if (llvm::ArrayRef<int64_t>(t->shape) != want)
      return fileError(c.shardPath(*t), t->fileOffset,
                       "GPTQ tensor '" + name + "' has shape " +
                           shapeText(t->shape) + ", expected " +
                           shapeText(want) + " for a [" + llvm::Twine(N) +
                           ", " + llvm::Twine(K) + "] linear with 4-bit "
                           "weights");
    return t;
  };
  if (N % 8 != 0 || K % 8 != 0)
    return fileError(c.shardPath(qweight), qweight.fileOffset,
                     "GPTQ module '" + module + "' is [" + llvm::Twine(N) +
                         ", " + llvm::Twine(K) +
                         "]: 4-bit packing needs multiples of 8");
  auto qw = tensor("qweight", DType::I32, {K / 8, N});
  if (!qw)
    return qw.takeError();
  const Tensor *scales = c.find((module + ".scales").str());
  if (!scales || scales->shape.size() != 2 || scales->shape[0] <= 0)
    return fileError(c.directory(), std::nullopt,
                     "GPTQ module '" + module +
                         "' needs 'scales' of shape [groups, " +
                         llvm::Twine(N) + "]");
  const int64_t G = scales->shape[0];
  int64_t group = gptqConfig.groupSize > 0 ? gptqConfig.groupSize
                                           : (K + G - 1) / G;
  if ((K + group - 1) / group != G)
    return fileError(c.shardPath(*scales), scales->fileOffset,
                     "GPTQ tensor '" + scales->name + "' has " +
                         llvm::Twine(G) + " groups, but " + llvm::Twine(K) +
                         " columns in groups of " + llvm::Twine(group) +
                         " make " + llvm::Twine((K + group - 1) / group));
  auto sc = tensor("scales", DType::F16, {G, N});
  auto qz = tensor("qzeros", DType::I32, {G, N / 8});
  auto gi = tensor("g_idx", DType::I32, {K}, /*optional=*/true);
  for (auto *e : {&sc, &qz, &gi})
    if (!*e)
      return e->takeError();
  const uint8_t *sp = c.data(**sc);
  for (uint64_t i = 0; i < (*sc)->elements; ++i)
    if (((sp[2 * i] | (sp[2 * i + 1] << 8)) & 0x7C00) == 0x7C00)
      return fileError(c.shardPath(**sc), (*sc)->fileOffset + 2 * i,
                       "GPTQ tensor '" + (*sc)->name + "'[" + llvm::Twine(i) +
                           "] is not finite");
  if (c.find((module + ".bias").str()))
    return fileError(c.directory(), std::nullopt,
                     "GPTQ module '" + module + "' has a bias, which no Gemma 4 "
                                                "linear has");
  GPTQRef ref;
  ref.qzeros = static_cast<int64_t>((*qz)->offset);
  ref.scales = static_cast<int64_t>((*sc)->offset);
  ref.group = group;
  ref.zeroOffset = gptqConfig.zeroOffset;
  std::vector<int64_t> groupOf(K);
  if (const Tensor *g = *gi) {
    ref.gIdx = static_cast<int64_t>(g->offset);
    const uint8_t *p = c.data(*g);
    for (int64_t k = 0; k < K; ++k) {
      uint32_t v = loadU32(p + 4 * k);
      if (v >= static_cast<uint64_t>(G))
        return fileError(c.shardPath(*g), g->fileOffset + 4 * k,
                         "GPTQ tensor '" + g->name + "'[" + llvm::Twine(k) +
                             "] = " + llvm::Twine(static_cast<int32_t>(v)) +
                             " is not one of the " + llvm::Twine(G) +
                             " groups");
      groupOf[k] = v;
    }
  } else {
    for (int64_t k = 0; k < K; ++k)
      groupOf[k] = k / group;
  }
  ref.blockUniform = K % 32 == 0;
  for (int64_t k = 0; k < K && ref.blockUniform; ++k)
    ref.blockUniform = groupOf[k] == groupOf[k - k % 32];
  ref.symmetric = true;
  const uint8_t *z = c.data(**qz);
  for (uint64_t i = 0; i < (*qz)->elements && ref.symmetric; ++i) {
    uint32_t w = loadU32(z + 4 * i);
    for (int j = 0; j < 8; ++j)
      ref.symmetric &= static_cast<int64_t>((w >> (4 * j)) & 0xF) +
                           ref.zeroOffset == 8;
  }
  WeightRef out;
  out.format = gemma::WeightFormat::f32; // the exact values; see #gemma.gptq
  out.shape = {N, K};
  out.offset = static_cast<int64_t>(qweight.offset);
  out.gptq = ref;
  return out;
}

/// The FP8 KV-cache scales of each layer (ModelOpt writes
/// `self_attn.k_proj.k_scale` and `self_attn.v_proj.v_scale`; vLLM's own
/// names `self_attn.k_scale`/`v_scale` are read too): k, v per layer, 1.0
/// where absent. Empty when the checkpoint has none. Each is the amax / 448
/// of the post-norm, post-RoPE values.
Expected<std::vector<float>> readKVScales(const Checkpoint &c,
                                          StringRef root, int64_t numLayers) {
  std::vector<float> scales(2 * numLayers, 1.0f);
  bool any = false;
  for (int64_t l = 0; l < numLayers; ++l)
    for (int which = 0; which < 2; ++which) {
      const char *proj = which ? "v_proj.v_scale" : "k_proj.k_scale";
      const char *alone = which ? "v_scale" : "k_scale";
      const Tensor *t = nullptr;
      for (const char *leaf : {proj, alone})
        if (!t)
          t = c.find(llvm::formatv("{0}layers.{1}.self_attn.{2}", root, l, leaf)
                         .str());
      if (!t)
        continue;
      auto v = positiveScalar(c, *t, "KV-cache scale");
      if (!v)
        return v.takeError();
      scales[2 * l + which] = *v;
      any = true;
    }
  if (!any)
    scales.clear();
  return scales;
}

/// config.json of checkpoint `c`.
Expected<HFModelConfig> readConfig(const Checkpoint &c) {
  auto configText = c.readText("config.json");
  if (!configText)
    return configText.takeError();
  if (!*configText)
    return fileError(c.pathOf("config.json"), std::nullopt,
                     "cannot open: a Hugging Face checkpoint needs its "
                     "config.json");
  return readHFConfig(c.pathOf("config.json"), **configText);
}

/// Where the text model's tensors live (under the multimodal wrapper, or
/// alone), and which layers have a layer_scalar.
Expected<std::string> findTextModel(const Checkpoint &c,
                                    HFModelConfig &config) {
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
  if (!config.tieWordEmbeddings && !c.find("lm_head.weight"))
    return fileError(c.directory(), std::nullopt,
                     "config.json says tie_word_embeddings is false, but "
                     "there is no 'lm_head.weight'");
  for (int64_t l = 0; l < config.config.numLayers; ++l)
    config.config.layers[l].hasOutputScale =
        c.find(llvm::formatv("{0}layers.{1}.layer_scalar", root, l).str());
  return root;
}

} // namespace

llvm::Error gemmac::st::importDrafter(mlir::ModuleOp module,
                                      const Gemma4Config &target,
                                      llvm::ArrayRef<std::string> targetTokens,
                                      StringRef targetPath, const Checkpoint &c,
                                      DraftHead head) {
  auto config = readConfig(c);
  if (!config)
    return config.takeError();
  if (head == DraftHead::Centroid && config->assistant &&
      !config->orderedEmbeddings)
    return fileError(c.pathOf("config.json"), std::nullopt,
                     "--draft-head centroid: this drafter has no centroid "
                     "head ('use_ordered_embeddings' is false)");
  if (config->orderedEmbeddings && head != DraftHead::Dense) {
    config->config.centroidClusters = config->numCentroids;
    config->config.centroidTopK = config->centroidTopK;
  }
  if (!config->assistant)
    return fileError(c.pathOf("config.json"), std::nullopt,
                     "model_type '" + config->modelType +
                         "' is not an MTP drafter: --draft takes a "
                         "gemma4_assistant checkpoint "
                         "(Gemma4AssistantForCausalLM) or a gemma4-assistant "
                         "GGUF");
  auto root = findTextModel(c, *config);
  if (!root)
    return root.takeError();
  if (std::string e = pairGemma4Drafter(config->config, target); !e.empty())
    return fileError(c.directory(), std::nullopt,
                     e + " (target " + targetPath + ")");
  // The drafter's tokens are the target's ids: when it ships a tokenizer,
  // the same vocabulary token for token.
  auto tokenizerText = c.readText("tokenizer.json");
  if (!tokenizerText)
    return tokenizerText.takeError();
  if (*tokenizerText) {
    auto tokenizer = readHFTokenizer(c, *config);
    if (!tokenizer)
      return tokenizer.takeError();
    if (std::string e = compareDrafterVocabulary(tokenizer->tokens,
                                                 targetTokens, targetPath);
        !e.empty())
      return fileError(c.pathOf("tokenizer.json"), std::nullopt, e);
  }
  HFWeights weights(c, *root, config->gptq);
  return addGemma4Drafter(module, target, config->config, weights,
                          c.directory());
}

Expected<Imported> gemmac::st::importGemma4(mlir::MLIRContext &context,
                                            const Checkpoint &c) {
  auto config = readConfig(c);
  if (!config)
    return config.takeError();
  if (config->assistant)
    return fileError(c.pathOf("config.json"), std::nullopt,
                     "this is a Gemma 4 MTP drafter ('" +
                         config->modelType +
                         "'): compile it with its target model, "
                         "compile-model TARGET --draft " +
                         c.directory());
  auto root = findTextModel(c, *config);
  if (!root)
    return root.takeError();

  auto tokenizer = readHFTokenizer(c, *config);
  if (!tokenizer)
    return tokenizer.takeError();
  config->config.suppressTokens = tokenizer->suppress;

  HFWeights weights(c, *root, config->gptq);
  auto module = buildGemma4Module(context, config->config, weights,
                                  c.directory());
  if (!module)
    return module.takeError();
  auto kvScales = readKVScales(c, *root, config->config.numLayers);
  if (!kvScales)
    return kvScales.takeError();
  if (!kvScales->empty())
    gemma::gemmaDialect(&context)->getKvScalesAttrHelper().setAttr(
        **module, mlir::DenseF32ArrayAttr::get(&context, *kvScales));
  return Imported{std::move(*module), std::move(*tokenizer),
                  std::move(config->config)};
}
