// Whether this CPU runs a program: the features its meta records
// (abi/cpu_features.h) against what the CPU reports (cpuid, and the OS's
// saving of the wide registers, through __builtin_cpu_supports).
#include "runtime/src/model.h"

#include <string>

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
#include "abi/cpu_features.h"
#else
  // The features are x86's: a program needing any is not for this CPU.
  if (bits)
    missing = cpuFeatureNames(bits);
#endif
  return missing;
}
