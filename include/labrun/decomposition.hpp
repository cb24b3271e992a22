#pragma once
// Truncated SVD (exercise part 1.2), PCA and subspace comparison (part 1.3), on torch::linalg.
//
//   A: m x n,  A = U S V^T  (thin SVD, k = min(m, n) singular values, largest first)
//   A_r = U_r S_r V_r^T  keeps the r largest singular values.
// Eckart-Young (1936): A_r minimises ||A - B||_F over every B of rank <= r, and
//   ||A - A_r||_F^2 = sum_{i > r} s_i^2.

#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace labrun {

struct TruncatedSvd {
  torch::Tensor U;                      // m x r
  torch::Tensor S;                      // r
  torch::Tensor Vh;                     // r x n
  torch::Tensor reconstruction;         // m x n, U diag(S) Vh
  double loss = 0.0;                    // ||A - reconstruction||_F^2
  std::vector<double> singular_values;  // all k of them, largest first
  // s_i^2 / sum_j s_j^2 for every component: the share of ||A||_F^2 each one carries (the explained
  // variance ratio when A's columns are mean-centred).
  std::vector<double> explained_variance_ratio;
};

// ||A - B||_F^2, the exercise's mse_loss(B, A, reduction = sum).
double squared_error(const torch::Tensor& A, const torch::Tensor& B);

// Rank-r truncated SVD of a 2-D floating-point A; 1 <= r <= min(m, n).
// Throws std::invalid_argument for a bad A or rank.
TruncatedSvd truncated_svd(const torch::Tensor& A, int64_t rank);

// An estimate of the floating-point operations of the thin SVD of an m x n matrix (LAPACK's
// gesdd, Golub and Van Loan's count 4 m n k + 8 k^3 with k = min(m, n), rounded up).
double svd_flops(int64_t m, int64_t n);

// PCA of X: m x n (rows are observations), through the SVD of the centred data
//   Xc = X - mean = U S V^T,   axes = V_r^T (r x n),   scores = Xc V_r = U_r S_r (m x r),
//   explained variance_i = s_i^2 / (m - 1)  (the unbiased convention, as scikit-learn).
// Signs: each axis is flipped so that its largest-magnitude entry is positive (scikit-learn's
// svd_flip on V), so that runs and machines agree.
struct Pca {
  torch::Tensor mean;                            // n
  torch::Tensor axes;                            // r x n, orthonormal rows, the principal axes
  torch::Tensor scores;                          // m x r, the data projected on the axes
  std::vector<double> singular_values;           // all k = min(m, n)
  std::vector<double> explained_variance;        // all k, s_i^2 / (m - 1)
  std::vector<double> explained_variance_ratio;  // all k, sums to 1
};

// Throws std::invalid_argument for a bad X (not 2-D floating point, fewer than 2 rows) or rank
// (outside [1, min(m, n)]).
Pca pca(const torch::Tensor& X, int64_t rank);

// How two m x p and m x q matrices X and Y relate.
struct SubspaceComparison {
  // The min(p, q) principal angles between the column spaces, ascending, in radians
  // (Bjorck & Golub 1973): orthonormal bases Qx, Qy by QR; cos theta_i are the singular values of
  // Qx^T Qy, sin theta_i those of Qy - Qx Qx^T Qy; small angles come from the sines, which keeps
  // them accurate near 0 (Knyazev & Argentati 2002).
  std::vector<double> principal_angles;
  torch::Tensor linear_map;         // p x q, argmin_M ||X M - Y||_F (least squares)
  double alignment_residual = 0.0;  // ||X M - Y||_F / ||Y||_F
  // The largest |cosine| between two distinct columns of X: 0 when they are orthogonal.
  double x_column_coherence = 0.0;
};

// Throws std::invalid_argument when X or Y is not a 2-D floating-point matrix, when their row
// counts differ (naming both shapes), or when either has more columns than rows.
SubspaceComparison compare_subspaces(const torch::Tensor& X, const torch::Tensor& Y);

}  // namespace labrun
