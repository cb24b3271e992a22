#pragma once
// The MLP study's threads: helper threads that live as long as a study, and the models of a chunk
// trained in pieces on them.

#include "labrun/mlp.hpp"

#include <ATen/Parallel.h>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace labrun::detail {

// This thread's OpenMP threads set to one while it lives, `threads` (the setting before) after.
class OneOpenMpThread {
 public:
  explicit OneOpenMpThread(int threads) : threads_(threads) {
#ifdef _OPENMP
    omp_set_num_threads(1);
#endif
  }
  ~OneOpenMpThread() {
#ifdef _OPENMP
    omp_set_num_threads(threads_);
#endif
  }
  OneOpenMpThread(const OneOpenMpThread&) = delete;
  OneOpenMpThread& operator=(const OneOpenMpThread&) = delete;

 private:
  [[maybe_unused]] int threads_;
};

// Helper threads that live as long as a study. libtorch sets up a thread's thread count the first
// time it runs an operation there, and re-creates its own thread pool in doing so, whose threads
// then spin for a while: a study starts its helpers once rather than once a chunk.
class Workers {
 public:
  explicit Workers(int helpers) {
    for (int t = 0; t < helpers; ++t) threads_.emplace_back([this] { loop(); });
  }
  ~Workers() {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (std::thread& t : threads_) t.join();
  }
  Workers(const Workers&) = delete;
  Workers& operator=(const Workers&) = delete;

  // task(p) for every p in [0, pieces), on the helpers and the calling thread, each piece taken by
  // whichever is free; returns when all are done. `task` must not throw.
  void run(std::size_t pieces, const std::function<void(std::size_t)>& task) {
    {
      const std::lock_guard<std::mutex> lock(mutex_);
      task_ = &task;
      pieces_ = pieces;
      next_ = 0;
      ++round_;
    }
    wake_.notify_all();
    take(task, pieces);
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return busy_ == 0; });
    task_ = nullptr;
  }

 private:
  void take(const std::function<void(std::size_t)>& task, std::size_t pieces) {
    for (std::size_t p; (p = next_++) < pieces;) task(p);
  }

  void loop() {
    // This thread's operations run on it alone: the first call reads libtorch's thread count
    // into this thread's OpenMP setting, which then becomes 1 for this thread only.
    (void)at::get_num_threads();
#ifdef _OPENMP
    omp_set_num_threads(1);
#endif
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      wake_.wait(lock, [&] { return stop_ || (round_ != seen && task_ != nullptr); });
      if (stop_) return;
      seen = round_;
      const std::function<void(std::size_t)>& task = *task_;
      const std::size_t pieces = pieces_;
      ++busy_;
      lock.unlock();
      take(task, pieces);
      lock.lock();
      if (--busy_ == 0) done_.notify_all();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> threads_;
  const std::function<void(std::size_t)>* task_ = nullptr;
  std::size_t pieces_ = 0;
  std::atomic<std::size_t> next_{0};
  std::size_t busy_ = 0;
  uint64_t round_ = 0;
  bool stop_ = false;
};

// Trains `models` (with one split, or one per model) split into pieces that the workers and this
// thread take in turn, each piece on one thread with libtorch's intra-op threads off: no barrier
// between the threads but the last piece, so a thread slowed by another process does fewer pieces
// instead of holding the other up at every operation. The runs come back in order; each model's
// numbers do not depend on its piece (the engines compute models independently).
// `beside`: tasks run once each beside the pieces, taken first (before the pieces, in order,
// without workers).
std::vector<MlpResult> train_in_pieces(const std::vector<MlpSplit>& splits, const std::vector<MlpParams>& models,
                                       const MlpOptions& training, Engine engine, Workers* workers, int threads,
                                       const std::vector<std::function<void()>>& beside);

}  // namespace labrun::detail
