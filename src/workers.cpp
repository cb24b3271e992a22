#include "workers.hpp"

#include <algorithm>
#include <exception>

namespace labrun::detail {

std::vector<MlpResult> train_in_pieces(const std::vector<MlpSplit>& splits, const std::vector<MlpParams>& models,
                                       const MlpOptions& training, Engine engine, Workers* workers, int threads,
                                       const std::vector<std::function<void()>>& beside) {
  const auto train = [&](std::size_t first, std::size_t count) {
    const std::vector<MlpParams> part(models.begin() + static_cast<std::ptrdiff_t>(first),
                                      models.begin() + static_cast<std::ptrdiff_t>(first + count));
    const auto split_of = [&](std::size_t i) { return splits[splits.size() > 1 ? first + i : 0]; };
    if (engine == Engine::sequential) {
      std::vector<MlpResult> runs;
      for (std::size_t i = 0; i < count; ++i) runs.push_back(train_mlp(split_of(i), part[i], training));
      return runs;
    }
    std::vector<MlpSplit> own;
    if (splits.size() > 1) {
      for (std::size_t i = 0; i < count; ++i) own.push_back(split_of(i));
    }
    return train_mlp_batched(splits.size() > 1 ? own : std::vector<MlpSplit>{splits.front()}, part, training);
  };
  const std::size_t n = models.size();
  // Sixteen pieces a thread (the balance at the round's end, also when another process slows one
  // thread down), of a pack of 16 models at least.
  const std::size_t pieces =
      workers ? std::max<std::size_t>(1, std::min(n / 16, static_cast<std::size_t>(threads) * 16)) : 1;
  if (pieces < 2) {
    for (const std::function<void()>& task : beside) task();
    return train(0, n);
  }
  // Tasks [0, beside.size()) are `beside`; task t after them trains share t - beside.size().
  const std::size_t offset = beside.size(), tasks = offset + pieces;
  std::vector<std::vector<MlpResult>> results(pieces);
  std::vector<std::exception_ptr> errors(tasks);
  workers->run(tasks, [&](std::size_t task) {
    try {
      if (task < offset) {
        beside[task]();
        return;
      }
      const std::size_t p = task - offset, first = n * p / pieces, last = n * (p + 1) / pieces;
      results[p] = train(first, last - first);
    } catch (...) {
      errors[task] = std::current_exception();
    }
  });
  for (const std::exception_ptr& e : errors) {
    if (e) std::rethrow_exception(e);
  }
  std::vector<MlpResult> runs;
  runs.reserve(n);
  for (std::vector<MlpResult>& piece : results) {
    for (MlpResult& run : piece) runs.push_back(std::move(run));
  }
  return runs;
}

}  // namespace labrun::detail
