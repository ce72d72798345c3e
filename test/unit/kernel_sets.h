// The kernel sets (gemmac_rt::kernels) this CPU can run, for tests that hold
// every set to its reference.
#pragma once

#include "runtime/src/rt.h"

#include <vector>

namespace gemmac::test {

/// KernelSet::Avx2, and KernelSet::Avx512 where the CPU has the features a
/// program using it is compiled for (runtime/kernels/avx512.h).
inline std::vector<rt::KernelSet> kernelSets() {
  std::vector<rt::KernelSet> sets{rt::KernelSet::Avx2};
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512vnni") &&
      __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512vbmi"))
    sets.push_back(rt::KernelSet::Avx512);
  return sets;
}

inline const char *kernelSetName(rt::KernelSet set) {
  return set == rt::KernelSet::Avx512 ? "AVX-512" : "AVX2";
}

} // namespace gemmac::test
