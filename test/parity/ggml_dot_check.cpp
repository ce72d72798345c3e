// gemmac's weight kernels against llama.cpp's own dot products, called in
// the pinned llama.cpp CPU library (node-llama-cpp's haswell build, the
// arithmetic gemmac's AVX2 kernels reproduce): for each format checked here,
// random weight rows -- arbitrary block bytes, not only what a quantizer
// writes -- times activations of many magnitudes through gmk_linear_<fmt>
// must equal, bit for bit, llama.cpp's quantize_row_q8_0 then
// ggml_vec_dot_<fmt>_q8_0.
//
// Float weights in the products tinyBLAS declines (rows not a multiple of
// 4, widths not a multiple of its lanes) go through llama.cpp's
// ggml_vec_dot_f32/f16/bf16, whose sums differ between its AVX2 and AVX-512
// builds: gemmac's AVX2 kernel set is checked against the first, and with
// ZEN4DIR (a node-llama-cpp install's bins/linux-x64 holding the AVX-512
// build, libggml-cpu-zen4.so) on a CPU with that build's features, the
// AVX-512 kernel set against the second.
//
//   gemmac-ggml-dot-check LIBDIR [ZEN4DIR]   (LIBDIR: node-llama-cpp's bins/linux-x64)
//
// Exits 77 (skipped) where the library or the CPU's AVX2 is missing.

#include "formats/formats.h"
#include "runtime/kernels/kernels.h"
#include "runtime/src/rt.h"
#include "test/unit/kernel_sets.h"

#include <dlfcn.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using namespace gemmac::fmt;

namespace {

using VecDot = void (*)(int n, float *s, size_t bs, const void *x, size_t bx,
                        const void *y, size_t by, int nrc);
using QuantizeRow = void (*)(const float *x, void *y, int64_t k);
using LinearFn = void (*)(gemmac_rt *, float *, const float *, int64_t,
                          const uint8_t *, int64_t, int64_t);

struct Format {
  const char *name;
  Type type;
  const char *vecDot;
  LinearFn linear;
};

// Formats whose gemmac kernel follows llama.cpp's vec_dot for every row
// count (the others take its repacked GEMMs for some shapes, which the
// model-level parity suite covers).
const Format kFormats[] = {
    {"nvfp4", Type::NVFP4, "ggml_vec_dot_nvfp4_q8_0", gmk_linear_nvfp4},
};

// ggml_get_type_traits_cpu's struct and the ggml_type values used here.
struct TypeTraitsCpu {
  void (*fromFloat)(const float *, void *, int64_t);
  VecDot vecDot;
  int vecDotType;
  int64_t nrows;
};
using GetTraits = const TypeTraitsCpu *(*)(int);

struct FloatFormat {
  const char *name;
  Type type;
  int ggmlType;
  LinearFn linear;
};
const FloatFormat kFloatFormats[] = {
    {"f32", Type::F32, 0, gmk_linear_f32},
    {"f16", Type::F16, 1, gmk_linear_f16},
    {"bf16", Type::BF16, 30, gmk_linear_bf16},
};

/// gmk_linear_<f32|f16|bf16> of kernel set `set` against the vec_dot of the
/// CPU library `cpu` (ggml_cpu_init done), over products of 3 rows (which
/// tinyBLAS declines) and widths with and without leftovers. Returns the
/// number of outputs that differ.
int checkFloatVecDot(void *cpu, const char *lib, gemmac::rt::KernelSet set,
                     std::mt19937 &rng) {
  auto traits = reinterpret_cast<GetTraits>(dlsym(cpu, "ggml_get_type_traits_cpu"));
  if (!traits) {
    std::fprintf(stderr, "%s: ggml_get_type_traits_cpu missing\n", lib);
    return 1;
  }
  std::normal_distribution<float> normal(0.0f, 1.0f);
  int failures = 0;
  for (const FloatFormat &f : kFloatFormats) {
    const TypeTraitsCpu *tr = traits(f.ggmlType);
    int checked = 0, wrong = 0;
    gemmac_rt rt(2);
    rt.kernels = set;
    for (int64_t K : {64, 128, 96, 520, 200, 100, 37, 1000, 2048}) {
      const int64_t N = 3, T = 2;
      const size_t rowBytes = gemmac::fmt::rowBytes(f.type, K);
      std::vector<float> wf(N * K), x(T * K);
      for (float &v : wf)
        v = normal(rng);
      for (float &v : x)
        v = normal(rng);
      std::vector<uint8_t> w(N * rowBytes);
      for (int64_t n = 0; n < N; ++n)
        gemmac::fmt::quantizeRow(f.type, wf.data() + n * K,
                                 w.data() + n * rowBytes, K);
      std::vector<float> got(T * N);
      f.linear(&rt, got.data(), x.data(), T, w.data(), N, K);
      std::vector<uint8_t> a(rowBytes);
      for (int64_t t = 0; t < T; ++t) {
        // The activation row in the weight's type, as llama.cpp converts it.
        gemmac::fmt::quantizeRow(f.type, x.data() + t * K, a.data(), K);
        for (int64_t n = 0; n < N; ++n) {
          float want;
          tr->vecDot(static_cast<int>(K), &want, 0, w.data() + n * rowBytes, 0,
                     a.data(), 0, 1);
          const float g = got[t * N + n];
          ++checked;
          if (std::memcmp(&g, &want, 4) != 0 && ++wrong <= 5)
            std::printf("%s (%s kernels) K=%lld row %lld token %lld: gemmac "
                        "%.9g, llama.cpp %.9g\n",
                        f.name, gemmac::test::kernelSetName(set),
                        static_cast<long long>(K), static_cast<long long>(n),
                        static_cast<long long>(t), g, want);
        }
      }
    }
    std::printf("%s (%s kernels): %d of %d outputs equal to %s's vec_dot\n",
                f.name, gemmac::test::kernelSetName(set), checked - wrong,
                checked, lib);
    failures += wrong;
  }
  return failures;
}

} // namespace

