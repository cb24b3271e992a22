#include "check.hpp"

#include <torch/torch.h>

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

}  // namespace labrun::detail
