// The CPU features a compiled program may depend on, one bit each:
// compile-model records the ones its --target implies in the model meta
// (kMetaCpuFeatures), and the runtime refuses to open a program on a CPU
// that lacks any of them (runtime/src/cpu_features.cpp), naming them,
// instead of dying of an illegal instruction.
// x86 (bits 0-31): each name is both LLVM's feature name and
// __builtin_cpu_supports'.
//   GEMMAC_CPU_FEATURE(bit, name)
// AArch64 (bits 32-63), when GEMMAC_ARM_FEATURE is defined: LLVM's feature
// name and the Linux hwcap that reports it (getauxval(AT_HWCAP) or
// AT_HWCAP2, and the bit there).
//   GEMMAC_ARM_FEATURE(bit, name, hwcap, hwcapBit)
#ifndef GEMMAC_CPU_FEATURE
#error "define GEMMAC_CPU_FEATURE(bit, name) first"
#endif
GEMMAC_CPU_FEATURE(0, "sse4.2")
GEMMAC_CPU_FEATURE(1, "avx")
GEMMAC_CPU_FEATURE(2, "avx2")
GEMMAC_CPU_FEATURE(3, "fma")
GEMMAC_CPU_FEATURE(4, "bmi2")
GEMMAC_CPU_FEATURE(5, "avx512f")
GEMMAC_CPU_FEATURE(6, "avx512bw")
GEMMAC_CPU_FEATURE(7, "avx512vl")
GEMMAC_CPU_FEATURE(8, "avx512dq")
GEMMAC_CPU_FEATURE(9, "avx512cd")
GEMMAC_CPU_FEATURE(10, "avx512vnni")
GEMMAC_CPU_FEATURE(11, "avx512bf16")
GEMMAC_CPU_FEATURE(12, "avx512vbmi")
GEMMAC_CPU_FEATURE(13, "avx512vbmi2")
GEMMAC_CPU_FEATURE(14, "avx512ifma")
GEMMAC_CPU_FEATURE(15, "avx512bitalg")
GEMMAC_CPU_FEATURE(16, "avx512vpopcntdq")
GEMMAC_CPU_FEATURE(17, "avx512fp16")
GEMMAC_CPU_FEATURE(18, "avxvnni")
GEMMAC_CPU_FEATURE(19, "gfni")
GEMMAC_CPU_FEATURE(20, "vaes")
GEMMAC_CPU_FEATURE(21, "vpclmulqdq")
GEMMAC_CPU_FEATURE(22, "amx-tile")
GEMMAC_CPU_FEATURE(23, "amx-int8")
GEMMAC_CPU_FEATURE(24, "amx-bf16")
#ifdef GEMMAC_ARM_FEATURE
GEMMAC_ARM_FEATURE(32, "neon", 1, 1)      // HWCAP_ASIMD
GEMMAC_ARM_FEATURE(33, "fullfp16", 1, 10) // HWCAP_ASIMDHP
GEMMAC_ARM_FEATURE(34, "dotprod", 1, 20)  // HWCAP_ASIMDDP
GEMMAC_ARM_FEATURE(35, "sve", 1, 22)      // HWCAP_SVE
GEMMAC_ARM_FEATURE(36, "sve2", 2, 1)      // HWCAP2_SVE2
GEMMAC_ARM_FEATURE(37, "i8mm", 2, 13)     // HWCAP2_I8MM
GEMMAC_ARM_FEATURE(38, "bf16", 2, 14)     // HWCAP2_BF16
#undef GEMMAC_ARM_FEATURE
#endif
#undef GEMMAC_CPU_FEATURE
