#include "runtime/src/rt.h"

#include <cstdio>

extern "C" void *gemmac_rt_scratch(gemmac_rt *rt, size_t bytes) {
  if (bytes > rt->scratchBytes) {
    std::free(rt->scratch);
    size_t size = (bytes + 63) / 64 * 64;
    rt->scratch = std::aligned_alloc(64, size);
    if (!rt->scratch) {
      std::fprintf(stderr, "gemmac: out of memory (scratch of %zu bytes)\n",
                   bytes);
      std::abort();
    }
    rt->scratchBytes = size;
  }
  return rt->scratch;
}
