#include "per_model_ops.hpp"

#include <ATen/AccumulateType.h>
#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

// Shapes, for one model n: W: P x Q, X: Q x B, out: P x B; logits z: C x B, targets t: B.
// Every inner loop runs along B, the contiguous dimension. The sums over B (bias and weight
// gradients) are `omp simd` reductions (this file is compiled with -fopenmp-simd, and with -fopenmp
// when LABRUN_OPENMP is on): the compiler may then add in vector lanes, a fixed order for a given
// build, so the results stay reproducible. Models go to libtorch's threads by at::parallel_for, a
// model's sums never leave its thread, so the thread count does not change the numbers.

namespace labrun::detail {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

constexpr int64_t kModelsPerTask = 16;

// The per-model loops are compiled for AVX-512, AVX2 and the baseline, the CPU choosing at load time
// (GCC's function multiversioning; Clang 14 cannot clone templates, so it builds the baseline only).
// The clones may contract a * b + c into one FMA and sum the `omp simd` reductions in wider lanes,
// so float results can differ in the last bits between CPUs of different vector extensions; on
// one machine they are always the same.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define LABRUN_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define LABRUN_VECTOR_CLONES
#endif

struct LinearShape {
  int64_t N, P, Q, B;
  bool shared_x;  // X is Q x B for every model rather than N x Q x B
};

LinearShape linear_shape(const torch::Tensor& W, const torch::Tensor& X) {
  return {W.size(0), W.size(1), W.size(2), X.size(-1), X.dim() == 2};
}

// One model's forward product: o = act(w x + bias), w: P x Q, x: Q x B, o: P x B. The products
// first, then bias and activation, in the order libtorch's relu(X W + b) adds them.
template <typename T>
LABRUN_VECTOR_CLONES void linear_forward_model(const T* w, const T* x, T bias, T* o, int64_t P, int64_t Q, int64_t B,
                                               Activation activation) {
  for (int64_t p = 0; p < P; ++p, o += B) {
    std::fill(o, o + B, T(0));
    for (int64_t q = 0; q < Q; ++q) {
      const T weight = w[p * Q + q];
      const T* xq = x + q * B;
      for (int64_t i = 0; i < B; ++i) o[i] += weight * xq[i];
    }
    if (activation == Activation::relu) {
      for (int64_t i = 0; i < B; ++i) o[i] = o[i] + bias < T(0) ? T(0) : o[i] + bias;  // NaN stays NaN
    } else {
      for (int64_t i = 0; i < B; ++i) o[i] += bias;
    }
  }
}

template <typename T>
void linear_forward(const T* W, const T* X, const T* b, T* out, const LinearShape& s, Activation activation) {
  at::parallel_for(0, s.N, kModelsPerTask, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      linear_forward_model(W + n * s.P * s.Q, s.shared_x ? X : X + n * s.Q * s.B, b[n], out + n * s.P * s.B, s.P, s.Q,
                           s.B, activation);
    }
  });
}

// One model's backward pass, with dz = dout * act'(z) (relu: where out > 0):
//   dw = dz x^T (P x Q),   db = sum(dz),   dx = w^T dz (Q x B).
// dw and dx may be null (not wanted); dz is scratch of B values.
template <typename T>
LABRUN_VECTOR_CLONES void linear_backward_model(const T* w, const T* x, const T* out, const T* dout, T* dw, T* db,
                                                T* dx, T* dz, int64_t P, int64_t Q, int64_t B, Activation activation) {
  if (dx) std::fill(dx, dx + Q * B, T(0));
  T bias_grad = T(0);
  for (int64_t p = 0; p < P; ++p) {
    const T* g = dout + p * B;
    const T* o = out + p * B;
    if (activation == Activation::relu) {
      for (int64_t i = 0; i < B; ++i) {
        const T gi = g[i];  // both loaded unconditionally, so that the select vectorises
        dz[i] = o[i] > T(0) ? gi : T(0);
      }
    } else {
      std::copy(g, g + B, dz);
    }
    T row_sum = T(0);
#pragma omp simd reduction(+ : row_sum)
    for (int64_t i = 0; i < B; ++i) row_sum += dz[i];
    bias_grad += row_sum;
    for (int64_t q = 0; q < Q; ++q) {
      const T* xq = x + q * B;
      if (dw) {
        T sum = T(0);
#pragma omp simd reduction(+ : sum)
        for (int64_t i = 0; i < B; ++i) sum += dz[i] * xq[i];
        dw[p * Q + q] = sum;
      }
      if (dx) {
        const T weight = w[p * Q + q];
        T* dxq = dx + q * B;
        for (int64_t i = 0; i < B; ++i) dxq[i] += weight * dz[i];
      }
    }
  }
  *db = bias_grad;
}

