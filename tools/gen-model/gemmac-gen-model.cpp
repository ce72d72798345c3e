//===- gemmac-gen-model.cpp - writes random-weight Gemma 4 GGUFs ----------===//
//
// Tiny models for the parity tests and full-size ones for benchmarks, with
// the shapes, metadata and tensor names llama.cpp expects of gemma4 files.
// Values are random: speed does not depend on them, and parity only needs
// both engines to read the same file.
//
// --srd DIR also writes SRD corrections of every linear weight (from the
// same float values the base file quantizes) in each residual format, and
// DIR/baked-f32.gguf: the base file with each corrected weight replaced by W'
// stored as F32, the reference llama.cpp runs for the fold-srd parity tests.
//
//===----------------------------------------------------------------------===//

#include "HFCheckpoint.h"
#include "Vocab.h"
#include "formats/formats.h"
#include "frontends/common/TensorNames.h"
#include "frontends/gguf/GGUFWriter.h"
#include "tools/srd/SRDTestData.h"

#include "llvm/Support/Error.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <unistd.h>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <thread>
#include <vector>

using namespace gemmac;
using gemmac::fmt::Type;

namespace {

struct Variant {
  const char *name;
  const char *description;
  int64_t layers, hidden, heads, kvLocal, kvGlobal, hdLocal, hdGlobal, ffn;
  int64_t pleDim, window, vocab, context;
  int period;        // every period-th layer is global
  int sharedKV;      // trailing layers that reuse earlier KV (E models)
  bool doubleWide;   // E2B: shared layers have a 2x MLP
  bool kEqualsV;     // 12B/31B: global layers have no attn_v
  float embedStd;
  bool lastGlobal = false; // --hf: the last layer is global (HF forces it)
  // Mixture of experts (26B-A4B): every layer routes to `experts` experts,
  // `expertsUsed` per token, beside its dense MLP.
  int64_t experts = 0, expertsUsed = 0, expertFFN = 0;
  // An MTP drafter (gemma4-assistant) of a target of this hidden size:
  // query-only layers reading the target's KV (every layer KV-shared), the
  // nextn projections, no final softcap. 0: a target model.
  int64_t backbone = 0;
  bool unifiedBackbone = false; // --hf: the target is a unified (12B-like) model
  // --centroid-head (a drafter, --hf): transformers' masked embedder, the
  // tokens in `centroids` clusters of which the best `centroidTopK` are
  // scored (E2B/E4B's assistants: 2048 and 32). 0: none.
  int64_t centroids = 0, centroidTopK = 0;

