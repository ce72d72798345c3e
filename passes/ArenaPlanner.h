//===- ArenaPlanner.h - first-fit placement of activations ---------*- C++ -*-===//
//
// Activations of a forward step share one scratch arena: a value gets a range
// when it is computed and gives it back after its last use. The CPU lowering
// plans per-token offsets (scaled by the token count at run time); GPU
// programs plan slots of max_batch rows.
//
//===----------------------------------------------------------------------===//
#pragma once

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <map>

namespace gemmac {

/// First-fit allocator over per-token byte offsets.
class ArenaPlanner {
public:
  int64_t allocate(int64_t size) {
    for (auto it = free.begin(); it != free.end(); ++it) {
      if (it->second < size)
        continue;
      int64_t off = it->first, rest = it->second - size;
      free.erase(it);
      if (rest)
        free[off + size] = rest;
      return off;
    }
    // Grow from the end, absorbing a free gap that touches it.
    int64_t off = end;
    if (!free.empty()) {
      auto last = std::prev(free.end());
      if (last->first + last->second == end) {
        off = last->first;
        free.erase(last);
      }
    }
    end = off + size;
    peak = std::max(peak, end);
    return off;
  }
  void release(int64_t off, int64_t size) {
    auto [it, inserted] = free.emplace(off, size);
    (void)inserted;
    auto next = std::next(it);
    if (next != free.end() && it->first + it->second == next->first) {
      it->second += next->second;
      free.erase(next);
    }
    if (it != free.begin()) {
      auto prev = std::prev(it);
      if (prev->first + prev->second == it->first) {
        prev->second += it->second;
        free.erase(it);
      }
    }
  }
  int64_t peak = 0;

private:
  std::map<int64_t, int64_t> free; // offset -> size
  int64_t end = 0;
};

} // namespace gemmac
