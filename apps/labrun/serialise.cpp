#include "serialise.hpp"

#include "blas_restart.hpp"

#include <torch/torch.h>

#include <cmath>

namespace labrun {

json number(double value) { return std::isfinite(value) ? json(value) : json(nullptr); }

namespace {

json numbers(const std::vector<double>& values) {
  json out = json::array();
  for (const double v : values) out.push_back(number(v));
  return out;
}

}  // namespace

json matrix(const torch::Tensor& t) {
  const torch::Tensor values = t.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  const double* data = values.data_ptr<double>();
  if (values.dim() == 1) return numbers({data, data + values.numel()});
  json rows = json::array();
  const int64_t width = values.size(1);
  for (int64_t r = 0; r < values.size(0); ++r) rows.push_back(numbers({data + r * width, data + (r + 1) * width}));
  return rows;
}

void to_json(json& j, const RuntimeInfo& info) {
  j = json{{"labrun_version", info.labrun_version},
           {"libtorch_version", info.libtorch_version},
           {"blas", info.blas},
           {"blas_library", info.blas_library},
           {"threads", info.threads},
           {"blas_kernel", info.blas_kernel}};
}

void to_json(json& j, const BlasKernelInfo& kernel) {
  const auto text_or_null = [](const std::string& text) { return text.empty() ? json(nullptr) : json(text); };
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
           {"seconds_per_epoch", result.epochs_run > 0 ? number(result.seconds / static_cast<double>(result.epochs_run))
                                                       : json(nullptr)},
           {"epochs_run", result.epochs_run},
           {"diverged", result.diverged},
           {"diverged_at_epoch", result.diverged_at_epoch ? json(*result.diverged_at_epoch) : json(nullptr)}};
  if (!result.loss_curve.empty()) {
    json epochs = json::array();
    json losses = json::array();
    for (const LossPoint& point : result.loss_curve) {
      epochs.push_back(point.epoch);
      losses.push_back(number(point.loss));
    }
    j["loss_curve"] = json{{"epoch", std::move(epochs)}, {"loss", std::move(losses)}};
  }
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

json describe(const Dataset& data) {
  return json{{"source", data.source},
              {"rows", data.rows()},
              {"columns", data.columns()},
              {"feature_columns", data.feature_columns},
              {"feature_names", data.feature_names},
              {"label_column", data.label_column ? json(*data.label_column) : json(nullptr)},
              {"has_header", data.has_header}};
}

json document(const std::string& command, json config, json data, json results) {
  json environment = runtime_info(cli::blas_work_flops());
  if (!cli::blas_restart_failure().empty()) environment["blas_kernel"]["decision"] = cli::blas_restart_failure();
  return json{{"schema_version", kSchemaVersion},
              {"command", command},
              {"config", std::move(config)},
              {"data", std::move(data)},
              {"environment", std::move(environment)},
              {"results", std::move(results)}};
}

}  // namespace labrun