  bool isGlobal(int64_t l) const {
    return (l + 1) % period == 0 || (lastGlobal && l == layers - 1);
  }
};

const Variant kVariants[] = {
    {"dense", "tiny 12B-like: K=V global layers, 1 global kv head, period 6",
     12, 256, 4, 2, 1, 64, 128, 512, 0, 16, 1024, 512, 6, 0, false, true,
     0.15f},
    {"e2b", "tiny E2B-like: PLE, period 5, shared KV, double-wide MLP", 10,
     256, 4, 1, 1, 64, 128, 512, 128, 16, 1024, 512, 5, 5, true, false, 0.15f},
    {"e4b", "tiny E4B-like: PLE, period 6, shared KV", 12, 256, 4, 2, 2, 64,
     128, 512, 128, 16, 1024, 512, 6, 6, false, false, 0.15f},
    {"12b", "full-size Gemma 4 12B shapes", 48, 3840, 16, 8, 1, 256, 512,
     15360, 0, 1024, 262144, 131072, 6, 0, false, true, 0.05f},
    {"e4b-full", "full-size Gemma 4 E4B shapes", 42, 2560, 8, 2, 2, 256, 512,
     10240, 256, 512, 262144, 131072, 6, 18, false, false, 0.06f},
    {"e2b-full", "full-size Gemma 4 E2B shapes", 35, 1536, 8, 1, 1, 256, 512,
     6144, 256, 512, 262144, 131072, 5, 20, true, false, 0.08f},
    {"moe", "tiny 26B-A4B-like: 16 experts, 4 per token, beside a dense MLP",
     6, 256, 4, 2, 1, 64, 128, 192, 0, 16, 1024, 512, 6, 0, false, true,
     0.15f, false, 16, 4, 96},
    {"26b-a4b", "full-size Gemma 4 26B-A4B shapes (128 experts, 8 used)", 30,
     2816, 16, 8, 2, 256, 512, 2112, 0, 1024, 262144, 131072, 6, 0, false,
     true, 0.05f, false, 128, 8, 704},
};

/// The MTP drafter of `target` (--variant assistant --for NAME), shaped as
/// Google's: 4 layers (3 sliding, 1 full) whose kv heads, head dims and
/// window are those of the target layers they read, at a width other than
/// the target's (llama.cpp refuses equal widths). Full-size targets get the
/// released assistants' widths (1024 for 12B/26B/31B, 256 for E2B/E4B).
Variant assistantFor(const Variant &target) {
  Variant a = target;
  const bool fullSize = target.vocab > 1024, edge = target.pleDim > 0;
  a.name = "assistant";
  a.description = "gemma4-assistant drafter of --for NAME";
  a.layers = 4;
  a.period = 4;
  a.sharedKV = 4;
  a.hidden = !fullSize ? 128 : edge ? 256 : 1024;
  a.heads = !fullSize ? 4 : edge ? 4 : 16;
  a.ffn = !fullSize ? 256 : edge ? 2048 : 8192;
  a.pleDim = 0;
  a.doubleWide = false;
  a.lastGlobal = false;
  a.experts = a.expertsUsed = a.expertFFN = 0;
  a.backbone = target.hidden;
  a.unifiedBackbone = target.pleDim == 0 && !target.experts;
  return a;
}

/// --split-experts: gate and up experts as two tensors (ffn_gate_exps,
/// ffn_up_exps), the layout llama.cpp also loads, instead of one fused.
bool gSplitExperts = false;

struct FileType {
  const char *name;
  uint32_t llamaFtype; // general.file_type
  Type base;
  bool kMix; // llama-quantize's _M mix (Q6_K embeddings, bumped attn_v/ffn_down)
};

const FileType kFileTypes[] = {
    {"f32", 0, Type::F32, false},    {"f16", 1, Type::F16, false},
    {"bf16", 32, Type::BF16, false}, {"q8_0", 7, Type::Q8_0, false},
    {"q4_0", 2, Type::Q4_0, false},  {"q4_1", 3, Type::Q4_1, false},
    {"q5_0", 8, Type::Q5_0, false},  {"q5_1", 9, Type::Q5_1, false},
    {"q4_k", 14, Type::Q4_K, false}, {"q5_k", 16, Type::Q5_K, false},
    {"q6_k", 18, Type::Q6_K, false}, {"q4_k_m", 15, Type::Q4_K, true},
    {"q5_k_m", 17, Type::Q5_K, true},
};

uint64_t splitmix(uint64_t &s) {
  uint64_t z = (s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
float uniform01(uint64_t &s) { return (splitmix(s) >> 40) * 0x1p-24f; }

uint64_t hashName(const std::string &n, uint64_t seed) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (char c : n)
    h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return h;
}

/// How a tensor's values are drawn.
enum class Init { Linear, Embedding, Norm, PostNorm, QKNorm, OutputScale, RopeFreqs, Router };

struct TensorSpec {
  std::string name;
  std::vector<int64_t> ne; // ggml order: ne[0] contiguous
  Type type;
  Init init;
};

bool useMoreBits(int i, int n) {
  return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

/// llama-quantize's fallback when a row is not a whole number of 256-blocks.
Type fallback(Type t, int64_t ne0) {
  if (ne0 % 256 == 0)
    return t;
  switch (t) {
  case Type::Q4_K: return Type::Q5_0;
  case Type::Q5_K: return Type::Q5_1;
  case Type::Q6_K: return Type::Q8_0;
  default: return t;
  }
}

std::vector<TensorSpec> tensorList(const Variant &v, const FileType &ft) {
  std::vector<TensorSpec> out;
  const bool isFloat = ft.base == Type::F32 || ft.base == Type::F16 ||
                       ft.base == Type::BF16;
  const Type floatType = isFloat ? ft.base : Type::F32;
  const Type embType = ft.kMix ? Type::Q6_K : ft.base;
  auto lin = [&](const std::string &n, int64_t in, int64_t outF, Type t) {
    out.push_back({n, {in, outF}, fallback(t, in), Init::Linear});
  };
  auto norm = [&](const std::string &n, int64_t len) {
    out.push_back({n, {len}, Type::F32, Init::Norm});
  };
  auto postNorm = [&](const std::string &n, int64_t len) {
    out.push_back({n, {len}, Type::F32, Init::PostNorm});
  };
  const int64_t H = v.hidden, L = v.layers;
  out.push_back({"token_embd.weight", {H, v.vocab}, fallback(embType, H),
                 Init::Embedding});
  if (v.pleDim) {
    out.push_back({"per_layer_token_embd.weight", {L * v.pleDim, v.vocab},
                   fallback(embType, L * v.pleDim), Init::Embedding});
    out.push_back({"per_layer_model_proj.weight", {H, L * v.pleDim},
                   floatType, Init::Linear});
    norm("per_layer_proj_norm.weight", v.pleDim);
  }
  if (L >= v.period || v.lastGlobal) // only global layers read it
    out.push_back({"rope_freqs.weight", {v.hdGlobal / 2}, Type::F32,
                   Init::RopeFreqs});
  norm("output_norm.weight", H);
  if (v.backbone) {
    // pre_projection([E_target[token] * sqrt(H_target) ; h]) and the
    // post_projection back to the target's width, for the next draft step.
    lin("nextn.pre_projection.weight", 2 * v.backbone, H, ft.base);
    lin("nextn.post_projection.weight", H, v.backbone, ft.base);
  }

  const int64_t firstShared = L - v.sharedKV;
  // attn_v tensors in file order, for the Q4_K_M "more bits" rule.
  int nAttnV = 0;
  for (int64_t l = 0; l < firstShared; ++l)
    if (!(v.kEqualsV && v.isGlobal(l)))
      ++nAttnV;
  int iAttnV = 0;
  for (int64_t l = 0; l < L; ++l) {
    const bool global = v.isGlobal(l);
    const int64_t hd = global ? v.hdGlobal : v.hdLocal;
    const int64_t nkv = global ? v.kvGlobal : v.kvLocal;
    const int64_t ffn = (v.doubleWide && l >= firstShared) ? 2 * v.ffn : v.ffn;
    const std::string p = "blk." + std::to_string(l) + ".";
    norm(p + "attn_norm.weight", H);
    lin(p + "attn_q.weight", H, v.heads * hd, ft.base);
    if (l < firstShared) {
      lin(p + "attn_k.weight", H, nkv * hd, ft.base);
      if (!(v.kEqualsV && global)) {
        Type vt = ft.base;
        if (ft.kMix && useMoreBits(iAttnV, nAttnV))
          vt = Type::Q6_K;
        ++iAttnV;
        lin(p + "attn_v.weight", H, nkv * hd, vt);
      }
      out.push_back({p + "attn_k_norm.weight", {hd}, Type::F32, Init::QKNorm});
    }
    lin(p + "attn_output.weight", v.heads * hd, H, ft.base);
    out.push_back({p + "attn_q_norm.weight", {hd}, Type::F32, Init::QKNorm});
    postNorm(p + "post_attention_norm.weight", H);
    norm(p + "ffn_norm.weight", H);
    lin(p + "ffn_gate.weight", H, ffn, ft.base);
    lin(p + "ffn_up.weight", H, ffn, ft.base);
    Type down = ft.base;
    if (ft.kMix && useMoreBits(static_cast<int>(l), static_cast<int>(L)))
      down = Type::Q6_K;
    lin(p + "ffn_down.weight", ffn, H, down);
    postNorm(p + "post_ffw_norm.weight", H);
    if (v.experts) {
      // The router stays F32 in every file type (llama-quant never
      // quantizes it); the expert tensors follow the ffn rules.
      const int64_t E = v.experts, F = v.expertFFN;
      out.push_back({p + "ffn_gate_inp.weight", {H, E}, Type::F32, Init::Router});
      norm(p + "ffn_gate_inp.scale", H);
      norm(p + "pre_ffw_norm_2.weight", H);
      postNorm(p + "post_ffw_norm_1.weight", H);
      postNorm(p + "post_ffw_norm_2.weight", H);
      if (gSplitExperts) {
        out.push_back({p + "ffn_gate_exps.weight", {H, F, E},
                       fallback(ft.base, H), Init::Linear});
        out.push_back({p + "ffn_up_exps.weight", {H, F, E},
                       fallback(ft.base, H), Init::Linear});
      } else {
        out.push_back({p + "ffn_gate_up_exps.weight", {H, 2 * F, E},
                       fallback(ft.base, H), Init::Linear});
      }
      out.push_back({p + "ffn_down_exps.weight", {F, H, E}, fallback(down, F),
                     Init::Linear});
      norm(p + "ffn_down_exps.scale", E);
    }
    if (v.pleDim) {
      lin(p + "inp_gate.weight", H, v.pleDim, ft.base);
      lin(p + "proj.weight", v.pleDim, H, ft.base);
      postNorm(p + "post_norm.weight", H);
    }
    out.push_back({p + "layer_output_scale.weight", {1}, Type::F32,
                   Init::OutputScale});
  }
  return out;
}

/// Draws the values of one row of a tensor.
void drawRow(const TensorSpec &t, const Variant &v, uint64_t &rng,
             float *row) {
  const int64_t n = t.ne[0];
  switch (t.init) {
  case Init::Linear: {
    float a = std::sqrt(3.0f / static_cast<float>(n));
    for (int64_t i = 0; i < n; ++i)
      row[i] = (2 * uniform01(rng) - 1) * a;
    return;
  }
  case Init::Router: {
    // Router logits of standard deviation ~2 (the input is RMS-normed and
    // scaled by H^-1/2): a clear ranking of the experts, as trained
    // routers have, rather than a near-uniform softmax.
    float a = 2.0f * std::sqrt(3.0f);
    for (int64_t i = 0; i < n; ++i)
      row[i] = (2 * uniform01(rng) - 1) * a;
    return;
  }
  case Init::Embedding: {
    float a = v.embedStd * std::sqrt(3.0f);
    for (int64_t i = 0; i < n; ++i)
      row[i] = (2 * uniform01(rng) - 1) * a;
    return;
  }
  case Init::Norm:
    for (int64_t i = 0; i < n; ++i)
      row[i] = 0.8f + 0.4f * uniform01(rng);
    return;
  case Init::PostNorm: {
    // Each layer adds a normed branch to the residual stream. The MLP
    // branch is kept small: llama.cpp rounds GELU through an f16 table, and a
    // random network with a full-size MLP branch turns the table's rounding
    // steps into large swings (see docs/numerics.md), which would hide
    // real errors. The attention branch keeps a moderate scale.
    float c = t.name.find("post_ffw") != std::string::npos ? 0.1f : 0.3f;
    for (int64_t i = 0; i < n; ++i)
      row[i] = c * (0.8f + 0.4f * uniform01(rng));
    return;
  }
  case Init::QKNorm: {
    // Attention scale is 1.0 and q, k are RMS-normed: these weights set the
    // score spread. Aim for scores of standard deviation ~1, as a trained
    // model has, rather than sqrt(head_dim), which makes attention one-hot.
    float c = std::sqrt(1.0f / std::sqrt(static_cast<float>(n)));
    for (int64_t i = 0; i < n; ++i)
      row[i] = c * (0.8f + 0.4f * uniform01(rng));
    return;
  }
  case Init::OutputScale:
    row[0] = 0.4f + 0.6f * uniform01(rng);
    return;
  case Init::RopeFreqs:
    // Proportional RoPE: a quarter of the pairs rotate, the rest do not.
    for (int64_t i = 0; i < n; ++i)
      row[i] = i < n / 4 ? 1.0f : 1e30f;
    return;
  }
}

/// Row r of a tensor before quantization.
void drawTensorRow(const TensorSpec &t, const Variant &v, uint64_t seed,
                   int64_t r, float *row) {
  uint64_t rng = hashName(t.name, seed) + 0x9E3779B97F4A7C15ull * r;
  drawRow(t, v, rng, row);
}

/// --hf: the float type of the HF checkpoint, through which the GGUF
/// twin's F32 tensors (norms, scales) are rounded, as a conversion from that
/// checkpoint stores them; F32 otherwise (no rounding).
Type gRoundThrough = Type::F32;

void roundThrough(Type t, float *row, int64_t n) {
  if (t == Type::F32)
    return;
  std::vector<uint8_t> tmp(fmt::rowBytes(t, n));
  fmt::quantizeRow(t, row, tmp.data(), n);
  fmt::dequantizeRow(t, tmp.data(), row, n);
}

void fillTensor(const TensorSpec &t, const Variant &v, uint64_t seed,
                uint8_t *dst, unsigned threads) {
  int64_t rows = 1;
  for (size_t d = 1; d < t.ne.size(); ++d)
    rows *= t.ne[d];
  const size_t rb = fmt::rowBytes(t.type, t.ne[0]);
  auto work = [&](int64_t r0, int64_t r1) {
    std::vector<float> row(t.ne[0]);
    for (int64_t r = r0; r < r1; ++r) {
      drawTensorRow(t, v, seed, r, row.data());
      if (t.init != Init::RopeFreqs)
        roundThrough(gRoundThrough, row.data(), t.ne[0]);
      fmt::quantizeRow(t.type, row.data(), dst + r * rb, t.ne[0]);
    }
  };
  if (rows < 64 || threads <= 1)
    return work(0, rows);
  std::vector<std::thread> pool;
  for (unsigned i = 0; i < threads; ++i)
    pool.emplace_back(work, rows * i / threads, rows * (i + 1) / threads);
  for (auto &th : pool)
    th.join();
}

/// --srd DIR: the residual files and the baked references. Every linear
/// weight is corrected; its SRD quantization starts from the same floats the
/// base file holds quantized.
int writeSRD(const std::string &dir, const std::vector<TensorSpec> &specs,
             const Variant &v, uint64_t seed,
             const std::vector<std::string> &bakedTypes, uint64_t shardBytes,
             const std::function<std::string(const std::string &,
                                             const std::vector<TensorSpec> &,
                                             const gguf::GGUFWriter::Fill &)>
                 &writeGGUF) {
  std::vector<srd::GenTensor> tensors;
  std::vector<size_t> specOf;
  for (size_t i = 0; i < specs.size(); ++i) {
    const TensorSpec &t = specs[i];
    std::optional<std::string> hf = gemmac::hfNameForGGUF(t.name);
    if (t.init != Init::Linear || t.ne.size() != 2 || !hf)
      continue;
    srd::GenTensor g;
    g.name = *hf;
    g.rows = t.ne[1];
    g.cols = t.ne[0];
    g.weights.resize(g.rows * g.cols);
    for (int64_t r = 0; r < g.rows; ++r)
      drawTensorRow(t, v, seed, r, g.weights.data() + r * g.cols);
    tensors.push_back(std::move(g));
    specOf.push_back(i);
  }
  srd::TestDataOptions o;
  if (shardBytes)
    o.shardBytes = shardBytes;
  if (const char *k = std::getenv("AXIOM_MASTER_KEY"); k && *k)
    o.master = k;
  // A fixed signing key: the sealed container's public key is
  // DIR/public-key.hex.
  o.signingSeed = *srd::digestFromHex(
      "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
  if (std::error_code ec = llvm::sys::fs::create_directories(dir)) {
    std::fprintf(stderr, "gemmac-gen-model: %s: %s\n", dir.c_str(),
                 ec.message().c_str());
    return 1;
  }
  auto paths = srd::writeTestData(dir, tensors, o);
  if (!paths) {
    std::fprintf(stderr, "gemmac-gen-model: %s\n",
                 llvm::toString(paths.takeError()).c_str());
    return 1;
  }
  {
    std::error_code ec;
    llvm::raw_fd_ostream pk(dir + "/public-key.hex", ec);
    pk << srd::toHex(srd::ed25519PublicKey(*o.signingSeed)) << "\n";
  }

  srd::SRDTensorSet set = srd::quantizeAll(tensors, o);
  std::map<size_t, size_t> corrected; // spec index -> residual tensor index
  for (size_t i = 0; i < specOf.size(); ++i)
    corrected[specOf[i]] = i;
  for (const std::string &typeName : bakedTypes) {
    const FileType *ft = nullptr;
    for (const FileType &x : kFileTypes)
      if (typeName == x.name && !x.kMix)
        ft = &x;
    if (!ft) {
      std::fprintf(stderr, "gemmac-gen-model: unknown --srd-baked type '%s'\n",
                   typeName.c_str());
      return 2;
    }
    std::vector<TensorSpec> baked = specs;
    for (auto [i, r] : corrected)
      baked[i].type = ft->base;
    std::string err = writeGGUF(
        dir + "/baked-" + typeName + ".gguf", baked,
        [&](size_t i, uint8_t *dst) {
          auto it = corrected.find(i);
          if (it == corrected.end())
            return fillTensor(specs[i], v, seed, dst, 1);
          auto w = set.correctedTensor(it->second);
          if (!w) {
            std::fprintf(stderr, "gemmac-gen-model: %s\n",
                         llvm::toString(w.takeError()).c_str());
            std::exit(1);
          }
          const int64_t cols = baked[i].ne[0];
          const size_t rb = fmt::rowBytes(ft->base, cols);
          for (int64_t r = 0; r < baked[i].ne[1]; ++r)
            fmt::quantizeRow(ft->base, w->data() + r * cols, dst + r * rb,
                             cols);
        });
    if (!err.empty()) {
      std::fprintf(stderr, "gemmac-gen-model: %s\n", err.c_str());
      return 1;
    }
  }
  return 0;
}


/// --hf-quant: how the HF checkpoint's quantized linears are stored.
enum class HFQuant { None, GPTQ, GPTQAsym, GPTQDesc, FP8, NVFP4 };

struct HFQuantOptions {
  HFQuant mode = HFQuant::None;
  int64_t group = 128;
  bool twinF32 = false; // --quant-twin f32: the twin holds each quantized linear as F32
  bool twinQ8 = false;  // --quant-twin q8_0 (fp8): its values requantized as Q8_0
  // --kv-scales K,V: ModelOpt's FP8 KV-cache scales, layer l's K * (1 +
  // (l % 3) / 4) and V * the same (0: none written).
  float kScale = 0, vScale = 0;
  // MoE experts as per-expert 2-D modules (experts.{e}.{gate,up,down}_proj),
  // as quantized exports store them: --hf-per-expert, and always with GPTQ.
  bool perExpert = false;
};

/// A per-expert module of a fused expert tensor [experts, R, K]: its HF
/// projection and the rows of each expert's R it holds.
struct ExpertPart {
  const char *proj;
  int64_t first, rows;
};
std::vector<ExpertPart> expertParts(const TensorSpec &t) {
  auto endsWith = [&](const char *suffix) {
    return llvm::StringRef(t.name).ends_with(suffix);
  };
  if (t.ne.size() != 3)
    return {};
  const int64_t R = t.ne[1];
  if (endsWith(".ffn_gate_up_exps.weight"))
    return {{"gate_proj", 0, R / 2}, {"up_proj", R / 2, R / 2}};
  if (endsWith(".ffn_gate_exps.weight"))
    return {{"gate_proj", 0, R}};
  if (endsWith(".ffn_up_exps.weight"))
    return {{"up_proj", 0, R}};
  if (endsWith(".ffn_down_exps.weight"))
    return {{"down_proj", 0, R}};
  return {};
}

/// An expert weight [experts, rows, cols].
bool isExpertTensor(const TensorSpec &t) {
  return t.ne.size() == 3 && !expertParts(t).empty();
}

/// The linears --hf-quant quantizes: the MLP (as the GPTQ checkpoints users
/// bring, "MLP-only") and the attention output projection.
bool isQuantizedLinear(const TensorSpec &t) {
  for (const char *suffix : {".ffn_gate.weight", ".ffn_up.weight",
                             ".ffn_down.weight", ".attn_output.weight",
                             ".ffn_gate_up_exps.weight", ".ffn_down_exps.weight"})
    if (t.name.size() > strlen(suffix) &&
        t.name.compare(t.name.size() - strlen(suffix), strlen(suffix),
                       suffix) == 0)
      return true;
  return false;
}

/// The linears --hf-quant fp8 stores as FP8 (ModelOpt's FP8_PB_WO preset:
/// every linear of the decoder layers; embeddings, norms and the model-level
/// PLE projection stay in the checkpoint's float type).
bool isFP8Linear(const TensorSpec &t) {
  if (t.init != Init::Linear || t.ne.size() != 2 || t.name.rfind("blk.", 0) != 0)
    return false;
  return t.ne[0] % 64 == 0;
}

/// An expert tensor --hf-quant fp8 stores as FP8 modules when the experts
/// are per expert (--hf-per-expert): rows of whole 64s, as f8_b64 needs.
bool isFP8Expert(const TensorSpec &t) {
  return isExpertTensor(t) && t.ne[0] % 64 == 0;
}

/// fn(r0, r1) over [0, rows) split into one range per hardware thread
/// (full-size linears have tens of millions of weights to draw and encode).
template <typename Fn> void forRowRanges(int64_t rows, Fn &&fn) {
  const int64_t threads =
      std::max<int64_t>(1, std::thread::hardware_concurrency());
  std::vector<std::thread> pool;
  for (int64_t i = 0; i < threads; ++i)
    pool.emplace_back(fn, rows * i / threads, rows * (i + 1) / threads);
  for (std::thread &th : pool)
    th.join();
}

/// One linear as ModelOpt FP8_PB_WO tensors: E4M3 weights and an F32 scale
/// per 128x128 block (amax / 448, 1 for an all-zero block; partial blocks
/// at the high end).
struct FP8Tensors {
  int64_t N = 0, K = 0, ob = 0, ib = 0;
  std::vector<uint8_t> q;     // [N, K]
  std::vector<float> scales;  // [ob, ib]
  /// The format's definition: e4m3(q) * scale, one f32 multiply.
  float value(int64_t n, int64_t k) const {
    return fmt::e4m3ToF32(q[n * K + k]) * scales[(n / 128) * ib + k / 128];
  }
};

/// `rows` rows from row `firstRow` of t (all of a 2-D t by default: one
/// expert's module of an expert tensor is its rows).
FP8Tensors makeFP8(const TensorSpec &t, const Variant &v, uint64_t seed,
                   int64_t firstRow = 0, int64_t rows = -1) {
  FP8Tensors w;
  w.N = rows < 0 ? t.ne[1] : rows;
  w.K = t.ne[0];
  w.ob = (w.N + 127) / 128;
  w.ib = (w.K + 127) / 128;
  std::vector<float> all(w.N * w.K);
  forRowRanges(w.N, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n)
      drawTensorRow(t, v, seed, firstRow + n, all.data() + n * w.K);
  });
  w.scales.assign(w.ob * w.ib, 0.0f);
  for (int64_t n = 0; n < w.N; ++n)
    for (int64_t k = 0; k < w.K; ++k) {
      float &s = w.scales[(n / 128) * w.ib + k / 128];
      s = std::max(s, std::fabs(all[n * w.K + k]));
    }
  for (float &s : w.scales)
    s = s > 0 ? s / 448.0f : 1.0f;
  w.q.resize(w.N * w.K);
  forRowRanges(w.N, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n)
      for (int64_t k = 0; k < w.K; ++k)
        w.q[n * w.K + k] = fmt::f32ToE4M3(
            all[n * w.K + k] / w.scales[(n / 128) * w.ib + k / 128]);
  });
  return w;
}

