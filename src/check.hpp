#pragma once
// The library's argument checks, in one place and one message format:
//   "<function>: <what> <value> must be <condition>"   (std::invalid_argument)

#include "labrun/dataset.hpp"

#include <torch/types.h>

#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace labrun::detail {

[[noreturn]] inline void invalid(const char* function, const std::string& what) {
  throw std::invalid_argument(std::string(function) + ": " + what);
}

// "150 x 4", "a scalar".
inline std::string shape(const torch::Tensor& t) {
  std::ostringstream out;
  for (int64_t d = 0; d < t.dim(); ++d) out << (d ? " x " : "") << t.size(d);
  return t.dim() == 0 ? "a scalar" : out.str();
}

// A 2-D floating-point matrix.
inline void require_matrix(const char* function, const char* name, const torch::Tensor& t) {
  if (t.defined() && t.dim() == 2 && t.is_floating_point()) return;
  std::ostringstream what;
  what << name << " must be a 2-D floating-point matrix, got ";
  if (t.defined()) {
    what << "a " << t.dim() << "-D tensor (" << shape(t) << ") of " << t.scalar_type();
  } else {
    what << "an undefined tensor";
  }
  invalid(function, what.str());
}

inline void require_at_least(const char* function, const char* name, int64_t value, int64_t minimum) {
  if (value < minimum) {
    invalid(function, std::string(name) + " " + std::to_string(value) + " must be >= " + std::to_string(minimum));
  }
}

inline void require_finite_positive(const char* function, const char* name, double value) {
  if (std::isfinite(value) && value > 0.0) return;
  std::ostringstream what;
  what << name << " " << value << " must be finite and > 0";
  invalid(function, what.str());
}

// Epoch counts ascending within [0, epochs].
inline void require_checkpoints(const char* function, const std::vector<int64_t>& checkpoints, int64_t epochs) {
  for (std::size_t i = 0; i < checkpoints.size(); ++i) {
    const int64_t e = checkpoints[i];
    if (e < 0 || e > epochs || (i > 0 && e <= checkpoints[i - 1])) {
      invalid(function, "checkpoints must ascend within [0, epochs = " + std::to_string(epochs) + "]; " +
                            std::to_string(e) + " does not");
    }
  }
}

// X holds data's feature columns (in their order), converted or scaled for training: every value
// finite, or DataError naming the first column that is not, with `why` (what to do).
void require_finite_data(const Dataset& data, const torch::Tensor& X, const std::string& dtype, const std::string& why);

}  // namespace labrun::detail
