// Whether this CPU runs a program: the features its meta records
// (abi/cpu_features.h) against what the CPU reports (x86: cpuid, and the
// OS's saving of the wide registers, through __builtin_cpu_supports;
// aarch64: the kernel's hwcaps).
#include "runtime/kernels/avx512.h"
#include "runtime/src/model.h"

#include <string>

#if defined(__aarch64__)
#include <sys/auxv.h>
#endif

namespace {
void append(std::string &list, const char *name) {
  list += (list.empty() ? "" : ", ") + std::string(name);
}
} // namespace

std::string gemmac::rt::cpuFeatureNames(uint64_t bits) {
  std::string names;
#define GEMMAC_CPU_FEATURE(bit, name)                                          \
  if (bits >> (bit) & 1)                                                       \
    append(names, name);
#define GEMMAC_ARM_FEATURE(bit, name, hwcap, hwcapBit)                         \
  GEMMAC_CPU_FEATURE(bit, name)
#include "abi/cpu_features.h"
  return names;
}

std::string gemmac::rt::missingCpuFeatures(uint64_t bits) {
  std::string missing;
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
#define GEMMAC_CPU_FEATURE(bit, name)                                          \
  if ((bits >> (bit) & 1) && !__builtin_cpu_supports(name))                    \
    append(missing, name);
#define GEMMAC_ARM_FEATURE(bit, name, hwcap, hwcapBit)                         \
  if (bits >> (bit)&1)                                                         \
    append(missing, name);
#include "abi/cpu_features.h"
#elif defined(__aarch64__)
  const unsigned long hwcaps[] = {0, getauxval(AT_HWCAP), getauxval(AT_HWCAP2)};
#define GEMMAC_CPU_FEATURE(bit, name)                                          \
  if (bits >> (bit)&1)                                                         \
    append(missing, name);
#define GEMMAC_ARM_FEATURE(bit, name, hwcap, hwcapBit)                         \
  if ((bits >> (bit)&1) && !(hwcaps[hwcap] >> (hwcapBit)&1))                   \
    append(missing, name);
#include "abi/cpu_features.h"
#else
  // No CPU of another architecture has these features.
  missing = cpuFeatureNames(bits);
#endif
  return missing;
}

#if GEMMAC_HAVE_AVX512
namespace {
/// The features of llama.cpp's AVX-512 ("zen4") build, whose arithmetic the
/// AVX-512 kernels reproduce (runtime/kernels/avx512.h): their bits.
uint64_t avx512SetBits() {
  static const char *const kAvx512Set[] = {
      "avx512f",  "avx512bw",   "avx512vl",   "avx512dq",
      "avx512cd", "avx512vnni", "avx512bf16", "avx512vbmi"};
  uint64_t bits = 0;
  for (const char *name : kAvx512Set) {
#define GEMMAC_CPU_FEATURE(bit, feature)                                       \
  if (std::string(feature) == name)                                            \
    bits |= uint64_t{1} << (bit);
#include "abi/cpu_features.h"
  }
  return bits;
}
} // namespace
#endif

gemmac::rt::KernelSet gemmac::rt::kernelSetFor(uint64_t bits) {
#if GEMMAC_HAVE_AVX512
  const uint64_t needed = avx512SetBits();
  return (bits & needed) == needed ? KernelSet::Avx512 : KernelSet::Avx2;
#else
  // llama.cpp's Arm build for CPUs with dotprod and fp16 arithmetic (its
  // armv8.2_2 variant), else the AVX2 kernels' arithmetic (through SIMDe).
  uint64_t needed = 0;
#define GEMMAC_CPU_FEATURE(bit, feature)
#define GEMMAC_ARM_FEATURE(bit, feature, hwcap, hwcapBit)                      \
  if (std::string(feature) == "dotprod" || std::string(feature) == "fullfp16") \
    needed |= uint64_t{1} << (bit);
#include "abi/cpu_features.h"
  return (bits & needed) == needed ? KernelSet::Arm : KernelSet::Avx2;
#endif
}

gemmac::rt::KernelSet gemmac::rt::kernelSetForThisCpu() {
#if GEMMAC_HAVE_AVX512
  return missingCpuFeatures(avx512SetBits()).empty() ? KernelSet::Avx512
                                                     : KernelSet::Avx2;
#else
  return KernelSet::Avx2;
#endif
}

const char *gemmac::rt::kernelSetName(KernelSet set) {
  switch (set) {
  case KernelSet::Avx512:
    return "avx512";
  case KernelSet::Arm:
    return "arm";
  case KernelSet::Avx2:
    break;
  }
  return "avx2";
}
