#include "labrun/options.hpp"

#include "labrun/factorise.hpp"
#include "labrun/statistics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <utility>

namespace labrun {

OptionError::OptionError(std::string function, std::string option, std::string rest)
    : std::invalid_argument(function + ": " + option + " " + rest),
      function_(std::move(function)),
      option_(std::move(option)),
      rest_(std::move(rest)) {}

std::string shortest(double value) {
  char text[32];
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(text, sizeof text, "%.*g", digits, value);
    if (!std::isfinite(value) || std::strtod(text, nullptr) == value) break;
  }
  return text;
}

void require_at_least(const char* function, const char* option, int64_t value, int64_t minimum) {
  if (value < minimum) {
    throw OptionError(function, option, std::to_string(value) + " must be >= " + std::to_string(minimum));
  }
}

void require_lr(const char* function, const char* option, double lr, Dtype dtype) {
  if (!std::isfinite(lr) || lr <= 0.0) {
    throw OptionError(function, option, shortest(lr) + " must be a finite number > 0");
  }
  if (dtype != Dtype::float32) return;
  if (lr > std::numeric_limits<float>::max()) {
    throw OptionError(function, option,
                      shortest(lr) + " must be <= 3.4e38, float32's largest number, where training is in float32");
  }
  if (static_cast<float>(lr) == 0.0f) {
    throw OptionError(
        function, option,
        shortest(lr) + " is 0 in float32 (below 1.4e-45), where training is: no update would change a " + "weight");
  }
}

void require_rank(const char* function, int64_t rank, int64_t rows, int64_t columns, const std::string& of) {
  require_at_least(function, "rank", rank, 1);
  const int64_t limit = std::min(rows, columns);
  if (rank < limit) return;
  throw OptionError(function, "rank",
                    std::to_string(rank) + " must be < min(rows, columns) = " + std::to_string(limit) +
                        (of.empty() ? "" : " of " + of) + " (" + std::to_string(rows) + " x " +
                        std::to_string(columns) + ")");
}

void require_train_size(const char* function, int64_t train_size, int64_t rows, const std::string& of) {
  if (train_size >= 1 && train_size < rows) return;
  throw OptionError(function, "train_size",
                    std::to_string(train_size) + " must leave rows to train on and to validate: 1 <= it < " +
                        std::to_string(rows) + ", the rows" + (of.empty() ? "" : " of " + of));
}

void require_resamples(const char* function, const char* option, int64_t resamples) {
  if (resamples >= 0 && resamples <= kMaxResamples) return;
  throw OptionError(
      function, option,
      std::to_string(resamples) + " must be 0 (no bootstrap) to " + std::to_string(kMaxResamples) + " resamples");
}

}  // namespace labrun
