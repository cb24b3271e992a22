#include "labrun/json.hpp"

#include <torch/torch.h>

#include <cmath>

namespace labrun {
namespace {

json numbers(const std::vector<double>& values) {
  json out = json::array();
  for (const double v : values) out.push_back(number(v));
  return out;
}

json text_or_null(const std::string& text) { return text.empty() ? json(nullptr) : json(text); }

json loss_curve(const std::vector<LossPoint>& curve) {
  json epochs = json::array();
  json losses = json::array();
  for (const LossPoint& point : curve) {
    epochs.push_back(point.epoch);
    losses.push_back(number(point.loss));
  }
  return json{{"epoch", std::move(epochs)}, {"loss", std::move(losses)}};
}

}  // namespace

void to_json(json& j, const RuntimeInfo& info) {
  j = json{{"labrun_version", info.labrun_version},
           {"build_commit", info.build_commit},
           {"libtorch_version", info.libtorch_version},
           {"blas", info.blas},
           {"blas_library", info.blas_library},
           {"threads", info.threads},
           {"blas_kernel", info.blas_kernel}};
}

void to_json(json& j, const BlasKernelInfo& kernel) {
  j = json{{"loaded", text_or_null(kernel.loaded)},
           {"loaded_simd", std::string(to_string(kernel.loaded_level))},
           {"cpu_simd", std::string(to_string(kernel.cpu_level))},
           {"cpu_kernel", text_or_null(kernel.cpu_kernel)},
           {"corrected", kernel.corrected},
           {"corrected_from", text_or_null(kernel.corrected_from)},
           {"decision", kernel.decision}};
}

void to_json(json& j, const FactoriseResult& result) {
  j = json{{"loss", number(result.loss)},
           {"seconds", result.seconds},
           {"seconds_per_epoch",
            result.epochs_run > 0 ? number(result.seconds / static_cast<double>(result.epochs_run)) : json(nullptr)},
           {"epochs_run", result.epochs_run},
           {"diverged", result.diverged()},
           {"diverged_at_epoch", result.diverged_at_epoch ? json(*result.diverged_at_epoch) : json(nullptr)}};
  if (!result.loss_curve.empty()) j["loss_curve"] = loss_curve(result.loss_curve);
  if (result.U.defined()) j["U"] = matrix(result.U);
  if (result.V.defined()) j["V"] = matrix(result.V);
}

void to_json(json& j, const TruncatedSvd& svd) {
  const auto rank = static_cast<std::size_t>(svd.S.size(0));
  double retained = 0.0;
  for (std::size_t i = 0; i < rank; ++i) retained += svd.explained_variance_ratio[i];
  j = json{{"loss", number(svd.loss)},
           {"singular_values", numbers(svd.singular_values)},
           {"explained_variance_ratio", numbers(svd.explained_variance_ratio)},
           {"retained_variance_ratio", number(retained)}};
}

void to_json(json& j, const Pca& pca) {
  j = json{{"scores", matrix(pca.scores)},
           {"axes", matrix(pca.axes)},
           {"mean", matrix(pca.mean)},
           {"singular_values", numbers(pca.singular_values)},
           {"explained_variance", numbers(pca.explained_variance)},
           {"explained_variance_ratio", numbers(pca.explained_variance_ratio)}};
}

void to_json(json& j, const SubspaceComparison& comparison) {
  json degrees = json::array();
  for (const double angle : comparison.principal_angles) degrees.push_back(number(angle * 180.0 / M_PI));
  j = json{{"principal_angles", numbers(comparison.principal_angles)},
           {"principal_angles_degrees", std::move(degrees)},
           {"alignment_residual", number(comparison.alignment_residual)},
           {"linear_map", matrix(comparison.linear_map)},
           {"factor_column_coherence", number(comparison.x_column_coherence)}};
}

void to_json(json& j, const MlpResult& run) {
  j = json{{"train_accuracy", number(run.train_accuracy)},
           {"val_accuracy", number(run.val_accuracy)},
           {"train_correct", run.train_correct},
           {"val_correct", run.val_correct},
           {"final_loss", number(run.final_loss)},
           {"diverged", run.diverged_at_epoch.has_value()},
           {"diverged_at_epoch", run.diverged_at_epoch ? json(*run.diverged_at_epoch) : json()}};
  if (!run.loss_curve.empty()) j["loss_curve"] = loss_curve(run.loss_curve);
}

void to_json(json& j, const Summary& s) {
  j = json{{"n", s.n},
           {"mean", number(s.mean)},
           {"std", number(s.std)},
           {"min", number(s.min)},
           {"max", number(s.max)},
           {"median", number(s.median)},
           {"q1", number(s.q1)},
           {"q3", number(s.q3)},
           {"ci95", {number(s.ci95_low), number(s.ci95_high)}},
           {"iqm", number(s.iqm)},
           {"bootstrap95",
            {{"mean", {number(s.mean_bootstrap.low), number(s.mean_bootstrap.high)}},
             {"median", {number(s.median_bootstrap.low), number(s.median_bootstrap.high)}},
             {"iqm", {number(s.iqm_bootstrap.low), number(s.iqm_bootstrap.high)}}}}};
}

json number(double value) { return std::isfinite(value) ? json(value) : json(nullptr); }

json matrix(const torch::Tensor& t) {
  const torch::Tensor values = t.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  const double* data = values.data_ptr<double>();
  if (values.dim() == 1) return labrun::numbers({data, data + values.numel()});
  json rows = json::array();
  const int64_t width = values.size(1);
  for (int64_t r = 0; r < values.size(0); ++r) {
    rows.push_back(labrun::numbers({data + r * width, data + (r + 1) * width}));
  }
  return rows;
}

json factorise_config(const FactoriseStudyOptions& options, const Provenance* provenance) {
  const FactoriseOptions& gd = options.gd;
  json config{{"rank", gd.rank},
              {"epochs", gd.epochs},
              {"lr", gd.lr},
              {"reduction", to_string(gd.reduction)},
              {"loss_form", to_string(gd.form)}};
  if (provenance) {
    config["seed"] = provenance->seed;
    config["seed_given"] = provenance->seed_given;
  }
  config["loss_every"] = gd.record_every;
  if (provenance) config["threads"] = torch::get_num_threads();
  config["dtype"] = to_string(options.dtype);
  config["streaming"] = to_string(options.streaming);
  config["normalise"] = to_string(options.normalise);
  config["preprocessing"] = options.normalise == Normalise::none ? "mean-centred columns"
                            : options.normalise == Normalise::std
                                ? "mean-centred columns divided by their standard deviations"
                                : "mean-centred columns divided by their variances";
  return config;
}

json mlp_config(const MlpStudyOptions& options, const Provenance* provenance) {
  json config{{"hidden", options.hidden},
              {"epochs", options.training.epochs},
              {"lr", options.training.lr},
              {"repeats", options.repeats},
              {"train_size", options.train_size},
              {"normalise", to_string(options.normalise)},
              {"shuffle", to_string(options.shuffle)},
              {"engine", to_string(options.engine)}};
  if (provenance) {
    config["seed"] = provenance->seed;
    config["seed_given"] = provenance->seed_given;
  }
  config["loss_every"] = options.training.record_every;
  if (provenance) config["threads"] = torch::get_num_threads();
  config["dtype"] = "float32";
  config["bootstrap_resamples"] = options.resamples;
  return config;
}

json exercise_config(const ExerciseOptions& options, const Provenance& provenance) {
  return json{{"seed", provenance.seed},
              {"seed_given", provenance.seed_given},
              {"threads", torch::get_num_threads()},
              {"factorise", factorise_config(options.factorise, nullptr)},
              {"mlp", mlp_config(options.mlp, nullptr)}};
}

json sweep_config(const Sweep& sweep) {
  const Sweep folded = fold_single_values(sweep);
  if (const auto* mlp = std::get_if<MlpSweep>(&folded)) return mlp_config(mlp->base, nullptr);
  const auto& factorise = std::get<FactoriseSweep>(folded);
  json config = factorise_config(factorise.base, nullptr);
  config["engine"] = to_string(factorise.engine);
  return config;
}

json factorise_results(const FactoriseStudyResult& result) {
  const double gap = result.gap();
  return json{
      {"streamed", result.streamed},
      {"gd", result.gd},
      {"svd", result.svd},
      {"gap",
       {{"absolute", number(gap)}, {"relative", result.relative_gap() ? number(*result.relative_gap()) : json()}}}};
}

json pca_results(const FactoriseStudyResult& result, const Dataset& data) {
  json results = factorise_results(result);
  results["pca"] = result.pca ? json(*result.pca) : json();
  results["comparison"] = result.comparison ? json(*result.comparison) : json();
  results["row_classes"] = data.labels;
  return results;
}

json mlp_results_head(const MlpStudyResult& result) {
  return json{{"classes", result.classes}, {"train_rows", result.train_rows}, {"val_rows", result.val_rows}};
}

json mlp_run(int64_t repeat, const MlpResult& run) {
  json j{{"repeat", repeat}};
  j.update(json(run));
  return j;
}

json mlp_results_tail(const MlpStudyResult& result) {
  const auto runs = static_cast<double>(std::max<int64_t>(result.val_accuracy.n + result.diverged_runs, 1));
  return json{{"summary",
               {{"train_accuracy", result.train_accuracy},
                {"val_accuracy", result.val_accuracy},
                {"final_loss", result.final_loss},
                {"diverged_left_out", result.diverged_runs}}},
              {"seconds", result.seconds},
              {"seconds_per_model", result.seconds / runs}};
}

json mlp_results(const MlpStudyResult& result) {
  json runs = json::array();
  for (std::size_t r = 0; r < result.runs.size(); ++r) runs.push_back(mlp_run(static_cast<int64_t>(r), result.runs[r]));
  json j = mlp_results_head(result);
  j["runs"] = std::move(runs);
  j.update(mlp_results_tail(result));
  return j;
}

json exercise_results(const ExerciseResult& result, const Dataset& data) {
  // Parts 1.1 to 1.3 are one study: the factorisation once, with its PCA comparison.
  return json{{"factorise", pca_results(result.factorise, data)}, {"mlp", mlp_results(result.mlp)}};
}

json describe(const Dataset& data) {
  return json{{"source", data.source},
              {"path", data.path.empty() ? json(nullptr) : json(data.path)},
              {"sha256", data.sha256},
              {"rows", data.rows()},
              {"columns", data.columns()},
              {"feature_columns", data.feature_columns},
              {"feature_names", data.feature_names},
              {"label_column", data.label_column ? json(*data.label_column) : json(nullptr)},
              {"labels_file", data.labels_source.empty()
                                  ? json(nullptr)
                                  : json{{"source", data.labels_source},
                                         {"path", data.labels_path.empty() ? json(nullptr) : json(data.labels_path)},
                                         {"sha256", data.labels_sha256}}},
              {"ignored_columns", data.ignored_columns},
              {"index_column", data.index_column ? json(*data.index_column) : json(nullptr)},
              {"format", data.format},
              {"delimiter", data.delimiter == '\0'   ? json(nullptr)
                            : data.delimiter == '\t' ? json("tab")
                                                     : json(std::string(1, data.delimiter))},
              {"has_header", data.has_header}};
}

}  // namespace labrun
