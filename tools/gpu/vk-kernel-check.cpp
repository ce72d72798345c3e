//===- vk-kernel-check.cpp - run compiled GPU kernels on a Vulkan device --===//
//
//   gemmac-vk-kernel-check --gguf MODEL.gguf --spirv KERNELS.spv [--device N]
//
// Runs the weight kernels that `compile-model MODEL.gguf --target vulkan
// --emit spirv` generated (linear_*, geglu_*, embed_*) on the model's own
// tensors and compares each output with a scalar reference: ggml's
// dequantization (formats/) and dot products in double; and the
// kernels without weights (rope_*, attention_*, rms_norm_*_unweighted_*,
// gelu_*, quantize_fp4_*) on random inputs against the CPU runtime's
// kernels, which follow llama.cpp's arithmetic (or the format's definition).
// Shapes and constants come from the kernel names.
// FP8 block kernels (linear_f8_b64_*, geglu_f8_b64_*: weights no GGUF
// holds) run on random blocks against the CPU kernels of that format.
// Exits 77 (CTest: skipped) when no Vulkan device can run the kernels.
//
//===----------------------------------------------------------------------===//

#include "abi/step.h"
#include "formats/formats.h"
#include "formats/repack.h"
#include "frontends/gguf/GGUFFile.h"
#include "runtime/gpu/gpu_backend.h"
#include "runtime/gpu/vulkan_device.h"
#include "runtime/kernels/gelu.h"
#include "runtime/kernels/kernels.h"
#include "runtime/src/rt.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <set>

using namespace gemmac;
namespace cl = llvm::cl;

static cl::opt<std::string> ggufPath("gguf", cl::desc("the model"),
                                     cl::Required);
static cl::opt<std::string> spirvPath("spirv", cl::desc("its SPIR-V kernels"),
                                      cl::Required);
static cl::opt<int> deviceIndex("device", cl::desc("Vulkan device"),
                                cl::init(0));

