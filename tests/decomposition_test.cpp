#include "labrun/decomposition.hpp"

#include "labrun/dataset.hpp"
#include "tensor_check.hpp"

#include <gtest/gtest.h>

namespace labrun {
namespace {

TEST(Decomposition, IrisSingularValuesAndLossMatchTheExercise) {
  const TruncatedSvd svd = truncated_svd(centre_columns(load_embedded_iris().features), 2);
  // EXERCISE.md: singular values 25.0899, 6.0079, 3.4205, 1.8785.
  ASSERT_EQ(svd.singular_values.size(), 4u);
  EXPECT_NEAR(svd.singular_values[0], 25.0899, 1e-4);
  EXPECT_NEAR(svd.singular_values[1], 6.0079, 1e-4);
  EXPECT_NEAR(svd.singular_values[2], 3.4205, 1e-4);
  EXPECT_NEAR(svd.singular_values[3], 1.8785, 1e-4);
  // Eckart-Young: the loss is the sum of the discarded squared singular values; the figure is
  // lab2_reference.py's "svd_loss" (torch.linalg.svd in Python).
  const double discarded = svd.singular_values[2] * svd.singular_values[2] +
                           svd.singular_values[3] * svd.singular_values[3];
  EXPECT_NEAR(svd.loss, discarded, 1e-10);
  EXPECT_NEAR(svd.loss, 15.228833347803327, 1e-10);
  EXPECT_EQ(svd.U.sizes(), (torch::IntArrayRef{150, 2}));
  EXPECT_EQ(svd.Vh.sizes(), (torch::IntArrayRef{2, 4}));
}

TEST(Decomposition, HandComputedThreeByTwo) {
  // A = [[3, 0], [0, 2], [0, 0]]: s = (3, 2); rank 1 keeps 3 and loses 2^2 = 4.
  const torch::Tensor A = torch::tensor({{3.0, 0.0}, {0.0, 2.0}, {0.0, 0.0}}, torch::kFloat64);
  const TruncatedSvd svd = truncated_svd(A, 1);
  EXPECT_NEAR(svd.singular_values[0], 3.0, 1e-12);
  EXPECT_NEAR(svd.singular_values[1], 2.0, 1e-12);
  EXPECT_NEAR(svd.loss, 4.0, 1e-12);
  EXPECT_NEAR(svd.explained_variance_ratio[0], 9.0 / 13.0, 1e-12);
  EXPECT_NEAR(svd.explained_variance_ratio[1], 4.0 / 13.0, 1e-12);
  // The reconstruction is sign-free: compare it, not the singular vectors.
  EXPECT_TRUE(test::tensors_close(svd.reconstruction,
                                  torch::tensor({{3.0, 0.0}, {0.0, 0.0}, {0.0, 0.0}}, torch::kFloat64), 1e-12));
}

TEST(Decomposition, FullRankReconstructsExactly) {
  torch::manual_seed(11);
  const torch::Tensor A = torch::randn({7, 4}, torch::kFloat64);
  const TruncatedSvd svd = truncated_svd(A, 4);
  EXPECT_LT(svd.loss, 1e-20);
  double total = 0.0;
  for (const double r : svd.explained_variance_ratio) total += r;
  EXPECT_NEAR(total, 1.0, 1e-12);
}

TEST(Decomposition, RejectsBadRank) {
  const torch::Tensor A = torch::ones({3, 2}, torch::kFloat64);
  EXPECT_THROW(truncated_svd(A, 0), std::invalid_argument);
  EXPECT_THROW(truncated_svd(A, 3), std::invalid_argument);
  EXPECT_THROW(truncated_svd(torch::ones({3}, torch::kFloat64), 1), std::invalid_argument);
}

}  // namespace
}  // namespace labrun
