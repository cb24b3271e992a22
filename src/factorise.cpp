#include "labrun/factorise.hpp"

#include "check.hpp"
#include "factorise_pack.hpp"
#include "factorise_stream.hpp"
#include "labrun/decomposition.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace labrun {

const char* to_string(Dtype dtype) { return dtype == Dtype::float32 ? "float32" : "float64"; }
namespace {

void check_arguments(const torch::Tensor& A, int64_t rank, int64_t epochs, double lr) {
  constexpr const char* kFunction = "gd_factorise_ad";
  detail::require_matrix(kFunction, "A", A);
  require_rank(kFunction, rank, A.size(0), A.size(1), "A");
  require_at_least(kFunction, "epochs", epochs, 0);
  require_lr(kFunction, "lr", lr, A.scalar_type() == torch::kFloat32 ? Dtype::float32 : Dtype::float64);
}

// ||A - U V^T||_F^2 expanded, ||A||^2 - 2 <U, A V> + <U^T U, V^T V>, in the training reduction:
// ||A||^2 given, V passed as Vt = V^T, and mean divides by m n.
torch::Tensor gram_loss(const torch::Tensor& A, const torch::Tensor& A_norm2, const torch::Tensor& U,
                        const torch::Tensor& Vt, at::Reduction::Reduction reduction) {
  const torch::Tensor sum = A_norm2 - 2 * (U * A.mm(Vt.t())).sum() + (U.t().mm(U) * Vt.mm(Vt.t())).sum();
  return reduction == at::Reduction::Mean ? sum / static_cast<double>(A.numel()) : sum;
}

// ||A - U V^T||_F^2 in blocks of rows, so that no m x n temporary is made for a large A: each block
// is at most kBlockElements entries (512 KiB in float64). A matrix that fits in one block (Iris)
// is summed exactly as the exercise's mse_loss(U V^T, A, sum).
double factor_squared_error(const torch::Tensor& A, const torch::Tensor& U, const torch::Tensor& V) {
  constexpr int64_t kBlockElements = int64_t{1} << 16;
  const int64_t m = A.size(0);
  const int64_t rows = std::max<int64_t>(1, kBlockElements / std::max<int64_t>(1, A.size(1)));
  torch::NoGradGuard no_grad;
  double total = 0.0;
  for (int64_t start = 0; start < m; start += rows) {
    const int64_t length = std::min(rows, m - start);
    total += squared_error(A.narrow(0, start, length), U.narrow(0, start, length).mm(V.t()));
  }
  return total;
}

}  // namespace

const char* to_string(Reduction reduction) { return reduction == Reduction::mean ? "mean" : "sum"; }
const char* to_string(LossForm form) { return form == LossForm::gram ? "gram" : "residual"; }

double factorise_flops(int64_t m, int64_t n, const FactoriseOptions& options) {
  const double gemm = 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(options.rank);
  const double per_epoch = options.form == LossForm::gram ? 2.0 * gemm : 3.0 * gemm;
  return per_epoch * static_cast<double>(std::max<int64_t>(options.epochs, 0)) + gemm;
}

namespace detail {

std::pair<torch::Tensor, torch::Tensor> initial_factors(int64_t m, int64_t n, const FactoriseOptions& options,
                                                        torch::ScalarType dtype) {
  c10::optional<at::Generator> generator;
  if (options.generator) {
    generator = *options.generator;  // a handle: shares the caller's generator state
  } else if (options.seed) {
    generator = at::make_generator<at::CPUGeneratorImpl>(*options.seed);
  }
  // U: m x r and V: n x r, uniform in [0, 1), U drawn first (the exercise's order).
  const auto draw = torch::TensorOptions().dtype(dtype);
  torch::Tensor U = torch::rand({m, options.rank}, generator, draw);
  torch::Tensor V = torch::rand({n, options.rank}, generator, draw);
  return {U, V};
}

}  // namespace detail