// Every model's backward pass; dX is per model (N x Q x B) even when X is shared: the caller sums
// it over the models.
template <typename T>
void linear_backward(const T* W, const T* X, const T* out, const T* dout, T* dW, T* db, T* dX, const LinearShape& s,
                     Activation activation) {
  at::parallel_for(0, s.N, kModelsPerTask, [&](int64_t begin, int64_t end) {
    std::vector<T> dz(static_cast<std::size_t>(s.B));
    T unused_db = T(0);
    for (int64_t n = begin; n < end; ++n) {
      linear_backward_model(W + n * s.P * s.Q, s.shared_x ? X : X + n * s.Q * s.B, out + n * s.P * s.B,
                            dout + n * s.P * s.B, dW ? dW + n * s.P * s.Q : nullptr, db ? db + n : &unused_db,
                            dX ? dX + n * s.Q * s.B : nullptr, dz.data(), s.P, s.Q, s.B, activation);
    }
  });
}

struct PerModelLinear : public torch::autograd::Function<PerModelLinear> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& W_in, const torch::Tensor& X_in,
                               const torch::Tensor& b_in, Activation activation) {
    const torch::Tensor W = W_in.contiguous(), X = X_in.contiguous(), b = b_in.contiguous();
    const LinearShape s = linear_shape(W, X);
    torch::Tensor out = torch::empty({s.N, s.P, s.B}, W.options());
    AT_DISPATCH_FLOATING_TYPES(W.scalar_type(), "per_model_linear", [&] {
      linear_forward<scalar_t>(W.data_ptr<scalar_t>(), X.data_ptr<scalar_t>(), b.data_ptr<scalar_t>(),
                               out.data_ptr<scalar_t>(), s, activation);
    });
    ctx->save_for_backward({W, X, out});
    ctx->saved_data["relu"] = activation == Activation::relu;
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &W = saved[0], &X = saved[1], &out = saved[2];
    const Activation activation = ctx->saved_data["relu"].toBool() ? Activation::relu : Activation::none;
    const torch::Tensor dout = grads[0].contiguous();
    const LinearShape s = linear_shape(W, X);
    torch::Tensor dW, db, dX;
    if (ctx->needs_input_grad(0)) dW = torch::empty_like(W);
    if (ctx->needs_input_grad(2)) db = torch::empty({s.N}, W.options());
    if (ctx->needs_input_grad(1)) dX = torch::empty({s.N, s.Q, s.B}, W.options());
    AT_DISPATCH_FLOATING_TYPES(W.scalar_type(), "per_model_linear_backward", [&] {
      const auto ptr = [](torch::Tensor& t) { return t.defined() ? t.data_ptr<scalar_t>() : nullptr; };
      linear_backward<scalar_t>(W.data_ptr<scalar_t>(), X.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(),
                                dout.data_ptr<scalar_t>(), ptr(dW), ptr(db), ptr(dX), s, activation);
    });
    if (dX.defined() && s.shared_x) dX = dX.sum(0);
    return {dW, dX, db, torch::Tensor()};
  }
};

// Per model: loss = mean_b (log sum_c exp(z[c, b] - m_b) + m_b - z[t_b, b]), m_b = max_c z[c, b],
// and the softmax p = exp(z - m) / sum_c exp(z - m), kept for the backward pass.
template <typename T>
void cross_entropy_forward(const T* logits, const int64_t* targets, bool shared_targets, T* probs, T* losses, int64_t N,
                           int64_t C, int64_t B) {
  using Acc = at::acc_type<T, /*is_cuda=*/false>;
  at::parallel_for(0, N, kModelsPerTask, [&](int64_t begin, int64_t end) {
    std::vector<T> shift(static_cast<std::size_t>(B)), total(static_cast<std::size_t>(B));
    for (int64_t n = begin; n < end; ++n) {
      const T* z = logits + n * C * B;
      const int64_t* t = shared_targets ? targets : targets + n * B;
      T* p = probs + n * C * B;
      std::copy(z, z + B, shift.begin());
      for (int64_t c = 1; c < C; ++c) {
        for (int64_t i = 0; i < B; ++i) shift[i] = shift[i] < z[c * B + i] ? z[c * B + i] : shift[i];
      }
      std::fill(total.begin(), total.end(), T(0));
      for (int64_t c = 0; c < C; ++c) {
        for (int64_t i = 0; i < B; ++i) {
          p[c * B + i] = std::exp(z[c * B + i] - shift[i]);
          total[i] += p[c * B + i];
        }
      }
      Acc loss = 0;
      for (int64_t i = 0; i < B; ++i) {
        loss += std::log(total[i]) + shift[i] - z[t[i] * B + i];
        for (int64_t c = 0; c < C; ++c) p[c * B + i] /= total[i];
      }
      losses[n] = static_cast<T>(loss / static_cast<Acc>(B));
    }
  });
}

