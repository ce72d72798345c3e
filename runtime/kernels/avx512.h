// The target attribute of the AVX-512 kernels (KernelSet::Avx512): the
// features of llama.cpp's "zen4" CPU build, whose arithmetic they reproduce.
// Only functions marked with it use AVX-512; the files around them keep the
// runtime's x86-64-v3 flags, so no inline helper shared with the AVX2 code is
// ever compiled for AVX-512 (a program compiled for AVX2 never meets an
// AVX-512 instruction).
// Other architectures (aarch64: the AVX2 kernels through SIMDe,
// x86_intrinsics.h) have no AVX-512 kernels: GEMMAC_HAVE_AVX512 is 0 there
// and KernelSet::Avx512 is never chosen (cpu_features.cpp).
#pragma once

#if defined(__x86_64__) || defined(__i386__)
#define GEMMAC_HAVE_AVX512 1
#define GEMMAC_AVX512                                                          \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512cd,"        \
                        "avx512vnni,avx512bf16,avx512vbmi")))
#else
#define GEMMAC_HAVE_AVX512 0
#endif
