#include "labrun/decomposition.hpp"

#include "check.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <string>

namespace labrun {
namespace {

std::vector<double> to_vector(const torch::Tensor& t) {
  const torch::Tensor flat = t.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  return {flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel()};
}

}  // namespace

double squared_error(const torch::Tensor& A, const torch::Tensor& B) {
  torch::NoGradGuard no_grad;
  return torch::mse_loss(B, A, at::Reduction::Sum).item<double>();
}

double svd_flops(int64_t m, int64_t n) {
  const double k = static_cast<double>(std::min(m, n));
  return 4.0 * static_cast<double>(m) * static_cast<double>(n) * k + 8.0 * k * k * k;
}

TruncatedSvd truncated_svd(const torch::Tensor& A, int64_t rank) {
  detail::require_matrix("truncated_svd", "A", A);
  const int64_t k = std::min(A.size(0), A.size(1));
  if (rank < 1 || rank > k) {
    throw std::invalid_argument("truncated_svd: rank " + std::to_string(rank) +
                                " must be in [1, min(m, n) = " + std::to_string(k) + "]");
  }
  torch::NoGradGuard no_grad;
  const auto [U, S, Vh] = torch::linalg::svd(A, /*full_matrices=*/false, /*driver=*/c10::nullopt);

  TruncatedSvd svd;
  svd.U = U.narrow(1, 0, rank);
  svd.S = S.narrow(0, 0, rank);
  svd.Vh = Vh.narrow(0, 0, rank);
  // U diag(S_r) Vh with the discarded singular values set to zero, as the exercise reconstructs.
  svd.reconstruction = (svd.U * svd.S).matmul(svd.Vh);
  svd.loss = squared_error(A, svd.reconstruction);
  svd.singular_values = to_vector(S);
  const torch::Tensor energy = S.square();
  svd.explained_variance_ratio = to_vector(energy / energy.sum());
  return svd;
}

Pca pca(const torch::Tensor& X, int64_t rank) {
  detail::require_matrix("pca", "X", X);
  const int64_t m = X.size(0);
  const int64_t k = std::min(m, X.size(1));
  if (m < 2) throw std::invalid_argument("pca: X has " + std::to_string(m) + " rows, at least 2 needed");
  if (rank < 1 || rank > k) {
    throw std::invalid_argument("pca: rank " + std::to_string(rank) +
                                " must be in [1, min(m, n) = " + std::to_string(k) + "]");
  }
  torch::NoGradGuard no_grad;
  Pca result;
  result.mean = X.mean(0);
  const torch::Tensor Xc = X - result.mean;
  const auto [U, S, Vh] = torch::linalg::svd(Xc, /*full_matrices=*/false, /*driver=*/c10::nullopt);

  // svd_flip on V: make the largest-magnitude entry of each axis (row of Vh) positive.
  torch::Tensor axes = Vh.narrow(0, 0, rank);
  const torch::Tensor largest = axes.abs().argmax(1, /*keepdim=*/true);
  const torch::Tensor signs = axes.gather(1, largest).sign();
  axes = axes * signs;
  result.axes = axes;
  result.scores = U.narrow(1, 0, rank) * S.narrow(0, 0, rank) * signs.t();  // = Xc V_r

  const torch::Tensor variance = S.square() / static_cast<double>(m - 1);
  result.singular_values = to_vector(S);
  result.explained_variance = to_vector(variance);
  result.explained_variance_ratio = to_vector(variance / variance.sum());
  return result;
}

SubspaceComparison compare_subspaces(const torch::Tensor& X, const torch::Tensor& Y) {
  detail::require_matrix("compare_subspaces", "X", X);
  detail::require_matrix("compare_subspaces", "Y", Y);
  if (X.size(0) != Y.size(0)) {
    throw std::invalid_argument("compare_subspaces: X (" + detail::shape(X) + ") and Y (" + detail::shape(Y) +
                                ") must have the same number of rows");
  }
  if (X.size(1) > X.size(0) || Y.size(1) > Y.size(0) || X.size(1) < 1 || Y.size(1) < 1) {
    throw std::invalid_argument("compare_subspaces: X (" + detail::shape(X) + ") and Y (" + detail::shape(Y) +
                                ") must each have between 1 column and as many columns as rows");
  }
  torch::NoGradGuard no_grad;
  const torch::Tensor x = X.to(torch::kFloat64);
  const torch::Tensor y = Y.to(torch::kFloat64);

  // Principal angles, Bjorck & Golub (1973), with the sine branch for small angles.
  const torch::Tensor Qx = std::get<0>(torch::linalg::qr(x, "reduced"));
  const torch::Tensor Qy = std::get<0>(torch::linalg::qr(y, "reduced"));
  const torch::Tensor C = Qx.t().matmul(Qy);
  const int64_t count = std::min(X.size(1), Y.size(1));
  const std::vector<double> cosines = to_vector(torch::linalg::svdvals(C, c10::nullopt).clamp(0.0, 1.0));  // descending
  const std::vector<double> sines = to_vector(torch::linalg::svdvals(Qy - Qx.matmul(C), c10::nullopt).clamp(0.0, 1.0));
  // The sines of Qy - Qx C come out descending; the i-th smallest angle pairs with the i-th
  // smallest sine (there are q of them, the last `count` are the ones that pair with the cosines).
  std::vector<double> sorted_sines(sines.end() - count, sines.end());
  std::reverse(sorted_sines.begin(), sorted_sines.end());  // ascending
  SubspaceComparison result;
  for (int64_t i = 0; i < count; ++i) {
    const double c = cosines[static_cast<std::size_t>(i)];
    const double s = sorted_sines[static_cast<std::size_t>(i)];
    result.principal_angles.push_back(c > std::sqrt(0.5) ? std::asin(s) : std::acos(c));
  }

  // Least-squares map X M = Y and its relative residual.
  result.linear_map = std::get<0>(torch::linalg::lstsq(x, y, c10::nullopt, c10::nullopt));
  const double y_norm = y.norm().item<double>();
  const double residual = (x.matmul(result.linear_map) - y).norm().item<double>();
  result.alignment_residual = y_norm > 0.0 ? residual / y_norm : residual;

  // Coherence of X's columns: the largest |cos| between two distinct columns.
  const torch::Tensor unit = x / torch::linalg::vector_norm(x, 2, {0}, /*keepdim=*/true, c10::nullopt);
  const torch::Tensor gram = unit.t().matmul(unit) - torch::eye(x.size(1), x.options());
  result.x_column_coherence = x.size(1) > 1 ? gram.abs().max().item<double>() : 0.0;
  return result;
}

}  // namespace labrun
