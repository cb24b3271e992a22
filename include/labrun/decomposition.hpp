#pragma once
// Truncated SVD of a matrix (exercise part 1.2), with torch::linalg::svd.
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
  torch::Tensor U;               // m x r
  torch::Tensor S;               // r
  torch::Tensor Vh;              // r x n
  torch::Tensor reconstruction;  // m x n, U diag(S) Vh
  double loss = 0.0;             // ||A - reconstruction||_F^2
  std::vector<double> singular_values;           // all k of them, largest first
  // s_i^2 / sum_j s_j^2 for every component: the share of ||A||_F^2 each one carries (the explained
  // variance ratio when A's columns are mean-centred).
  std::vector<double> explained_variance_ratio;
};

// Rank-r truncated SVD of a 2-D floating-point A; 1 <= r <= min(m, n).
// Throws std::invalid_argument for a bad A or rank.
TruncatedSvd truncated_svd(const torch::Tensor& A, int64_t rank);

}  // namespace labrun