FactoriseResult gd_factorise_ad(const torch::Tensor& A, const FactoriseOptions& options) {
  check_arguments(A, options.rank, options.epochs, options.lr);
  require_at_least("gd_factorise_ad", "record_every", options.record_every, 0);
  detail::require_checkpoints("gd_factorise_ad", options.checkpoints, options.epochs);
  const auto reduction = options.reduction == Reduction::sum ? at::Reduction::Sum : at::Reduction::Mean;
  // One pass, no m x n temporary: dot of A with itself.
  const torch::Tensor A_norm2 = options.form == LossForm::gram ? A.reshape({-1}).dot(A.reshape({-1})) : torch::Tensor();

  FactoriseResult result;
  const auto start = std::chrono::steady_clock::now();
  auto [U0, V0] = detail::initial_factors(A.size(0), A.size(1), options, A.scalar_type());
  torch::Tensor U = U0.to(A.device()).requires_grad_();
  // V is kept transposed, Vt = V^T (r x n, contiguous), so that U V^T is a plain product: no
  // transpose view for autograd to record (and differentiate) every epoch.
  torch::Tensor Vt = V0.to(A.device()).t().contiguous().requires_grad_();

  torch::Tensor loss;
  const auto forward = [&] {
    // loss = ||A - U V^T||^2 (or its mean), in the chosen form.
    loss = options.form == LossForm::residual ? torch::mse_loss(U.mm(Vt), A, reduction)
                                              : gram_loss(A, A_norm2, U, Vt, reduction);
    return loss.item<double>();
  };
  const auto update = [&] {
    // Backward: dU = -2 (A - U V^T) V,  dV = -2 (A - U V^T)^T U  (for the sum), by autograd.
    // torch::autograd::grad hands the gradients back instead of accumulating them into U.grad and
    // V.grad, so there is nothing to clear afterwards: the same numbers with fewer operations.
    const torch::autograd::variable_list grads = torch::autograd::grad({loss}, {U, Vt});
    // Update: U <- U - lr dU, V <- V - lr dV, one fused kernel each (sub_ with alpha = lr). The
    // exercise's `U -= lr * U.grad` rounds lr * dU first; the final losses agree to ~1e-14 relative.
    torch::NoGradGuard no_grad;
    U.sub_(grads[0], options.lr);
    Vt.sub_(grads[1], options.lr);
  };
  // With V as the result holds it (n x r, contiguous), so that a checkpoint's loss is the one a run
  // of that many epochs reports, to the bit.
  const auto squared_error = [&] { return factor_squared_error(A, U.detach(), Vt.detach().t().contiguous()); };
  detail::descend(options, detail::Steps{forward, update, squared_error}, start, result);
  result.U = U.detach();
  result.V = Vt.detach().t().contiguous();
  return result;
}

