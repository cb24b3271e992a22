#pragma once
// The library's checks of its arguments beyond the options' rules (labrun/options.hpp): shapes and
// invariants (std::invalid_argument, "<function>: <what>"), and the data's scale (DataError).

#include "labrun/dataset.hpp"
#include "labrun/factorise.hpp"
#include "labrun/options.hpp"

#include <torch/types.h>

#include <cmath>
#include <limits>
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

// Epoch counts ascending within [0, epochs].
inline void require_checkpoints(const char* function, const std::vector<int64_t>& checkpoints, int64_t epochs) {
  for (std::size_t i = 0; i < checkpoints.size(); ++i) {
    const int64_t e = checkpoints[i];
    if (e < 0 || e > epochs || (i > 0 && e <= checkpoints[i - 1])) {
      throw OptionError(
          function, "checkpoints",
          "must ascend within [0, epochs = " + std::to_string(epochs) + "]; " + std::to_string(e) + " does not");
    }
  }
}

// X holds data's feature columns (in their order), converted or scaled for training: every value
// finite, or DataError naming the first column that is not, with `why` (what to do).
void require_finite_data(const Dataset& data, const torch::Tensor& X, const std::string& dtype, const std::string& why);

// column_max holds the largest magnitude of each of data's feature columns as they are trained
// (centred, in float64): each is 0 or at least `smallest_normal`, the training type's smallest
// normal number (DBL_MIN, FLT_MIN). Otherwise DataError naming the first such column: below it a
// value keeps fewer significant bits the smaller it is, and descent from the exercise's initial
// values in [0, 1) cannot reach a matrix of that scale (1e-310: principal angles of 80 degrees).
inline double smallest_normal(Dtype dtype) {
  return dtype == Dtype::float32 ? std::numeric_limits<float>::min() : std::numeric_limits<double>::min();
}
// raw_max holds the largest magnitude of each column before centring: a centred column within the
// rounding of its raw values (64 rows u |raw|) is a constant column, whose residue is no scale.
void require_normal_scale(const Dataset& data, const torch::Tensor& column_max, const torch::Tensor& raw_max,
                          const std::string& dtype, double smallest_normal);

}  // namespace labrun::detail