/// The linears --hf-quant nvfp4 stores as NVFP4 (ModelOpt's nvfp4_mlp_only
/// preset: the MLP and the experts, per expert), when their rows are whole
/// ggml blocks of 64.
bool isNVFP4Linear(const TensorSpec &t) {
  if ((t.ne.size() != 2 && !isExpertTensor(t)) || t.ne[0] % 64 != 0)
    return false;
  for (const char *suffix :
       {".ffn_gate.weight", ".ffn_up.weight", ".ffn_down.weight",
        ".ffn_gate_exps.weight", ".ffn_up_exps.weight",
        ".ffn_down_exps.weight"})
    if (t.name.size() > strlen(suffix) &&
        t.name.compare(t.name.size() - strlen(suffix), strlen(suffix),
                       suffix) == 0)
      return true;
  return false;
}

/// The activation range ModelOpt would have calibrated: input_scale =
/// amax(x) / (6 * 448). gemmac's default numerics do not use it.
constexpr float kNVFP4InputScale = 16.0f / 2688.0f;

/// One linear quantized as ModelOpt NVFP4 (safetensors-formats.md 3.3):
/// weight_scale_2 = amax / (6 * 448); per 16 weights an E4M3 scale of
/// amax16 / (6 * weight_scale_2), clamped to [2^-9, 448] (1 for an all-zero
/// 16); each weight's E2M1 code rounded to nearest even, saturating at 6.
/// Kept one code per weight, so that the two layouts below are each made
/// from the definition, not one from the other.
struct NVFP4Tensors {
  int64_t N = 0, K = 0;
  float globalScale = 1.0f;     // weight_scale_2
  std::vector<uint8_t> codes;   // [N, K], bit 3 = sign
  std::vector<uint8_t> scales;  // [N, K/16], E4M3 bytes

  /// The format's definition: E2M1 * e4m3(scale) * weight_scale_2.
  float value(int64_t n, int64_t k) const {
    return fmt::e2m1ToF32(codes[n * K + k]) *
           fmt::e4m3ToF32(scales[n * (K / 16) + k / 16]) * globalScale;
  }
  /// ModelOpt's `weight` [N, K/2]: element 2c low, 2c+1 high in byte c.
  std::vector<uint8_t> modelOpt() const {
    std::vector<uint8_t> out(N * K / 2);
    for (int64_t i = 0; i < N * K / 2; ++i)
      out[i] = static_cast<uint8_t>(codes[2 * i] | (codes[2 * i + 1] << 4));
    return out;
  }
  /// ggml's NVFP4 rows (what llama.cpp's converter writes): per 64, the four
  /// scale bytes, then byte 8s+j = element 16s+j low, 16s+j+8 high.
  void ggmlRows(uint8_t *dst) const {
    for (int64_t n = 0; n < N; ++n)
      for (int64_t b = 0; b < K / 64; ++b) {
        fmt::BlockNVFP4 blk;
        for (int s = 0; s < 4; ++s) {
          blk.d[s] = scales[n * (K / 16) + 4 * b + s] & 0x7F;
          const uint8_t *c = codes.data() + n * K + 64 * b + 16 * s;
          for (int j = 0; j < 8; ++j)
            blk.qs[8 * s + j] = static_cast<uint8_t>(c[j] | (c[j + 8] << 4));
        }
        std::memcpy(dst, &blk, sizeof blk);
        dst += sizeof blk;
      }
  }
};

/// `rows` rows from row `firstRow` of t (all of a 2-D t by default: one
/// expert's module of an expert tensor is its rows).
NVFP4Tensors makeNVFP4(const TensorSpec &t, const Variant &v, uint64_t seed,
                       int64_t firstRow = 0, int64_t rows = -1) {
  NVFP4Tensors w;
  w.N = rows < 0 ? t.ne[1] : rows;
  w.K = t.ne[0];
  std::vector<float> all(w.N * w.K);
  forRowRanges(w.N, [&](int64_t n0, int64_t n1) {
    for (int64_t n = n0; n < n1; ++n)
      drawTensorRow(t, v, seed, firstRow + n, all.data() + n * w.K);
  });
  float amax = 0;
  for (float x : all)
    amax = std::max(amax, std::fabs(x));
  w.globalScale = amax > 0 ? amax / 2688.0f : 1.0f;
  w.codes.resize(w.N * w.K);
  w.scales.resize(w.N * w.K / 16);
  const int64_t perRow = w.K / 16;
  forRowRanges(w.N, [&](int64_t n0, int64_t n1) {
    for (int64_t i = n0 * perRow; i < n1 * perRow; ++i) {
      const float *x = all.data() + 16 * i;
      float a16 = 0;
      for (int j = 0; j < 16; ++j)
        a16 = std::max(a16, std::fabs(x[j]));
      const float s = a16 > 0 ? std::clamp(a16 / (6.0f * w.globalScale),
                                           0x1p-9f, 448.0f)
                              : 1.0f;
      w.scales[i] = fmt::f32ToE4M3(s);
      const float step = fmt::e4m3ToF32(w.scales[i]) * w.globalScale;
      for (int j = 0; j < 16; ++j)
        w.codes[16 * i + j] = fmt::f32ToE2M1(x[j] / step);
    }
  });
  return w;
}

/// The twin's tensor `i` of NVFP4 expert tensor `specs[w]` (each expert's
/// rows quantized as its own module): the weight itself (ggml NVFP4, or F32
/// values), its '.input_scale' [experts] or its '.scale' [experts]: each
/// expert's weight_scale_2, times per_expert_scale (`specs[i]`'s own
/// values, rounded through the checkpoint's type) for the down projection,
/// in f32 as llama.cpp's converter folds it.
void fillNVFP4Experts(const std::vector<TensorSpec> &specs, size_t w, size_t i,
                      const Variant &v, uint64_t seed, bool twinF32,
                      uint8_t *dst) {
  const TensorSpec &t = specs[w];
  const int64_t E = t.ne[2], R = t.ne[1], K = t.ne[0];
  if (i == w) {
    const size_t rb = fmt::rowBytes(specs[i].type, K);
    for (int64_t e = 0; e < E; ++e) {
      NVFP4Tensors x = makeNVFP4(t, v, seed, e * R, R);
      uint8_t *out = dst + e * R * rb;
      if (!twinF32) {
        x.ggmlRows(out);
        continue;
      }
      for (int64_t n = 0; n < R; ++n)
        for (int64_t k = 0; k < K; ++k)
          reinterpret_cast<float *>(out)[n * K + k] = x.value(n, k);
    }
    return;
  }
  std::vector<float> values(E, kNVFP4InputScale);
  if (specs[i].name.ends_with(".scale")) {
    std::vector<float> perExpert(E, 1.0f);
    if (specs[i].init != Init::OutputScale) { // per_expert_scale's own values
      drawTensorRow(specs[i], v, seed, 0, perExpert.data());
      roundThrough(gRoundThrough, perExpert.data(), E);
    }
    for (int64_t e = 0; e < E; ++e)
      values[e] = makeNVFP4(t, v, seed, e * R, R).globalScale * perExpert[e];
  }
  std::memcpy(dst, values.data(), E * sizeof(float));
}

/// One linear as GPTQ tensors (auto-round's auto_gptq layout, v1 zero
/// points), quantized from the generator's float rows.
struct GPTQTensors {
  int64_t N = 0, K = 0, G = 0;
  std::vector<int32_t> qweight; // [K/8, N]
  std::vector<int32_t> qzeros;  // [G, N/8], nibble = zero - 1
  std::vector<uint16_t> scales; // [G, N] fp16
  std::vector<int32_t> gIdx;    // [K]

  int q(int64_t n, int64_t k) const {
    return (static_cast<uint32_t>(qweight[(k / 8) * N + n]) >> (4 * (k % 8))) &
           0xF;
  }
  int zero(int64_t g, int64_t n) const {
    return ((static_cast<uint32_t>(qzeros[g * (N / 8) + n / 8]) >>
             (4 * (n % 8))) & 0xF) + 1;
  }
  float scale(int64_t g, int64_t n) const {
    return static_cast<float>(std::bit_cast<_Float16>(scales[g * N + n]));
  }
  /// The format's definition: scale * (q - z).
  float value(int64_t n, int64_t k) const {
    int64_t g = gIdx[k];
    return scale(g, n) * static_cast<float>(q(n, k) - zero(g, n));
  }
};

