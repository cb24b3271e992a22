#include "per_model_matmul.hpp"

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include <stdexcept>

namespace labrun::detail {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// out[n, p, :] = sum_q W[n, p, q] X[n, q, :]
template <typename T>
void forward_kernel(const T* W, const T* X, T* out, int64_t N, int64_t P, int64_t Q, int64_t B) {
  at::parallel_for(0, N, 16, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      for (int64_t p = 0; p < P; ++p) {
        T* o = out + (n * P + p) * B;
        for (int64_t b = 0; b < B; ++b) o[b] = T(0);
        for (int64_t q = 0; q < Q; ++q) {
          const T w = W[(n * P + p) * Q + q];
          const T* x = X + (n * Q + q) * B;
          for (int64_t b = 0; b < B; ++b) o[b] += w * x[b];
        }
      }
    }
  });
}

// dW[n, p, q] = sum_b dout[n, p, b] X[n, q, b]
template <typename T>
void grad_w_kernel(const T* dout, const T* X, T* dW, int64_t N, int64_t P, int64_t Q, int64_t B) {
  at::parallel_for(0, N, 16, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      for (int64_t p = 0; p < P; ++p) {
        const T* g = dout + (n * P + p) * B;
        for (int64_t q = 0; q < Q; ++q) {
          const T* x = X + (n * Q + q) * B;
          T sum = T(0);
          for (int64_t b = 0; b < B; ++b) sum += g[b] * x[b];
          dW[(n * P + p) * Q + q] = sum;
        }
      }
    }
  });
}

// dX[n, q, :] = sum_p W[n, p, q] dout[n, p, :]
template <typename T>
void grad_x_kernel(const T* W, const T* dout, T* dX, int64_t N, int64_t P, int64_t Q, int64_t B) {
  at::parallel_for(0, N, 16, [&](int64_t begin, int64_t end) {
    for (int64_t n = begin; n < end; ++n) {
      for (int64_t q = 0; q < Q; ++q) {
        T* o = dX + (n * Q + q) * B;
        for (int64_t b = 0; b < B; ++b) o[b] = T(0);
        for (int64_t p = 0; p < P; ++p) {
          const T w = W[(n * P + p) * Q + q];
          const T* g = dout + (n * P + p) * B;
          for (int64_t b = 0; b < B; ++b) o[b] += w * g[b];
        }
      }
    }
  });
}

struct PerModelMatmul : public torch::autograd::Function<PerModelMatmul> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& W_in, const torch::Tensor& X_in) {
    const torch::Tensor W = W_in.contiguous();
    const torch::Tensor X = X_in.contiguous();
    const int64_t N = W.size(0), P = W.size(1), Q = W.size(2), B = X.size(2);
    torch::Tensor out = torch::empty({N, P, B}, W.options());
    AT_DISPATCH_FLOATING_TYPES(W.scalar_type(), "per_model_matmul", [&] {
      forward_kernel<scalar_t>(W.data_ptr<scalar_t>(), X.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), N, P, Q, B);
    });
    ctx->save_for_backward({W, X});
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& W = saved[0];
    const torch::Tensor& X = saved[1];
    const torch::Tensor dout = grads[0].contiguous();
    const int64_t N = W.size(0), P = W.size(1), Q = W.size(2), B = X.size(2);
    torch::Tensor dW;
    torch::Tensor dX;
    if (ctx->needs_input_grad(0)) {
      dW = torch::empty_like(W);
      AT_DISPATCH_FLOATING_TYPES(W.scalar_type(), "per_model_matmul_dW", [&] {
        grad_w_kernel<scalar_t>(dout.data_ptr<scalar_t>(), X.data_ptr<scalar_t>(), dW.data_ptr<scalar_t>(), N, P, Q,
                                B);
      });
    }
    if (ctx->needs_input_grad(1)) {
      dX = torch::empty_like(X);
      AT_DISPATCH_FLOATING_TYPES(W.scalar_type(), "per_model_matmul_dX", [&] {
        grad_x_kernel<scalar_t>(W.data_ptr<scalar_t>(), dout.data_ptr<scalar_t>(), dX.data_ptr<scalar_t>(), N, P, Q,
                                B);
      });
    }
    return {dW, dX};
  }
};

}  // namespace

torch::Tensor per_model_matmul(const torch::Tensor& W, const torch::Tensor& X) {
  if (W.dim() != 3 || X.dim() != 3 || W.size(0) != X.size(0) || W.size(2) != X.size(1)) {
    throw std::invalid_argument("per_model_matmul: shapes do not chain: W " + c10::str(W.sizes()) + ", X " +
                                c10::str(X.sizes()));
  }
  if (W.scalar_type() != X.scalar_type() || !W.is_floating_point() || !W.device().is_cpu() || !X.device().is_cpu()) {
    throw std::invalid_argument("per_model_matmul: W and X must be CPU tensors of one floating-point dtype");
  }
  return PerModelMatmul::apply(W, X);
}

}  // namespace labrun::detail
