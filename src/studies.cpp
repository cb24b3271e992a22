#include "labrun/studies.hpp"

#include "check.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <numeric>

namespace labrun {

const char* to_string(Dtype dtype) { return dtype == Dtype::float32 ? "float32" : "float64"; }
const char* to_string(Engine engine) { return engine == Engine::sequential ? "sequential" : "batched"; }
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

FactoriseStudyResult factorise_study(const Dataset& data, const FactoriseStudyOptions& options) {
  const int64_t limit = std::min(data.rows(), data.columns());
  if (options.gd.rank < 1 || options.gd.rank >= limit) {
    detail::invalid("factorise_study", "rank " + std::to_string(options.gd.rank) +
                                           " must be in [1, min(rows, columns)) = [1, " + std::to_string(limit) +
                                           ") for " + data.source);
  }
  FactoriseStudyResult result;
  // Centred in float64 (as the exercise), then converted.
  result.A = centre_columns(data.features).to(options.dtype == Dtype::float32 ? torch::kFloat32 : torch::kFloat64);
  result.gd = gd_factorise_ad(result.A, options.gd);
  result.svd = truncated_svd(result.A, options.gd.rank);
  if (options.pca) {
    result.pca = pca(data.features, options.gd.rank);
    // A diverged factor is NaN: it has no column space to compare.
    if (!result.gd.diverged()) result.comparison = compare_subspaces(result.gd.U, result.pca->scores);
  }
  return result;
}

double factorise_study_flops(int64_t rows, int64_t columns, const FactoriseStudyOptions& options) {
  return factorise_flops(rows, columns, options.gd) + (options.pca ? 2.0 : 1.0) * svd_flops(rows, columns);
}

Summary summarise(std::vector<double> values) {
  constexpr double nan = std::numeric_limits<double>::quiet_NaN();
  if (values.empty()) return {nan, nan, nan, nan, nan};
  const auto n = static_cast<double>(values.size());
  Summary s;
  s.mean = std::accumulate(values.begin(), values.end(), 0.0) / n;
  double squares = 0.0;
  for (const double v : values) squares += (v - s.mean) * (v - s.mean);
  s.std = values.size() > 1 ? std::sqrt(squares / (n - 1.0)) : nan;
  std::sort(values.begin(), values.end());
  const std::size_t mid = values.size() / 2;
  s.median = values.size() % 2 ? values[mid] : (values[mid - 1] + values[mid]) / 2.0;
  s.min = values.front();
  s.max = values.back();
  return s;
}

MlpStudyResult mlp_study(const Dataset& data, const MlpStudyOptions& options) {
  constexpr const char* kFunction = "mlp_study";
  detail::require_at_least(kFunction, "hidden", options.hidden, 1);
  detail::require_at_least(kFunction, "repeats", options.repeats, 1);
  if (options.train_size < 1 || options.train_size >= data.rows()) {
    detail::invalid(kFunction, "train_size " + std::to_string(options.train_size) +
                                   " must leave rows to train on and to validate: 1 <= it < " +
                                   std::to_string(data.rows()) + ", the rows of " + data.source);
  }

  // Row orders: numpy's RandomState(seed mod 2^32), as pandas' df.sample(frac=1, random_state=seed).
  RowShuffler shuffler(static_cast<uint32_t>(options.seed));
  std::vector<int64_t> identity(static_cast<std::size_t>(data.rows()));
  std::iota(identity.begin(), identity.end(), int64_t{0});
  std::vector<MlpSplit> splits;
  const int64_t orders = options.shuffle == Shuffle::per_repeat ? options.repeats : 1;
  for (int64_t r = 0; r < orders; ++r) {
    splits.push_back(prepare_split(data,
                                   options.shuffle == Shuffle::none ? identity : shuffler.permutation(data.rows()),
                                   options.normalise, options.train_size));
  }

  // Initial weights: repeat r draws its W1, then its W2.
  at::Generator generator =
      options.generator ? *options.generator : at::make_generator<at::CPUGeneratorImpl>(options.seed);
  const auto classes = static_cast<int64_t>(splits.front().classes.size());
  std::vector<MlpParams> models;
  for (int64_t r = 0; r < options.repeats; ++r) {
    models.push_back(init_params(data.columns(), options.hidden, classes, generator));
  }

  MlpStudyResult result;
  const auto start = std::chrono::steady_clock::now();
  if (options.engine == Engine::batched) {
    result.runs = train_mlp_batched(splits, models, options.training);
  } else {
    for (std::size_t r = 0; r < models.size(); ++r) {
      result.runs.push_back(train_mlp(splits[splits.size() > 1 ? r : 0], models[r], options.training));
    }
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  std::vector<double> train, val, loss;
  for (const MlpResult& run : result.runs) {
    train.push_back(run.train_accuracy);
    val.push_back(run.val_accuracy);
    loss.push_back(run.final_loss);
    result.diverged_runs += run.diverged_at_epoch ? 1 : 0;
  }
  result.train_accuracy = summarise(std::move(train));
  result.val_accuracy = summarise(std::move(val));
  result.final_loss = summarise(std::move(loss));
  result.classes = splits.front().classes;
  result.train_rows = options.train_size;
  result.val_rows = data.rows() - options.train_size;
  return result;
}

double mlp_study_flops(const Dataset& data, const MlpStudyOptions& options) {
  if (options.engine != Engine::sequential) return 0.0;
  // The class count is known only after the split; the columns bound it well enough for an estimate.
  const double per_model = mlp_flops(options.train_size, data.rows(), data.columns(), options.hidden,
                                     std::max<int64_t>(2, data.columns()), options.training);
  return per_model * static_cast<double>(std::max<int64_t>(options.repeats, 0));
}

ExerciseResult exercise(const Dataset& data, const ExerciseOptions& options) {
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
  result.mlp = mlp_study(data, mlp);
  return result;
}

double exercise_flops(const Dataset& data, const ExerciseOptions& options) {
  FactoriseStudyOptions factorise = options.factorise;
  factorise.pca = true;
  return factorise_study_flops(data.rows(), data.columns(), factorise) + mlp_study_flops(data, options.mlp);
}

}  // namespace labrun