namespace {

constexpr int64_t kTokens = 6; // two groups of a quantized matvec, the second partial
constexpr int64_t kPos0 = 21; // past a 16-row ring: its rows have wrapped
constexpr int64_t kContext = 64;

/// The f32 whose bits a kernel name spells in hex.
float floatFromHex(llvm::StringRef hex) {
  uint32_t bits = 0;
  hex.getAsInteger(16, bits);
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

/// Splits "rope_h4_d64_t461c4000_f64_p32" after `prefix` into the fields
/// that follow each letter: {h:4, d:64, t:461c4000, ...}.
std::map<std::string, std::string> nameFields(llvm::StringRef name,
                                              llvm::StringRef prefix) {
  std::map<std::string, std::string> fields;
  llvm::SmallVector<llvm::StringRef> parts;
  name.drop_front(prefix.size()).split(parts, '_');
  for (llvm::StringRef p : parts) {
    size_t letters = p.find_first_of("0123456789");
    if (letters == llvm::StringRef::npos || letters == 0)
      fields[p.str()] = "";
    else
      fields[p.take_front(letters).str()] = p.drop_front(letters).str();
  }
  return fields;
}
long field(const std::map<std::string, std::string> &f, const char *key) {
  auto it = f.find(key);
  return it == f.end() ? -1 : std::stol(it->second);
}

using LinearFn = void (*)(gemmac_rt *, float *, const float *, int64_t,
                         const uint8_t *, int64_t, int64_t);
using GegluFn = void (*)(gemmac_rt *, float *, const float *, int64_t,
                        const uint8_t *, const uint8_t *, int64_t, int64_t);
// Every format's CPU kernels (abi/formats.def).
const std::map<std::string, LinearFn> cpuLinear = {
#define GEMMAC_FORMAT(E, name, id, elems, bytes, act, x8, tiny)               \
  {#name, gmk_linear_##name},
#include "abi/formats.def"
};
const std::map<std::string, GegluFn> cpuGeglu = {
#define GEMMAC_FORMAT(E, name, id, elems, bytes, act, x8, tiny)               \
  {#name, gmk_geglu_##name},
#include "abi/formats.def"
};

using ExpertLinearFn = void (*)(gemmac_rt *, float *, const float *, int64_t,
                               const uint8_t *, int64_t, int64_t,
                               const float *, int64_t, int64_t, int64_t,
                               int64_t);
using ExpertGegluFn = void (*)(gemmac_rt *, float *, const float *, int64_t,
                              const uint8_t *, const uint8_t *, int64_t,
                              int64_t, const float *, int64_t, int64_t,
                              int64_t, int64_t, int64_t);
// The expert products of every format, rows as stored and (q4_0, q4_k)
// interleaved by eight.
const std::map<std::string, ExpertLinearFn> cpuExpertLinear = {
#define GEMMAC_FORMAT(E, name, id, elems, bytes, act, x8, tiny)               \
  {#name, gmk_expert_linear_##name}, GEMMAC_X8_LINEAR_##x8(name)
#define GEMMAC_X8_LINEAR_0(name)
#define GEMMAC_X8_LINEAR_1(name) {#name "_x8", gmk_expert_linear_##name##_x8},
#include "abi/formats.def"
};
const std::map<std::string, ExpertGegluFn> cpuExpertGeglu = {
#define GEMMAC_FORMAT(E, name, id, elems, bytes, act, x8, tiny)               \
  {#name, gmk_expert_geglu_##name}, GEMMAC_X8_GEGLU_##x8(name)
#define GEMMAC_X8_GEGLU_0(name)
#define GEMMAC_X8_GEGLU_1(name) {#name "_x8", gmk_expert_geglu_##name##_x8},
#include "abi/formats.def"
};

struct Checker {
  vk::Device &dev;
  gemmac_rt rt{1};
  std::set<std::string> entries;
  std::mt19937 rng{1234};
  int checked = 0, failed = 0;

  std::vector<float> randomVector(size_t n) {
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    std::vector<float> v(n);
    for (float &x : v)
      x = u(rng);
    return v;
  }

  /// Dequantized rows of a [rows, cols] tensor.
  static std::vector<float> dequantize(const gguf::TensorInfo &t) {
    auto type = static_cast<fmt::Type>(t.type);
    size_t rowBytes = fmt::rowBytes(type, t.ne[0]);
    std::vector<float> w(t.ne[0] * t.ne[1]);
    for (int64_t r = 0; r < t.ne[1]; ++r)
      fmt::dequantizeRow(type, t.data + r * rowBytes, w.data() + r * t.ne[0],
                         t.ne[0]);
    return w;
  }

  vk::Buffer *upload(const void *data, size_t bytes) {
    std::string error;
    vk::Buffer *b = dev.createBuffer(bytes, error);
    if (!b || (data && !dev.upload(b, 0, data, bytes, error))) {
      llvm::errs() << "vk-kernel-check: " << error << "\n";
      std::exit(1);
    }
    return b;
  }

  /// One dispatch: a kernel over some of the buffers, grid (gx, gy).
  struct Dispatch {
    std::string kernel;
    std::vector<int> buffers;
    uint32_t gx;
    uint32_t gy = kTokens;
  };

  /// Runs the dispatches in order, returns `outCount` floats of buffer
  /// `outIndex`, and frees the buffers.
  std::vector<float> runAll(const std::vector<Dispatch> &dispatches,
                            const std::vector<vk::Buffer *> &buffers,
                            size_t outCount, int outIndex) {
    std::string error;
    std::vector<float> out(outCount);
    bool ok = dev.begin(error);
    for (const Dispatch &d : dispatches) {
      vk::Pipeline *p =
          ok ? dev.pipeline(d.kernel, d.buffers.size(), error) : nullptr;
      std::vector<vk::Binding> bindings;
      for (int i : d.buffers)
        bindings.push_back({buffers[i], 0, 0});
      ok = p && dev.dispatch(p, bindings, d.gx, d.gy, 1, error);
      if (!ok) {
        error = d.kernel + ": " + error;
        break;
      }
    }
    if (!ok || !dev.submit(error) ||
        !dev.download(buffers[outIndex], 0, out.data(), outCount * 4, error)) {
      llvm::errs() << "vk-kernel-check: " << error << "\n";
      std::exit(1);
    }
    for (vk::Buffer *b : buffers)
      dev.destroyBuffer(b);
    return out;
  }

  /// Runs `kernel` over all `buffers`, grid (gx, kTokens), returns `outCount`
  /// floats of buffer `outIndex` (default: the last).
  std::vector<float> run(const std::string &kernel,
                         const std::vector<vk::Buffer *> &buffers, uint32_t gx,
                         size_t outCount, int outIndex = -1) {
    std::vector<int> all;
    for (size_t i = 0; i < buffers.size(); ++i)
      all.push_back(static_cast<int>(i));
    return runAll({{kernel, all, gx}}, buffers, outCount,
                  outIndex < 0 ? static_cast<int>(buffers.size()) - 1
                               : outIndex);
  }

  /// Compares with the reference; `scale[i]` bounds the rounding of entry i.
  void compare(const std::string &kernel, const std::vector<float> &got,
               const std::vector<double> &want,
               const std::vector<double> &scale, bool exact = false) {
    double worst = 0;
    size_t at = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      double err = std::fabs(got[i] - want[i]) / (scale[i] + 1e-30);
      if (!(err <= worst)) { // NaN counts as worst
        worst = std::isnan(err) ? INFINITY : err;
        at = i;
      }
    }
    ++checked;
    // Exact kernels: the reference's bits. Others: f32 arithmetic in another
    // order than the reference, a few ulps of the sum of magnitudes.
    bool ok = exact ? worst == 0 : worst <= 1e-5;
    if (!ok)
      ++failed;
    llvm::outs() << llvm::format("%-4s %-44s max error %.2e of magnitude%s",
                                 ok ? "ok" : "FAIL", kernel.c_str(), worst,
                                 exact ? " (must be exact)" : "");
    if (!ok)
      llvm::outs() << llvm::format(" (entry %zu: %g, want %g)", at, got[at],
                                   want[at]);
    llvm::outs() << "\n";
  }

  /// One sequence's step of `tokens` rows at kPos0 in KV slot 0, every row
  /// an output row.
  vk::Buffer *params(int64_t tokens = kTokens) {
    const int64_t seg[GEMMAC_SEQ_FIELDS] = {0, kPos0, 0, tokens};
    std::vector<int64_t> outRows(tokens);
    std::iota(outRows.begin(), outRows.end(), int64_t{0});
    gpu::Step step{nullptr, tokens, seg, 1, outRows.data(), tokens, nullptr};
    std::vector<int32_t> words;
    std::string error;
    if (!gpu::stepParams(step, kContext, abi::kMaxBatch, gpu::KVSlots{},
                         words, error)) {
      llvm::errs() << "vk-kernel-check: " << error << "\n";
      std::exit(1);
    }
    return upload(words.data(), words.size() * 4);
  }

  /// Compares with a CPU runtime kernel's output; `scale` bounds rounding.
  void compareWith(const std::string &kernel, const std::vector<float> &got,
                   const std::vector<float> &want, double scale,
                   bool exact = true) {
    std::vector<double> w(want.begin(), want.end());
    compare(kernel, got, w, std::vector<double>(got.size(), scale), exact);
  }

  static double maxAbs(const std::vector<float> &v) {
    double m = 0;
    for (float x : v)
      m = std::max(m, double(std::fabs(x)));
    return m;
  }

  /// rope_h<heads>_d<dim>_f<freqDim>_p<pairs>, or the same with a per-head
  /// RMSNorm fused in front: rms_norm_<dim>_<f32|unweighted>_e<eps>_rope_...
  /// (its weight random here; the reference is gmk_rms_norm, then gmk_rope).
  void rope(const std::string &kernel) {
    llvm::StringRef name(kernel);
    const size_t at = name.find("rope_");
    auto f = nameFields(name.drop_front(at), "rope_");
    const long heads = field(f, "h"), dim = field(f, "d"),
               freqDim = field(f, "f"), pairs = field(f, "p");
    const float theta = 10000.0f; // the table carries it, not the kernel
    std::vector<float> x = randomVector(kTokens * heads * dim);
    std::vector<float> normWeight, rotated = x;
    if (at > 0) {
      auto n = nameFields(name.take_front(at - 1), "rms_norm_");
      const bool weighted = n.count("f") && n["f"] == "32"; // "f32"
      if (!weighted && !n.count("unweighted")) {
        llvm::outs() << "skip " << kernel << " (norm weight format)\n";
        return;
      }
      if (weighted)
        normWeight = randomVector(dim);
      gmk_rms_norm(&rt, rotated.data(), x.data(), kTokens, heads * dim, dim,
                   weighted ? reinterpret_cast<const uint8_t *>(normWeight.data())
                            : nullptr,
                   /*GGML_TYPE_F32=*/0, floatFromHex(n["e"]));
    }
    gpu::RopeEntry entry{theta, uint32_t(freqDim), uint32_t(pairs), 0};
    gpu::ProgramHeader header{};
    header.numRopes = 1;
    gpu::ProgramView view;
    view.header = &header;
    view.ropes = &entry;
    std::vector<float> table = gpu::ropeTables(view, kPos0 + kTokens);
    std::vector<vk::Buffer *> buffers = {
        upload(x.data(), x.size() * 4), upload(nullptr, x.size() * 4),
        params(), upload(table.data(), table.size() * 4)};
    if (!normWeight.empty())
      buffers.push_back(upload(normWeight.data(), normWeight.size() * 4));
    std::vector<float> y = run(kernel, buffers, heads, x.size(), 1);
    std::vector<float> want(x.size());
    std::vector<int64_t> positions(kTokens);
    std::iota(positions.begin(), positions.end(), int64_t{kPos0});
    gmk_rope(&rt, want.data(), rotated.data(), kTokens, heads, dim,
             positions.data(), theta, freqDim, pairs);
    compareWith(kernel, y, want, 2 * maxAbs(rotated));
  }

  /// rms_norm_<width>_<f32|unweighted>_e<eps>_add[_scale_c<bits>]: the
  /// norm (random weight), the residual added, optionally scaled; against
  /// gmk_rms_norm, then the add and the scale as their kernels do them.
  void rmsNormAdd(const std::string &kernel) {
    auto f = nameFields(kernel, "rms_norm_");
    const long width =
        std::stol(llvm::StringRef(kernel).drop_front(9).split('_').first.str());
    const bool weighted = f.count("f") && f["f"] == "32"; // "f32"
    if (!weighted && !f.count("unweighted")) {
      llvm::outs() << "skip " << kernel << " (norm weight format)\n";
      return;
    }
    std::vector<float> x = randomVector(kTokens * width);
    std::vector<float> residual = randomVector(kTokens * width);
    std::vector<float> w = weighted ? randomVector(width) : std::vector<float>();
    std::vector<vk::Buffer *> buffers = {upload(x.data(), x.size() * 4),
                                         upload(nullptr, x.size() * 4)};
    if (weighted)
      buffers.push_back(upload(w.data(), w.size() * 4));
    buffers.push_back(upload(residual.data(), residual.size() * 4));
    std::vector<float> y = run(kernel, buffers, 1, x.size(), 1);
    std::vector<float> want(x.size());
    gmk_rms_norm(&rt, want.data(), x.data(), kTokens, width, width,
                 weighted ? reinterpret_cast<const uint8_t *>(w.data())
                          : nullptr,
                 /*GGML_TYPE_F32=*/0, floatFromHex(f["e"]));
    const bool scaled = f.count("c");
    const float scale = scaled ? floatFromHex(f["c"]) : 1.0f;
    for (size_t i = 0; i < want.size(); ++i) {
      want[i] += residual[i];
      if (scaled)
        want[i] *= scale;
    }
    compareWith(kernel, y, want, maxAbs(want));
  }

  void rmsNormUnweighted(const std::string &kernel) {
    // rms_norm_<width>_g<group>_unweighted_e<eps bits>
    auto f = nameFields(kernel, "rms_norm_");
    long width = std::stol(llvm::StringRef(kernel).drop_front(9).split('_').first.str());
    const long group = field(f, "g");
    std::vector<float> x = randomVector(kTokens * width);
    std::vector<float> y = run(kernel,
                               {upload(x.data(), x.size() * 4),
                                upload(nullptr, x.size() * 4)},
                               width / group, x.size());
    std::vector<float> want(x.size());
    gmk_rms_norm_unweighted(&rt, want.data(), x.data(), kTokens, width, group,
                            floatFromHex(f["e"]));
    compareWith(kernel, y, want, maxAbs(want));
  }

  void gelu(const std::string &kernel, bool tanhForm) {
    long width = std::stol(kernel.substr(kernel.rfind('_') + 1));
    std::vector<float> x = randomVector(kTokens * width);
    for (float &v : x)
      v *= 4; // both tails and the middle
    std::vector<vk::Buffer *> buffers = {upload(x.data(), x.size() * 4),
                                         upload(nullptr, x.size() * 4)};
    if (tanhForm)
      buffers.push_back(upload(rt::geluTanhTable(), gpu::kGeluTableBytes));
    std::vector<float> y =
        run(kernel, buffers, (width + 63) / 64, x.size(), 1);
    std::vector<float> want(x.size());
    (tanhForm ? gmk_gelu_tanh : gmk_gelu_erf)(&rt, want.data(), x.data(),
                                              x.size());
    // tanh: the same table, exact. erf: our erf against glibc's erff.
    compareWith(kernel, y, want, maxAbs(want), tanhForm);
  }

  /// quantize_fp4_<width>_g<global scale>: against gmk_quantize_fp4, bit
  /// for bit, on blocks whose magnitudes span 2^-20..2^8 (E4M3 scales from
  /// subnormal to saturated, and 0), one block all zeros.
  void quantizeFP4(const std::string &kernel) {
    const long width = std::stol(kernel.substr(strlen("quantize_fp4_")));
    const float g = floatFromHex(kernel.substr(kernel.rfind("_g") + 2));
    std::vector<float> x = randomVector(kTokens * width);
    std::uniform_real_distribution<float> octave(-20.0f, 8.0f);
    for (size_t b = 0; b < x.size() / 16; ++b) {
      const float m = b == 1 ? 0.0f : std::exp2(octave(rng));
      for (size_t j = 0; j < 16; ++j)
        x[16 * b + j] *= m;
    }
    std::vector<float> y =
        run(kernel, {upload(x.data(), x.size() * 4), upload(nullptr, x.size() * 4)},
            (width / 16 + 63) / 64, x.size(), 1);
    std::vector<float> want(x.size());
    gmk_quantize_fp4(&rt, want.data(), x.data(), x.size(), g);
    compareWith(kernel, y, want, maxAbs(want));
  }

  void attention(const std::string &kernel) {
    // attention_h<heads>_kv<kv heads>_d<dim>_w<window>_r<ring>_s<scale>_
    // <f16|f32|f8k<K scale>v<V scale>>
    auto f = nameFields(kernel, "attention_");
    const long heads = field(f, "h"), kvHeads = field(f, "kv"),
               dim = field(f, "d"), window = field(f, "w"), ring = field(f, "r");
    const bool f16 = llvm::StringRef(kernel).ends_with("_f16");
    const size_t f8At = kernel.rfind("_f8k");
    const float scale = floatFromHex(f["s"]);
    const long width = kvHeads * dim, rows = ring ? ring : kContext;
    std::vector<float> q = randomVector(kTokens * heads * dim);
    std::vector<float> k = randomVector(kTokens * width);
    std::vector<float> v = randomVector(kTokens * width);
    std::vector<float> kc = randomVector(rows * width);
    std::vector<float> vc = randomVector(rows * width);
    std::vector<float> want(q.size());
    std::vector<float> got;
    // The CPU kernel over one segment: the step at kPos0.
    const int64_t seg[GEMMAC_SEQ_FIELDS] = {0, kPos0, 0, kTokens};
    auto buffers = [&](const void *kData, const void *vData, size_t bytes) {
      return std::vector<vk::Buffer *>{
          upload(q.data(), q.size() * 4), upload(k.data(), k.size() * 4),
          upload(v.data(), v.size() * 4), upload(kData, bytes),
          upload(vData, bytes), upload(nullptr, q.size() * 4), params()};
    };
    if (f8At != std::string::npos) {
      auto [kHex, vHex] =
          llvm::StringRef(kernel).drop_front(f8At + 4).split('v');
      const float kScale = floatFromHex(kHex), vScale = floatFromHex(vHex);
      // Fresh values over 2^-12..2^6, so that x / scale meets E4M3's
      // subnormals and its saturation; cached bytes over the whole range.
      std::uniform_real_distribution<float> octave(-12.0f, 6.0f);
      for (std::vector<float> *fresh : {&k, &v})
        for (float &x : *fresh)
          x *= std::exp2(octave(rng));
      std::vector<uint8_t> k8(kc.size()), v8(vc.size());
      for (size_t i = 0; i < kc.size(); ++i) {
        k8[i] = fmt::f32ToE4M3(kc[i] * 448.0f);
        v8[i] = fmt::f32ToE4M3(vc[i] * 448.0f);
      }
      got = run(kernel, buffers(k8.data(), v8.data(), k8.size()), heads,
                q.size(), 5);
      gmk_attention_f8(&rt, want.data(), q.data(), k.data(), v.data(), kTokens,
                       seg, 1, heads, kvHeads, dim, window, k8.data(),
                       v8.data(), rows, 0, scale, kScale, vScale);
    } else if (f16) {
      std::vector<uint16_t> kh(kc.size()), vh(vc.size());
      for (size_t i = 0; i < kc.size(); ++i) {
        kh[i] = fmt::f32ToF16(kc[i]);
        vh[i] = fmt::f32ToF16(vc[i]);
      }
      got = run(kernel, buffers(kh.data(), vh.data(), kh.size() * 2), heads,
                q.size(), 5);
      gmk_attention_f16(&rt, want.data(), q.data(), k.data(), v.data(),
                        kTokens, seg, 1, heads, kvHeads, dim, window,
                        kh.data(), vh.data(), rows, 0, scale);
    } else {
      got = run(kernel, buffers(kc.data(), vc.data(), kc.size() * 4), heads,
                q.size(), 5);
      gmk_attention_f32(&rt, want.data(), q.data(), k.data(), v.data(),
                        kTokens, seg, 1, heads, kvHeads, dim, window,
                        kc.data(), vc.data(), rows, 0, scale);
    }
    compareWith(kernel, got, want, 1.0);
  }

  /// A matvec kernel's buffers and arguments for `tokens` rows: weights, x
  /// (`inCols` per token, random), [qs, aux] after the quantizer's dispatch
  /// (`quantize`, empty for float weights), y (`outCount` floats), [GELU
  /// table when two weights], [params when quantized].
  struct MatvecRun {
    std::vector<vk::Buffer *> buffers;
    std::vector<Dispatch> dispatches;
    std::vector<int> args;
    std::vector<float> x;
    int y = 0;
  };
  MatvecRun matvecRun(const gguf::TensorInfo &w0, const gguf::TensorInfo *w1,
                      int64_t inCols, int64_t outCount,
                      const std::string &quantize, int64_t auxPerBlock,
                      int64_t blockElems, int64_t tokens = kTokens) {
    MatvecRun m;
    m.x = randomVector(tokens * inCols);
    m.buffers = {upload(w0.data, w0.nbytes)};
    if (w1)
      m.buffers.push_back(upload(w1->data, w1->nbytes));
    const int nw = m.buffers.size(), xi = nw;
    m.buffers.push_back(upload(m.x.data(), m.x.size() * 4));
    for (int i = 0; i < nw; ++i)
      m.args.push_back(i);
    if (!quantize.empty()) {
      const int64_t blocks = inCols / blockElems;
      m.buffers.push_back(upload(nullptr, tokens * inCols));
      m.buffers.push_back(upload(nullptr, tokens * blocks * auxPerBlock * 4));
      m.dispatches.push_back({quantize, {xi, xi + 1, xi + 2},
                              uint32_t((blocks + 63) / 64), uint32_t(tokens)});
      m.args.push_back(xi + 1);
      m.args.push_back(xi + 2);
    } else {
      m.args.push_back(xi);
    }
    m.y = m.buffers.size();
    m.buffers.push_back(upload(nullptr, outCount * 4));
    m.args.push_back(m.y);
    if (w1) {
      m.args.push_back(m.buffers.size());
      m.buffers.push_back(upload(rt::geluTanhTable(), gpu::kGeluTableBytes));
    }
    if (!quantize.empty()) {
      m.args.push_back(m.buffers.size());
      m.buffers.push_back(params(tokens));
    }
    return m;
  }

  /// linear and geglu against the CPU runtime's kernels (llama.cpp's
  /// arithmetic), bit for bit. Quantized weights: the activation quantizer
  /// the program launches first (`quantize`, empty for float weights).
  void matvec(const gguf::TensorInfo &w0, const gguf::TensorInfo *w1,
              const std::string &kernel, const std::string &format,
              const std::string &quantize, int64_t auxPerBlock,
              int64_t blockElems) {
    const int64_t rows = w0.ne[1], cols = w0.ne[0];
    MatvecRun m = matvecRun(w0, w1, cols, kTokens * rows, quantize,
                            auxPerBlock, blockElems);
    const int64_t perGroup =
        gpu::matvecRowsPerGroup(quantize.empty(), rows, cols);
    const int64_t tg = quantize.empty() ? 1 : gpu::kQuantMatvecTokensPerGroup;
    m.dispatches.push_back({kernel, m.args,
                            uint32_t((rows + perGroup - 1) / perGroup),
                            uint32_t((kTokens + tg - 1) / tg)});
    std::vector<float> y =
        runAll(m.dispatches, m.buffers, kTokens * rows, m.y);
    std::vector<float> want(y.size());
    if (w1)
      cpuGeglu.at(format)(&rt, want.data(), m.x.data(), kTokens, w0.data,
                          w1->data, rows, cols);
    else
      cpuLinear.at(format)(&rt, want.data(), m.x.data(), kTokens, w0.data,
                           rows, cols);
    compareWith(kernel, y, want, maxAbs(want));
  }

  /// A routing of `tokens` tokens as gmk_moe_route makes it, from random
  /// logits over `experts`.
  std::vector<float> randomRouting(int64_t experts, int64_t used,
                                   int64_t tokens = kTokens) {
    std::vector<float> logits = randomVector(tokens * experts);
    std::vector<float> routing(tokens * 2 * used);
    gmk_moe_route(&rt, routing.data(), logits.data(), tokens, experts, used);
    return routing;
  }

  /// moe_route_e<experts>_k<used> against gmk_moe_route on random logits,
  /// with a tie, exactly.
  void moeRoute(const std::string &kernel) {
    auto f = nameFields(kernel, "moe_route_");
    const long experts = field(f, "e"), used = field(f, "k");
    std::vector<float> logits = randomVector(kTokens * experts);
    logits[1] = logits[experts - 1] = 2.0f; // token 0's two best tie
    std::vector<float> got =
        run(kernel,
            {upload(logits.data(), logits.size() * 4),
             upload(nullptr, kTokens * 2 * used * 4)},
            1, kTokens * 2 * used);
    std::vector<float> want(got.size());
    gmk_moe_route(&rt, want.data(), logits.data(), kTokens, experts, used);
    compareWith(kernel, got, want, 1.0);
  }

  /// expert_scale_f32_e<experts>_k<slots>_<width>, moe_combine_k<slots>_
  /// <width> and scale_columns_f32_<width> against their CPU kernels.
  void expertSteps(const std::string &kernel) {
    llvm::StringRef n(kernel);
    const long width = std::stol(kernel.substr(kernel.rfind('_') + 1));
    if (n.starts_with("scale_columns_")) {
      if (!n.starts_with("scale_columns_f32_"))
        return void(llvm::outs() << "skip " << kernel << " (weight format)\n");
      std::vector<float> x = randomVector(kTokens * width), w = randomVector(width);
      std::vector<float> got = run(kernel,
                                   {upload(x.data(), x.size() * 4),
                                    upload(w.data(), w.size() * 4),
                                    upload(nullptr, x.size() * 4)},
                                   (width + 63) / 64, x.size());
      std::vector<float> want(x.size());
      gmk_scale_columns(&rt, want.data(), x.data(), kTokens, width,
                        reinterpret_cast<const uint8_t *>(w.data()), 0);
      return compareWith(kernel, got, want, maxAbs(want));
    }
    auto f = nameFields(kernel, n.starts_with("moe_combine_") ? "moe_combine_"
                                                              : "expert_scale_");
    const long slots = field(f, "k");
    const long experts = n.starts_with("expert_scale_") ? field(f, "e") : 16;
    if (n.starts_with("expert_scale_") && f["f"] != "32")
      return void(llvm::outs() << "skip " << kernel << " (weight format)\n");
    std::vector<float> routing = randomRouting(experts, slots);
    std::vector<float> x = randomVector(kTokens * slots * width);
    std::vector<float> want;
    std::vector<float> got;
    if (n.starts_with("moe_combine_")) {
      got = run(kernel,
                {upload(x.data(), x.size() * 4),
                 upload(routing.data(), routing.size() * 4),
                 upload(nullptr, kTokens * width * 4)},
                (width + 63) / 64, kTokens * width);
      want.resize(got.size());
      gmk_moe_combine(&rt, want.data(), x.data(), kTokens, width,
                      routing.data(), slots);
    } else {
      std::vector<float> scales = randomVector(experts);
      got = run(kernel,
                {upload(x.data(), x.size() * 4),
                 upload(routing.data(), routing.size() * 4),
                 upload(scales.data(), scales.size() * 4),
                 upload(nullptr, x.size() * 4)},
                (slots * width + 63) / 64, x.size());
      want.resize(got.size());
      gmk_expert_scale(&rt, want.data(), x.data(), kTokens, width,
                       routing.data(), slots,
                       reinterpret_cast<const uint8_t *>(scales.data()), 0,
                       experts);
    }
    compareWith(kernel, got, want, maxAbs(want));
  }

  /// expert_<linear|geglu>_<fmt>_<rows>x<cols>_e<E>_k<k>[_slot]_r<R>f<first>
  /// [_r<R>f<first>] on the model's expert tensors and a routing of random
  /// logits, against gmk_expert_<linear|geglu>_<fmt> (the _x8 kernel on
  /// interleaved rows where the GPU kernel computes as the repacked ones).
  void expertProduct(const std::string &kernel, const gguf::TensorInfo &w0,
                     const gguf::TensorInfo *w1, const std::string &format,
                     const std::string &quantize, int64_t auxPerBlock,
                     int64_t blockElems) {
    llvm::StringRef n(kernel);
    const bool geglu = n.starts_with("expert_geglu_");
    auto f = nameFields(n.drop_front(n.find("_e") + 1), "");
    const long rows = std::stol(n.drop_front(n.find(format) + format.size() + 1)
                                    .split('x').first.str());
    const long cols = w0.ne[0], experts = field(f, "e"), slots = field(f, "k");
    const bool perSlot = f.count("slot");
    llvm::SmallVector<llvm::StringRef> parts;
    n.split(parts, "_r");
    long expertRows[2] = {0, 0}, first[2] = {0, 0};
    for (size_t i = 1; i < parts.size() && i <= 2; ++i) {
      auto [r, fr] = parts[i].split('f');
      expertRows[i - 1] = std::stol(r.str());
      first[i - 1] = std::stol(fr.str());
    }
    const bool x8 = (format == "q4_0" || format == "q4_k") &&
                    expertRows[0] % 8 == 0 && first[0] % 8 == 0 &&
                    first[1] % 8 == 0;
    const int64_t inCols = perSlot ? slots * cols : cols;
    // The CPU's weights: interleaved by eight where its kernel is _x8.
    auto cpuWeight = [&](const gguf::TensorInfo &t, std::vector<uint8_t> &buf) {
      if (!x8)
        return t.data;
      const auto type = static_cast<fmt::Type>(t.type);
      const size_t group = fmt::x8GroupBytes(type, t.ne[0]);
      buf.resize(t.nbytes);
      for (size_t g = 0; g < t.nbytes / group; ++g)
        fmt::packX8(type, t.data + g * group, buf.data() + g * group, t.ne[0]);
      return static_cast<const uint8_t *>(buf.data());
    };
    std::vector<uint8_t> p0, p1;
    const std::string cpu = format + (x8 ? "_x8" : "");
    // The kernel computes a batch with fewer than 4 (token, slot) pairs per
    // expert (float weights: 1) token by token, a larger one expert by
    // expert, and the rows must not depend on which: one token, kTokens,
    // and 10 pairs per expert (up to 3 in each thread's share of the
    // routing).
    const int64_t grouped = (10 * experts + slots - 1) / slots;
    for (int64_t tokens : {int64_t(1), kTokens, grouped}) {
      std::vector<float> routing = randomRouting(experts, slots, tokens);
      const int64_t outCount = tokens * slots * rows;
      // A matvec's buffers and arguments, params (which quantized products
      // already have), then the routing; grid (rows / 2, tokens).
      MatvecRun m = matvecRun(w0, geglu ? w1 : nullptr, inCols, outCount,
                              quantize, auxPerBlock, blockElems, tokens);
      if (quantize.empty()) {
        m.args.push_back(m.buffers.size());
        m.buffers.push_back(params(tokens));
      }
      m.args.push_back(m.buffers.size());
      m.buffers.push_back(upload(routing.data(), routing.size() * 4));
      const int64_t per = gpu::kExpertMatvecRowsPerGroup;
      m.dispatches.push_back({kernel, m.args, uint32_t((rows + per - 1) / per),
                              uint32_t(tokens)});
      std::vector<float> y = runAll(m.dispatches, m.buffers, outCount, m.y);
      std::vector<float> want(y.size());
      if (geglu)
        cpuExpertGeglu.at(cpu)(&rt, want.data(), m.x.data(), tokens,
                               cpuWeight(w0, p0), cpuWeight(*w1, p1), rows,
                               cols, routing.data(), slots, expertRows[0],
                               first[0], expertRows[1], first[1]);
      else
        cpuExpertLinear.at(cpu)(&rt, want.data(), m.x.data(), tokens,
                                cpuWeight(w0, p0), rows, cols, routing.data(),
                                slots, expertRows[0], first[0], perSlot);
      compareWith(kernel + " (" + std::to_string(tokens) + " tokens)", y, want,
                  maxAbs(want));
    }
  }

  /// A random [rows, cols] f8_b64 weight (f32 scales, E4M3 bytes without
  /// the NaN codes) in `storage`, described as a tensor.
  gguf::TensorInfo randomF8Blocks(int64_t rows, int64_t cols,
                                  std::vector<uint8_t> &storage) {
    const int64_t blocks = rows * cols / 64;
    storage.assign(blocks * sizeof(fmt::BlockF8_B64), 0);
    std::uniform_real_distribution<float> scale(0.01f, 0.1f);
    std::uniform_int_distribution<int> byte(0, 253);
    for (int64_t b = 0; b < blocks; ++b) {
      fmt::BlockF8_B64 blk;
      blk.d = scale(rng);
      for (uint8_t &q : blk.qs) {
        int v = byte(rng);
        q = static_cast<uint8_t>(v < 0x7F ? v : v + 1); // skip 0x7F, 0xFF
      }
      std::memcpy(storage.data() + b * sizeof blk, &blk, sizeof blk);
    }
    gguf::TensorInfo t;
    t.nDims = 2;
    t.ne[0] = cols;
    t.ne[1] = rows;
    t.type = static_cast<uint32_t>(fmt::Type::F8_B64);
    t.nbytes = storage.size();
    t.data = storage.data();
    return t;
  }

  void embed(const gguf::TensorInfo &t, const std::string &kernel,
             float scale) {
    const int64_t rows = t.ne[1], cols = t.ne[0];
    std::vector<float> w = dequantize(t);
    std::vector<int32_t> tokens(kTokens);
    for (auto &tok : tokens)
      tok = std::uniform_int_distribution<int32_t>(0, rows - 1)(rng);
    std::vector<float> y = run(kernel,
                               {upload(t.data, t.nbytes),
                                upload(tokens.data(), tokens.size() * 4),
                                upload(nullptr, kTokens * cols * 4)},
                               (cols + 63) / 64, kTokens * cols);
    std::vector<double> want(y.size()), mag(y.size());
    for (int64_t tk = 0; tk < kTokens; ++tk)
      for (int64_t c = 0; c < cols; ++c) {
        want[tk * cols + c] = double(w[tokens[tk] * cols + c]) * scale;
        mag[tk * cols + c] = std::fabs(want[tk * cols + c]) + 1e-30;
      }
    compare(kernel, y, want, mag);
  }
};

} // namespace

int main(int argc, char **argv) {
  cl::ParseCommandLineOptions(argc, argv, "runs compiled GPU kernels on Vulkan");
  auto file = gguf::GGUFFile::open(ggufPath);
  if (!file) {
    llvm::errs() << "vk-kernel-check: " << llvm::toString(file.takeError())
                 << "\n";
    return 1;
  }
  auto spirv = llvm::MemoryBuffer::getFile(spirvPath);
  if (!spirv) {
    llvm::errs() << "vk-kernel-check: " << spirvPath << ": "
                 << spirv.getError().message() << "\n";
    return 1;
  }
  const auto *words =
      reinterpret_cast<const uint32_t *>((*spirv)->getBufferStart());
  size_t count = (*spirv)->getBufferSize() / 4;

  std::string error;
  auto dev = vk::Device::open(deviceIndex, error);
  if (!dev) {
    llvm::outs() << "SKIP: " << error << "\n";
    return 77;
  }
  llvm::outs() << "device: " << dev->name() << "\n";
  if (!dev->loadModule(words, count, error)) {
    llvm::errs() << "vk-kernel-check: " << spirvPath << ": " << error << "\n";
    return 1;
  }
  Checker check{*dev};
  for (const std::string &e : vk::Device::entryPoints(words, count))
    check.entries.insert(e);

  // The activation quantizer of a quantized format for inputs of `cols`,
  // by its name, with its side values per block and elements per block.
  struct Quantizer {
    std::string kernel;
    int64_t auxPer = 0, blockElems = 0;
  };
  auto quantizerOf = [](const std::string &type, int64_t cols) {
    Quantizer q;
    const char *act = type == "q4_1" || type == "q5_1" ? "q8_1"
                      : type == "q4_k" || type == "q5_k" || type == "q6_k"
                          ? "q8_k"
                      : type == "f32" || type == "f16" || type == "bf16"
                          ? nullptr
                          : "q8_0";
    if (act) {
      q.kernel = "quantize_" + std::string(act) + "_" + std::to_string(cols);
      q.auxPer = act[3] == 'k' ? 17 : act[3] == '1' ? 2 : 1;
      q.blockElems = act[3] == 'k' ? 256 : 32;
    }
    return q;
  };
  std::set<std::string> done;
  for (const gguf::TensorInfo &t : (*file)->tensors()) {
    if (t.nDims != 2 || !fmt::isSupported(t.type))
      continue;
    std::string type = fmt::typeName(static_cast<fmt::Type>(t.type));
    std::string shape = std::to_string(t.ne[1]) + "x" + std::to_string(t.ne[0]);
    std::string lin = "linear_" + type + "_" + shape;
    auto [quantize, auxPer, blockElems] = quantizerOf(type, t.ne[0]);
    // A program whose every input of this width is quantized by a fused
    // norm (gemma-fuse-rms-norm-quantize) has no quantizer kernel of its
    // own to feed the matvec here: the whole-program parity covers it.
    if (!quantize.empty() && !check.entries.count(quantize)) {
      for (const std::string &k : {lin, "geglu_" + type + "_" + shape})
        if (check.entries.count(k) && done.insert(k).second)
          llvm::outs() << "skip " << k << ": no " << quantize
                       << " in this program (its input is quantized by a "
                          "fused norm)\n";
      continue;
    }
    if (check.entries.count(lin) && done.insert(lin).second)
      check.matvec(t, nullptr, lin, type, quantize, auxPer, blockElems);
    // geglu kernels: a layer's gate with its up projection.
    llvm::StringRef name(t.name);
    if (name.ends_with(".ffn_gate.weight")) {
      std::string upName = name.drop_back(strlen("gate.weight")).str() + "up.weight";
      const gguf::TensorInfo *up = (*file)->findTensor(upName);
      std::string gg = "geglu_" + type + "_" + shape;
      if (up && up->type == t.type && check.entries.count(gg) &&
          done.insert(gg).second)
        check.matvec(t, up, gg, type, quantize, auxPer, blockElems);
    }
    // embed kernels carry their scale's bits in the name.
    std::string prefix = "embed_" + type + "_" + shape + "_s";
    for (const std::string &e : check.entries)
      if (llvm::StringRef(e).starts_with(prefix) && done.insert(e).second) {
        uint32_t bits = std::stoul(e.substr(prefix.size()), nullptr, 16);
        float scale;
        std::memcpy(&scale, &bits, 4);
        check.embed(t, e, scale);
      }
  }
  // Expert products: expert_<linear|geglu>_<fmt>_<rows>x<cols>_e<E>_k<k>
  // [_slot]_r<R>f<first>..., on the model's 3-D tensors of that format and
  // shape (a gate/up product: the tensors named for gate and for up, one
  // tensor when they are fused).
  for (const std::string &e : check.entries) {
    llvm::StringRef n(e);
    if (!n.starts_with("expert_linear_") && !n.starts_with("expert_geglu_"))
      continue;
    const bool geglu = n.starts_with("expert_geglu_");
    llvm::SmallVector<llvm::StringRef> parts;
    n.drop_front(geglu ? 13 : 14).split(parts, '_');
    std::string type;
    long cols = 0, experts = 0, slots = 0;
    llvm::SmallVector<long> expertRows;
    for (llvm::StringRef p : parts) {
      auto [r, c] = p.split('x');
      long v = 0;
      if (!cols && !r.getAsInteger(10, v) && !c.getAsInteger(10, cols))
        continue;
      if (!cols)
        type += (type.empty() ? "" : "_") + p.str();
      else if (p.consume_front("e"))
        experts = std::stol(p.str());
      else if (p.consume_front("k"))
        slots = std::stol(p.str());
      else if (p.consume_front("r"))
        expertRows.push_back(std::stol(p.split('f').first.str()));
    }
    const bool perSlot = n.contains("_slot_");
    auto find = [&](long rows, const char *role) -> const gguf::TensorInfo * {
      for (const gguf::TensorInfo &t : (*file)->tensors())
        if (t.nDims == 3 && fmt::isSupported(t.type) &&
            fmt::typeName(static_cast<fmt::Type>(t.type)) == type &&
            t.ne[0] == cols && t.ne[1] == rows && t.ne[2] == experts &&
            llvm::StringRef(t.name).contains(role))
          return &t;
      return nullptr;
    };
    const gguf::TensorInfo *w0 =
        expertRows.empty() ? nullptr
                           : find(expertRows[0], geglu ? "gate" : "_exps");
    const gguf::TensorInfo *w1 =
        geglu && expertRows.size() == 2 ? find(expertRows[1], "up") : nullptr;
    auto [quantize, auxPer, blockElems] =
        quantizerOf(type, perSlot ? slots * cols : cols);
    if (!w0 || (geglu && !w1)) {
      llvm::outs() << "skip " << e << ": no expert tensor of its shape\n";
    } else if (!quantize.empty() && !check.entries.count(quantize)) {
      llvm::outs() << "skip " << e << ": no " << quantize
                   << " in this program (its input is quantized by a fused "
                      "norm)\n";
    } else {
      check.expertProduct(e, *w0, w1, type, quantize, auxPer, blockElems);
    }
  }
  for (const std::string &e : check.entries) {
    llvm::StringRef n(e);
    for (llvm::StringRef kind : {"linear_f8_b64_", "geglu_f8_b64_"}) {
      int64_t rows = 0, cols = 0;
      auto [r, c] = n.drop_front(kind.size()).split('x');
      if (!n.starts_with(kind) || r.getAsInteger(10, rows) ||
          c.getAsInteger(10, cols))
        continue;
      std::vector<uint8_t> gate, up;
      gguf::TensorInfo w0 = check.randomF8Blocks(rows, cols, gate);
      gguf::TensorInfo w1 = check.randomF8Blocks(rows, cols, up);
      check.matvec(w0, kind[0] == 'g' ? &w1 : nullptr, e, "f8_b64", "", 0, 0);
    }
    if (n.starts_with("rope_") || n.contains("_rope_"))
      check.rope(e);
    else if (n.starts_with("attention_"))
      check.attention(e);
    else if (n.starts_with("rms_norm_") &&
             (n.ends_with("_add") || n.contains("_add_scale_")))
      check.rmsNormAdd(e);
    else if (n.starts_with("rms_norm_") && n.contains("_unweighted_"))
      check.rmsNormUnweighted(e);
    else if (n.starts_with("quantize_fp4_"))
      check.quantizeFP4(e);
    else if (n.starts_with("gelu_tanh_") || n.starts_with("gelu_erf_"))
      check.gelu(e, n.starts_with("gelu_tanh_"));
    else if (n.starts_with("moe_route_"))
      check.moeRoute(e);
    else if (n.starts_with("expert_scale_") || n.starts_with("moe_combine_") ||
             n.starts_with("scale_columns_"))
      check.expertSteps(e);
  }
  llvm::outs() << check.checked << " kernels checked, " << check.failed
               << " failed\n";
  if (check.checked == 0) {
    llvm::errs() << "vk-kernel-check: no weight kernel of " << spirvPath
                 << " matches a tensor of " << ggufPath << "\n";
    return 1;
  }
  return check.failed ? 1 : 0;
}

