#pragma once
// What the single factorisation and its streamed study share (src/factorise.cpp,
// src/factorise_stream.cpp): the initial factors, the epoch loop, and the streamed matrix.

#include "labrun/dataset.hpp"
#include "labrun/decomposition.hpp"
#include "labrun/factorise.hpp"

#include <torch/types.h>

#include <chrono>
#include <cmath>
#include <functional>
#include <optional>
#include <utility>

namespace labrun::detail {

// gd_factorise_ad's U (m x r) and V (n x r), uniform in [0, 1), U drawn first, from options'
// generator, else its seed, else libtorch's default generator.
std::pair<torch::Tensor, torch::Tensor> initial_factors(int64_t m, int64_t n, const FactoriseOptions& options,
                                                        torch::ScalarType dtype);

// One training's ways to see its factors: any callables, so that the exercise's loop calls its own
// lambdas directly (the streamed training, which picks one of two forms, uses std::function).
template <typename Forward, typename Update, typename SquaredError>
struct Steps {
  Forward forward;             // the factors' loss in the training reduction, ready to update
  Update update;               // one gradient step from what forward computed
  SquaredError squared_error;  // ||A - U V^T||_F^2 of the factors now
};
template <typename Forward, typename Update, typename SquaredError>
Steps(Forward, Update, SquaredError) -> Steps<Forward, Update, SquaredError>;

// gd_factorise_ad's loop: options.epochs epochs of forward (observed, recorded, stopping when not
// finite) and update, the checkpoints on the way, then result's seconds (from start), loss and
// divergence.
template <typename Forward, typename Update, typename SquaredError>
void descend(const FactoriseOptions& options, const Steps<Forward, Update, SquaredError>& steps,
             std::chrono::steady_clock::time_point start, FactoriseResult& result) {
  std::size_t next = 0;  // the next checkpoint
  const auto checkpoint = [&](int64_t e) {
    for (; next < options.checkpoints.size() && options.checkpoints[next] <= e; ++next) {
      const double loss = steps.squared_error();
      result.checkpoints.push_back({options.checkpoints[next], loss, result.diverged() || !std::isfinite(loss)});
    }
  };
  for (int64_t epoch = 0; epoch < options.epochs; ++epoch) {
    if (next < options.checkpoints.size() && options.checkpoints[next] == epoch) checkpoint(epoch);
    const double value = steps.forward();
    if (options.observer) options.observer(epoch, value);
    if (options.record_every > 0 && (epoch % options.record_every == 0 || epoch + 1 == options.epochs)) {
      result.loss_curve.push_back({epoch, value});
    }
    if (!std::isfinite(value)) {
      result.diverged_at_epoch = epoch;
      break;
    }
    steps.update();
    result.epochs_run = epoch + 1;
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  result.loss = steps.squared_error();
  // The last update can be the one that overflows: its loss is never an epoch's.
  if (!result.diverged() && !std::isfinite(result.loss)) result.diverged_at_epoch = result.epochs_run;
  // The rest: at the end, or every one after a divergence stopped the training (as such runs stop).
  checkpoint(options.epochs);
}

// ||Ac||^2 must be finite in the training type, or DataError: the loss could not be computed; and
// not 0 while the largest centred value is not (every square underflowed: the loss, the SVD and
// PCA would all be 0 or noise).
void require_representable_norm(const Dataset& data, double norm2, Dtype dtype, double largest);

// The data's mean-centred features, never held whole: see Streaming in labrun/studies.hpp. Made by
// two passes (the mean; the Gram matrix, its eigendecomposition and the checks of the centred
// values in the training type, as the in-memory study checks them).
class StreamedMatrix {
 public:
  StreamedMatrix(const Dataset& data, Dtype dtype);

  // The truncated SVD of rank r, and with_pca PCA, from the Gram matrix's top eigenvectors W
  // (signs as PCA flips them): scores = Ac W, U = scores / s, Vh = axes = W^T, the loss
  // ||Ac - U S Vh||^2 summed by blocks; one pass.
  std::pair<TruncatedSvd, std::optional<Pca>> decompose(int64_t rank, bool with_pca) const;
  // gd_factorise_ad on the centred matrix, each epoch one pass.
  FactoriseResult gd_factorise(const FactoriseOptions& options) const;

 private:
  // visit(first row, the block's centred rows in float64, the same in the training type).
  void for_each_block(const std::function<void(int64_t, const torch::Tensor&, const torch::Tensor&)>& visit) const;
  double squared_error(const torch::Tensor& U, const torch::Tensor& V) const;
  torch::Tensor scratch(int64_t rows) const;  // a block-sized buffer in the training type
  void allocate_buffers();

  const Dataset& data_;
  torch::ScalarType dtype_;
  int64_t rows_per_block_;
  torch::Tensor mean_;          // n, float64
  double norm2_ = 0.0;          // ||Ac||^2, each block's in the training type
  torch::Tensor eigenvalues_;   // n, float64, descending, clamped at 0
  torch::Tensor eigenvectors_;  // n x n, float64, ascending (the last column the largest's)
  // A block's buffers (the tensors are handles: for_each_block writes into them).
  torch::Tensor exact_, typed_, scratch_;
};

}  // namespace labrun::detail
