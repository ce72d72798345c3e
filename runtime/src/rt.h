// The runtime context every kernel receives: the thread pool and scratch.
#pragma once

#include "runtime/kernels/kernels.h"
#include "runtime/src/thread_pool.h"

#include <cstdlib>
#include <memory>

struct gemmac_rt {
  explicit gemmac_rt(int threads) : pool(threads) {}
  ~gemmac_rt() { std::free(scratch); }

  gemmac::rt::ThreadPool pool;
  void *scratch = nullptr;
  size_t scratchBytes = 0;
};