int main(int argc, char **argv) {
  if (argc != 2 && argc != 3) {
    std::fprintf(stderr, "usage: gemmac-ggml-dot-check LIBDIR [ZEN4DIR]\n");
    return 2;
  }
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    std::printf("SKIP: no AVX2/FMA\n");
    return 77;
  }
  const std::string dir = argv[1];
  if (!dlopen((dir + "/libggml-base.so").c_str(), RTLD_NOW | RTLD_GLOBAL)) {
    std::printf("SKIP: %s\n", dlerror());
    return 77;
  }
  void *cpu = dlopen((dir + "/libggml-cpu-haswell.so").c_str(), RTLD_NOW);
  if (!cpu) {
    std::printf("SKIP: %s\n", dlerror());
    return 77;
  }
  auto init = reinterpret_cast<void (*)()>(dlsym(cpu, "ggml_cpu_init"));
  auto q8 = reinterpret_cast<QuantizeRow>(dlsym(cpu, "quantize_row_q8_0"));
  if (!init || !q8) {
    std::fprintf(stderr, "ggml_cpu_init or quantize_row_q8_0 missing\n");
    return 1;
  }
  init(); // fills the f16 and UE4M3 tables the dot products read

  std::mt19937 rng(20261205);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  int failures = 0;
  for (const Format &f : kFormats) {
    auto dot = reinterpret_cast<VecDot>(dlsym(cpu, f.vecDot));
    if (!dot) {
      std::fprintf(stderr, "%s missing from the library\n", f.vecDot);
      return 1;
    }
    int checked = 0, wrong = 0;
    gemmac_rt rt(2);
    for (int trial = 0; trial < 60; ++trial) {
      const int64_t K = 64 * (1 + trial % 12), N = 1 + trial % 9,
                    T = 1 + trial % 7;
      const size_t rowBytes = gemmac::fmt::rowBytes(f.type, K);
      std::vector<uint8_t> w(N * rowBytes);
      for (uint8_t &b : w)
        b = static_cast<uint8_t>(rng());
      std::vector<float> x(T * K);
      for (int64_t t = 0; t < T; ++t) {
        const float scale = std::exp(2.0f * normal(rng));
        for (int64_t k = 0; k < K; ++k)
          x[t * K + k] = scale * normal(rng);
      }
      std::vector<float> got(T * N);
      f.linear(&rt, got.data(), x.data(), T, w.data(), N, K);
      std::vector<BlockQ8_0> a(K / 32);
      for (int64_t t = 0; t < T; ++t) {
        q8(x.data() + t * K, a.data(), K);
        for (int64_t n = 0; n < N; ++n) {
          float want;
          dot(static_cast<int>(K), &want, 0, w.data() + n * rowBytes, 0,
              a.data(), 0, 1);
          const float g = got[t * N + n];
          ++checked;
          if (std::memcmp(&g, &want, 4) != 0 &&
              !(std::isnan(g) && std::isnan(want))) {
            if (++wrong <= 5)
              std::printf("%s K=%lld row %lld token %lld: gemmac %.9g, "
                          "llama.cpp %.9g\n",
                          f.name, static_cast<long long>(K),
                          static_cast<long long>(n), static_cast<long long>(t),
                          g, want);
          }
        }
      }
    }
    std::printf("%s: %d of %d outputs equal to llama.cpp's %s\n", f.name,
                checked - wrong, checked, f.vecDot);
    failures += wrong;
  }
  failures += checkFloatVecDot(cpu, "libggml-cpu-haswell.so",
                               gemmac::rt::KernelSet::Avx2, rng);
  const auto sets = gemmac::test::kernelSets();
  if (argc == 3 && sets.back() == gemmac::rt::KernelSet::Avx512) {
    const std::string zen4Dir = argv[2];
    void *zen4 = dlopen((zen4Dir + "/libggml-cpu-zen4.so").c_str(), RTLD_NOW);
    if (!zen4) {
      std::printf("FAIL: %s\n", dlerror());
      return 1;
    }
    reinterpret_cast<void (*)()>(dlsym(zen4, "ggml_cpu_init"))();
    failures += checkFloatVecDot(zen4, "libggml-cpu-zen4.so",
                                 gemmac::rt::KernelSet::Avx512, rng);
  } else if (argc == 3) {
    std::printf("(the AVX-512 kernels are not checked: this CPU lacks the "
                "features of llama.cpp's zen4 build)\n");
  }
  return failures ? 1 : 0;
}