/// `rows` rows from row `firstRow` of t (all of a 2-D t by default: an
/// expert tensor's module is some rows of one expert).
GPTQTensors makeGPTQ(const TensorSpec &t, const Variant &v, uint64_t seed,
                     const HFQuantOptions &o, int64_t firstRow = 0,
                     int64_t rows = -1) {
  GPTQTensors w;
  w.N = rows < 0 ? t.ne[1] : rows;
  w.K = t.ne[0];
  w.G = (w.K + o.group - 1) / o.group;
  w.gIdx.resize(w.K);
  if (o.mode == HFQuant::GPTQDesc) {
    // desc_act: groups follow a permutation of the columns.
    std::vector<int64_t> perm(w.K);
    for (int64_t k = 0; k < w.K; ++k)
      perm[k] = k;
    uint64_t rng = hashName(t.name, seed) ^ 0xD35CAC7ull;
    for (int64_t k = w.K - 1; k > 0; --k)
      std::swap(perm[k], perm[splitmix(rng) % (k + 1)]);
    for (int64_t i = 0; i < w.K; ++i)
      w.gIdx[perm[i]] = static_cast<int32_t>(i / o.group);
  } else {
    for (int64_t k = 0; k < w.K; ++k)
      w.gIdx[k] = static_cast<int32_t>(k / o.group);
  }
  w.qweight.assign(w.K / 8 * w.N, 0);
  w.qzeros.assign(w.G * (w.N / 8), 0);
  w.scales.assign(w.G * w.N, 0);
  // Rows in parallel, in ranges of whole 8-row packs (a qzeros word holds
  // eight rows).
  auto quantizeRows = [&](int64_t n0, int64_t n1) {
    std::vector<float> row(w.K);
    for (int64_t n = n0; n < n1; ++n) {
      drawTensorRow(t, v, seed, firstRow + n, row.data());
      for (int64_t g = 0; g < w.G; ++g) {
        float lo = 0, hi = 0, peak = 0;
        for (int64_t k = 0; k < w.K; ++k)
          if (w.gIdx[k] == g) {
            lo = std::min(lo, row[k]);
            hi = std::max(hi, row[k]);
            if (std::fabs(row[k]) > std::fabs(peak))
              peak = row[k];
          }
        float s;
        int zero;
        if (o.mode == HFQuant::GPTQAsym) {
          s = (hi - lo) / 15;
          if (s == 0)
            s = 1e-3f;
          s = static_cast<float>(static_cast<_Float16>(s));
          zero = std::clamp(static_cast<int>(std::lround(-lo / s)), 1, 15);
        } else {
          // Symmetric: the larger-magnitude side maps to -8, so the scale's
          // sign follows it (auto-round's quant_tensor_sym).
          s = peak == 0 ? 1e-3f : peak / -8.0f;
          s = static_cast<float>(static_cast<_Float16>(s));
          zero = 8;
        }
        w.scales[g * w.N + n] = std::bit_cast<uint16_t>(static_cast<_Float16>(s));
        w.qzeros[g * (w.N / 8) + n / 8] |= (zero - 1) << (4 * (n % 8));
        for (int64_t k = 0; k < w.K; ++k)
          if (w.gIdx[k] == g) {
            int q = std::clamp(static_cast<int>(std::lround(row[k] / s)) + zero,
                               0, 15);
            w.qweight[(k / 8) * w.N + n] |= q << (4 * (k % 8));
          }
      }
    }
  };
  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  const int64_t packs = w.N / 8;
  std::vector<std::thread> pool;
  for (unsigned i = 0; i < threads; ++i)
    pool.emplace_back(quantizeRows, packs * i / threads * 8,
                      packs * (i + 1) / threads * 8);
  for (std::thread &th : pool)
    th.join();
  return w;
}

/// The GGUF twin's type for a GPTQ linear: what holds its values exactly
/// (as llama.cpp's converter could write them): Q4_0 for symmetric groups of
/// whole 32-blocks, Q8_0 for asymmetric ones, F32 otherwise.
Type gptqTwinType(const HFQuantOptions &o, int64_t K) {
  if (o.twinF32 || o.mode == HFQuant::GPTQDesc || o.group % 32 != 0 ||
      K % 32 != 0)
    return Type::F32;
  return o.mode == HFQuant::GPTQAsym ? Type::Q8_0 : Type::Q4_0;
}

/// The twin's bytes of a GPTQ linear in `type`.
void fillGPTQTwin(const GPTQTensors &w, Type type, uint8_t *dst) {
  for (int64_t n = 0; n < w.N; ++n) {
    if (type == Type::F32) {
      float *out = reinterpret_cast<float *>(dst) + n * w.K;
      for (int64_t k = 0; k < w.K; ++k)
        out[k] = w.value(n, k);
      continue;
    }
    for (int64_t b = 0; b < w.K / 32; ++b) {
      const int64_t g = w.gIdx[32 * b];
      const uint16_t d = w.scales[g * w.N + n];
      if (type == Type::Q8_0) {
        auto *block = reinterpret_cast<fmt::BlockQ8_0 *>(dst) + n * (w.K / 32) + b;
        block->d = d;
        for (int j = 0; j < 32; ++j)
          block->qs[j] = static_cast<int8_t>(w.q(n, 32 * b + j) - w.zero(g, n));
      } else {
        auto *block = reinterpret_cast<fmt::BlockQ4_0 *>(dst) + n * (w.K / 32) + b;
        block->d = d;
        for (int j = 0; j < 16; ++j)
          block->qs[j] = static_cast<uint8_t>(w.q(n, 32 * b + j) |
                                              (w.q(n, 32 * b + j + 16) << 4));
      }
    }
  }
}

/// --hf: the 12B-like variants are "unified" models, the others gemma4.
bool isUnified(const Variant &v) { return v.pleDim == 0 && !v.experts; }

/// Tokens a 12B's generation_config suppresses (there <|image|> and
/// <|audio|>; the same tokens of the generated vocabulary here).
std::vector<int32_t> hfSuppressTokens(const Variant &v) {
  if (!isUnified(v))
    return {};
  return {17, 18};
}

/// The metadata of a file of variant `v` in type `ft`: the configuration
/// llama.cpp and gemmac read, the tokenizer and the chat template.
/// --hf's generation_config.json sampling defaults (the Gemma 4 releases').
constexpr int32_t kGenerationTopK = 64;
constexpr float kGenerationTopP = 0.95f;
constexpr float kGenerationTemperature = 1.0f;

void addModelMetadata(gguf::GGUFWriter &w, const Variant &v,
                      const FileType &ft, const std::string &chatTemplate,
                      bool hfTwin) {
  const int64_t L = v.layers;
  // A drafter's keys are those of a Gemma 4 model under its own
  // architecture name (llama.cpp's converter reuses Gemma4Model's).
  const std::string arch = v.backbone ? "gemma4-assistant" : "gemma4";
  auto key = [&](const char *name) { return arch + "." + name; };
  w.addString("general.architecture", arch);
  w.addString("general.name", std::string("gemmac random ") + v.name);
  w.addU32("general.file_type", ft.llamaFtype);
  w.addU32("general.quantization_version", 2);
  w.addU32(key("context_length"), static_cast<uint32_t>(v.context));
  w.addU32(key("embedding_length"), static_cast<uint32_t>(v.hidden));
  w.addU32(key("block_count"), static_cast<uint32_t>(L));
  const int64_t firstShared = L - v.sharedKV;
  std::vector<int32_t> ffn(L), kv(L);
  std::vector<bool> pattern(L);
  for (int64_t l = 0; l < L; ++l) {
    bool global = v.isGlobal(l);
    pattern[l] = !global;
    ffn[l] = static_cast<int32_t>(
        (v.doubleWide && l >= firstShared) ? 2 * v.ffn : v.ffn);
    kv[l] = static_cast<int32_t>(global ? v.kvGlobal : v.kvLocal);
  }
  if (v.doubleWide)
    w.addArrayI32(key("feed_forward_length"), ffn);
  else
    w.addU32(key("feed_forward_length"), static_cast<uint32_t>(v.ffn));
  w.addU32(key("attention.head_count"), static_cast<uint32_t>(v.heads));
  if (v.kvGlobal != v.kvLocal)
    w.addArrayI32(key("attention.head_count_kv"), kv);
  else
    w.addU32(key("attention.head_count_kv"),
             static_cast<uint32_t>(v.kvLocal));
  w.addU32(key("attention.key_length"), static_cast<uint32_t>(v.hdGlobal));
  w.addU32(key("attention.value_length"), static_cast<uint32_t>(v.hdGlobal));
  w.addU32(key("attention.key_length_swa"), static_cast<uint32_t>(v.hdLocal));
  w.addU32(key("attention.value_length_swa"),
           static_cast<uint32_t>(v.hdLocal));
  w.addU32(key("attention.sliding_window"), static_cast<uint32_t>(v.window));
  w.addArrayBool(key("attention.sliding_window_pattern"), pattern);
  w.addF32(key("attention.layer_norm_rms_epsilon"), 1e-6f);
  w.addF32(key("rope.freq_base"), 1e6f);
  w.addF32(key("rope.freq_base_swa"), 1e4f);
  w.addU32(key("rope.dimension_count"), static_cast<uint32_t>(v.hdGlobal));
  w.addU32(key("rope.dimension_count_swa"), static_cast<uint32_t>(v.hdLocal));
  w.addU32(key("attention.shared_kv_layers"),
           static_cast<uint32_t>(v.sharedKV));
  w.addU32(key("embedding_length_per_layer_input"),
           static_cast<uint32_t>(v.pleDim));
  if (v.backbone) {
    w.addU32(key("embedding_length_out"), static_cast<uint32_t>(v.backbone));
    w.addU32(key("nextn_predict_layers"), static_cast<uint32_t>(L));
  } else {
    w.addF32(key("final_logit_softcapping"), 30.0f);
  }
  if (v.experts) {
    w.addU32(key("expert_count"), static_cast<uint32_t>(v.experts));
    w.addU32(key("expert_used_count"), static_cast<uint32_t>(v.expertsUsed));
    w.addU32(key("expert_feed_forward_length"),
             static_cast<uint32_t>(v.expertFFN));
  }

  gen::Vocab vocab = gen::buildVocab(v.vocab);
  if (hfTwin) {
    // What llama.cpp's converter writes from the tokenizer.json of --hf.
    vocab.types = gen::convertedTokenTypes(vocab);
    vocab.scores.assign(vocab.tokens.size(), -1000.0f);
    if (!hfSuppressTokens(v).empty())
      w.addArrayI32("tokenizer.ggml.suppress_tokens", hfSuppressTokens(v));
    // gguf-py's Metadata copies generation_config.json's sampling keys.
    w.addI32("general.sampling.top_k", kGenerationTopK);
    w.addF32("general.sampling.top_p", kGenerationTopP);
    w.addF32("general.sampling.temp", kGenerationTemperature);
  }
  w.addString("tokenizer.ggml.model", "gemma4");
  w.addArrayString("tokenizer.ggml.tokens", vocab.tokens);
  w.addArrayF32("tokenizer.ggml.scores", vocab.scores);
  w.addArrayI32("tokenizer.ggml.token_type", vocab.types);
  w.addArrayString("tokenizer.ggml.merges", vocab.merges);
  w.addU32("tokenizer.ggml.bos_token_id", vocab.bos);
  w.addU32("tokenizer.ggml.eos_token_id", vocab.eos);
  w.addU32("tokenizer.ggml.eot_token_id", static_cast<uint32_t>(vocab.eot));
  w.addU32("tokenizer.ggml.unknown_token_id", vocab.unk);
  w.addU32("tokenizer.ggml.padding_token_id", vocab.pad);
  w.addBool("tokenizer.ggml.add_bos_token", true);
  w.addBool("tokenizer.ggml.add_space_prefix", false);
  w.addString("tokenizer.chat_template", chatTemplate);
}

