// The runtime context every kernel receives: the thread pool and scratch.
#pragma once

#include "runtime/kernels/kernels.h"
#include "runtime/src/thread_pool.h"

#include <cstdlib>
#include <memory>

namespace gemmac::rt {
/// Which llama.cpp CPU build a program's kernels reproduce (kernelSetFor its
/// recorded features): the AVX2 ("haswell") one everywhere; the AVX-512
/// ("zen4") one where the program was compiled for a CPU with its features;
/// on aarch64, the Arm one for CPUs with the dot-product and half-precision
/// extensions (armv8.2-a+dotprod+fp16, docs/arm.md): its NEON activation
/// quantizer and four-lane softmax sums, the AVX2 kernels' arithmetic
/// elsewhere (the same bits there).
enum class KernelSet { Avx2, Avx512, Arm };
} // namespace gemmac::rt

struct gemmac_rt {
  explicit gemmac_rt(int threads) : pool(threads) {}
  ~gemmac_rt() { std::free(scratch); }

  gemmac::rt::ThreadPool pool;
  void *scratch = nullptr;
  size_t scratchBytes = 0;
  gemmac::rt::KernelSet kernels = gemmac::rt::KernelSet::Avx2;
};
