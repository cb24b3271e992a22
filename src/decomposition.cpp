#include "labrun/decomposition.hpp"

#include "labrun/factorise.hpp"

#include <torch/torch.h>

#include <stdexcept>
#include <string>

namespace labrun {
namespace {

std::vector<double> to_vector(const torch::Tensor& t) {
  const torch::Tensor flat = t.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  return {flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel()};
}

}  // namespace

TruncatedSvd truncated_svd(const torch::Tensor& A, int64_t rank) {
  if (!A.defined() || A.dim() != 2 || !A.is_floating_point()) {
    throw std::invalid_argument("truncated_svd: A must be a 2-D floating-point tensor");
  }
  const int64_t k = std::min(A.size(0), A.size(1));
  if (rank < 1 || rank > k) {
    throw std::invalid_argument("truncated_svd: rank " + std::to_string(rank) + " must be in [1, min(m, n) = " +
                                std::to_string(k) + "]");
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

}  // namespace labrun
