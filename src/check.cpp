#include "check.hpp"

#include <torch/torch.h>

#include <limits>

#include <cstdio>

namespace labrun::detail {

void require_finite_data(const Dataset& data, const torch::Tensor& X, const std::string& dtype,
                         const std::string& why) {
  const torch::Tensor bad = X.isfinite().logical_not().any(0).nonzero();
  if (bad.numel() == 0) return;
  const auto index = static_cast<std::size_t>(bad[0][0].item<int64_t>());
  const double largest = data.features.select(1, static_cast<int64_t>(index)).abs().max().item<double>();
  char value[32];
  std::snprintf(value, sizeof value, "%.3g", largest);
  const std::string name =
      data.has_header && index < data.feature_names.size() ? " (" + data.feature_names[index] + ")" : "";
  throw DataError(data.source + ": column " + std::to_string(data.feature_columns.at(index)) + name +
                  " (largest magnitude " + value + ") does not fit in " + dtype + ": " + why);
}

void require_normal_scale(const Dataset& data, const torch::Tensor& column_max, const torch::Tensor& raw_max,
                          const std::string& dtype, double smallest_normal) {
  const torch::Tensor largest = column_max.to(torch::kFloat64);
  const double rounding = 64.0 * static_cast<double>(data.rows()) * std::numeric_limits<double>::epsilon();
  const torch::Tensor constant = largest <= raw_max.to(torch::kFloat64) * rounding;
  const torch::Tensor tiny =
      (largest > 0).logical_and(largest < smallest_normal).logical_and(constant.logical_not()).nonzero();
  if (tiny.numel() == 0) return;
  const auto index = static_cast<std::size_t>(tiny[0][0].item<int64_t>());
  char value[32], normal[32];
  std::snprintf(value, sizeof value, "%.3g", largest[static_cast<int64_t>(index)].item<double>());
  std::snprintf(normal, sizeof normal, "%.3g", smallest_normal);
  const std::string name =
      data.has_header && index < data.feature_names.size() ? " (" + data.feature_names[index] + ")" : "";
  throw DataError(data.source + ": column " + std::to_string(data.feature_columns.at(index)) + name +
                  " (largest magnitude " + value + ", centred) is below " + dtype + "'s smallest normal number " +
                  normal + ": its values lose their precision and training cannot reach that scale; multiply " +
                  "the data by a power of ten first");
}

}  // namespace labrun::detail
