#pragma once
// Tolerances for comparing with numbers computed elsewhere (a hard-coded figure from the exercise's
// Python code, another BLAS kernel, the other engine), derived as docs/numerics.md explains, and
// the comparisons that print both values and how far apart they are.
//
// Two runs of one gradient descent that differ only in the order of their sums (another OpenBLAS
// kernel, the batched engine, `sub_(g, lr)` for `-= lr * g`) drift apart by each epoch's rounding.
// A sum of k products is off by at most lambda sqrt(k) u relative (u the unit roundoff) with
// probability at least 1 - 2k exp(-lambda^2 / 2): the probabilistic bound of Higham and Mary (SIAM
// J. Sci. Comput. 41(5), 2019), where the worst case is k u. lambda = 6 makes that 1 - 3e-6 for
// k = 150. E epochs add their errors at most linearly while each step is stable (non-expansive).
// So the iterates agree to
//     drift(E, k, u) = 6 E sqrt(k) u   relative,
// and a figure computed from them to kappa drift, kappa the figure's condition number.

#include <torch/torch.h>

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>

namespace labrun::test {

inline constexpr double kRoundoffF64 = 0x1p-53;  // float64's unit roundoff
inline constexpr double kRoundoffF32 = 0x1p-24;  // float32's

inline constexpr double kLambda = 6.0;

inline double drift(int64_t epochs, int64_t longest_sum, double roundoff) {
  return kLambda * static_cast<double>(epochs) * std::sqrt(static_cast<double>(longest_sum)) * roundoff;
}

// The loss ||A - U V^T||_F^2 = L of a factorisation whose factors are off by `drift` relative:
// d(U V^T) <= 2 drift ||U|| ||V|| ~ 2 drift ||A||, and dL <= 2 ||A - U V^T|| d(U V^T), so
// dL / L <= 4 drift ||A|| / sqrt(L).
inline double factorisation_loss_tolerance(double drift_of_factors, double norm_A, double loss) {
  return 4.0 * drift_of_factors * norm_A / std::sqrt(loss);
}

// The batch-mean cross-entropy L of an MLP whose parameters are off by `drift` relative: each of
// the two layers moves the logits z by at most drift |z|, and the loss's gradient in z has an l1
// norm <= 2 per row, so dL <= 4 drift max|z|, relative 4 drift max|z| / L.
inline double cross_entropy_tolerance(double drift_of_params, double max_abs_logit, double loss) {
  return 4.0 * drift_of_params * max_abs_logit / loss;
}

// Units in the last place between a and b, in the type the figure was computed in.
inline double ulps(double a, double b, bool float32) {
  const double step = float32 ? static_cast<double>(std::nextafter(static_cast<float>(std::fabs(b)),
                                                                   std::numeric_limits<float>::infinity()) -
                                                    static_cast<float>(std::fabs(b)))
                              : std::nextafter(std::fabs(b), std::numeric_limits<double>::infinity()) - std::fabs(b);
  return std::fabs(a - b) / step;
}

// |actual - expected| <= relative |expected|; the failure says both, how far, and the bound.
inline ::testing::AssertionResult within_relative(double actual, double expected, double relative,
                                                  bool float32 = false) {
  const double difference = std::fabs(actual - expected);
  if (difference <= relative * std::fabs(expected)) return ::testing::AssertionSuccess();
  std::ostringstream what;
  what.precision(17);
  what << "actual " << actual << " vs expected " << expected << ": relative difference "
       << difference / std::fabs(expected) << " (" << ulps(actual, expected, float32) << " ulps) exceeds the bound "
       << relative;
  return ::testing::AssertionFailure() << what.str();
}

// The rows of logits (rows x classes) whose two largest entries are within `margin`: their argmax,
// and so the accuracy, may differ between two computations whose logits differ by margin / 2.
inline int64_t near_ties(const torch::Tensor& logits, double margin) {
  const torch::Tensor top = std::get<0>(logits.topk(2, 1));
  return (top.select(1, 0) - top.select(1, 1) <= margin).sum().item<int64_t>();
}

// An accuracy (a share of `rows`) against one computed elsewhere: equal, or apart by no more
// rows than are near a tie.
inline ::testing::AssertionResult accuracy_within_ties(double actual, double expected, int64_t rows, int64_t ties) {
  const double apart = std::round(std::fabs(actual - expected) * static_cast<double>(rows));
  if (apart <= static_cast<double>(ties)) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "accuracy " << actual << " vs " << expected << ": " << apart
                                       << " rows apart, but only " << ties << " rows are near a tie";
}

}  // namespace labrun::test