/// The Hugging Face name of a generated tensor (transformers' module names,
/// under `root`); "" for rope_freqs, which HF checkpoints do not store.
std::string hfTensorName(const std::string &gguf, const std::string &root) {
  static const std::map<std::string, std::string> kModel = {
      {"token_embd.weight", "embed_tokens.weight"},
      {"per_layer_token_embd.weight", "embed_tokens_per_layer.weight"},
      {"per_layer_model_proj.weight", "per_layer_model_projection.weight"},
      {"per_layer_proj_norm.weight", "per_layer_projection_norm.weight"},
      {"output_norm.weight", "norm.weight"},
  };
  static const std::map<std::string, std::string> kLayer = {
      {"attn_norm.weight", "input_layernorm.weight"},
      {"attn_q.weight", "self_attn.q_proj.weight"},
      {"attn_k.weight", "self_attn.k_proj.weight"},
      {"attn_v.weight", "self_attn.v_proj.weight"},
      {"attn_output.weight", "self_attn.o_proj.weight"},
      {"attn_q_norm.weight", "self_attn.q_norm.weight"},
      {"attn_k_norm.weight", "self_attn.k_norm.weight"},
      {"post_attention_norm.weight", "post_attention_layernorm.weight"},
      {"ffn_norm.weight", "pre_feedforward_layernorm.weight"},
      {"ffn_gate.weight", "mlp.gate_proj.weight"},
      {"ffn_up.weight", "mlp.up_proj.weight"},
      {"ffn_down.weight", "mlp.down_proj.weight"},
      {"post_ffw_norm.weight", "post_feedforward_layernorm.weight"},
      {"inp_gate.weight", "per_layer_input_gate.weight"},
      {"proj.weight", "per_layer_projection.weight"},
      {"post_norm.weight", "post_per_layer_input_norm.weight"},
      {"layer_output_scale.weight", "layer_scalar"},
      {"ffn_gate_inp.weight", "router.proj.weight"},
      {"ffn_gate_inp.scale", "router.scale"},
      {"ffn_down_exps.scale", "router.per_expert_scale"},
      {"ffn_gate_up_exps.weight", "experts.gate_up_proj"},
      // Split experts exist in HF only per expert (experts.{e}.gate_proj).
      {"ffn_gate_exps.weight", "experts.gate_proj"},
      {"ffn_up_exps.weight", "experts.up_proj"},
      {"ffn_down_exps.weight", "experts.down_proj"},
      {"pre_ffw_norm_2.weight", "pre_feedforward_layernorm_2.weight"},
      {"post_ffw_norm_1.weight", "post_feedforward_layernorm_1.weight"},
      {"post_ffw_norm_2.weight", "post_feedforward_layernorm_2.weight"},
  };
  if (auto it = kModel.find(gguf); it != kModel.end())
    return root + it->second;
  // A drafter's projections live at the checkpoint's root.
  if (gguf == "nextn.pre_projection.weight" ||
      gguf == "nextn.post_projection.weight")
    return gguf.substr(strlen("nextn."));
  if (gguf.rfind("blk.", 0) != 0)
    return "";
  size_t dot = gguf.find('.', 4);
  auto it = kLayer.find(gguf.substr(dot + 1));
  if (it == kLayer.end())
    return "";
  return root + "layers." + gguf.substr(4, dot - 4) + "." + it->second;
}

