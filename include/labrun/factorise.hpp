#pragma once
// Low-rank matrix factorisation by gradient descent with autograd (exercise part 1.1).
//
//   A: m x n (float32 or float64)   U: m x r   V: n x r   with 1 <= r < min(m, n)
//   loss(U, V) = ||A - U V^T||_F^2          (reduction sum, the exercise's choice)
//             or ||A - U V^T||_F^2 / (m n)  (reduction mean: lr no longer scales with the size)
//
// Two ways to write that loss for autograd, the same function of U and V:
//   residual  mse_loss(U V^T, A): the exercise's code. An epoch makes the m x n residual and passes
//             over it (forward, backward) besides its three m x n x r products.
//   gram      ||A||^2 - 2 <U, A V> + <U^T U, V^T V>: the expanded square. Its only m x n x r
//             products are A V and, in backward, A^T dAV; the rest is (m + n) r^2. Faster for large
//             A; the loss it reports is a difference of large terms, so it carries an absolute error
//             near eps ||A||^2 (the gradients do not).

#include "labrun/loss_curve.hpp"

#include <ATen/core/Generator.h>
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <tuple>
#include <vector>

namespace labrun {

// The floating-point type a matrix is trained in (the exercise: float64).
enum class Dtype { float64, float32 };
const char* to_string(Dtype dtype);

enum class Reduction { sum, mean };
enum class LossForm { residual, gram };
const char* to_string(Reduction reduction);
const char* to_string(LossForm form);

struct FactoriseOptions {
  int64_t rank = 2;
  int64_t epochs = 1000;
  double lr = 0.01;
  Reduction reduction = Reduction::sum;
  LossForm form = LossForm::residual;  // see the top of this file
  // Seeds a generator of labrun's own for the initial U and V, so that the run equals the
  // exercise's code after torch.manual_seed(seed). nullopt: draw from libtorch's default generator,
  // as the exercise's code does when it is run without a seed.
  std::optional<uint64_t> seed;
  // A generator to draw U and V from instead. at::Generator is a handle: the copy here shares the
  // caller's state, which advances, so one seeded stream runs through several parts, as the
  // exercise's script does after one torch.manual_seed. Wins over seed.
  std::optional<at::Generator> generator;
  // Every `record_every` epochs (and at the last epoch) the epoch's loss goes to the result's
  // loss_curve; 0 records nothing.
  int64_t record_every = 0;
  // Epoch counts, ascending, each in [0, epochs], at which the factors' loss is also computed as a
  // run of that many epochs reports it (FactoriseResult::loss), from the one training.
  std::vector<int64_t> checkpoints;
  // Called after each epoch's forward pass with the epoch (from 0) and its loss, in the training
  // reduction. Empty: not called.
  std::function<void(int64_t epoch, double loss)> observer;
};

// The BLAS work gd_factorise_ad does on an m x n matrix, in floating-point operations: per epoch
// three GEMMs of 2 m n r (U V^T and the two gradients) in the residual form, two in the Gram form
// (A V and A^T dAV), and one for the final loss. For deciding whether a faster kernel pays.
double factorise_flops(int64_t m, int64_t n, const FactoriseOptions& options);

// The factors after `epochs` updates, as a run with that many epochs reports them.
struct FactoriseCheckpoint {
  int64_t epochs = 0;
  double loss = 0.0;  // ||A - U V^T||_F^2, always the sum
  bool diverged = false;
};

struct FactoriseResult {
  torch::Tensor U;                    // m x r, detached
  torch::Tensor V;                    // n x r, detached
  double loss = 0.0;                  // ||A - U V^T||_F^2 of the returned U, V (always the sum)
  int64_t epochs_run = 0;             // updates applied
  std::vector<LossPoint> loss_curve;  // see FactoriseOptions::record_every
  double seconds = 0.0;               // wall time of the initialisation and training loop
  // The first epoch whose loss was NaN or Inf: training stopped there. `epochs` when only the
  // trained factors' loss is (the last update overflowed).
  std::optional<int64_t> diverged_at_epoch;
  bool diverged() const { return diverged_at_epoch.has_value(); }
  std::vector<FactoriseCheckpoint> checkpoints;  // one per FactoriseOptions::checkpoints
};

// The exercise's function: U, V uniform in [0, 1) (torch::rand in A's dtype, U drawn before V) from
// libtorch's default generator, then `num_epochs` epochs of
//   loss = ||A - U V^T||_F^2;  loss.backward();  U <- U - lr dU;  V <- V - lr dV;  clear grads.
// Throws OptionError (labrun/options.hpp) for a rank, epoch count or learning rate out of range,
// std::invalid_argument for an A that is not a 2-D floating-point matrix.
// Many seeds of the same training as one computation: for each seed the U and V gd_factorise_ad
// draws from it (options.seed and options.generator are ignored), trained side by side with
// seeds in the lanes of vector operations (8 in float64, 16 in float32; the residual form on
// matrices up to 2^16 elements), else with batched products (U: S x m x r). Each result is
// gd_factorise_ad's with that seed to rounding (the sums may add in another order; tests: 1e-9
// relative on Iris after 1000 epochs in float64, 1e-4 in float32). A seed whose loss becomes NaN or
// Inf stops there, frozen and marked diverged, as the single run stops. No observer. Throws as
// gd_factorise_ad does.
std::vector<FactoriseResult> gd_factorise_batched(const torch::Tensor& A, const FactoriseOptions& options,
                                                  const std::vector<uint64_t>& seeds);

std::tuple<torch::Tensor, torch::Tensor> gd_factorise_ad(const torch::Tensor& A, int64_t rank,
                                                         int64_t num_epochs = 1000, double lr = 0.01);

// The same training with the options above; stops early, marked diverged, when the loss becomes
// NaN or Inf.
FactoriseResult gd_factorise_ad(const torch::Tensor& A, const FactoriseOptions& options);

}  // namespace labrun
