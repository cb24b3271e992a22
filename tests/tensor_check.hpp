#pragma once
// tensors_close: compares tensors and says where they differ most.

#include <torch/torch.h>

#include <gtest/gtest.h>

#include <sstream>

namespace labrun::test {

// Largest absolute difference between two tensors, with where it is, for failure messages
// (after llm.c's check_tensor).
inline ::testing::AssertionResult tensors_close(const torch::Tensor& actual, const torch::Tensor& expected,
                                                double tolerance) {
  if (actual.sizes() != expected.sizes()) {
    std::ostringstream what;
    what << "shapes differ: " << actual.sizes() << " vs " << expected.sizes();
    return ::testing::AssertionFailure() << what.str();
  }
  const torch::Tensor diff = (actual.to(torch::kFloat64) - expected.to(torch::kFloat64)).abs().flatten();
  const auto at = diff.argmax().item<int64_t>();
  const double largest = diff[at].item<double>();
  if (largest <= tolerance) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "largest difference " << largest << " at flat index " << at << " exceeds "
                                       << tolerance;
}

}  // namespace labrun::test
