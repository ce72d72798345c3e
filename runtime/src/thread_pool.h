// A persistent pool of worker threads. Kernels split their work into ranges
// with parallelFor; the calling thread works too and returns when all ranges
// are done. Between jobs workers spin for a short while (a decode step issues
// hundreds of jobs a few hundred microseconds apart, and waking a sleeping
// thread costs tens of microseconds), then sleep on a condition variable.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <pthread.h>
#include <string>
#include <vector>

namespace gemmac::rt {

/// CPUs this process may run on (its affinity mask; taskset), at least 1.
int usableCpus();

class ThreadPool {
public:
  /// Starts threads - 1 workers. Threads are made with pthread_create (the
  /// runtime has no exceptions): when the system refuses one, the pool keeps
  /// those it has and error() says why.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool &) = delete;
  ThreadPool &operator=(const ThreadPool &) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }
  /// Why a worker could not be started ("" if all were).
  const std::string &error() const { return error_; }

  /// Calls fn(begin, end) over [0, n) in chunks of at least `grain`, about
  /// four chunks per thread. Not reentrant: fn must not call parallelFor or
  /// parallelChunks.
  void parallelFor(int64_t n, int64_t grain,
                   const std::function<void(int64_t, int64_t)> &fn);
  /// Calls fn(begin, end) over [0, n) in chunks of exactly `chunk` items (the
  /// last may be shorter), each taken by whichever thread is free: for work
  /// the caller has already cut to balance. Not reentrant either.
  void parallelChunks(int64_t n, int64_t chunk,
                      const std::function<void(int64_t, int64_t)> &fn);

private:
  static void *workerMain(void *pool);
  void workerLoop();
  void runChunks();

  std::vector<pthread_t> workers_;
  std::string error_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<uint64_t> generation_{0}; // bumped once per job
  std::atomic<int> pending_{0};         // workers still in the current job
  std::atomic<int> sleeping_{0};
  std::atomic<bool> stop_{false};
  // The current job.
  const std::function<void(int64_t, int64_t)> *fn_ = nullptr;
  int64_t n_ = 0, chunk_ = 1;
  std::atomic<int64_t> next_{0};
};

} // namespace gemmac::rt
