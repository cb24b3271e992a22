#include "labrun/mlp_study.hpp"

#include "check.hpp"
#include "labrun/options.hpp"
#include "workers.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>
#include <numeric>
#include <optional>

namespace labrun {

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

void check_options(const Dataset& data, const MlpStudyOptions& options) {
  constexpr const char* kFunction = "mlp_study";
  require_at_least(kFunction, "hidden", options.hidden, 1);
  require_at_least(kFunction, "repeats", options.repeats, 1);
  require_at_least(kFunction, "chunk", options.chunk, 1);
  require_resamples(kFunction, "resamples", options.resamples);
  require_train_size(kFunction, options.train_size, data.rows(), data.source);
  require_at_least(kFunction, "epochs", options.training.epochs, 0);
  require_lr(kFunction, "lr", options.training.lr, Dtype::float32);
  require_at_least(kFunction, "record_every", options.training.record_every, 0);
  detail::require_checkpoints(kFunction, options.training.checkpoints, options.training.epochs);
  const int64_t first = options.first_repeat, end = options.end_repeat.value_or(options.repeats);
  if (first < 0 || end > options.repeats || first > end) {
    throw OptionError(kFunction, "first_repeat",
                      std::to_string(first) + " and end_repeat " + std::to_string(end) +
                          " must lie within [0, repeats = " + std::to_string(options.repeats) + "] in order");
  }
}

MlpStudyResult mlp_study(const Dataset& data, const MlpStudyOptions& options, const MlpStudyHooks& hooks) {
  check_options(data, options);
  // Once a study, not once a split: float32 cannot hold a column whose scale is below its smallest
  // normal number (the splits' own checks catch what does not fit above).
  {
    const torch::Tensor features = data.features.to(torch::kFloat64);
    detail::require_normal_scale(data, (features - features.mean(0)).abs().amax(0), features.abs().amax(0), "float32",
                                 detail::smallest_normal(Dtype::float32));
  }
  const int64_t first = options.first_repeat;
  const int64_t end = options.end_repeat.value_or(options.repeats);
  require_memory(estimate(data, options, !hooks.on_run).bytes, "the MLP study on " + data.source);

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
  const detail::OneOpenMpThread one_thread(threads);
  std::optional<detail::Workers> workers;
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
    trained = detail::train_in_pieces(current.splits, current.models, options.training, options.engine,
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

Cost estimate(const Dataset& data, const MlpStudyOptions& options, bool keeps_runs) {
  Cost cost;
  // The class count is known only after the split; the columns bound it well enough for an estimate.
  const double per_model = mlp_flops(options.train_size, data.rows(), data.columns(), options.hidden,
                                     std::max<int64_t>(2, data.columns()), options.training);
  if (options.engine == Engine::sequential) {
    cost.flops = per_model * static_cast<double>(std::max<int64_t>(options.repeats, 0));
  }
  const auto rows = static_cast<double>(data.rows());
  const auto D = static_cast<double>(data.columns());
  const auto H = static_cast<double>(options.hidden);
  const double C = std::max(2.0, std::min(rows, D + 1.0));  // the classes are known after the split
  const double B = static_cast<double>(options.train_size);
  const auto N = static_cast<double>(std::max<int64_t>(options.repeats, 0));
  const double at_once = options.engine == Engine::batched ? std::min(N, static_cast<double>(options.chunk)) : 1.0;
  const double orders = options.shuffle == Shuffle::per_repeat ? at_once + 1.0 : 1.0;
  // Per model trained at once (a chunk of the batched engine's; one of the sequential engine's):
  // its parameters (initial, trained, gradients, packed copies) and tensor
  // overheads, and a bound on what a pass over its batch holds (the autograd activations of the
  // sequential engine: relu's input and output, the logits, their softmax and gradients).
  // Measured: 21.6 KiB a model at H = 12, 120 KiB at H = 120 (docs/performance.md); this says 29
  // and 183. Per run kept: its result and loss curve; per
  // run handed over, the three figures summarised at the end.
  const double parameters = (D * H + H * C + 2.0) * 4.0 * 8.0 + 5.0 * 1024.0;
  const double activations = 4.0 * B * (3.0 * H + 6.0 * C);
  const double checkpoints = static_cast<double>(options.training.checkpoints.size());
  const double result = curve_points(options.training.epochs, options.training.record_every) * sizeof(LossPoint) +
                        (1.0 + checkpoints) * sizeof(MlpCheckpoint) + 256.0;
  const double models = at_once * (parameters + activations + result) + N * (keeps_runs ? result : 3.0 * 8.0);
  cost.bytes = orders * rows * D * 4.0 * 5.0 + models;
  return cost;
}

}  // namespace labrun