/// --hf DIR: the same model as a Hugging Face checkpoint: config.json,
/// generation_config.json, two safetensors shards and their index, the
/// tokenizer files. Every tensor is stored in `ft`'s float type.
int writeHF(const std::string &dir, const std::vector<TensorSpec> &specs,
            const Variant &v, const FileType &ft, uint64_t seed,
            const std::string &chatTemplate, const HFQuantOptions &quant) {
  if (std::error_code ec = llvm::sys::fs::create_directories(dir)) {
    std::fprintf(stderr, "gemmac-gen-model: %s: %s\n", dir.c_str(),
                 ec.message().c_str());
    return 1;
  }
  const char *dtype = ft.base == Type::BF16 ? "BF16"
                      : ft.base == Type::F16 ? "F16" : "F32";
  // Gemma4AssistantForCausalLM keeps its text model under "model.".
  const std::string root = v.backbone ? "model." : "model.language_model.";
  std::vector<gen::HFTensor> tensors;
  auto floats = [&](const TensorSpec &t) {
    gen::HFTensor h;
    h.name = hfTensorName(t.name, root);
    h.dtype = dtype;
    for (auto it = t.ne.rbegin(); it != t.ne.rend(); ++it)
      h.shape.push_back(*it);
    int64_t n = 1;
    for (int64_t d : t.ne)
      n *= d;
    h.bytes = fmt::rowBytes(ft.base, n);
    h.fill = [&, t, n](uint8_t *dst) {
      const size_t rb = fmt::rowBytes(ft.base, t.ne[0]);
      std::vector<float> row(t.ne[0]);
      int64_t rows = n / t.ne[0];
      for (int64_t r = 0; r < rows; ++r) {
        drawTensorRow(t, v, seed, r, row.data());
        fmt::quantizeRow(ft.base, row.data(), dst + r * rb, t.ne[0]);
      }
    };
    return h;
  };
  auto i32 = [](const std::string &name, std::vector<int64_t> shape,
                std::function<std::vector<int32_t>()> make) {
    gen::HFTensor h{name, "I32", shape, 4, nullptr};
    for (int64_t d : shape)
      h.bytes *= d;
    h.fill = [make](uint8_t *dst) {
      std::vector<int32_t> v = make();
      std::memcpy(dst, v.data(), v.size() * 4);
    };
    return h;
  };
  // qweight, qzeros, scales, g_idx of `module`: rows [first, first + N) of
  // t (N = 0: all of a 2-D t).
  auto gptqModule = [&](const std::string &module, const TensorSpec &t,
                        int64_t first, int64_t rows) {
    const int64_t N = rows ? rows : t.ne[1], K = t.ne[0],
                  G = (K + quant.group - 1) / quant.group;
    // The four tensors are written one after the other: quantize once.
    auto cache = std::make_shared<std::optional<GPTQTensors>>();
    auto make = [&, t, cache, first, N]() -> const GPTQTensors & {
      if (!*cache)
        *cache = makeGPTQ(t, v, seed, quant, first, N);
      return **cache;
    };
    tensors.push_back(i32(module + ".qweight", {K / 8, N},
                          [make] { return make().qweight; }));
    tensors.push_back(i32(module + ".qzeros", {G, N / 8},
                          [make] { return make().qzeros; }));
    gen::HFTensor sc{module + ".scales", "F16", {G, N},
                     static_cast<uint64_t>(G * N * 2), nullptr};
    sc.fill = [make](uint8_t *dst) {
      std::vector<uint16_t> v = make().scales;
      std::memcpy(dst, v.data(), v.size() * 2);
    };
    tensors.push_back(sc);
    tensors.push_back(i32(module + ".g_idx", {K}, [make, cache] {
      std::vector<int32_t> g = make().gIdx;
      cache->reset(); // the last of the four
      return g;
    }));
  };
  // `module` as ModelOpt FP8_PB_WO (weight, weight_scale): rows [first,
  // first + N) of t (N = 0: all of a 2-D t).
  auto fp8Module = [&](const std::string &module, const TensorSpec &t,
                       int64_t first, int64_t rows) {
    const int64_t N = rows ? rows : t.ne[1], K = t.ne[0];
    auto cache = std::make_shared<std::optional<FP8Tensors>>();
    auto make = [&, t, cache, first, N]() -> const FP8Tensors & {
      if (!*cache)
        *cache = makeFP8(t, v, seed, first, N);
      return **cache;
    };
    gen::HFTensor wq{module + ".weight", "F8_E4M3", {N, K},
                     static_cast<uint64_t>(N * K), nullptr};
    wq.fill = [make](uint8_t *dst) {
      std::memcpy(dst, make().q.data(), make().q.size());
    };
    tensors.push_back(wq);
    const int64_t ob = (N + 127) / 128, ib = (K + 127) / 128;
    gen::HFTensor ws{module + ".weight_scale", "F32", {ob, 1, ib, 1},
                     static_cast<uint64_t>(ob * ib * 4), nullptr};
    ws.fill = [make, cache](uint8_t *dst) {
      std::memcpy(dst, make().scales.data(), make().scales.size() * 4);
      cache->reset();
    };
    tensors.push_back(ws);
  };
  // `module` as ModelOpt NVFP4 (weight, weight_scale, weight_scale_2,
  // input_scale): rows [first, first + N) of t (N = 0: all of a 2-D t).
  auto nvfp4Module = [&](const std::string &module, const TensorSpec &t,
                         int64_t first, int64_t rows) {
    const int64_t N = rows ? rows : t.ne[1], K = t.ne[0];
    // The four tensors are written one after the other: quantize once.
    auto cache = std::make_shared<std::optional<NVFP4Tensors>>();
    auto make = [&, t, cache, first, N]() -> const NVFP4Tensors & {
      if (!*cache)
        *cache = makeNVFP4(t, v, seed, first, N);
      return **cache;
    };
    gen::HFTensor wq{module + ".weight", "U8", {N, K / 2},
                     static_cast<uint64_t>(N * K / 2), nullptr};
    wq.fill = [make](uint8_t *dst) {
      std::vector<uint8_t> packed = make().modelOpt();
      std::memcpy(dst, packed.data(), packed.size());
    };
    gen::HFTensor ws{module + ".weight_scale", "F8_E4M3", {N, K / 16},
                     static_cast<uint64_t>(N * K / 16), nullptr};
    ws.fill = [make](uint8_t *dst) {
      std::memcpy(dst, make().scales.data(), make().scales.size());
    };
    gen::HFTensor ws2{module + ".weight_scale_2", "F32", {}, 4, nullptr};
    ws2.fill = [make](uint8_t *dst) {
      std::memcpy(dst, &make().globalScale, 4);
    };
    gen::HFTensor is{module + ".input_scale", "F32", {}, 4, nullptr};
    is.fill = [cache](uint8_t *dst) {
      std::memcpy(dst, &kNVFP4InputScale, 4);
      cache->reset(); // the last of the four
    };
    for (gen::HFTensor *h : {&wq, &ws, &ws2, &is})
      tensors.push_back(*h);
  };
  for (const TensorSpec &t : specs) {
    std::string name = hfTensorName(t.name, root);
    if (name.empty())
      continue;
    if (std::vector<ExpertPart> parts = expertParts(t);
        quant.perExpert && !parts.empty()) {
      // experts.gate_up_proj -> experts.{e}.gate_proj, experts.{e}.up_proj.
      const std::string prefix = name.substr(0, name.rfind('.') + 1);
      const int64_t E = t.ne[2], R = t.ne[1], K = t.ne[0];
      for (int64_t e = 0; e < E; ++e)
        for (const ExpertPart &p : parts) {
          const std::string module =
              prefix + std::to_string(e) + "." + p.proj;
          const int64_t first = e * R + p.first;
          if (quant.mode == HFQuant::NVFP4 && isNVFP4Linear(t)) {
            nvfp4Module(module, t, first, p.rows);
            continue;
          }
          if (quant.mode == HFQuant::FP8 && isFP8Expert(t)) {
            fp8Module(module, t, first, p.rows);
            continue;
          }
          if (quant.mode != HFQuant::None && quant.mode != HFQuant::NVFP4 &&
              quant.mode != HFQuant::FP8) {
            gptqModule(module, t, first, p.rows);
            continue;
          }
          gen::HFTensor h{module + ".weight", dtype, {p.rows, K},
                          fmt::rowBytes(ft.base, p.rows * K), nullptr};
          h.fill = [&, t, first, rows = p.rows, K](uint8_t *dst) {
            const size_t rb = fmt::rowBytes(ft.base, K);
            std::vector<float> row(K);
            for (int64_t r = 0; r < rows; ++r) {
              drawTensorRow(t, v, seed, first + r, row.data());
              fmt::quantizeRow(ft.base, row.data(), dst + r * rb, K);
            }
          };
          tensors.push_back(h);
        }
      continue;
    }
    if (quant.mode == HFQuant::FP8 && isFP8Linear(t)) {
      fp8Module(name.substr(0, name.size() - strlen(".weight")), t, 0, 0);
      continue;
    }
    if (quant.mode == HFQuant::NVFP4 && isNVFP4Linear(t)) {
      nvfp4Module(name.substr(0, name.size() - strlen(".weight")), t, 0, 0);
      continue;
    }
    if (quant.mode == HFQuant::None || quant.mode == HFQuant::FP8 ||
        quant.mode == HFQuant::NVFP4 || !isQuantizedLinear(t)) {
      tensors.push_back(floats(t));
      continue;
    }
    // qweight, qzeros, scales, g_idx in place of the weight.
    gptqModule(name.substr(0, name.size() - strlen(".weight")), t, 0, 0);
  }
  if (v.centroids) {
    // The centroid head: a seeded permutation of the tokens cut into
    // clusters, each centroid the mean of its tokens' rows of the table
    // (so a cluster scores as its tokens do on average).
    const TensorSpec *table = nullptr;
    for (const TensorSpec &t : specs)
      if (t.name == "token_embd.weight")
        table = &t;
    const int64_t V = v.vocab, H = v.hidden, C = v.centroids;
    auto order = std::make_shared<std::vector<int64_t>>(V);
    for (int64_t i = 0; i < V; ++i)
      (*order)[i] = i;
    uint64_t rng = hashName("masked_embedding.token_ordering", seed);
    for (int64_t i = V - 1; i > 0; --i)
      std::swap((*order)[i], (*order)[splitmix(rng) % (i + 1)]);
    gen::HFTensor centroids{"masked_embedding.centroids.weight",
                            dtype,
                            {C, H},
                            fmt::rowBytes(ft.base, C * H),
                            nullptr};
    centroids.fill = [&, table, order, V, H, C](uint8_t *dst) {
      const int64_t per = V / C;
      std::vector<float> row(H), mean(H);
      for (int64_t c = 0; c < C; ++c) {
        std::fill(mean.begin(), mean.end(), 0.0f);
        for (int64_t j = 0; j < per; ++j) {
          drawTensorRow(*table, v, seed, (*order)[c * per + j], row.data());
          for (int64_t i = 0; i < H; ++i)
            mean[i] += row[i] / static_cast<float>(per);
        }
        fmt::quantizeRow(ft.base, mean.data(),
                         dst + c * fmt::rowBytes(ft.base, H), H);
      }
    };
    tensors.push_back(centroids);
    gen::HFTensor ordering{"masked_embedding.token_ordering",
                           "I64",
                           {V},
                           static_cast<uint64_t>(V * 8),
                           nullptr};
    ordering.fill = [order](uint8_t *dst) {
      std::memcpy(dst, order->data(), order->size() * 8);
    };
    tensors.push_back(ordering);
  }
  // FP8 KV-cache scales, under ModelOpt's names (llama.cpp's converter drops
  // them: the GGUF has none).
  if (quant.kScale > 0)
    for (int64_t l = 0; l < v.layers; ++l)
      for (int which = 0; which < 2; ++which) {
        const float s = (which ? quant.vScale : quant.kScale) *
                        (1.0f + static_cast<float>(l % 3) / 4.0f);
        gen::HFTensor t{root + "layers." + std::to_string(l) +
                            (which ? ".self_attn.v_proj.v_scale"
                                   : ".self_attn.k_proj.k_scale"),
                        "F32", {}, 4, nullptr};
        t.fill = [s](uint8_t *dst) { std::memcpy(dst, &s, 4); };
        tensors.push_back(t);
      }
  // What a text compiler must skip: a vision tower tensor, and on KV-shared
  // models the k_proj leftover of a shared layer (a drafter has neither).
  if (!v.backbone) {
    TensorSpec vision{"vision", {16, 8}, ft.base, Init::Linear};
    gen::HFTensor vt = floats(vision);
    vt.name = "model.vision_tower.encoder.patch_embedder.weight";
    tensors.push_back(vt);
    if (v.sharedKV > 0) {
      const int64_t l = v.layers - 1;
      TensorSpec leftover{"leftover", {v.hidden, v.kvLocal * v.hdLocal},
                          ft.base, Init::Linear};
      gen::HFTensor lt = floats(leftover);
      lt.name =
          root + "layers." + std::to_string(l) + ".self_attn.k_proj.weight";
      tensors.push_back(lt);
    }
  }
  if (std::string e = gen::writeSafetensors(dir, tensors, 2); !e.empty()) {
    std::fprintf(stderr, "gemmac-gen-model: %s\n", e.c_str());
    return 1;
  }

  const bool unified = v.backbone ? v.unifiedBackbone : isUnified(v);
  const int64_t L = v.layers;
  llvm::json::Array layerTypes;
  for (int64_t l = 0; l < L; ++l)
    layerTypes.push_back(v.isGlobal(l) ? "full_attention"
                                                 : "sliding_attention");
  llvm::json::Object text{
      {"model_type", unified ? "gemma4_unified_text" : "gemma4_text"},
      {"vocab_size", v.vocab},
      {"hidden_size", v.hidden},
      {"intermediate_size", v.ffn},
      {"num_hidden_layers", L},
      {"num_attention_heads", v.heads},
      {"num_key_value_heads", v.kvLocal},
      {"num_global_key_value_heads",
       v.kEqualsV ? llvm::json::Value(v.kvGlobal) : llvm::json::Value(nullptr)},
      {"head_dim", v.hdLocal},
      {"global_head_dim", v.hdGlobal},
      {"attention_k_eq_v", v.kEqualsV},
      {"num_kv_shared_layers", v.sharedKV},
      {"use_double_wide_mlp", v.doubleWide},
      {"sliding_window", v.window},
      {"max_position_embeddings", v.context},
      {"final_logit_softcapping",
       v.backbone ? llvm::json::Value(nullptr) : llvm::json::Value(30.0)},
      {"hidden_activation", "gelu_pytorch_tanh"},
      {"tie_word_embeddings", true},
  };
  // The E4B-like model leaves layer_types, rope_parameters and
  // rms_norm_eps to transformers' defaults (period 6, the Gemma 4 ropes,
  // 1e-6); the others spell them out.
  if (v.period != 6 || v.pleDim == 0 || L % v.period != 0) {
    text["layer_types"] = std::move(layerTypes);
    text["rms_norm_eps"] = 1e-6;
    text["rope_parameters"] = llvm::json::Object{
        {"sliding_attention",
         llvm::json::Object{{"rope_type", "default"}, {"rope_theta", 10000.0}}},
        {"full_attention",
         llvm::json::Object{{"rope_type", "proportional"},
                            {"partial_rotary_factor", 0.25},
                            {"rope_theta", 1000000.0}}}};
  }
  if (!unified) {
    text["hidden_size_per_layer_input"] = v.pleDim;
    text["vocab_size_per_layer_input"] = v.pleDim ? v.vocab : 0;
    text["enable_moe_block"] = v.experts > 0;
    if (v.experts) {
      text["num_experts"] = v.experts;
      text["top_k_experts"] = v.expertsUsed;
      text["moe_intermediate_size"] = v.expertFFN;
    }
  }
  llvm::json::Object config{
      {"architectures",
       llvm::json::Array{unified ? "Gemma4UnifiedForConditionalGeneration"
                                 : "Gemma4ForConditionalGeneration"}},
      {"model_type", unified ? "gemma4_unified" : "gemma4"},
      {"text_config", std::move(text)},
      {"vision_config", llvm::json::Object{{"model_type", "gemma4_vision"}}},
      {"tie_word_embeddings", true},
      {"dtype", ft.base == Type::BF16 ? "bfloat16"
                : ft.base == Type::F16 ? "float16" : "float32"},
  };
  if (v.backbone) {
    // transformers' Gemma4AssistantConfig (the 12B's assistant is the
    // "unified" class, the same fields).
    config.erase("vision_config");
    config["architectures"] = llvm::json::Array{
        unified ? "Gemma4UnifiedAssistantForCausalLM"
                : "Gemma4AssistantForCausalLM"};
    config["model_type"] =
        unified ? "gemma4_unified_assistant" : "gemma4_assistant";
    config["backbone_hidden_size"] = v.backbone;
    config["use_ordered_embeddings"] = v.centroids > 0;
    if (v.centroids) {
      config["num_centroids"] = v.centroids;
      config["centroid_intermediate_top_k"] = v.centroidTopK;
    }
  }
  if (quant.mode == HFQuant::FP8) {
    config["quantization_config"] = llvm::json::Object{
        {"quant_method", "modelopt"},
        {"quant_algo", "fp8_pb_wo"},
        {"ignore", llvm::json::Array{"lm_head", "*per_layer_model_projection*"}},
        {"producer", llvm::json::Object{{"name", "modelopt"}}}};
  } else if (quant.mode == HFQuant::NVFP4) {
    llvm::json::Object fp4{{"num_bits", 4}, {"type", "float"},
                           {"group_size", 16}, {"dynamic", false}};
    config["quantization_config"] = llvm::json::Object{
        {"quant_method", "modelopt"},
        {"quant_algo", "NVFP4"},
        {"config_groups",
         llvm::json::Object{
             {"group_0",
              llvm::json::Object{{"weights", llvm::json::Object(fp4)},
                                 {"input_activations", std::move(fp4)},
                                 {"targets", llvm::json::Array{"Linear"}}}}}},
        {"ignore", llvm::json::Array{"lm_head", "*self_attn*",
                                     "*per_layer*"}},
        {"kv_cache_scheme",
         llvm::json::Object{{"num_bits", 8}, {"type", "float"},
                            {"dynamic", false}}},
        {"producer", llvm::json::Object{{"name", "modelopt"}}}};
  } else if (quant.mode != HFQuant::None) {
    // auto-round's auto_gptq export (v1 zero points: no checkpoint_format).
    config["quantization_config"] = llvm::json::Object{
        {"quant_method", "gptq"},
        {"bits", 4},
        {"group_size", quant.group},
        {"sym", quant.mode != HFQuant::GPTQAsym},
        {"desc_act", quant.mode == HFQuant::GPTQDesc},
        {"true_sequential", false},
        {"damp_percent", 0.01}};
    config["dtype"] = "float16";
  }
  llvm::json::Object generation{{"bos_token_id", 2},
                                {"pad_token_id", 0},
                                {"eos_token_id", llvm::json::Array{1, 6}},
                                {"do_sample", true},
                                {"top_k", kGenerationTopK},
                                {"top_p", kGenerationTopP},
                                {"temperature", kGenerationTemperature}};
  if (!hfSuppressTokens(v).empty())
    generation["suppress_tokens"] = llvm::json::Array(hfSuppressTokens(v));
  for (auto &[name, value] :
       {std::pair<std::string, llvm::json::Value>{"config.json",
                                                  std::move(config)},
        {"generation_config.json", std::move(generation)}}) {
    std::error_code ec;
    llvm::raw_fd_ostream out(dir + "/" + name, ec);
    if (ec) {
      std::fprintf(stderr, "gemmac-gen-model: %s/%s: %s\n", dir.c_str(),
                   name.c_str(), ec.message().c_str());
      return 1;
    }
    out << llvm::formatv("{0:2}", value) << "\n";
  }
  if (std::string e = gen::writeTokenizerFiles(dir, gen::buildVocab(v.vocab),
                                               chatTemplate);
      !e.empty()) {
    std::fprintf(stderr, "gemmac-gen-model: %s\n", e.c_str());
    return 1;
  }
  return 0;
}

