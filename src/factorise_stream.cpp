#include "factorise_stream.hpp"

#include "check.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <string>
#include <tuple>

namespace labrun::detail {
namespace {

// A block of rows is about this many entries: 8 MiB in float64.
constexpr int64_t kBlockElements = int64_t{1} << 20;

std::vector<double> to_vector(const torch::Tensor& t) {
  const torch::Tensor flat = t.to(torch::kFloat64).contiguous();
  return {flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel()};
}

double sum_of_products(const torch::Tensor& a, const torch::Tensor& b) {
  return a.reshape({-1}).dot(b.reshape({-1})).item<double>();
}

}  // namespace

void require_representable_norm(const Dataset& data, double norm2, Dtype dtype, double largest) {
  if (norm2 == 0.0 && largest > 0.0) {
    char value[32];
    std::snprintf(value, sizeof value, "%.3g", largest);
    throw DataError(data.source + ": the squares of the centred data underflow " + to_string(dtype) +
                    " (its largest value is " + value + "), so the loss, the SVD and PCA would be 0; scale the data" +
                    (dtype == Dtype::float32 ? ", use --dtype float64," : "") + " or --normalise std");
  }
  if (std::isfinite(norm2) && (dtype == Dtype::float64 || norm2 <= std::numeric_limits<float>::max())) return;
  throw DataError(data.source + ": the sum of squares of the centred data overflows " + to_string(dtype) +
                  ", so the factorisation's loss cannot be computed; scale the data" +
                  (dtype == Dtype::float32 ? " or use --dtype float64" : ""));
}

StreamedMatrix::StreamedMatrix(const Dataset& data, Dtype dtype)
    : data_(data),
      dtype_(dtype == Dtype::float32 ? torch::kFloat32 : torch::kFloat64),
      rows_per_block_(std::max<int64_t>(1, kBlockElements / std::max<int64_t>(1, data.columns()))) {
  torch::NoGradGuard no_grad;
  const int64_t m = data.rows(), n = data.columns();
  // Pass 1: the mean, in float64.
  mean_ = torch::zeros({n}, torch::kFloat64);
  for (int64_t first = 0; first < m; first += rows_per_block_) {
    const int64_t count = std::min(rows_per_block_, m - first);
    mean_.add_(data.features.narrow(0, first, count).sum(0, /*keepdim=*/false, torch::kFloat64));
    if (data.release_rows) data.release_rows(first, first + count);
  }
  mean_.div_(static_cast<double>(m));
  // Pass 2: the centred values checked in the training type, ||Ac||^2 and the Gram matrix.
  torch::Tensor gram = torch::zeros({n, n}, torch::kFloat64);
  {
    allocate_buffers();
    const torch::Tensor share = dtype_ == torch::kFloat64 ? torch::Tensor() : torch::empty({n, n}, dtype_);
    torch::Tensor column_max = torch::zeros({n}, torch::kFloat64);
    for_each_block([&](int64_t, const torch::Tensor& exact, const torch::Tensor& block) {
      column_max = torch::maximum(column_max, exact.abs().amax(0));
      const double squares = sum_of_products(block, block);
      if (!std::isfinite(squares)) {
        require_finite_data(data, block, to_string(dtype), "scale the data or use --dtype float64");
      }
      norm2_ += squares;
      if (dtype_ == torch::kFloat64) {
        gram.addmm_(block.t(), block);
      } else {
        torch::Tensor out = share;
        torch::mm_out(out, block.t(), block);
        gram.add_(share);
      }
    });
    require_representable_norm(data, norm2_, dtype, column_max.max().item<double>());
    // The raw values' magnitude, for what centring leaves of a constant column: |mean| + the rest.
    require_normal_scale(data, column_max, mean_.abs() + column_max, to_string(dtype), smallest_normal(dtype));
    // LAPACK's eigensolver needs 4 n^2 doubles at its peak: the blocks' buffers make way for it.
    exact_ = typed_ = scratch_ = torch::Tensor();
  }
  auto [values, vectors] = torch::linalg::eigh(gram, "L");  // ascending
  gram = torch::Tensor();
  eigenvalues_ = values.flip(0).clamp_min(0.0);
  eigenvectors_ = std::move(vectors);
  allocate_buffers();
}

void StreamedMatrix::allocate_buffers() {
  // Made once, written by every block: a fresh block every pass would churn the allocator.
  exact_ = torch::empty({std::min(rows_per_block_, data_.rows()), data_.columns()}, torch::kFloat64);
  typed_ = dtype_ == torch::kFloat64 ? exact_ : torch::empty_like(exact_, dtype_);
  scratch_ = torch::empty_like(typed_);
}

void StreamedMatrix::for_each_block(
    const std::function<void(int64_t, const torch::Tensor&, const torch::Tensor&)>& visit) const {
  const int64_t m = data_.rows();
  for (int64_t first = 0; first < m; first += rows_per_block_) {
    const int64_t count = std::min(rows_per_block_, m - first);
    // Centred in float64, then rounded to the training type: the in-memory study's values.
    const torch::Tensor exact = exact_.narrow(0, 0, count), typed = typed_.narrow(0, 0, count);
    exact.copy_(data_.features.narrow(0, first, count)).sub_(mean_);
    if (dtype_ != torch::kFloat64) typed.copy_(exact);
    visit(first, exact, typed);
    if (data_.release_rows) data_.release_rows(first, first + count);
  }
}

torch::Tensor StreamedMatrix::scratch(int64_t rows) const { return scratch_.narrow(0, 0, rows); }

double StreamedMatrix::squared_error(const torch::Tensor& U, const torch::Tensor& V) const {
  double total = 0.0;
  const torch::Tensor Vt = V.t().contiguous();
  for_each_block([&](int64_t first, const torch::Tensor&, const torch::Tensor& block) {
    torch::Tensor residual = scratch(block.size(0));
    torch::mm_out(residual, U.narrow(0, first, block.size(0)), Vt).sub_(block);
    total += sum_of_products(residual, residual);
  });
  return total;
}

std::pair<TruncatedSvd, std::optional<Pca>> StreamedMatrix::decompose(int64_t rank, bool with_pca) const {
  torch::NoGradGuard no_grad;
  const int64_t m = data_.rows();
  // svd_flip on the axes (pca()'s convention): each one's largest-magnitude entry positive.
  torch::Tensor axes = eigenvectors_.narrow(1, eigenvectors_.size(1) - rank, rank).flip(1).t();  // r x n
  const torch::Tensor largest = axes.abs().argmax(1, /*keepdim=*/true);
  axes = (axes * axes.gather(1, largest).sign()).contiguous();
  const torch::Tensor W = axes.t().contiguous();  // n x r, float64
  const torch::Tensor Wt_typed = axes.to(dtype_);
  const torch::Tensor s = eigenvalues_.sqrt();
  // U = scores / s; a zero singular value has no left vector to speak of: its column is left 0.
  const torch::Tensor s_r = s.narrow(0, 0, rank);
  const torch::Tensor inverse_s = torch::where(s_r > 0.0, 1.0 / s_r, torch::zeros_like(s_r));

  TruncatedSvd svd;
  svd.U = torch::empty({m, rank}, dtype_);
  const torch::Tensor all_scores = with_pca ? torch::empty({m, rank}, torch::kFloat64) : torch::Tensor();
  torch::Tensor block_scores = torch::empty({std::min(rows_per_block_, m), rank}, torch::kFloat64);
  double loss = 0.0;
  for_each_block([&](int64_t first, const torch::Tensor& exact, const torch::Tensor& block) {
    const int64_t count = block.size(0);
    torch::Tensor scores = with_pca ? all_scores.narrow(0, first, count) : block_scores.narrow(0, 0, count);
    torch::mm_out(scores, exact, W);
    torch::Tensor U_block = svd.U.narrow(0, first, count);
    U_block.copy_(scores * inverse_s);
    torch::Tensor residual = scratch(count);
    torch::mm_out(residual, U_block * s_r.to(dtype_), Wt_typed);
    residual.sub_(block);  // sign does not matter: it is squared
    loss += sum_of_products(residual, residual);
  });
  svd.S = s_r.to(dtype_);
  svd.Vh = Wt_typed;
  svd.loss = loss;
  svd.singular_values = to_vector(s);
  svd.explained_variance_ratio = to_vector(eigenvalues_ / eigenvalues_.sum());
  if (!with_pca) return {svd, std::nullopt};

  Pca pca;
  pca.mean = mean_;
  pca.axes = axes;
  pca.scores = all_scores;
  pca.singular_values = svd.singular_values;
  const torch::Tensor variance = eigenvalues_ / static_cast<double>(m - 1);
  pca.explained_variance = to_vector(variance);
  pca.explained_variance_ratio = to_vector(variance / variance.sum());
  return {svd, pca};
}

FactoriseResult StreamedMatrix::gd_factorise(const FactoriseOptions& options) const {
  constexpr const char* kFunction = "factorise_study";
  labrun::require_at_least(kFunction, "epochs", options.epochs, 0);
  require_lr(kFunction, "lr", options.lr, dtype_ == torch::kFloat32 ? Dtype::float32 : Dtype::float64);
  labrun::require_at_least(kFunction, "record_every", options.record_every, 0);
  require_checkpoints(kFunction, options.checkpoints, options.epochs);
  torch::NoGradGuard no_grad;
  const int64_t m = data_.rows(), n = data_.columns();
  // The sum's gradients are 2 x the products below; the mean's are that / (m n).
  const double scale =
      options.reduction == Reduction::mean ? 1.0 / (static_cast<double>(m) * static_cast<double>(n)) : 1.0;

  FactoriseResult result;
  const auto start = std::chrono::steady_clock::now();
  torch::Tensor U, V;
  std::tie(U, V) = initial_factors(m, n, options, dtype_);
  torch::Tensor dU = torch::empty_like(U), dV = torch::empty_like(V);

  Steps<std::function<double()>, std::function<void()>, std::function<double()>> steps;
  if (options.form == LossForm::residual) {
    // R = U V^T - Ac a block at a time: loss ||R||^2, dU = 2 R V, dV = 2 R^T U.
    steps.forward = [&] {
      const torch::Tensor Vt = V.t().contiguous();
      dV.zero_();
      double loss = 0.0;
      for_each_block([&](int64_t first, const torch::Tensor&, const torch::Tensor& block) {
        const torch::Tensor U_block = U.narrow(0, first, block.size(0));
        torch::Tensor residual = scratch(block.size(0));
        torch::mm_out(residual, U_block, Vt).sub_(block);
        loss += sum_of_products(residual, residual);
        torch::Tensor dU_block = dU.narrow(0, first, block.size(0));
        torch::mm_out(dU_block, residual, V);
        dV.addmm_(residual.t(), U_block);
      });
      return loss * scale;
    };
  } else {
    // ||Ac||^2 - 2 <U, Ac V> + <U^T U, V^T V>: P = Ac V and Q = Ac^T U a block at a time,
    // dU = 2 (U V^T V - P), dV = 2 (V U^T U - Q).
    steps.forward = [&] {
      dV.zero_();
      for_each_block([&](int64_t first, const torch::Tensor&, const torch::Tensor& block) {
        torch::Tensor P_block = dU.narrow(0, first, block.size(0));
        torch::mm_out(P_block, block, V);
        dV.addmm_(block.t(), U.narrow(0, first, block.size(0)));
      });
      const torch::Tensor UtU = U.t().mm(U), VtV = V.t().mm(V);
      const double loss = norm2_ - 2.0 * sum_of_products(U, dU) + sum_of_products(UtU, VtV);
      dU.neg_().addmm_(U, VtV);  // U V^T V - P
      dV.neg_().addmm_(V, UtU);  // V U^T U - Q
      return loss * scale;
    };
  }
  steps.update = [&] {
    U.sub_(dU, 2.0 * scale * options.lr);
    V.sub_(dV, 2.0 * scale * options.lr);
  };
  steps.squared_error = [&] { return squared_error(U, V); };
  descend(options, steps, start, result);
  result.U = U;
  result.V = V;
  return result;
}

}  // namespace labrun::detail