namespace {

// Every seed's residual form, ||U_s V_s^T - A||^2 (U: S x m x r, Vt: S x r x n), differentiable, for
// matrices too large for the packs.
torch::Tensor residual_losses(const torch::Tensor& A, const torch::Tensor& U, const torch::Tensor& Vt) {
  return (U.bmm(Vt) - A).pow(2).sum({1, 2});
}

// ||A - U_s V_s^T||_F^2 for every seed s (U: S x m x r, Vt: S x r x n), summed in float64.
torch::Tensor batched_squared_errors(const torch::Tensor& A, const torch::Tensor& U, const torch::Tensor& Vt) {
  torch::NoGradGuard no_grad;
  return (U.bmm(Vt) - A).pow(2).sum({1, 2}).to(torch::kFloat64);
}

std::vector<double> doubles(const torch::Tensor& t) {
  const torch::Tensor d = t.to(torch::kFloat64).contiguous();
  return {d.data_ptr<double>(), d.data_ptr<double>() + d.numel()};
}

// The checkpoints from `next` up to epoch count `e`, for every seed, from its factors now (U: S x m x r,
// Vt: S x r x n): what a run of that many epochs reports.
void add_checkpoints(const torch::Tensor& A, const torch::Tensor& U, const torch::Tensor& Vt,
                     const FactoriseOptions& options, std::size_t& next, int64_t e,
                     std::vector<FactoriseResult>& results) {
  if (next >= options.checkpoints.size() || options.checkpoints[next] > e) return;
  const std::vector<double> losses = doubles(batched_squared_errors(A, U.detach(), Vt.detach()));
  for (; next < options.checkpoints.size() && options.checkpoints[next] <= e; ++next) {
    for (std::size_t s = 0; s < results.size(); ++s) {
      results[s].checkpoints.push_back(
          {options.checkpoints[next], losses[s], results[s].diverged() || !std::isfinite(losses[s])});
    }
  }
}

// Each seed's final factors, loss and share of the time, from U (S x m x r) and Vt (S x r x n).
std::vector<FactoriseResult> finish(const torch::Tensor& A, const torch::Tensor& U, const torch::Tensor& Vt,
                                    std::vector<FactoriseResult> results, std::chrono::steady_clock::time_point start) {
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::vector<double> losses = doubles(batched_squared_errors(A, U.detach(), Vt.detach()));
  for (std::size_t s = 0; s < results.size(); ++s) {
    FactoriseResult& result = results[s];
    result.U = U.detach()[static_cast<int64_t>(s)].clone();
    result.V = Vt.detach()[static_cast<int64_t>(s)].t().contiguous();
    result.loss = losses[s];
    result.seconds = seconds / static_cast<double>(results.size());
    if (!result.diverged() && !std::isfinite(result.loss)) result.diverged_at_epoch = result.epochs_run;
  }
  return results;
}

// Matrices up to this many elements train in packs of seeds (the residual form); larger ones
// through batched BLAS products, whose calls then cost less than their arithmetic.
constexpr int64_t kPackedElements = int64_t{1} << 16;

// Trains U (S x m x r) and Vt (S x r x n) in place, a pack of seeds at a time each epoch, with the
// checkpoints, loss curves and divergence of the batched loop.
template <typename T>
void train_in_packs(const torch::Tensor& A, const FactoriseOptions& options, torch::Tensor& U, torch::Tensor& Vt,
                    std::vector<FactoriseResult>& results) {
  using Pack = detail::FactorisePack<T>;
  constexpr int L = Pack::kLanes;
  const int64_t S = U.size(0), m = U.size(1), r = U.size(2), n = Vt.size(2);
  const torch::Tensor a = A.contiguous();
  const T* a_data = a.data_ptr<T>();
  std::vector<Pack> packs(static_cast<std::size_t>((S + L - 1) / L));
  torch::Tensor u = U.detach().contiguous(), v = Vt.detach().transpose(1, 2).contiguous();  // S x n x r
  for (std::size_t p = 0; p < packs.size(); ++p) {
    Pack& pack = packs[p];
    pack.m = m;
    pack.n = n;
    pack.r = r;
    pack.U.assign(static_cast<std::size_t>(m * r * L), T(0));
    pack.V.assign(static_cast<std::size_t>(n * r * L), T(0));
    for (int l = 0; l < L; ++l) {
      const int64_t s = static_cast<int64_t>(p) * L + l;
      if (s >= S) break;
      const T* us = u.data_ptr<T>() + s * m * r;
      const T* vs = v.data_ptr<T>() + s * n * r;
      for (int64_t i = 0; i < m * r; ++i) pack.U[static_cast<std::size_t>(i * L + l)] = us[i];
      for (int64_t i = 0; i < n * r; ++i) pack.V[static_cast<std::size_t>(i * L + l)] = vs[i];
    }
  }
  // The packs' factors back into U and Vt.
  const auto unpack = [&] {
    for (std::size_t p = 0; p < packs.size(); ++p) {
      for (int l = 0; l < L; ++l) {
        const int64_t s = static_cast<int64_t>(p) * L + l;
        if (s >= S) break;
        T* us = u.data_ptr<T>() + s * m * r;
        T* vs = v.data_ptr<T>() + s * n * r;
        for (int64_t i = 0; i < m * r; ++i) us[i] = packs[p].U[static_cast<std::size_t>(i * L + l)];
        for (int64_t i = 0; i < n * r; ++i) vs[i] = packs[p].V[static_cast<std::size_t>(i * L + l)];
      }
    }
    torch::NoGradGuard no_grad;
    U = u.clone();
    Vt = v.transpose(1, 2).contiguous();
  };
  std::size_t next = 0;  // the next checkpoint
  const auto checkpoint = [&](int64_t e) {
    if (next >= options.checkpoints.size() || options.checkpoints[next] > e) return;
    unpack();
    add_checkpoints(A, U, Vt, options, next, e, results);
  };
  const T divisor = options.reduction == Reduction::mean ? static_cast<T>(A.numel()) : T(1);
  const auto lr = static_cast<T>(options.lr);
  T loss[L];
  for (int64_t epoch = 0; epoch < options.epochs; ++epoch) {
    if (next < options.checkpoints.size() && options.checkpoints[next] == epoch) checkpoint(epoch);
    const bool record = options.record_every > 0 && (epoch % options.record_every == 0 || epoch + 1 == options.epochs);
    for (std::size_t p = 0; p < packs.size(); ++p) {
      Pack& pack = packs[p];
      // Forward, backward and update in one pass; a seed whose loss is not finite stops there,
      // frozen as it was before this epoch's update (as the single run stops).
      detail::factorise_pack_epoch<T>(pack, a_data, lr, divisor, loss);
      bool stopped = false;
      for (int l = 0; l < L; ++l) {
        const std::size_t s = p * L + static_cast<std::size_t>(l);
        if (s >= results.size() || !pack.active[static_cast<std::size_t>(l)]) continue;
        const double value = loss[l];
        if (record) results[s].loss_curve.push_back({epoch, value});
        if (!std::isfinite(value)) {
          results[s].diverged_at_epoch = epoch;
          pack.active[static_cast<std::size_t>(l)] = 0;
          stopped = true;
        } else {
          results[s].epochs_run = epoch + 1;
        }
      }
      if (stopped) {
        for (int l = 0; l < L; ++l) {
          if (pack.active[static_cast<std::size_t>(l)]) continue;
          for (std::size_t i = static_cast<std::size_t>(l); i < pack.U.size(); i += L) pack.U[i] = pack.U_before[i];
          for (std::size_t i = static_cast<std::size_t>(l); i < pack.V.size(); i += L) pack.V[i] = pack.V_before[i];
        }
      }
    }
  }
  checkpoint(options.epochs);
  unpack();
}
}  // namespace

