#include "labrun/factorise_study.hpp"

#include "check.hpp"
#include "factorise_stream.hpp"
#include "labrun/options.hpp"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <optional>
#include <tuple>

namespace labrun {

const char* to_string(Streaming streaming) {
  switch (streaming) {
    case Streaming::always:
      return "always";
    case Streaming::never:
      return "never";
    case Streaming::automatic:
      break;
  }
  return "auto";
}

bool can_stream(int64_t rows, int64_t columns) { return columns <= rows && columns <= kMaxStreamedColumns; }

bool streams(int64_t rows, int64_t columns, const FactoriseStudyOptions& options) {
  if (options.normalise != Normalise::none) return false;  // the streamed blocks are not scaled
  switch (options.streaming) {
    case Streaming::always:
      return can_stream(rows, columns);
    case Streaming::never:
      return false;
    case Streaming::automatic:
      break;
  }
  return can_stream(rows, columns) && static_cast<double>(rows) * static_cast<double>(columns) >= kStreamedElements;
}

namespace {

// The top-`rank` principal subspace is one subspace only when the rank-th singular value of the
// centred data stands apart from the next (an all-zero or constant matrix has none that do):
// otherwise any basis of the tied directions is as good, and angles to it mean nothing.
void require_unique_subspace(const Pca& p, int64_t rank, const Dataset& data) {
  const auto& s = p.singular_values;
  const auto r = static_cast<std::size_t>(rank);
  const double tolerance =
      static_cast<double>(std::max(data.rows(), data.columns())) * std::numeric_limits<double>::epsilon() * s.front();
  if (s[r - 1] - s[r] > tolerance) return;
  char values[96];
  std::snprintf(values, sizeof values, "%.6g and %.6g", s[r - 1], s[r]);
  throw DataError(data.source + ": the centred data's singular values " + std::to_string(rank) + " and " +
                  std::to_string(rank + 1) + " (" + values + ") are equal to rounding, so its top-" +
                  std::to_string(rank) + " principal subspace is not unique and U cannot be compared with it" +
                  (s.front() == 0.0 ? " (the data is constant)" : "; choose another --rank"));
}

}  // namespace

double largest_column_share(const Dataset& data) {
  const int64_t rows = data.rows();
  if (rows < 2) return 0.0;
  // A block of rows at a time, its pages dropped after (a mapped .npy larger than the memory):
  // first each column's largest magnitude, then the spread of the columns divided by it.
  const int64_t block = std::max<int64_t>(1, (int64_t{1} << 20) / std::max<int64_t>(1, data.columns()));
  const auto each_block = [&](const std::function<void(const torch::Tensor&)>& visit) {
    for (int64_t begin = 0; begin < rows; begin += block) {
      const int64_t end = std::min(rows, begin + block);
      visit(data.features.narrow(0, begin, end - begin).to(torch::kFloat64));
      if (data.release_rows) data.release_rows(begin, end);
    }
  };
  torch::Tensor largest = torch::zeros({data.columns()}, torch::kFloat64);
  each_block([&](const torch::Tensor& b) { largest = torch::maximum(largest, b.abs().amax(0)); });
  largest.clamp_min_(std::numeric_limits<double>::min());
  torch::Tensor sum = torch::zeros_like(largest), squares = torch::zeros_like(largest);
  each_block([&](const torch::Tensor& b) {
    const torch::Tensor unit = b / largest;
    sum += unit.sum(0);
    squares += (unit * unit).sum(0);
  });
  const torch::Tensor mean = sum / static_cast<double>(rows);
  const torch::Tensor spread = (squares / static_cast<double>(rows) - mean * mean).clamp_min(0.0);
  // A constant column (which normalise std refuses) makes the share 0: std is no answer there.
  if ((spread <= 1e-15 * (mean * mean).clamp_min(1e-300)).any().item<bool>()) return 0.0;
  const torch::Tensor variance = spread * largest * largest;
  const double total = variance.sum().item<double>();
  return std::isfinite(total) && total > 0.0 ? variance.max().item<double>() / total : 0.0;
}

// The columns divided by their standard deviation or variance (unbiased, as the MLP's); as they are
// for none. Dividing before centring centres the scaled columns.
torch::Tensor normalised_columns(const Dataset& data, Normalise normalise) {
  const torch::Tensor features = data.features.to(torch::kFloat64);
  if (normalise == Normalise::none) return features;
  // The spread of each column divided by its largest magnitude first, so that neither the squares
  // of 1e300 nor of 1e-300 leave double's range: std = m sd(x / m).
  const torch::Tensor largest = features.abs().amax(0);
  const torch::Tensor unit = features / largest.clamp_min(std::numeric_limits<double>::min());
  const torch::Tensor spread = unit.std(0) * largest;
  const auto column_of = [&](const torch::Tensor& where) {
    return data.feature_columns[static_cast<std::size_t>(where[0][0].item<int64_t>())];
  };
  const torch::Tensor constant = (unit.var(0) == 0).nonzero();
  if (constant.numel() > 0) {
    throw DataError(data.source + ": column " + std::to_string(column_of(constant)) + " is constant, so normalise " +
                    to_string(normalise) + " cannot divide it by its " +
                    (normalise == Normalise::var ? "variance" : "standard deviation") +
                    " (normalise none leaves it as it is)");
  }
  if (normalise == Normalise::std) return features / spread;
  const torch::Tensor variance = spread * spread;
  const torch::Tensor beyond = (~torch::isfinite(variance) | (variance == 0)).nonzero();
  if (beyond.numel() > 0) {
    throw DataError(data.source + ": the variance of column " + std::to_string(column_of(beyond)) +
                    " is beyond double's range, so normalise var cannot divide by it; normalise std can");
  }
  return features / variance;
}

std::optional<double> stable_lr(const FactoriseStudyResult& result, const FactoriseOptions& gd) {
  if (result.svd.singular_values.empty() || !(result.svd.singular_values.front() > 0.0)) return std::nullopt;
  const double s1 = result.svd.singular_values.front();
  // The largest curvature along the way: 4 s1 at the balanced optimum, and 2 (|U0|^2 + |V0|^2)
  // at the start, from the initial factors' spectral norms (uniform [0, 1) entries: at most
  // 0.5 sqrt(rows r) for their mean plus 0.29 (sqrt(rows) + sqrt(r)) for the rest).
  const auto r = static_cast<double>(gd.rank);
  const auto start = [r](double rows) { return 0.5 * std::sqrt(rows * r) + 0.29 * (std::sqrt(rows) + std::sqrt(r)); };
  const double u0 = start(static_cast<double>(result.gd.U.size(0))),
               v0 = start(static_cast<double>(result.gd.V.size(0)));
  const double lr = 1.0 / std::max(4.0 * s1, 2.0 * (u0 * u0 + v0 * v0));
  if (gd.reduction == Reduction::sum) return lr;
  return lr * static_cast<double>(result.gd.U.size(0)) * static_cast<double>(result.gd.V.size(0));
}

void check_options(const Dataset& data, const FactoriseStudyOptions& options) {
  constexpr const char* kFunction = "factorise_study";
  const FactoriseOptions& gd = options.gd;
  require_rank(kFunction, gd.rank, data.rows(), data.columns(), data.source);
  require_at_least(kFunction, "epochs", gd.epochs, 0);
  require_lr(kFunction, "lr", gd.lr, options.dtype);
  require_at_least(kFunction, "record_every", gd.record_every, 0);
  detail::require_checkpoints(kFunction, gd.checkpoints, gd.epochs);
  if (options.streaming != Streaming::always) return;
  if (options.normalise != Normalise::none) {
    throw OptionError(kFunction, "streaming",
                      std::string("always reads the matrix a block of rows at a time, and columns scaled (") +
                          to_string(options.normalise) + ") are held in memory: give auto or never, or no scaling");
  }
  if (!can_stream(data.rows(), data.columns())) {
    throw OptionError(kFunction, "streaming",
                      "always needs at least as many rows as columns and at most " +
                          std::to_string(kMaxStreamedColumns) + " columns; " + data.source + " is " +
                          std::to_string(data.rows()) + " x " + std::to_string(data.columns()));
  }
}

FactoriseStudyResult factorise_study(const Dataset& data, const FactoriseStudyOptions& options) {
  check_options(data, options);
  require_memory(estimate(data.rows(), data.columns(), options).bytes, "the factorisation of " + data.source);
  FactoriseStudyResult result;
  const char* dtype = to_string(options.dtype);
  const auto initial_loss_is_finite = [&] {
    if (result.gd.diverged_at_epoch != 0) return;
    throw DataError(data.source + ": the loss of the initial factors is not finite, before any update: the data's " +
                    "scale is beyond " + dtype + "; scale the data");
  };
  if (streams(data.rows(), data.columns(), options)) {
    result.streamed = true;
    const detail::StreamedMatrix A(data, options.dtype);
    std::tie(result.svd, result.pca) = A.decompose(options.gd.rank, options.pca);
    if (options.pca) require_unique_subspace(*result.pca, options.gd.rank, data);
    result.gd = A.gd_factorise(options.gd);
    initial_loss_is_finite();
  } else {
    // Centred in float64 (as the exercise), then converted; scaled first when asked.
    const torch::Tensor features = normalised_columns(data, options.normalise);
    const torch::Tensor centred = centre_columns(features);
    result.A = centred.to(options.dtype == Dtype::float32 ? torch::kFloat32 : torch::kFloat64);
    detail::require_finite_data(data, result.A, dtype, "scale the data or use --dtype float64");
    detail::require_normal_scale(data, centred.abs().amax(0), features.abs().amax(0), dtype,
                                 detail::smallest_normal(options.dtype));
    // The loss is a sum of squares of the data's size: it must be finite before any training.
    detail::require_representable_norm(data, result.A.reshape({-1}).dot(result.A.reshape({-1})).item<double>(),
                                       options.dtype, centred.abs().max().item<double>());
    if (options.pca) {
      // First, as it decides whether there is anything to compare U with (it draws no random numbers).
      result.pca = pca(features, options.gd.rank);
      require_unique_subspace(*result.pca, options.gd.rank, data);
    }
    result.gd = gd_factorise_ad(result.A, options.gd);
    initial_loss_is_finite();
    result.svd = truncated_svd(result.A, options.gd.rank);
  }
  if (options.pca) {
    // A diverged factor is NaN: it has no column space to compare.
    if (!result.gd.diverged()) result.comparison = compare_subspaces(result.gd.U, result.pca->scores);
  }
  return result;
}

std::optional<double> FactoriseStudyResult::relative_gap() const {
  double norm2 = 0.0;
  for (const double s : svd.singular_values) norm2 += s * s;
  const double rounding =
      static_cast<double>(std::max(gd.U.size(0), gd.V.size(0))) * std::numeric_limits<double>::epsilon() * norm2;
  if (!(svd.loss > rounding)) return std::nullopt;
  return gap() / svd.loss;
}

Cost estimate(int64_t rows, int64_t columns, const FactoriseStudyOptions& options) {
  Cost cost;
  cost.flops = factorise_flops(rows, columns, options.gd) + (options.pca ? 2.0 : 1.0) * svd_flops(rows, columns);
  const double element = options.dtype == Dtype::float32 ? 4.0 : 8.0;
  const auto m = static_cast<double>(rows);
  const auto n = static_cast<double>(columns);
  const auto r = static_cast<double>(options.gd.rank);
  if (streams(rows, columns, options)) {
    // A block of rows in float64, its copy in the training type and a product of its size (8 MiB
    // each); the Gram matrix, its eigenvectors and LAPACK's workspace (2 n^2); the factors,
    // gradients, scores and U in float64.
    const double blocks = 3.0 * std::max(static_cast<double>(int64_t{1} << 20), n) * 8.0;
    cost.bytes = blocks + 4.0 * n * n * 8.0 + (m + n) * r * 8.0 * 8.0 +
                 curve_points(options.gd.epochs, options.gd.record_every) * sizeof(LossPoint);
    return cost;
  }
  // The centred copy and its conversion; the residual form's m x n product, difference and
  // gradients; the SVD's copy, factors and workspace; PCA's centring and SVD in float64.
  const double matrices = m * n * element * (2.0 + (options.gd.form == LossForm::residual ? 4.0 : 0.0) + 3.0) +
                          (options.pca ? 4.0 * m * n * 8.0 : 0.0);
  const double k = std::min(m, n);
  const double factors = (m + n) * r * element * 8.0 + k * k * element;
  cost.bytes = matrices + factors + curve_points(options.gd.epochs, options.gd.record_every) * sizeof(LossPoint);
  return cost;
}

}  // namespace labrun
