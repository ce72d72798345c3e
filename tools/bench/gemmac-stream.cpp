// The machine's memory read bandwidth, measured the way a decoded token
// reads its weights: every thread streams its own contiguous part of a
// buffer much larger than the caches (in 2 MiB pages where the system has
// them, as the compiled program's weights are), summing it with 256-bit
// loads. Prints the median and the best of several passes.
//
//   gemmac-stream [--threads N] [--gib G] [--reps R] [--json]

#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <sys/mman.h>
#include <thread>
#include <vector>

namespace {

[[noreturn]] void usage() {
  std::fprintf(stderr, "usage: gemmac-stream [--threads N] [--gib G] [--reps R] [--json]\n");
  std::exit(2);
}

/// Sums bytes [begin, end) as 64-bit lanes; the result keeps the loads live.
uint64_t readRange(const uint8_t *begin, const uint8_t *end) {
  __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
  for (const uint8_t *p = begin; p < end; p += 128) {
    a = _mm256_add_epi64(a, _mm256_load_si256(reinterpret_cast<const __m256i *>(p)));
    b = _mm256_add_epi64(b, _mm256_load_si256(reinterpret_cast<const __m256i *>(p + 32)));
    c = _mm256_add_epi64(c, _mm256_load_si256(reinterpret_cast<const __m256i *>(p + 64)));
    d = _mm256_add_epi64(d, _mm256_load_si256(reinterpret_cast<const __m256i *>(p + 96)));
  }
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i *>(lanes),
                     _mm256_add_epi64(_mm256_add_epi64(a, b), _mm256_add_epi64(c, d)));
  return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}

} // namespace

int main(int argc, char **argv) {
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  double gib = 2;
  int reps = 7;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> const char * {
      if (i + 1 >= argc)
        usage();
      return argv[++i];
    };
    if (a == "--threads") threads = std::atoi(next());
    else if (a == "--gib") gib = std::atof(next());
    else if (a == "--reps") reps = std::atoi(next());
    else if (a == "--json") json = true;
    else usage();
  }
  if (threads < 1 || gib <= 0 || reps < 1)
    usage();
  constexpr size_t kHuge = 2u << 20;
  const size_t bytes = static_cast<size_t>(gib * (1u << 30)) / kHuge * kHuge;
  void *map = mmap(nullptr, bytes + kHuge, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (map == MAP_FAILED) {
    std::perror("gemmac-stream: mmap");
    return 1;
  }
  auto *buf = reinterpret_cast<uint8_t *>(
      (reinterpret_cast<uintptr_t>(map) + kHuge - 1) & ~(kHuge - 1));
  madvise(buf, bytes, MADV_HUGEPAGE);
  std::memset(buf, 1, bytes);

  const size_t part = bytes / threads / 128 * 128;
  std::vector<double> rates;
  uint64_t sink = 0;
  for (int r = 0; r < reps; ++r) {
    std::vector<std::thread> pool;
    std::vector<uint64_t> sums(threads);
    const auto t0 = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] {
        sums[t] = readRange(buf + t * part, buf + (t + 1) * part);
      });
    for (std::thread &t : pool)
      t.join();
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rates.push_back(static_cast<double>(part) * threads / s / 1e9);
    for (uint64_t v : sums)
      sink += v;
  }
  std::sort(rates.begin(), rates.end());
  const double median = rates[rates.size() / 2], best = rates.back();
  if (json)
    std::printf("{\"read_gb_s\": %.3f, \"best_gb_s\": %.3f, \"threads\": %d, "
                "\"bytes\": %zu, \"reps\": %d, \"check\": %llu}\n",
                median, best, threads, bytes, reps,
                static_cast<unsigned long long>(sink % 1000));
  else
    std::printf("read bandwidth, %d threads, %.1f GiB: median %.2f GB/s, best "
                "%.2f GB/s\n",
                threads, bytes / double(1u << 30), median, best);
  return 0;
}