std::vector<FactoriseResult> gd_factorise_batched(const torch::Tensor& A, const FactoriseOptions& options,
                                                  const std::vector<uint64_t>& seeds) {
  check_arguments(A, options.rank, options.epochs, options.lr);
  require_at_least("gd_factorise_batched", "record_every", options.record_every, 0);
  detail::require_checkpoints("gd_factorise_batched", options.checkpoints, options.epochs);
  const auto S = static_cast<int64_t>(seeds.size());
  if (S == 0) return {};
  const int64_t m = A.size(0), n = A.size(1), r = options.rank;
  const torch::Tensor A_norm2 = options.form == LossForm::gram ? A.reshape({-1}).dot(A.reshape({-1})) : torch::Tensor();
  const auto start = std::chrono::steady_clock::now();

  // Each seed's U then V, drawn as gd_factorise_ad draws them.
  const auto draw = torch::TensorOptions().dtype(A.dtype());
  std::vector<torch::Tensor> us, vts;
  for (const uint64_t seed : seeds) {
    c10::optional<at::Generator> generator = at::make_generator<at::CPUGeneratorImpl>(seed);
    us.push_back(torch::rand({m, r}, generator, draw));
    vts.push_back(torch::rand({n, r}, generator, draw).t());
  }
  torch::Tensor U = torch::stack(us).requires_grad_();                 // S x m x r
  torch::Tensor Vt = torch::stack(vts).contiguous().requires_grad_();  // S x r x n
  us.clear();
  vts.clear();

  std::vector<FactoriseResult> results(static_cast<std::size_t>(S));
  if (options.form == LossForm::residual && A.numel() <= kPackedElements) {
    if (A.scalar_type() == torch::kFloat32) {
      train_in_packs<float>(A, options, U, Vt, results);
    } else {
      train_in_packs<double>(A, options, U, Vt, results);
    }
    return finish(A, U, Vt, std::move(results), start);
  }
  torch::Tensor active;  // once a seed has stopped: the seeds still training, S x 1 x 1
  std::vector<bool> running(static_cast<std::size_t>(S), true);
  std::size_t next = 0;  // the next checkpoint
  const auto checkpoint = [&](int64_t e) { add_checkpoints(A, U, Vt, options, next, e, results); };
  for (int64_t epoch = 0; epoch < options.epochs; ++epoch) {
    if (next < options.checkpoints.size() && options.checkpoints[next] == epoch) checkpoint(epoch);
    // Forward: every seed's loss in the chosen form and reduction; their sum keeps the gradients apart.
    torch::Tensor losses;
    if (options.form == LossForm::residual) {
      losses = residual_losses(A, U, Vt);
    } else {
      const torch::Tensor AV = torch::matmul(A, Vt.transpose(1, 2));  // S x m x r
      losses = A_norm2 - 2 * (U * AV).sum({1, 2}) + (U.transpose(1, 2).bmm(U) * Vt.bmm(Vt.transpose(1, 2))).sum({1, 2});
    }
    if (options.reduction == Reduction::mean) losses = losses / static_cast<double>(A.numel());
    const std::vector<double> values = doubles(losses.detach());
    bool stopped = false;
    for (std::size_t s = 0; s < results.size(); ++s) {
      if (!running[s]) continue;
      if (options.record_every > 0 && (epoch % options.record_every == 0 || epoch + 1 == options.epochs)) {
        results[s].loss_curve.push_back({epoch, values[s]});
      }
      if (!std::isfinite(values[s])) {
        results[s].diverged_at_epoch = epoch;
        running[s] = false;
        stopped = true;
      }
    }
    if (stopped) {
      std::vector<uint8_t> mask(running.begin(), running.end());
      active = torch::from_blob(mask.data(), {S, 1, 1}, torch::kUInt8).to(torch::kBool);
    }
    // Backward, then the update of the seeds still training (a stopped seed keeps its factors).
    const torch::autograd::variable_list grads = torch::autograd::grad({losses.sum()}, {U, Vt});
    torch::NoGradGuard no_grad;
    if (active.defined()) {
      U.sub_(torch::where(active, grads[0], torch::zeros({}, grads[0].options())), options.lr);
      Vt.sub_(torch::where(active, grads[1], torch::zeros({}, grads[1].options())), options.lr);
    } else {
      U.sub_(grads[0], options.lr);
      Vt.sub_(grads[1], options.lr);
    }
    for (std::size_t s = 0; s < results.size(); ++s) {
      if (running[s]) results[s].epochs_run = epoch + 1;
    }
  }
  checkpoint(options.epochs);
  return finish(A, U, Vt, std::move(results), start);
}

std::tuple<torch::Tensor, torch::Tensor> gd_factorise_ad(const torch::Tensor& A, int64_t rank, int64_t num_epochs,
                                                         double lr) {
  FactoriseOptions options;
  options.rank = rank;
  options.epochs = num_epochs;
  options.lr = lr;
  FactoriseResult result = gd_factorise_ad(A, options);
  return {result.U, result.V};
}

}  // namespace labrun
