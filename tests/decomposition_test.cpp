#include "labrun/decomposition.hpp"

#include "labrun/dataset.hpp"
#include "labrun/factorise.hpp"
#include "tensor_check.hpp"
#include "tolerance.hpp"

#include <gtest/gtest.h>

namespace labrun {
namespace {

TEST(Decomposition, IrisSingularValuesAndLossMatchTheExercise) {
  const torch::Tensor A = centre_columns(load_embedded_iris().features);
  const TruncatedSvd svd = truncated_svd(A, 2);
  // EXERCISE.md: singular values 25.0899, 6.0079, 3.4205, 1.8785.
  ASSERT_EQ(svd.singular_values.size(), 4u);
  EXPECT_NEAR(svd.singular_values[0], 25.0899, 1e-4);
  EXPECT_NEAR(svd.singular_values[1], 6.0079, 1e-4);
  EXPECT_NEAR(svd.singular_values[2], 3.4205, 1e-4);
  EXPECT_NEAR(svd.singular_values[3], 1.8785, 1e-4);
  // Eckart-Young: the loss is the sum of the discarded squared singular values; the figure is
  // lab2_reference.py's "svd_loss" (torch.linalg.svd in Python).
  const double discarded =
      svd.singular_values[2] * svd.singular_values[2] + svd.singular_values[3] * svd.singular_values[3];
  EXPECT_NEAR(svd.loss, discarded, 1e-10);
  // The SVD is backward stable, as if of A + E with ||E|| ~ drift ||A||: min(m, n) = 4 Householder
  // steps of sums over the 150 rows (tolerance.hpp), through the loss's condition 4 ||A|| / sqrt(L).
  const double norm = A.norm().item<double>();
  EXPECT_TRUE(test::within_relative(
      svd.loss, 15.228833347803327,
      test::factorisation_loss_tolerance(test::drift(4, 150, test::kRoundoffF64), norm, 15.228833347803327)));
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

TEST(Decomposition, PcaMatchesAnIndependentEigendecompositionUpToSign) {
  const torch::Tensor X = load_embedded_iris().features;
  const Pca p = pca(X, 2);
  // Independent route: eigenvectors of the covariance matrix (n - 1 convention).
  const torch::Tensor A = centre_columns(X);
  const torch::Tensor covariance = A.t().matmul(A) / (A.size(0) - 1);
  const auto [eigenvalues, eigenvectors] = torch::linalg::eigh(covariance, "L");  // ascending
  for (int64_t i = 0; i < 2; ++i) {
    const torch::Tensor axis = eigenvectors.select(1, 3 - i);
    const torch::Tensor projection = A.matmul(axis);
    const double sign = (projection * p.scores.select(1, i)).sum().item<double>() > 0 ? 1.0 : -1.0;
    EXPECT_TRUE(test::tensors_close(p.scores.select(1, i), sign * projection, 1e-10)) << "component " << i;
    EXPECT_NEAR(p.explained_variance[static_cast<std::size_t>(i)], eigenvalues[3 - i].item<double>(), 1e-10);
  }
  // scores = (X - mean) axes^T, and the axes are orthonormal.
  EXPECT_TRUE(test::tensors_close(p.scores, A.matmul(p.axes.t()), 1e-10));
  EXPECT_TRUE(test::tensors_close(p.axes.matmul(p.axes.t()), torch::eye(2, torch::kFloat64), 1e-12));
  double total = 0.0;
  for (const double r : p.explained_variance_ratio) total += r;
  EXPECT_NEAR(total, 1.0, 1e-12);
  // scikit-learn's PCA on the UCI file: explained_variance_ratio_ 0.9246, 0.0530.
  EXPECT_NEAR(p.explained_variance_ratio[0], 0.9246, 1e-4);
  EXPECT_NEAR(p.explained_variance_ratio[1], 0.0530, 1e-4);
}

TEST(Decomposition, PcaSignConventionMakesEachAxisLargestEntryPositive) {
  torch::manual_seed(2);
  const Pca p = pca(torch::randn({30, 5}, torch::kFloat64), 3);
  for (int64_t i = 0; i < 3; ++i) {
    const torch::Tensor axis = p.axes[i];
    EXPECT_GT(axis[axis.abs().argmax()].item<double>(), 0.0) << "axis " << i;
  }
  const Pca flipped = pca(-torch::randn({30, 5}, torch::kFloat64), 3);  // another draw: signs still positive
  for (int64_t i = 0; i < 3; ++i) EXPECT_GT(flipped.axes[i][flipped.axes[i].abs().argmax()].item<double>(), 0.0);
}

TEST(Decomposition, PcaRejectsBadInput) {
  EXPECT_THROW(pca(torch::ones({1, 3}, torch::kFloat64), 1), std::invalid_argument);
  EXPECT_THROW(pca(torch::ones({5, 3}, torch::kFloat64), 4), std::invalid_argument);
  EXPECT_THROW(pca(torch::ones({5}, torch::kFloat64), 1), std::invalid_argument);
}

TEST(Decomposition, InvertibleMapGivesZeroAnglesAndZeroResidual) {
  torch::manual_seed(4);
  const torch::Tensor Y = torch::randn({20, 3}, torch::kFloat64);
  const torch::Tensor R = torch::tensor({{2.0, 0.5, 0.0}, {-1.0, 1.0, 0.3}, {0.0, 0.2, -3.0}}, torch::kFloat64);
  const torch::Tensor X = Y.matmul(R);  // same column space as Y
  const SubspaceComparison c = compare_subspaces(X, Y);
  ASSERT_EQ(c.principal_angles.size(), 3u);
  for (const double angle : c.principal_angles) EXPECT_NEAR(angle, 0.0, 1e-12);
  EXPECT_LT(c.alignment_residual, 1e-12);
  EXPECT_TRUE(test::tensors_close(c.linear_map, torch::linalg::inv(R), 1e-10));
}

TEST(Decomposition, OrthogonalSpacesGiveRightAnglesAndKnownAnglesComeOut) {
  const torch::Tensor I = torch::eye(6, torch::kFloat64);
  const SubspaceComparison right = compare_subspaces(I.narrow(1, 0, 2), I.narrow(1, 2, 2));
  for (const double angle : right.principal_angles) EXPECT_NEAR(angle, M_PI / 2, 1e-12);
  EXPECT_NEAR(right.alignment_residual, 1.0, 1e-12);  // nothing of Y is reachable from X
  EXPECT_NEAR(right.x_column_coherence, 0.0, 1e-12);

  // span{e1} against span{(e1 + e2) / sqrt 2}: 45 degrees.
  const torch::Tensor x = torch::tensor({{1.0}, {0.0}, {0.0}}, torch::kFloat64);
  const torch::Tensor y = torch::tensor({{1.0}, {1.0}, {0.0}}, torch::kFloat64);
  EXPECT_NEAR(compare_subspaces(x, y).principal_angles.at(0), M_PI / 4, 1e-12);

  // span{e1, e2} against span{e1, e3 cos t + e2 sin t}: angles 0 and pi/2 - t.
  const double t = 0.3;
  const torch::Tensor X = I.narrow(1, 0, 2);
  const torch::Tensor Y =
      torch::stack({I.select(1, 0), std::cos(t) * I.select(1, 2) + std::sin(t) * I.select(1, 1)}, 1);
  const SubspaceComparison mixed = compare_subspaces(X, Y);
  EXPECT_NEAR(mixed.principal_angles.at(0), 0.0, 1e-12);
  EXPECT_NEAR(mixed.principal_angles.at(1), M_PI / 2 - t, 1e-12);
}

TEST(Decomposition, CoherenceMeasuresHowFarColumnsAreFromOrthogonal) {
  const torch::Tensor X = torch::tensor({{1.0, 1.0}, {0.0, 1.0}, {0.0, 0.0}}, torch::kFloat64);
  EXPECT_NEAR(compare_subspaces(X, X).x_column_coherence, std::sqrt(0.5), 1e-12);
}

TEST(Decomposition, CompareSubspacesNamesBothShapesOnAMismatch) {
  try {
    compare_subspaces(torch::ones({150, 2}, torch::kFloat64), torch::ones({149, 2}, torch::kFloat64));
    ADD_FAILURE() << "no error";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("150 x 2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("149 x 2"), std::string::npos) << e.what();
  }
  EXPECT_THROW(compare_subspaces(torch::ones({2, 3}, torch::kFloat64), torch::ones({2, 1}, torch::kFloat64)),
               std::invalid_argument);
}

TEST(Decomposition, LearnedFactorSpansThePrincipalSubspaceOfIris) {
  const torch::Tensor X = load_embedded_iris().features;
  FactoriseOptions options;
  options.seed = 0;
  const FactoriseResult gd = gd_factorise_ad(centre_columns(X), options);
  const Pca p = pca(X, 2);
  const SubspaceComparison c = compare_subspaces(gd.U, p.scores);
  for (const double angle : c.principal_angles) EXPECT_LT(angle, 0.01);
  EXPECT_LT(c.alignment_residual, 0.01);
  // U itself is not orthogonal: gradient descent finds the subspace, not PCA's basis of it.
  EXPECT_GT(c.x_column_coherence, 0.01);
}

}  // namespace
}  // namespace labrun
