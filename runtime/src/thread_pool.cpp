#include "runtime/src/thread_pool.h"

#include "runtime/kernels/x86_intrinsics.h"

#include <algorithm>
#include <cstring>
#include <sched.h>
#include <thread>
#include <unistd.h>

namespace gemmac::rt {

namespace {
/// Tens of microseconds of pause instructions (the gap between two kernels of
/// one forward step), then a while of yielding the core (another process may
/// want it), then sleep.
constexpr int kPauseSpins = 1 << 11;
constexpr int kSpinsBeforeSleep = kPauseSpins + 256;
} // namespace

int usableCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0)
      return n;
  }
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<int>(n) : 1;
}

ThreadPool::ThreadPool(int threads) {
  const int n = std::max(1, threads);
  workers_.reserve(static_cast<size_t>(n - 1));
  for (int i = 1; i < n; ++i) {
    pthread_t t;
    int rc = pthread_create(&t, nullptr, &ThreadPool::workerMain, this);
    if (rc != 0) {
      error_ = "cannot start worker thread " + std::to_string(i + 1) + " of " +
               std::to_string(n) + ": " + std::strerror(rc);
      break;
    }
    workers_.push_back(t);
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_.store(true);
  }
  wake_.notify_all();
  for (pthread_t t : workers_)
    pthread_join(t, nullptr);
}

void *ThreadPool::workerMain(void *pool) {
  static_cast<ThreadPool *>(pool)->workerLoop();
  return nullptr;
}

void ThreadPool::runChunks() {
  for (;;) {
    int64_t begin = next_.fetch_add(chunk_, std::memory_order_relaxed);
    if (begin >= n_)
      return;
    (*fn_)(begin, std::min(n_, begin + chunk_));
  }
}

void ThreadPool::workerLoop() {
  uint64_t seen = 0;
  for (;;) {
    int spins = 0;
    uint64_t g;
    while ((g = generation_.load(std::memory_order_acquire)) == seen) {
      if (stop_.load(std::memory_order_relaxed))
        return;
      if (++spins < kPauseSpins) {
        _mm_pause();
        continue;
      }
      if (spins < kSpinsBeforeSleep) {
        std::this_thread::yield();
        continue;
      }
      // Announce the sleep before checking once more (sequentially
      // consistent with parallelFor's bump-then-check), so a job published
      // in between is either seen here or woken up for.
      std::unique_lock<std::mutex> lock(mutex_);
      sleeping_.fetch_add(1);
      wake_.wait(lock, [&] {
        return stop_.load() || generation_.load() != seen;
      });
      sleeping_.fetch_sub(1);
      spins = 0;
    }
    if (stop_.load(std::memory_order_relaxed))
      return;
    seen = g;
    runChunks();
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

void ThreadPool::parallelFor(int64_t n, int64_t grain,
                             const std::function<void(int64_t, int64_t)> &fn) {
  // A few chunks per thread balance uneven rows without much contention.
  const int64_t items = 4 * static_cast<int64_t>(size());
  parallelChunks(n, std::max<int64_t>(grain, (n + items - 1) / items), fn);
}

void ThreadPool::parallelChunks(
    int64_t n, int64_t chunk,
    const std::function<void(int64_t, int64_t)> &fn) {
  if (n <= 0)
    return;
  const int threads = size();
  if (threads == 1 || n <= chunk) {
    fn(0, n);
    return;
  }
  fn_ = &fn;
  n_ = n;
  chunk_ = std::max<int64_t>(1, chunk);
  next_.store(0, std::memory_order_relaxed);
  pending_.store(threads - 1, std::memory_order_relaxed);
  generation_.fetch_add(1); // publishes the job (sequentially consistent)
  if (sleeping_.load() > 0) {
    std::lock_guard<std::mutex> lock(mutex_);
    wake_.notify_all();
  }
  runChunks();
  // The workers are busy with their last chunks; if one of them lost its
  // core (another process wants it), let it have ours.
  for (int spins = 0; pending_.load(std::memory_order_acquire) != 0; ++spins) {
    if (spins < kPauseSpins)
      _mm_pause();
    else
      std::this_thread::yield();
  }
  fn_ = nullptr;
}

} // namespace gemmac::rt