void usage() {
  std::printf(
      "usage: gemmac-gen-model --variant NAME [--for TARGET] --type TYPE "
      "[--seed N] "
      "[--layers N] [--window N] [--expert-ffn N] [--sparse] "
      "[--split-experts]\n"
      "       [--hf-per-expert]\n"
      "       [--srd DIR [--srd-baked TYPE]... [--srd-shard-bytes N]]\n"
      "       [--chat-template FILE] [--hf DIR [--hf-quant Q] [--gptq-group N] "
      "[--quant-twin native|f32|q8_0]\n"
      "                             [--kv-scales K,V]]\n"
      "       -o FILE\n"
      "Writes a random-weight Gemma 4 GGUF that llama.cpp and gemmac load.\n"
      "--chat-template embeds FILE as tokenizer.chat_template (default: a\n"
      "small Gemma-style template of gemmac's own).\n"
      "--hf DIR (types f32, f16, bf16) also writes the model as a Hugging\n"
      "Face checkpoint (config.json, two safetensors shards and their index,\n"
      "tokenizer files, generation_config.json); FILE is then the GGUF that\n"
      "llama.cpp's converter would make of it (norms rounded through the\n"
      "checkpoint's type, the converter's token types).\n"
      "--hf-quant gptq|gptq-asym|gptq-desc stores the MLP and attention "
      "output\n"
      "linears of the --hf checkpoint as 4-bit GPTQ tensors (auto-round's\n"
      "auto_gptq layout; --gptq-group N, default 128); FILE holds their exact\n"
      "values (Q4_0 for gptq, Q8_0 for gptq-asym, F32 for gptq-desc; F32 for\n"
      "all with --quant-twin f32, what W4A16 numerics compute with).\n"
      "--hf-quant fp8 stores every decoder linear as FP8 E4M3 with 128x128\n"
      "block scales (ModelOpt FP8_PB_WO); FILE holds them dequantized (F32),\n"
      "or with --quant-twin q8_0 requantized as Q8_0 (a benchmark reference\n"
      "of the same shapes, not the same values).\n"
      "--hf-quant nvfp4 stores the MLP linears as ModelOpt NVFP4 (E2M1 codes,\n"
      "E4M3 scales per 16, weight_scale_2, input_scale); FILE holds them as\n"
      "llama.cpp's converter does (GGML NVFP4, '.scale', '.input_scale'),\n"
      "or with --quant-twin f32 as their F32 values.\n"
      "--kv-scales K,V writes ModelOpt's FP8 KV-cache scales into the --hf\n"
      "checkpoint (self_attn.k_proj.k_scale, v_proj.v_scale): layer l's are\n"
      "K and V times 1 + (l mod 3) / 4. FILE has none (llama.cpp's converter\n"
      "drops them).\n"
      "--expert-ffn N (MoE variants) sets the experts' width (the MLP width\n"
      "of each expert).\n"
      "--split-experts (MoE variants) writes the gate and up experts as two\n"
      "tensors (ffn_gate_exps, ffn_up_exps) instead of ffn_gate_up_exps.\n"
      "--hf-per-expert (MoE, with --hf) stores the experts as per-expert 2-D\n"
      "modules experts.{e}.{gate,up,down}_proj, as quantized exports do (GPTQ\n"
      "and NVFP4 MoE checkpoints always are; NVFP4 experts are NVFP4 where\n"
      "their width is whole blocks of 64, and FILE splits gate and up as\n"
      "llama.cpp's converter does, with per-expert '.scale' and\n"
      "'.input_scale', per_expert_scale folded into ffn_down_exps.scale;\n"
      "with --hf-quant fp8 the modules are FP8, otherwise fp8 leaves the\n"
      "experts in the float type).\n"
      "--sparse leaves every matrix as a hole of zeros (a sparse file: shapes\n"
      "and metadata for compile-time tests, no values).\n"
      "--srd DIR writes SRD corrections of every linear weight to DIR\n"
      "(model.srd4, model-srd4.axm(.d), model-realpack.axm(.d), model.qrc,\n"
      "signed with $AXIOM_MASTER_KEY or a fixed test key; public-key.hex)\n"
      "and DIR/baked-f32.gguf, the base file with W' in place of each\n"
      "corrected weight (--srd-baked TYPE: also baked-TYPE.gguf;\n"
      "--srd-shard-bytes: the sealed container's shard size).\n\n"
      "--variant assistant --for TARGET writes the gemma4-assistant (MTP\n"
      "drafter) of the TARGET variant: 4 query-only layers that read the\n"
      "target's KV cache, at another width, with the same tokenizer; with\n"
      "--hf DIR also as transformers' Gemma4AssistantForCausalLM checkpoint\n"
      "(Gemma4UnifiedAssistantForCausalLM for 12B-like targets);\n"
      "--centroid-head adds the E2B/E4B assistants' centroid head to that\n"
      "checkpoint (use_ordered_embeddings: 32 clusters, top 4; full-size\n"
      "2048, top 32).\n\n"
      "variants:\n");
  for (const Variant &v : kVariants)
    std::printf("  %-9s %s\n", v.name, v.description);
  std::printf("  %-9s %s\n", "assistant", "drafter of --for TARGET");
  std::printf("types:\n ");
  for (const FileType &f : kFileTypes)
    std::printf(" %s", f.name);
  std::printf("\n");
}

} // namespace

/// --layers: at least one; more than any Gemma 4 has is a typo.
constexpr uint64_t kMaxLayers = 256;

