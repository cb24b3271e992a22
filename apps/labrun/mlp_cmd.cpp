#include "mlp_cmd.hpp"

#include "blas_restart.hpp"
#include "output.hpp"
#include "text.hpp"

#include "labrun/mlp.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <numeric>

namespace labrun::cli {
namespace {

// mean, std (n - 1; null for one value), min, max, median of non-empty values.
json summary(std::vector<double> values) {
  const auto n = static_cast<double>(values.size());
  const double mean = std::accumulate(values.begin(), values.end(), 0.0) / n;
  double squares = 0.0;
  for (const double v : values) squares += (v - mean) * (v - mean);
  std::sort(values.begin(), values.end());
  const std::size_t mid = values.size() / 2;
  const double median = values.size() % 2 ? values[mid] : (values[mid - 1] + values[mid]) / 2.0;
  return json{{"mean", number(mean)},
              {"std", values.size() > 1 ? number(std::sqrt(squares / (n - 1.0))) : json()},
              {"min", number(values.front())},
              {"max", number(values.back())},
              {"median", number(median)}};
}

Normalise parse_normalise(const std::string& name) {
  return name == "std" ? Normalise::std : name == "none" ? Normalise::none : Normalise::var;
}

}  // namespace

CLI::App* setup_mlp(CLI::App& app, MlpCommand& options) {
  CLI::App* command = app.add_subcommand(
      "mlp", "Train the shared-bias MLP from raw tensors (part 2.1) several times and report the accuracies "
             "(part 2.2)");
  command->add_option("--hidden", options.hidden, "Hidden units H, >= 1")->capture_default_str();
  command->add_option("--epochs", options.epochs, "Full-batch gradient-descent epochs, >= 0")->capture_default_str();
  command->add_option("--lr", options.lr, "Learning rate, > 0")->capture_default_str();
  command->add_option("--repeats", options.repeats, "Models trained from fresh initialisations, >= 1")
      ->capture_default_str();
  command->add_option("--train-size", options.train_size, "The first rows that train; the rest validate")
      ->capture_default_str();
  command->add_option("--normalise", options.normalise,
                      "Feature scaling: var, (x - mean) / variance (the exercise's); std; none")
      ->check(CLI::IsMember({"var", "std", "none"}))
      ->capture_default_str();
  command->add_option("--engine", options.engine,
                      "sequential: one model after another, the exercise's code; batched: all models at once")
      ->check(CLI::IsMember({"sequential", "batched"}))
      ->capture_default_str();
  command->add_flag("--reshuffle", options.reshuffle, "Draw a new shuffle and split for each repeat");
  command->add_flag("--no-shuffle", options.no_shuffle, "Keep the file's row order");
  command->add_option("--loss-every", options.loss_every, "Record each run's loss every K epochs (0: none)")
      ->capture_default_str()
      ->type_name("K");
  add_common_options(*command, options.common);
  return command;
}

void check_mlp_options(const MlpCommand& options) {
  require_at_least("--hidden", options.hidden, 1);
  require_at_least("--epochs", options.epochs, 0);
  require_at_least("--repeats", options.repeats, 1);
  require_finite_positive("--lr", options.lr);
  require_at_least("--loss-every", options.loss_every, 0);
  if (options.reshuffle && options.no_shuffle) throw UsageError("--reshuffle and --no-shuffle exclude each other");
}

double mlp_work_flops(const MlpCommand& options, const Dataset& data) {
  if (options.engine != "sequential") return 0.0;  // the batched engine's kernels are labrun's own
  MlpOptions training;
  training.epochs = options.epochs;
  // The class count is known only after the split; the columns bound it well enough for an estimate.
  const double per_model = mlp_flops(options.train_size, data.rows(), data.columns(), options.hidden,
                                     std::max<int64_t>(2, data.columns()), training);
  return per_model * static_cast<double>(options.repeats);
}

MlpOutcome mlp(const MlpCommand& options) {
  check_mlp_options(options);
  apply_threads(options.common);
  const Dataset data = load_data(options.common, /*min_rows=*/2);
  use_best_blas_kernel(mlp_work_flops(options, data));
  const uint64_t seed = resolve_seed(options.common);
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  return mlp_data(options, data, seed, generator);
}

MlpOutcome mlp_data(const MlpCommand& options, const Dataset& data, uint64_t seed, at::Generator& generator) {
  if (options.train_size < 1 || options.train_size >= data.rows()) {
    throw UsageError(fmt::format("--train-size {} must leave rows to train on and to validate: 1 <= it < {}, the "
                                 "rows of {}",
                                 options.train_size, data.rows(), data.source));
  }

  // Row orders: numpy's RandomState(seed mod 2^32), as pandas' df.sample(frac=1, random_state=seed).
  RowShuffler shuffler(static_cast<uint32_t>(seed));
  std::vector<int64_t> identity(static_cast<std::size_t>(data.rows()));
  std::iota(identity.begin(), identity.end(), int64_t{0});
  std::vector<MlpSplit> splits;
  const int64_t orders = options.reshuffle ? options.repeats : 1;
  for (int64_t r = 0; r < orders; ++r) {
    splits.push_back(prepare_split(data, options.no_shuffle ? identity : shuffler.permutation(data.rows()),
                                   parse_normalise(options.normalise), options.train_size));
  }

  // Initial weights: repeat r draws its W1, then its W2, from the seeded generator.
  const auto classes = static_cast<int64_t>(splits.front().classes.size());
  std::vector<MlpParams> models;
  for (int64_t r = 0; r < options.repeats; ++r) {
    models.push_back(init_params(data.columns(), options.hidden, classes, generator));
  }

  MlpOptions training;
  training.epochs = options.epochs;
  training.lr = options.lr;
  training.record_every = options.loss_every;
  const auto start = std::chrono::steady_clock::now();
  std::vector<MlpRun> runs;
  if (options.engine == "batched") {
    runs = train_mlp_batched(splits, models, training);
  } else {
    for (std::size_t r = 0; r < models.size(); ++r) {
      runs.push_back(train_mlp(splits[options.reshuffle ? r : 0], models[r], training));
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  MlpOutcome out;
  json runs_json = json::array();
  std::vector<double> train, val, loss;
  for (std::size_t r = 0; r < runs.size(); ++r) {
    const MlpRun& run = runs[r];
    json entry{{"repeat", r},
               {"train_accuracy", number(run.train_accuracy)},
               {"val_accuracy", number(run.val_accuracy)},
               {"final_loss", number(run.final_loss)},
               {"diverged_at_epoch", run.diverged_at_epoch ? json(*run.diverged_at_epoch) : json()}};
    if (!run.loss_curve.empty()) {
      json epochs = json::array(), losses = json::array();
      for (const LossPoint& point : run.loss_curve) {
        epochs.push_back(point.epoch);
        losses.push_back(number(point.loss));
      }
      entry["loss_curve"] = json{{"epoch", std::move(epochs)}, {"loss", std::move(losses)}};
    }
    runs_json.push_back(std::move(entry));
    train.push_back(run.train_accuracy);
    val.push_back(run.val_accuracy);
    loss.push_back(run.final_loss);
    out.diverged = out.diverged || run.diverged_at_epoch.has_value();
  }
  out.results = json{{"classes", splits.front().classes},
                     {"train_rows", options.train_size},
                     {"val_rows", data.rows() - options.train_size},
                     {"runs", std::move(runs_json)},
                     {"summary", {{"train_accuracy", summary(train)},
                                  {"val_accuracy", summary(val)},
                                  {"final_loss", summary(loss)}}},
                     {"seconds", seconds},
                     {"seconds_per_model", seconds / static_cast<double>(options.repeats)}};
  out.config = json{{"hidden", options.hidden},
                    {"epochs", options.epochs},
                    {"lr", options.lr},
                    {"repeats", options.repeats},
                    {"train_size", options.train_size},
                    {"normalise", options.normalise},
                    {"shuffle", options.no_shuffle ? "none" : options.reshuffle ? "per-repeat" : "once"},
                    {"engine", options.engine},
                    {"seed", seed},
                    {"seed_given", options.common.seed.has_value()},
                    {"loss_every", options.loss_every},
                    {"threads", torch::get_num_threads()},
                    {"dtype", "float32"}};
  out.data = describe(data);
  return out;
}

int mlp_exit_code(const MlpCommand& options, const MlpOutcome& out) {
  if (!out.diverged) return kExitOk;
  std::cerr << fmt::format("labrun: warning: training diverged in some repeats (a loss became NaN or Inf); try "
                           "a smaller --lr than {}\n",
                           options.lr);
  return kExitDiverged;
}

int run_mlp(const MlpCommand& options) {
  const MlpOutcome out = mlp(options);
  write_output(render(document("mlp", out.config, out.data, out.results), options.common.format),
               options.common.output);
  return mlp_exit_code(options, out);
}

}  // namespace labrun::cli
