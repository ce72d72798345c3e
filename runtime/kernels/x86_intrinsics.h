// The x86 intrinsics the kernels are written in. On x86 they are the
// compiler's own; elsewhere (aarch64) SIMDe (Debian's libsimde-dev)
// implements each with the target's instructions and the same result bits,
// so one kernel source reproduces llama.cpp's AVX2 arithmetic on any CPU.
#pragma once

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#else
#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>
#include <simde/x86/f16c.h>
#include <simde/x86/fma.h>
#ifndef _MM_FROUND_NO_EXC
#define _MM_FROUND_NO_EXC SIMDE_MM_FROUND_NO_EXC
#endif
#endif