// dz[n, c, b] = dloss[n] (p[n, c, b] - [c == t_b]) / B
template <typename T>
void cross_entropy_backward(const T* probs, const int64_t* targets, bool shared_targets, const T* dloss, T* dlogits,
                            int64_t N, int64_t C, int64_t B) {
  at::parallel_for(0, N, kModelsPerTask, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      const T scale = dloss[n] / static_cast<T>(B);
      const T* p = probs + n * C * B;
      const int64_t* t = shared_targets ? targets : targets + n * B;
      T* d = dlogits + n * C * B;
      for (int64_t k = 0; k < C * B; ++k) d[k] = scale * p[k];
      for (int64_t i = 0; i < B; ++i) d[t[i] * B + i] -= scale;
    }
  });
}

struct PerModelCrossEntropy : public torch::autograd::Function<PerModelCrossEntropy> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& logits_in, const torch::Tensor& targets_in) {
    const torch::Tensor logits = logits_in.contiguous(), targets = targets_in.contiguous();
    const int64_t N = logits.size(0), C = logits.size(1), B = logits.size(2);
    torch::Tensor probs = torch::empty_like(logits);
    torch::Tensor losses = torch::empty({N}, logits.options());
    AT_DISPATCH_FLOATING_TYPES(logits.scalar_type(), "per_model_cross_entropy", [&] {
      cross_entropy_forward<scalar_t>(logits.data_ptr<scalar_t>(), targets.data_ptr<int64_t>(), targets.dim() == 1,
                                      probs.data_ptr<scalar_t>(), losses.data_ptr<scalar_t>(), N, C, B);
    });
    ctx->save_for_backward({probs, targets});
    return losses;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &probs = saved[0], &targets = saved[1];
    const torch::Tensor dloss = grads[0].contiguous();
    const int64_t N = probs.size(0), C = probs.size(1), B = probs.size(2);
    torch::Tensor dlogits = torch::empty_like(probs);
    AT_DISPATCH_FLOATING_TYPES(probs.scalar_type(), "per_model_cross_entropy_backward", [&] {
      cross_entropy_backward<scalar_t>(probs.data_ptr<scalar_t>(), targets.data_ptr<int64_t>(), targets.dim() == 1,
                                       dloss.data_ptr<scalar_t>(), dlogits.data_ptr<scalar_t>(), N, C, B);
    });
    return {dlogits, torch::Tensor()};
  }
};

void check_floating(const torch::Tensor& t, const char* function, const char* name, at::ScalarType dtype) {
  if (t.scalar_type() != dtype || !t.is_floating_point() || !t.device().is_cpu()) {
    throw std::invalid_argument(std::string(function) + ": " + name + " must be a CPU float32 or float64 tensor of " +
                                "one dtype with the others");
  }
}

}  // namespace

torch::Tensor per_model_linear(const torch::Tensor& W, const torch::Tensor& X, const torch::Tensor& b,
                               Activation activation) {
  const bool shapes_chain =
      W.dim() == 3 && b.dim() == 1 && b.size(0) == W.size(0) &&
      ((X.dim() == 2 && X.size(0) == W.size(2)) || (X.dim() == 3 && X.size(0) == W.size(0) && X.size(1) == W.size(2)));
  if (!shapes_chain) {
    throw std::invalid_argument("per_model_linear: shapes do not chain: W " + c10::str(W.sizes()) + ", X " +
                                c10::str(X.sizes()) + ", b " + c10::str(b.sizes()) +
                                " (want N x P x Q, Q x B or N x Q x B, N)");
  }
  for (const auto& [t, name] : {std::pair{&W, "W"}, std::pair{&X, "X"}, std::pair{&b, "b"}}) {
    check_floating(*t, "per_model_linear", name, W.scalar_type());
  }
  return PerModelLinear::apply(W, X, b, activation);
}

torch::Tensor per_model_cross_entropy(const torch::Tensor& logits, const torch::Tensor& targets) {
  if (logits.dim() != 3 || targets.scalar_type() != torch::kLong || !targets.device().is_cpu() ||
      !((targets.dim() == 1 && targets.size(0) == logits.size(2)) ||
        (targets.dim() == 2 && targets.size(0) == logits.size(0) && targets.size(1) == logits.size(2)))) {
    throw std::invalid_argument("per_model_cross_entropy: want logits N x C x B and int64 targets B or N x B, got " +
                                c10::str(logits.sizes()) + " and " + c10::str(targets.sizes()) + " " +
                                c10::toString(targets.scalar_type()));
  }
  check_floating(logits, "per_model_cross_entropy", "logits", logits.scalar_type());
  if (targets.numel() > 0) {
    const auto [low, high] = torch::aminmax(targets);
    if (low.item<int64_t>() < 0 || high.item<int64_t>() >= logits.size(1)) {
      throw std::invalid_argument("per_model_cross_entropy: targets must lie in [0, " + std::to_string(logits.size(1)) +
                                  ")");
    }
  }
  return PerModelCrossEntropy::apply(logits, targets);
}

}  // namespace labrun::detail
