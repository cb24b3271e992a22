#include "labrun/studies.hpp"

#include "check.hpp"
#include "factorise_stream.hpp"
#include "labrun/resources.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <functional>
#include <limits>
#include <mutex>
#include <numeric>
#include <optional>
#include <thread>
#include <tuple>

namespace labrun {

const char* to_string(Engine engine) { return engine == Engine::sequential ? "sequential" : "batched"; }
const char* to_string(Streaming streaming) {
  switch (streaming) {
    case Streaming::always:
      return "always";
    case Streaming::never:
      return "never";
    case Streaming::automatic:
      break;
  }
  return "auto";
}

bool can_stream(int64_t rows, int64_t columns) { return columns <= rows && columns <= kMaxStreamedColumns; }

bool streams(int64_t rows, int64_t columns, const FactoriseStudyOptions& options) {
  if (options.normalise != Normalise::none) return false;  // the streamed blocks are not scaled
  switch (options.streaming) {
    case Streaming::always:
      return can_stream(rows, columns);
    case Streaming::never:
      return false;
    case Streaming::automatic:
      break;
  }
  return can_stream(rows, columns) && static_cast<double>(rows) * static_cast<double>(columns) >= kStreamedElements;
}

const char* to_string(Shuffle shuffle) {
  switch (shuffle) {
    case Shuffle::per_repeat:
      return "per-repeat";
    case Shuffle::none:
      return "none";
    case Shuffle::once:
      break;
  }
  return "once";
}

namespace {

// The top-`rank` principal subspace is one subspace only when the rank-th singular value of the
// centred data stands apart from the next (an all-zero or constant matrix has none that do):
// otherwise any basis of the tied directions is as good, and angles to it mean nothing.
void require_unique_subspace(const Pca& p, int64_t rank, const Dataset& data) {
  const auto& s = p.singular_values;
  const auto r = static_cast<std::size_t>(rank);
  const double tolerance =
      static_cast<double>(std::max(data.rows(), data.columns())) * std::numeric_limits<double>::epsilon() * s.front();
  if (s[r - 1] - s[r] > tolerance) return;
  char values[96];
  std::snprintf(values, sizeof values, "%.6g and %.6g", s[r - 1], s[r]);
  throw DataError(data.source + ": the centred data's singular values " + std::to_string(rank) + " and " +
                  std::to_string(rank + 1) + " (" + values + ") are equal to rounding, so its top-" +
                  std::to_string(rank) + " principal subspace is not unique and U cannot be compared with it" +
                  (s.front() == 0.0 ? " (the data is constant)" : "; choose another --rank"));
}

}  // namespace

double largest_column_share(const Dataset& data) {
  const int64_t rows = data.rows();
  if (rows < 2) return 0.0;
  // A block of rows at a time, its pages dropped after (a mapped .npy larger than the memory):
  // first each column's largest magnitude, then the spread of the columns divided by it.
  const int64_t block = std::max<int64_t>(1, (int64_t{1} << 20) / std::max<int64_t>(1, data.columns()));
  const auto each_block = [&](const std::function<void(const torch::Tensor&)>& visit) {
    for (int64_t begin = 0; begin < rows; begin += block) {
      const int64_t end = std::min(rows, begin + block);
      visit(data.features.narrow(0, begin, end - begin).to(torch::kFloat64));
      if (data.release_rows) data.release_rows(begin, end);
    }
  };
  torch::Tensor largest = torch::zeros({data.columns()}, torch::kFloat64);
  each_block([&](const torch::Tensor& b) { largest = torch::maximum(largest, b.abs().amax(0)); });
  largest.clamp_min_(std::numeric_limits<double>::min());
  torch::Tensor sum = torch::zeros_like(largest), squares = torch::zeros_like(largest);
  each_block([&](const torch::Tensor& b) {
    const torch::Tensor unit = b / largest;
    sum += unit.sum(0);
    squares += (unit * unit).sum(0);
  });
  const torch::Tensor mean = sum / static_cast<double>(rows);
  const torch::Tensor spread = (squares / static_cast<double>(rows) - mean * mean).clamp_min(0.0);
  // A constant column (which normalise std refuses) makes the share 0: std is no answer there.
  if ((spread <= 1e-15 * (mean * mean).clamp_min(1e-300)).any().item<bool>()) return 0.0;
  const torch::Tensor variance = spread * largest * largest;
  const double total = variance.sum().item<double>();
  return std::isfinite(total) && total > 0.0 ? variance.max().item<double>() / total : 0.0;
}

namespace {

// The share of `params`' first update steps that float32 loses (MlpStudyResult::lost_update_share):
// the exercise's update, p -= lr * p.grad, in float32.
double lost_update_share(const MlpSplit& split, const MlpParams& params, double lr) {
  const torch::Tensor loss = torch::nn::functional::cross_entropy(mlp_logits(params, split.train_x), split.train_y);
  loss.backward();
  int64_t moving = 0, lost = 0;
  torch::NoGradGuard no_grad;
  for (const torch::Tensor& p : {params.W1, params.b1, params.W2, params.b2}) {
    const torch::Tensor g = p.grad();
    if (!g.defined()) continue;
    const torch::Tensor nonzero = g != 0;
    moving += nonzero.sum().item<int64_t>();
    lost += (nonzero & ((p - g * lr) == p)).sum().item<int64_t>();
  }
  return moving == 0 ? 0.0 : static_cast<double>(lost) / static_cast<double>(moving);
}

}  // namespace

// The columns divided by their standard deviation or variance (unbiased, as the MLP's); as they are
// for none. Dividing before centring centres the scaled columns.
torch::Tensor normalised_columns(const Dataset& data, Normalise normalise) {
  const torch::Tensor features = data.features.to(torch::kFloat64);
  if (normalise == Normalise::none) return features;
  // The spread of each column divided by its largest magnitude first, so that neither the squares
  // of 1e300 nor of 1e-300 leave double's range: std = m sd(x / m).
  const torch::Tensor largest = features.abs().amax(0);
  const torch::Tensor unit = features / largest.clamp_min(std::numeric_limits<double>::min());
  const torch::Tensor spread = unit.std(0) * largest;
  const auto column_of = [&](const torch::Tensor& where) {
    return data.feature_columns[static_cast<std::size_t>(where[0][0].item<int64_t>())];
  };
  const torch::Tensor constant = (unit.var(0) == 0).nonzero();
  if (constant.numel() > 0) {
    throw DataError(data.source + ": column " + std::to_string(column_of(constant)) + " is constant, so normalise " +
                    to_string(normalise) + " cannot divide it by its " +
                    (normalise == Normalise::var ? "variance" : "standard deviation") +
                    " (normalise none leaves it as it is)");
  }
  if (normalise == Normalise::std) return features / spread;
  const torch::Tensor variance = spread * spread;
  const torch::Tensor beyond = (~torch::isfinite(variance) | (variance == 0)).nonzero();
  if (beyond.numel() > 0) {
    throw DataError(data.source + ": the variance of column " + std::to_string(column_of(beyond)) +
                    " is beyond double's range, so normalise var cannot divide by it; normalise std can");
  }
  return features / variance;
}

std::optional<double> stable_lr(const FactoriseStudyResult& result, const FactoriseOptions& gd) {
  if (result.svd.singular_values.empty() || !(result.svd.singular_values.front() > 0.0)) return std::nullopt;
  const double s1 = result.svd.singular_values.front();
  // The largest curvature along the way: 4 s1 at the balanced optimum, and 2 (|U0|^2 + |V0|^2)
  // at the start, from the initial factors' spectral norms (uniform [0, 1) entries: at most
  // 0.5 sqrt(rows r) for their mean plus 0.29 (sqrt(rows) + sqrt(r)) for the rest).
  const auto r = static_cast<double>(gd.rank);
  const auto start = [r](double rows) { return 0.5 * std::sqrt(rows * r) + 0.29 * (std::sqrt(rows) + std::sqrt(r)); };
  const double u0 = start(static_cast<double>(result.gd.U.size(0))),
               v0 = start(static_cast<double>(result.gd.V.size(0)));
  const double lr = 1.0 / std::max(4.0 * s1, 2.0 * (u0 * u0 + v0 * v0));
  if (gd.reduction == Reduction::sum) return lr;
  return lr * static_cast<double>(result.gd.U.size(0)) * static_cast<double>(result.gd.V.size(0));
}

FactoriseStudyResult factorise_study(const Dataset& data, const FactoriseStudyOptions& options) {
  const int64_t limit = std::min(data.rows(), data.columns());
  if (options.gd.rank < 1 || options.gd.rank >= limit) {
    detail::invalid("factorise_study", "rank " + std::to_string(options.gd.rank) +
                                           " must be in [1, min(rows, columns)) = [1, " + std::to_string(limit) +
                                           ") for " + data.source);
  }
  if (options.streaming == Streaming::always && options.normalise != Normalise::none) {
    detail::invalid("factorise_study", std::string("streaming does not scale the columns: normalise ") +
                                           to_string(options.normalise) + " holds the matrix in memory");
  }
  if (options.streaming == Streaming::always && !can_stream(data.rows(), data.columns())) {
    detail::invalid("factorise_study", "streaming needs a matrix with at least as many rows as columns and at most " +
                                           std::to_string(kMaxStreamedColumns) + " columns; " + data.source + " is " +
                                           std::to_string(data.rows()) + " x " + std::to_string(data.columns()));
  }
  require_memory(factorise_study_memory(data.rows(), data.columns(), options), "the factorisation of " + data.source);
  FactoriseStudyResult result;
  const char* dtype = to_string(options.dtype);
  const auto initial_loss_is_finite = [&] {
    if (result.gd.diverged_at_epoch != 0) return;
    throw DataError(data.source + ": the loss of the initial factors is not finite, before any update: the data's " +
                    "scale is beyond " + dtype + "; scale the data");
  };
  if (streams(data.rows(), data.columns(), options)) {
    result.streamed = true;
    const detail::StreamedMatrix A(data, options.dtype);
    std::tie(result.svd, result.pca) = A.decompose(options.gd.rank, options.pca);
    if (options.pca) require_unique_subspace(*result.pca, options.gd.rank, data);
    result.gd = A.gd_factorise(options.gd);
    initial_loss_is_finite();
  } else {
    // Centred in float64 (as the exercise), then converted; scaled first when asked.
    const torch::Tensor features = normalised_columns(data, options.normalise);
    const torch::Tensor centred = centre_columns(features);
    result.A = centred.to(options.dtype == Dtype::float32 ? torch::kFloat32 : torch::kFloat64);
    detail::require_finite_data(data, result.A, dtype, "scale the data or use --dtype float64");
    detail::require_normal_scale(data, centred.abs().amax(0), features.abs().amax(0), dtype,
                                 detail::smallest_normal(options.dtype));
    // The loss is a sum of squares of the data's size: it must be finite before any training.
    detail::require_representable_norm(data, result.A.reshape({-1}).dot(result.A.reshape({-1})).item<double>(),
                                       options.dtype, centred.abs().max().item<double>());
    if (options.pca) {
      // First, as it decides whether there is anything to compare U with (it draws no random numbers).
      result.pca = pca(features, options.gd.rank);
      require_unique_subspace(*result.pca, options.gd.rank, data);
    }
    result.gd = gd_factorise_ad(result.A, options.gd);
    initial_loss_is_finite();
    result.svd = truncated_svd(result.A, options.gd.rank);
  }
  if (options.pca) {
    // A diverged factor is NaN: it has no column space to compare.
    if (!result.gd.diverged()) result.comparison = compare_subspaces(result.gd.U, result.pca->scores);
  }
  return result;
}

std::optional<double> FactoriseStudyResult::relative_gap() const {
  double norm2 = 0.0;
  for (const double s : svd.singular_values) norm2 += s * s;
  const double rounding =
      static_cast<double>(std::max(gd.U.size(0), gd.V.size(0))) * std::numeric_limits<double>::epsilon() * norm2;
  if (!(svd.loss > rounding)) return std::nullopt;
  return gap() / svd.loss;
}

double factorise_study_flops(int64_t rows, int64_t columns, const FactoriseStudyOptions& options) {
  return factorise_flops(rows, columns, options.gd) + (options.pca ? 2.0 : 1.0) * svd_flops(rows, columns);
}

namespace {

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

}  // namespace

MlpStudyResult mlp_study(const Dataset& data, const MlpStudyOptions& options, const MlpStudyHooks& hooks) {
  // Once a study, not once a split: float32 cannot hold a column whose scale is below its smallest
  // normal number (the splits' own checks catch what does not fit above).
  {
    const torch::Tensor features = data.features.to(torch::kFloat64);
    detail::require_normal_scale(data, (features - features.mean(0)).abs().amax(0), features.abs().amax(0), "float32",
                                 detail::smallest_normal(Dtype::float32));
  }
  constexpr const char* kFunction = "mlp_study";
  detail::require_at_least(kFunction, "hidden", options.hidden, 1);
  detail::require_at_least(kFunction, "repeats", options.repeats, 1);
  detail::require_at_least(kFunction, "chunk", options.chunk, 1);
  if (options.resamples < 0 || options.resamples > kMaxResamples) {
    detail::invalid(kFunction, "resamples " + std::to_string(options.resamples) + " must be 0 (no bootstrap) to " +
                                   std::to_string(kMaxResamples));
  }
  const int64_t first = options.first_repeat;
  const int64_t end = options.end_repeat.value_or(options.repeats);
  if (first < 0 || end > options.repeats || first > end) {
    detail::invalid(kFunction, "repeats [" + std::to_string(first) + ", " + std::to_string(end) +
                                   ") must lie within [0, repeats = " + std::to_string(options.repeats) + ")");
  }
  if (options.train_size < 1 || options.train_size >= data.rows()) {
    detail::invalid(kFunction, "train_size " + std::to_string(options.train_size) +
                                   " must leave rows to train on and to validate: 1 <= it < " +
                                   std::to_string(data.rows()) + ", the rows of " + data.source);
  }
  require_memory(mlp_study_memory(data, options, !hooks.on_run), "the MLP study on " + data.source);

  // Row orders: numpy's RandomState(seed mod 2^32), as pandas' df.sample(frac=1, random_state=seed);
  // with per_repeat, repeat r takes the stream's r-th permutation.
  RowShuffler shuffler(static_cast<uint32_t>(options.seed));
  std::vector<int64_t> identity(static_cast<std::size_t>(data.rows()));
  std::iota(identity.begin(), identity.end(), int64_t{0});
  const auto next_split = [&] {
    return prepare_split(data, options.shuffle == Shuffle::none ? identity : shuffler.permutation(data.rows()),
                         options.normalise, options.train_size);
  };
  const MlpSplit shared = next_split();  // the only one, or repeat 0's
  const auto classes = static_cast<int64_t>(shared.classes.size());
  // Initial weights: repeat r draws its W1, then its W2.
  at::Generator generator =
      options.generator ? *options.generator : at::make_generator<at::CPUGeneratorImpl>(options.seed);

  MlpStudyResult result;
  result.classes = shared.classes;
  {
    std::vector<bool> trained(shared.classes.size(), false), validated(shared.classes.size(), false);
    const auto train_y = shared.train_y.contiguous();
    const auto val_y = shared.val_y.contiguous();
    for (int64_t i = 0; i < train_y.numel(); ++i)
      trained[static_cast<std::size_t>(train_y.data_ptr<int64_t>()[i])] = true;
    for (int64_t i = 0; i < val_y.numel(); ++i)
      validated[static_cast<std::size_t>(val_y.data_ptr<int64_t>()[i])] = true;
    for (std::size_t c = 0; c < shared.classes.size(); ++c) {
      if (validated[c] && !trained[c]) result.unseen_classes.push_back(shared.classes[c]);
    }
  }
  result.train_rows = options.train_size;
  result.val_rows = data.rows() - options.train_size;
  if (options.training.epochs > 0 && first == 0) {
    // Repeat 0's model from a generator of its own, so that the study's draws are untouched: a copy
    // of the study's state (libtorch 1.13's Generator::clone leaks its copy, LeakSanitizer says).
    at::Generator probe = at::make_generator<at::CPUGeneratorImpl>(options.seed);
    if (options.generator) {
      at::Generator study_draws = *options.generator;  // a handle on the same state
      std::lock_guard<std::mutex> lock(study_draws.mutex());
      probe.set_state(study_draws.get_state());
    }
    result.lost_update_share =
        lost_update_share(shared, init_params(data.columns(), options.hidden, classes, probe), options.training.lr);
  }
  if (hooks.on_start) hooks.on_start(result);

  // The repeats before `first` draw what they would, for the ones after to draw what they would.
  const bool per_repeat = options.shuffle == Shuffle::per_repeat;
  for (int64_t r = 0; r < first; ++r) {
    if (per_repeat && r > 0) shuffler.permutation(data.rows());
    init_params(data.columns(), options.hidden, classes, generator);
  }

  std::vector<double> train, val, loss;
  const auto start = std::chrono::steady_clock::now();
  const auto seconds = [&start] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  // libtorch's thread count (--threads), read once: the workers set their own to 1, and so does
  // this thread until the study ends. Its draws between chunks would otherwise wake libtorch's
  // OpenMP team, whose threads then spin for a while on the cores the workers train on.
  const int threads = at::get_num_threads();
  const OneOpenMpThread one_thread(threads);
  std::optional<Workers> workers;
  if (threads > 1) workers.emplace(threads - 1);
  // The sequential engine's chunk: as many models as threads can share (one at a time without).
  const int64_t chunk = options.engine == Engine::batched ? options.chunk : std::max(1, threads) * 32;
  // A chunk's splits and initial models, drawn in repeat order: chunk k + 1's while chunk k trains.
  struct Chunk {
    std::vector<MlpSplit> splits;
    std::vector<MlpParams> models;
  };
  const auto draw = [&](int64_t begin) {
    Chunk c;
    for (int64_t r = begin; r < std::min(begin + chunk, end); ++r) {
      if (per_repeat || c.splits.empty()) c.splits.push_back(per_repeat && r > 0 ? next_split() : shared);
      c.models.push_back(init_params(data.columns(), options.hidden, classes, generator));
    }
    return c;
  };
  // A chunk's runs, handed on (to the hooks, the summaries) while the next chunk trains.
  const auto hand_on = [&](int64_t begin, std::vector<MlpResult>& runs) {
    for (std::size_t i = 0; i < runs.size(); ++i) {
      const int64_t r = begin + static_cast<int64_t>(i);
      if (runs[i].diverged_at_epoch == 0) {
        throw DataError(data.source + ": the loss of repeat " + std::to_string(r) +
                        "'s initial model is not finite, before any update: the data's scale is beyond float32; " +
                        "scale the data or normalise it");
      }
      // A diverged run is counted, and left out of the summary as a study's summary leaves it out:
      // its weights hold Inf or NaN, its accuracies say nothing of the setting.
      if (runs[i].diverged_at_epoch) {
        ++result.diverged_runs;
      } else {
        train.push_back(runs[i].train_accuracy);
        val.push_back(runs[i].val_accuracy);
        loss.push_back(runs[i].final_loss);
      }
      if (hooks.on_run) {
        hooks.on_run(r, std::move(runs[i]));
      } else {
        result.runs.push_back(std::move(runs[i]));
      }
    }
    if (hooks.on_progress)
      hooks.on_progress({begin + static_cast<int64_t>(runs.size()) - first, end - first, seconds()});
  };
  // Each round trains chunk k while one thread draws chunk k + 1 and another hands on chunk k - 1's
  // runs: both in repeat order, one chunk at a time, so the numbers and the order of the hooks' calls
  // are those of one thread doing all three in turn.
  Chunk next = draw(first);
  std::vector<MlpResult> trained;  // the last chunk's runs, not yet handed on
  int64_t trained_begin = first;
  for (int64_t begin = first; begin < end; begin += chunk) {
    const Chunk current = std::move(next);
    std::vector<MlpResult> previous = std::move(trained);
    const int64_t previous_begin = trained_begin;
    std::vector<std::function<void()>> beside;
    if (begin + chunk < end) beside.emplace_back([&] { next = draw(begin + chunk); });
    if (!previous.empty()) beside.emplace_back([&] { hand_on(previous_begin, previous); });
    trained = train_in_pieces(current.splits, current.models, options.training, options.engine,
                              workers ? &*workers : nullptr, threads, beside);
    trained_begin = begin;
  }
  hand_on(trained_begin, trained);
  result.seconds = seconds();
  // Each figure's bootstrap draws from its own seed, derived from the study's.
  result.train_accuracy = summarise(std::move(train), {options.resamples, derived_seed(options.seed, {0})});
  result.val_accuracy = summarise(std::move(val), {options.resamples, derived_seed(options.seed, {1})});
  result.final_loss = summarise(std::move(loss), {options.resamples, derived_seed(options.seed, {2})});
  return result;
}

double mlp_study_flops(const Dataset& data, const MlpStudyOptions& options) {
  if (options.engine != Engine::sequential) return 0.0;
  // The class count is known only after the split; the columns bound it well enough for an estimate.
  const double per_model = mlp_flops(options.train_size, data.rows(), data.columns(), options.hidden,
                                     std::max<int64_t>(2, data.columns()), options.training);
  return per_model * static_cast<double>(std::max<int64_t>(options.repeats, 0));
}

namespace {

// Loss-curve points a run records: every record_every epochs and the last one.
double curve_points(int64_t epochs, int64_t record_every) {
  return record_every > 0 ? static_cast<double>(std::max<int64_t>(epochs, 0) / record_every) + 2.0 : 0.0;
}

}  // namespace

double factorise_study_memory(int64_t rows, int64_t columns, const FactoriseStudyOptions& options) {
  const double element = options.dtype == Dtype::float32 ? 4.0 : 8.0;
  const auto m = static_cast<double>(rows);
  const auto n = static_cast<double>(columns);
  const auto r = static_cast<double>(options.gd.rank);
  if (streams(rows, columns, options)) {
    // A block of rows in float64, its copy in the training type and a product of its size (8 MiB
    // each); the Gram matrix, its eigenvectors and LAPACK's workspace (2 n^2); the factors,
    // gradients, scores and U in float64.
    const double blocks = 3.0 * std::max(static_cast<double>(int64_t{1} << 20), n) * 8.0;
    return blocks + 4.0 * n * n * 8.0 + (m + n) * r * 8.0 * 8.0 +
           curve_points(options.gd.epochs, options.gd.record_every) * sizeof(LossPoint);
  }
  // The centred copy and its conversion; the residual form's m x n product, difference and
  // gradients; the SVD's copy, factors and workspace; PCA's centring and SVD in float64.
  const double matrices = m * n * element * (2.0 + (options.gd.form == LossForm::residual ? 4.0 : 0.0) + 3.0) +
                          (options.pca ? 4.0 * m * n * 8.0 : 0.0);
  const double k = std::min(m, n);
  const double factors = (m + n) * r * element * 8.0 + k * k * element;
  return matrices + factors + curve_points(options.gd.epochs, options.gd.record_every) * sizeof(LossPoint);
}

double mlp_study_memory(const Dataset& data, const MlpStudyOptions& options, bool keeps_runs) {
  const auto rows = static_cast<double>(data.rows());
  const auto D = static_cast<double>(data.columns());
  const auto H = static_cast<double>(options.hidden);
  const double C = std::max(2.0, std::min(rows, D + 1.0));  // the classes are known after the split
  const double B = static_cast<double>(options.train_size);
  const auto N = static_cast<double>(std::max<int64_t>(options.repeats, 0));
  const double at_once = options.engine == Engine::batched ? std::min(N, static_cast<double>(options.chunk)) : 1.0;
  const double orders = options.shuffle == Shuffle::per_repeat ? at_once + 1.0 : 1.0;
  // Per model trained at once: its parameters (initial, trained, gradients, stacked copies) and
  // tensor overheads; per row of a batch, the activations autograd keeps (relu's input and
  // output, the logits, their softmax and gradients). Measured: 21.6 KiB a model at H = 12, 120
  // KiB at H = 120 (docs/performance.md); this says 29 and 183. Per run kept: its result and
  // loss curve; per run handed over, the three figures summarised at the end.
  const double parameters = (D * H + H * C + 2.0) * 4.0 * 8.0 + 5.0 * 1024.0;
  const double activations = 4.0 * B * (3.0 * H + 6.0 * C);
  const double checkpoints = static_cast<double>(options.training.checkpoints.size());
  const double result = curve_points(options.training.epochs, options.training.record_every) * sizeof(LossPoint) +
                        (1.0 + checkpoints) * sizeof(MlpCheckpoint) + 256.0;
  const double models = at_once * (parameters + activations + result) + N * (keeps_runs ? result : 3.0 * 8.0);
  return orders * rows * D * 4.0 * 5.0 + models;
}

double exercise_memory(const Dataset& data, const ExerciseOptions& options, bool keeps_runs) {
  FactoriseStudyOptions factorise = options.factorise;
  factorise.pca = true;
  return std::max(factorise_study_memory(data.rows(), data.columns(), factorise),
                  mlp_study_memory(data, options.mlp, keeps_runs));
}

ExerciseResult exercise(const Dataset& data, const ExerciseOptions& options, const ExerciseHooks& hooks) {
  // One stream, as the exercise's script after one torch.manual_seed: U and V, then the MLP's weights.
  const at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(options.seed);
  FactoriseStudyOptions factorise = options.factorise;
  factorise.pca = true;
  factorise.gd.generator = generator;
  MlpStudyOptions mlp = options.mlp;
  mlp.seed = options.seed;
  mlp.generator = generator;
  ExerciseResult result;
  result.factorise = factorise_study(data, factorise);
  if (hooks.on_factorised) hooks.on_factorised(result.factorise);
  result.mlp = mlp_study(data, mlp, hooks.mlp);
  return result;
}

double exercise_flops(const Dataset& data, const ExerciseOptions& options) {
  FactoriseStudyOptions factorise = options.factorise;
  factorise.pca = true;
  return factorise_study_flops(data.rows(), data.columns(), factorise) + mlp_study_flops(data, options.mlp);
}

}  // namespace labrun
