// The runtime context every kernel receives: the thread pool and scratch.
#pragma once

#include "runtime/kernels/kernels.h"
#include "runtime/src/thread_pool.h"

#include <cstdlib>
#include <memory>

namespace gemmac::rt {
/// Which kernels run a program's products: the AVX2 ones everywhere, or the
/// AVX-512 (F/BW/VL/DQ/VNNI) ones where the program was compiled for a CPU
/// that has them (kernelSetFor its recorded features). Both compute the same
/// results; only the speed differs.
enum class KernelSet { Avx2, Avx512 };
} // namespace gemmac::rt

struct gemmac_rt {
  explicit gemmac_rt(int threads) : pool(threads) {}
  ~gemmac_rt() { std::free(scratch); }

  gemmac::rt::ThreadPool pool;
  void *scratch = nullptr;
  size_t scratchBytes = 0;
  gemmac::rt::KernelSet kernels = gemmac::rt::KernelSet::Avx2;
};
