#pragma once
// A batch of small matrix products, one per model, with its own gradients for autograd:
//
//   W: N x P x Q   X: N x Q x B   ->   out: N x P x B,   out[n] = W[n] X[n]
//   dW[n] = dout[n] X[n]^T,   dX[n] = W[n]^T dout[n]
//
// torch::bmm makes one BLAS call per model; with the MLP's tiny matrices (P, Q <= 12) the call
// overhead dominates. Here each product is a few fused multiply-adds along the contiguous last
// dimension (B), which the compiler vectorises, and models are spread over libtorch's threads.

#include <torch/types.h>

namespace labrun::detail {

// Differentiable in W and X. W and X must be float32 or float64, on the CPU, of one dtype.
torch::Tensor per_model_matmul(const torch::Tensor& W, const torch::Tensor& X);

}  // namespace labrun::detail