int main(int argc, char **argv) {
  std::string variantName, typeName, out, forName;
  uint64_t seed = 1;
  int64_t layers = 0;
  int64_t window = 0;
  int64_t expertFFN = 0;
  bool sparse = false;
  bool centroidHead = false;
  std::string srdDir, hfDir;
  HFQuantOptions hfQuant;
  std::vector<std::string> bakedTypes = {"f32"};
  uint64_t srdShardBytes = 0;
  std::string chatTemplate = gen::chatTemplate();
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "gemmac-gen-model: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    // An integer value: digits only, the whole string, within [lo, hi].
    auto number = [&](uint64_t lo, uint64_t hi) -> uint64_t {
      std::string v = next();
      char *end = nullptr;
      errno = 0;
      unsigned long long x = std::strtoull(v.c_str(), &end, 10);
      if (v.empty() || !std::isdigit(static_cast<unsigned char>(v[0])) || *end ||
          errno == ERANGE || x < lo || x > hi) {
        std::fprintf(stderr, "gemmac-gen-model: %s expects an integer between %llu and %llu, "
                     "got '%s'\n", a.c_str(), static_cast<unsigned long long>(lo),
                     static_cast<unsigned long long>(hi), v.c_str());
        std::exit(2);
      }
      return x;
    };
    if (a == "--variant")
      variantName = next();
    else if (a == "--for") // --variant assistant: the target variant
      forName = next();
    else if (a == "--type")
      typeName = next();
    else if (a == "--seed")
      seed = number(0, UINT64_MAX);
    else if (a == "--split-experts")
      gSplitExperts = true;
    else if (a == "--centroid-head")
      centroidHead = true;
    else if (a == "--hf-per-expert")
      hfQuant.perExpert = true;
    else if (a == "--sparse")
      sparse = true;
    else if (a == "--layers")
      layers = static_cast<int64_t>(number(1, kMaxLayers));
    else if (a == "--window") // the sliding window, up to the context
      window = static_cast<int64_t>(number(1, 1 << 20));
    else if (a == "--expert-ffn") // a MoE variant's expert width
      expertFFN = static_cast<int64_t>(number(1, 1 << 16));
    else if (a == "-o")
      out = next();
    else if (a == "--srd")
      srdDir = next();
    else if (a == "--hf")
      hfDir = next();
    else if (a == "--hf-quant") {
      std::string m = next();
      if (m == "gptq")
        hfQuant.mode = HFQuant::GPTQ;
      else if (m == "gptq-asym")
        hfQuant.mode = HFQuant::GPTQAsym;
      else if (m == "gptq-desc")
        hfQuant.mode = HFQuant::GPTQDesc;
      else if (m == "fp8")
        hfQuant.mode = HFQuant::FP8;
      else if (m == "nvfp4")
        hfQuant.mode = HFQuant::NVFP4;
      else {
        std::fprintf(stderr, "gemmac-gen-model: --hf-quant must be gptq, "
                     "gptq-asym, gptq-desc, fp8 or nvfp4, got '%s'\n",
                     m.c_str());
        return 2;
      }
    } else if (a == "--quant-twin") {
      std::string t = next();
      if (t != "native" && t != "f32" && t != "q8_0") {
        std::fprintf(stderr, "gemmac-gen-model: --quant-twin must be native, "
                     "f32 or q8_0, got '%s'\n", t.c_str());
        return 2;
      }
      hfQuant.twinF32 = t == "f32";
      hfQuant.twinQ8 = t == "q8_0";
    } else if (a == "--kv-scales") {
      std::string t = next();
      char *end = nullptr;
      hfQuant.kScale = std::strtof(t.c_str(), &end);
      if (*end == ',')
        hfQuant.vScale = std::strtof(end + 1, &end);
      if (*end != 0 || !std::isfinite(hfQuant.kScale) ||
          !std::isfinite(hfQuant.vScale) || !(hfQuant.kScale > 0) ||
          !(hfQuant.vScale > 0)) {
        std::fprintf(stderr, "gemmac-gen-model: --kv-scales must be two "
                     "positive numbers K,V, got '%s'\n", t.c_str());
        return 2;
      }
    } else if (a == "--gptq-group")
      hfQuant.group = static_cast<int64_t>(number(8, 1 << 16));
    else if (a == "--srd-baked")
      bakedTypes.push_back(next());
    else if (a == "--chat-template") {
      std::string path = next();
      std::ifstream in(path, std::ios::binary);
      if (!in) {
        std::fprintf(stderr, "gemmac-gen-model: cannot read %s\n", path.c_str());
        return 2;
      }
      chatTemplate.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    } else if (a == "--srd-shard-bytes")
      srdShardBytes = number(1, UINT64_MAX);
    else if (a == "-h" || a == "--help") {
      usage();
      return 0;
    } else {
      std::fprintf(stderr, "gemmac-gen-model: unknown argument '%s'\n",
                   a.c_str());
      return 2;
    }
  }
  auto names = [](const auto &table) {
    std::string s;
    for (const auto &x : table)
      s += std::string(s.empty() ? "" : ", ") + x.name;
    return s;
  };
  const Variant *v = nullptr;
  const bool assistant = variantName == "assistant";
  for (const Variant &x : kVariants)
    if ((assistant ? forName : variantName) == x.name)
      v = &x;
  if (assistant && !v) {
    std::fprintf(stderr, "gemmac-gen-model: --variant assistant needs --for "
                 "TARGET, one of: %s; got '%s'\n", names(kVariants).c_str(),
                 forName.c_str());
    return 2;
  }
  if (!assistant && !forName.empty()) {
    std::fprintf(stderr, "gemmac-gen-model: --for goes with --variant "
                 "assistant\n");
    return 2;
  }
  const FileType *ft = nullptr;
  for (const FileType &x : kFileTypes)
    if (typeName == x.name)
      ft = &x;
  if (!v || !ft || out.empty()) {
    if (!v)
      std::fprintf(stderr, "gemmac-gen-model: %s variant%s%s%s (one of: %s)\n",
                   variantName.empty() ? "missing --variant" : "unknown",
                   variantName.empty() ? "" : " '", variantName.c_str(),
                   variantName.empty() ? "" : "'", names(kVariants).c_str());
    if (!ft)
      std::fprintf(stderr, "gemmac-gen-model: %s type%s%s%s (one of: %s)\n",
                   typeName.empty() ? "missing --type" : "unknown",
                   typeName.empty() ? "" : " '", typeName.c_str(),
                   typeName.empty() ? "" : "'", names(kFileTypes).c_str());
    if (out.empty())
      std::fprintf(stderr, "gemmac-gen-model: missing -o FILE\n");
    std::fprintf(stderr, "(see gemmac-gen-model --help)\n");
    return 2;
  }
  Variant custom = *v;
  if (window > 0) {
    if (window > custom.context) {
      std::fprintf(stderr, "gemmac-gen-model: --window %lld is larger than the "
                   "%s context of %lld tokens\n", static_cast<long long>(window),
                   variantName.c_str(), static_cast<long long>(custom.context));
      return 2;
    }
    custom.window = window;
    v = &custom;
  }
  if (expertFFN > 0) {
    if (!custom.experts) {
      std::fprintf(stderr, "gemmac-gen-model: --expert-ffn needs a MoE "
                   "variant, not %s\n", variantName.c_str());
      return 2;
    }
    // The down experts' rows are expertFFN wide: whole 32-blocks, which
    // every quantized type (and llama-quant's fallbacks) needs.
    if (expertFFN % 32 != 0) {
      std::fprintf(stderr, "gemmac-gen-model: --expert-ffn %lld is not a "
                   "multiple of 32\n", static_cast<long long>(expertFFN));
      return 2;
    }
    custom.expertFFN = expertFFN;
    v = &custom;
  }
  if (assistant) {
    if (layers > 0 || expertFFN > 0 || !srdDir.empty() ||
        hfQuant.mode != HFQuant::None || hfQuant.kScale > 0) {
      std::fprintf(stderr, "gemmac-gen-model: --variant assistant goes with "
                   "none of --layers, --expert-ffn, --srd, --hf-quant, "
                   "--kv-scales\n");
      return 2;
    }
    custom = assistantFor(custom); // after --window: the pair's window
    if (centroidHead) {
      const bool fullSize = custom.vocab > 1024;
      custom.centroids = fullSize ? 2048 : 32;
      custom.centroidTopK = fullSize ? 32 : 4;
    }
    v = &custom;
  }
  if (centroidHead && (!assistant || hfDir.empty())) {
    std::fprintf(stderr,
                 "gemmac-gen-model: --centroid-head goes with "
                 "--variant assistant and --hf (llama.cpp's GGUF drops it)\n");
    return 2;
  }
  if (layers > 0) {
    // Fewer layers (debugging): keep the last sharedKV layers shared.
    custom.layers = layers;
    custom.sharedKV = std::min<int>(custom.sharedKV, std::max<int64_t>(0, layers - 2));
    v = &custom;
  }

  if (!hfDir.empty()) {
    if (ft->base != Type::F32 && ft->base != Type::F16 &&
        ft->base != Type::BF16) {
      std::fprintf(stderr, "gemmac-gen-model: --hf writes f32, f16 or bf16 "
                   "checkpoints, not %s\n", ft->name);
      return 2;
    }
    if (sparse || !srdDir.empty()) {
      std::fprintf(stderr, "gemmac-gen-model: --hf goes with neither --sparse "
                   "nor --srd\n");
      return 2;
    }
    gRoundThrough = ft->base;
    custom.lastGlobal = true;
    v = &custom;
  } else if (hfQuant.mode != HFQuant::None || hfQuant.kScale > 0 ||
             hfQuant.perExpert) {
    std::fprintf(stderr, "gemmac-gen-model: --hf-quant, --kv-scales and "
                 "--hf-per-expert need --hf DIR\n");
    return 2;
  }
  // Quantized MoE exports store the experts per expert (GPTQ, NVFP4; FP8
  // leaves them in the float type unless --hf-per-expert makes them FP8
  // modules). NVFP4 experts have a scale per
  // expert and projection, so llama.cpp's converter writes gate and up
  // apart: the twin's experts are split.
  if (hfQuant.mode == HFQuant::GPTQ || hfQuant.mode == HFQuant::GPTQAsym ||
      hfQuant.mode == HFQuant::GPTQDesc || hfQuant.mode == HFQuant::NVFP4)
    hfQuant.perExpert = v->experts > 0;
  if (hfQuant.mode == HFQuant::NVFP4 && v->experts)
    gSplitExperts = true;
  if (hfQuant.perExpert && !v->experts) {
    std::fprintf(stderr, "gemmac-gen-model: --hf-per-expert needs a MoE "
                 "variant\n");
    return 2;
  }
  if (!hfDir.empty() && gSplitExperts && !hfQuant.perExpert) {
    std::fprintf(stderr, "gemmac-gen-model: HF checkpoints store split "
                 "experts only per expert (--hf-per-expert)\n");
    return 2;
  }
  if (hfQuant.twinQ8 && hfQuant.mode != HFQuant::FP8) {
    std::fprintf(stderr, "gemmac-gen-model: --quant-twin q8_0 goes with "
                 "--hf-quant fp8\n");
    return 2;
  }
  // With fewer layers (or the last one made global), a shared layer must
  // still find an earlier owner of its kind: share only as many as that
  // allows.
  if (v == &custom && !custom.backbone)
    while (custom.sharedKV > 0) {
      const int64_t first = custom.layers - custom.sharedKV;
      bool owners = true;
      for (int64_t l = first; l < custom.layers && owners; ++l) {
        owners = false;
        for (int64_t j = 0; j < first; ++j)
          owners |= custom.isGlobal(j) == custom.isGlobal(l);
      }
      if (owners)
        break;
      --custom.sharedKV;
    }

  // The metadata and tensor table of a file with these tensors.
  auto writeGGUF = [&](const std::string &path,
                       const std::vector<TensorSpec> &specs,
                       const gguf::GGUFWriter::Fill &fill) {
    gguf::GGUFWriter w;
    addModelMetadata(w, *v, *ft, chatTemplate, !hfDir.empty());
    for (const TensorSpec &t : specs)
      w.addTensor(t.name, static_cast<uint32_t>(t.type), t.ne);
    return w.write(path, fill, [&](size_t i) {
      return sparse && specs[i].ne.size() > 1;
    });
  };
  std::vector<TensorSpec> specs = tensorList(*v, *ft);
  // --hf-quant: the twin holds each GPTQ linear's exact values.
  std::vector<bool> gptqTwin(specs.size(), false), fp8Twin(specs.size(), false);
  // NVFP4: each linear's ggml blocks, then its '.scale' and '.input_scale'
  // (F32 [1], an expert tensor's [experts]) as the converter adds them; the
  // index of their linear. The down experts' '.scale' is the
  // per_expert_scale tensor, which the converter folds their
  // weight_scale_2 into.
  std::vector<int64_t> nvfp4Of;
  if (hfQuant.mode == HFQuant::NVFP4) {
    std::vector<TensorSpec> withScales;
    std::map<std::string, int64_t> downExperts; // scale name -> its linear
    for (const TensorSpec &t : specs) {
      withScales.push_back(t);
      nvfp4Of.push_back(-1);
      if (auto it = downExperts.find(t.name); it != downExperts.end()) {
        nvfp4Of.back() = it->second;
        continue;
      }
      if (!isNVFP4Linear(t))
        continue;
      const int64_t linear = static_cast<int64_t>(withScales.size()) - 1;
      withScales.back().type = hfQuant.twinF32 ? Type::F32 : Type::NVFP4;
      nvfp4Of.back() = linear;
      if (hfQuant.twinF32)
        continue; // the values themselves: no scales to multiply by
      const std::string base = t.name.substr(0, t.name.size() - strlen(".weight"));
      const bool expert = isExpertTensor(t);
      const bool down = expert && t.name.ends_with(".ffn_down_exps.weight");
      if (down)
        downExperts[base + ".scale"] = linear;
      for (const char *suffix : {".scale", ".input_scale"}) {
        if (down && std::strcmp(suffix, ".scale") == 0)
          continue;
        withScales.push_back({base + suffix, {expert ? t.ne[2] : 1}, Type::F32,
                              Init::OutputScale});
        nvfp4Of.push_back(linear);
      }
    }
    specs = std::move(withScales);
    gptqTwin.assign(specs.size(), false);
    fp8Twin.assign(specs.size(), false);
  }
  std::optional<NVFP4Tensors> lastNVFP4; // the linear its scales follow
  if (hfQuant.mode == HFQuant::FP8) {
    for (size_t i = 0; i < specs.size(); ++i)
      if (isFP8Linear(specs[i]) ||
          (hfQuant.perExpert && isFP8Expert(specs[i]))) {
        fp8Twin[i] = true;
        // The dequantized values (no ggml type holds FP8), or for a
        // full-size benchmark twin (F32 would be 48 GB at 12B) the nearest
        // 8-bit type llama.cpp has, requantized: not the same values.
        specs[i].type = hfQuant.twinQ8 ? Type::Q8_0 : Type::F32;
      }
  } else if (hfQuant.mode != HFQuant::None && hfQuant.mode != HFQuant::NVFP4) {
    for (size_t i = 0; i < specs.size(); ++i)
      if (isQuantizedLinear(specs[i])) {
        gptqTwin[i] = true;
        specs[i].type = gptqTwinType(hfQuant, specs[i].ne[0]);
      }
  }

  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  const bool tty = isatty(fileno(stderr));
  std::string err =
      writeGGUF(out, specs, [&](size_t i, uint8_t *dst) {
        if (tty)
          std::fprintf(stderr, "\r[%zu/%zu] %-40s", i + 1, specs.size(),
                       specs[i].name.c_str());
        if (!nvfp4Of.empty() && nvfp4Of[i] >= 0 &&
            isExpertTensor(specs[nvfp4Of[i]])) {
          fillNVFP4Experts(specs, static_cast<size_t>(nvfp4Of[i]), i, *v, seed,
                           hfQuant.twinF32, dst);
        } else if (!nvfp4Of.empty() && nvfp4Of[i] >= 0) {
          if (nvfp4Of[i] == static_cast<int64_t>(i)) {
            lastNVFP4 = makeNVFP4(specs[i], *v, seed);
            if (hfQuant.twinF32) {
              const NVFP4Tensors &w = *lastNVFP4;
              float *out = reinterpret_cast<float *>(dst);
              for (int64_t n = 0; n < w.N; ++n)
                for (int64_t k = 0; k < w.K; ++k)
                  out[n * w.K + k] = w.value(n, k);
            } else {
              lastNVFP4->ggmlRows(dst);
            }
          } else {
            const bool global = specs[i].name.ends_with(".scale");
            std::memcpy(dst, global ? &lastNVFP4->globalScale
                                    : &kNVFP4InputScale, 4);
          }
        } else if (fp8Twin[i]) {
          // Each FP8 module's values: the whole linear, or each expert's
          // per-expert modules in place.
          const TensorSpec &t = specs[i];
          const size_t rb = fmt::rowBytes(t.type, t.ne[0]);
          std::vector<ExpertPart> parts = {{"", 0, t.ne[1]}};
          if (t.ne.size() == 3)
            parts = expertParts(t);
          for (int64_t e = 0; e < (t.ne.size() == 3 ? t.ne[2] : 1); ++e)
            for (const ExpertPart &p : parts) {
              const int64_t first = e * t.ne[1] + p.first;
              FP8Tensors w = makeFP8(t, *v, seed, first, p.rows);
              forRowRanges(w.N, [&](int64_t n0, int64_t n1) {
                std::vector<float> row(w.K);
                for (int64_t n = n0; n < n1; ++n) {
                  for (int64_t k = 0; k < w.K; ++k)
                    row[k] = w.value(n, k);
                  fmt::quantizeRow(t.type, row.data(),
                                   dst + (first + n) * rb, w.K);
                }
              });
            }
        } else if (gptqTwin[i] && specs[i].ne.size() == 3) {
          // An expert tensor: each per-expert module's rows in place.
          const TensorSpec &t = specs[i];
          const size_t rb = fmt::rowBytes(t.type, t.ne[0]);
          for (int64_t e = 0; e < t.ne[2]; ++e)
            for (const ExpertPart &p : expertParts(t)) {
              const int64_t first = e * t.ne[1] + p.first;
              fillGPTQTwin(makeGPTQ(t, *v, seed, hfQuant, first, p.rows),
                           t.type, dst + first * rb);
            }
        } else if (gptqTwin[i])
          fillGPTQTwin(makeGPTQ(specs[i], *v, seed, hfQuant), specs[i].type,
                       dst);
        else
          fillTensor(specs[i], *v, seed, dst, threads);
      });
  if (tty)
    std::fprintf(stderr, "\n");
  if (!err.empty()) {
    std::fprintf(stderr, "gemmac-gen-model: %s\n", err.c_str());
    return 1;
  }
  if (!hfDir.empty())
    return writeHF(hfDir, specs, *v, *ft, seed, chatTemplate, hfQuant);
  if (!srdDir.empty())
    return writeSRD(srdDir, specs, *v, seed, bakedTypes, srdShardBytes,
                    writeGGUF);
  return 0;
}
