//===- vk-kernel-check.cpp - run compiled GPU kernels on a Vulkan device --===//
//
//   gemmac-vk-kernel-check --gguf MODEL.gguf --spirv KERNELS.spv [--device N]
//
// Runs the weight kernels that `compile-model MODEL.gguf --target vulkan
// --emit spirv` generated (linear_*, geglu_*, embed_*) on the model's own
// tensors and compares each output with a scalar reference: ggml's
// dequantization (runtime/formats) and dot products in double. Exits 77
// (CTest: skipped) when no Vulkan device can run the kernels.
//
//===----------------------------------------------------------------------===//

#include "frontends/gguf/GGUFFile.h"
#include "runtime/formats/formats.h"
#include "runtime/gpu/vulkan_device.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <map>
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

constexpr int64_t kTokens = 3;

float geluTanh(double x) {
  return static_cast<float>(
      0.5 * x * (1.0 + std::tanh(0.7978845608028654 * x * (1.0 + 0.044715 * x * x))));
}

struct Checker {
  vk::Device &dev;
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

  /// Runs `kernel` over `buffers`, grid (gx, kTokens), returns the last
  /// buffer's `outCount` floats.
  std::vector<float> run(const std::string &kernel,
                         const std::vector<vk::Buffer *> &buffers, uint32_t gx,
                         size_t outCount) {
    std::string error;
    vk::Pipeline *p = dev.pipeline(kernel, buffers.size(), error);
    std::vector<vk::Binding> bindings;
    for (vk::Buffer *b : buffers)
      bindings.push_back({b, 0, 0});
    std::vector<float> out(outCount);
    if (!p || !dev.begin(error) ||
        !dev.dispatch(p, bindings, gx, kTokens, 1, error) ||
        !dev.submit(error) ||
        !dev.download(buffers.back(), 0, out.data(), outCount * 4, error)) {
      llvm::errs() << "vk-kernel-check: " << kernel << ": " << error << "\n";
      std::exit(1);
    }
    for (vk::Buffer *b : buffers)
      dev.destroyBuffer(b);
    return out;
  }

  /// Compares with the reference; `scale[i]` bounds the rounding of entry i.
  void compare(const std::string &kernel, const std::vector<float> &got,
               const std::vector<double> &want,
               const std::vector<double> &scale) {
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
    // f32 arithmetic in another order than the reference: a few ulps of the
    // sum of magnitudes.
    bool ok = worst <= 1e-5;
    if (!ok)
      ++failed;
    llvm::outs() << llvm::format("%-4s %-44s max error %.2e of magnitude",
                                 ok ? "ok" : "FAIL", kernel.c_str(), worst);
    if (!ok)
      llvm::outs() << llvm::format(" (entry %zu: %g, want %g)", at, got[at],
                                   want[at]);
    llvm::outs() << "\n";
  }

  void linear(const gguf::TensorInfo &t, const std::string &kernel) {
    const int64_t rows = t.ne[1], cols = t.ne[0];
    std::vector<float> w = dequantize(t);
    std::vector<float> x = randomVector(kTokens * cols);
    std::vector<float> y = run(kernel,
                               {upload(t.data, t.nbytes),
                                upload(x.data(), x.size() * 4),
                                upload(nullptr, kTokens * rows * 4)},
                               rows, kTokens * rows);
    std::vector<double> want(y.size()), mag(y.size());
    for (int64_t tk = 0; tk < kTokens; ++tk)
      for (int64_t r = 0; r < rows; ++r) {
        double s = 0, m = 0;
        for (int64_t c = 0; c < cols; ++c) {
          double p = double(w[r * cols + c]) * x[tk * cols + c];
          s += p;
          m += std::fabs(p);
        }
        want[tk * rows + r] = s;
        mag[tk * rows + r] = m;
      }
    compare(kernel, y, want, mag);
  }

  void geglu(const gguf::TensorInfo &gate, const gguf::TensorInfo &up,
             const std::string &kernel) {
    const int64_t rows = gate.ne[1], cols = gate.ne[0];
    std::vector<float> wg = dequantize(gate), wu = dequantize(up);
    std::vector<float> x = randomVector(kTokens * cols);
    std::vector<float> y = run(kernel,
                               {upload(gate.data, gate.nbytes),
                                upload(up.data, up.nbytes),
                                upload(x.data(), x.size() * 4),
                                upload(nullptr, kTokens * rows * 4)},
                               rows, kTokens * rows);
    std::vector<double> want(y.size()), mag(y.size());
    for (int64_t tk = 0; tk < kTokens; ++tk)
      for (int64_t r = 0; r < rows; ++r) {
        double g = 0, u = 0, mg = 0, mu = 0;
        for (int64_t c = 0; c < cols; ++c) {
          double xv = x[tk * cols + c];
          g += wg[r * cols + c] * xv;
          u += wu[r * cols + c] * xv;
          mg += std::fabs(wg[r * cols + c] * xv);
          mu += std::fabs(wu[r * cols + c] * xv);
        }
        want[tk * rows + r] = geluTanh(g) * u;
        // gelu's slope is at most ~1.13; |gelu(g)| <= |g| + 0.2.
        mag[tk * rows + r] = (std::fabs(g) + 0.2) * mu + 1.2 * mg * std::fabs(u);
      }
    compare(kernel, y, want, mag);
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

  std::set<std::string> done;
  for (const gguf::TensorInfo &t : (*file)->tensors()) {
    if (t.nDims != 2 || !fmt::isSupported(t.type))
      continue;
    std::string type = fmt::typeName(static_cast<fmt::Type>(t.type));
    std::string shape = std::to_string(t.ne[1]) + "x" + std::to_string(t.ne[0]);
    std::string lin = "linear_" + type + "_" + shape;
    if (check.entries.count(lin) && done.insert(lin).second)
      check.linear(t, lin);
    // geglu kernels: a layer's gate with its up projection.
    llvm::StringRef name(t.name);
    if (name.ends_with(".ffn_gate.weight")) {
      std::string upName = name.drop_back(strlen("gate.weight")).str() + "up.weight";
      const gguf::TensorInfo *up = (*file)->findTensor(upName);
      std::string gg = "geglu_" + type + "_" + shape;
      if (up && up->type == t.type && check.entries.count(gg) &&
          done.insert(gg).second)
        check.geglu(t, *up, gg);
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
  llvm::outs() << check.checked << " kernels checked, " << check.failed
               << " failed\n";
  if (check.checked == 0) {
    llvm::errs() << "vk-kernel-check: no weight kernel of " << spirvPath
                 << " matches a tensor of " << ggufPath << "\n";
    return 1;
  }
  return check.failed ? 1 : 0;
}
