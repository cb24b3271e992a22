#pragma once
// The batched MLP engine's two building blocks: N small models computed side by side, each with
// its own parameters, as autograd functions with their own forward and backward kernels.
//
//   W: N x P x Q   X: Q x B (one input shared by every model) or N x Q x B   b: N (one scalar a model)
//   per_model_linear:          out[n] = act(W[n] X[n] + b[n])                      -> N x P x B
//   per_model_cross_entropy:   loss[n] = mean_b (logsumexp_c z[n, :, b] - z[n, t[n, b], b])  -> N
//
// Why not libtorch's own ops: with P, Q <= 12 and B = 100, torch::bmm makes one tiny BLAS call per
// model and every elementwise op (bias, relu, log-softmax over C = 3) is a pass over the whole
// N x P x B activation. Here a model's product, bias and activation are one loop nest along the
// contiguous batch dimension B, which the compiler vectorises, and the backward pass fuses the
// activation's mask with the three gradient products. Models are spread over libtorch's threads.
// The gradients are the closed forms of the same formulas; tests check them against autograd's
// gradients of the equivalent libtorch ops (torch::bmm, relu, cross_entropy).

#include <torch/types.h>

namespace labrun::detail {

enum class Activation { none, relu };

// Differentiable in W, X and b. float32 or float64, one dtype, on the CPU.
torch::Tensor per_model_linear(const torch::Tensor& W, const torch::Tensor& X, const torch::Tensor& b,
                               Activation activation);

// logits: N x C x B (float32 or float64); targets: int64 class indices, B (shared) or N x B.
// Differentiable in logits. Returns N losses, each the mean over its model's batch.
torch::Tensor per_model_cross_entropy(const torch::Tensor& logits, const torch::Tensor& targets);

}  // namespace labrun::detail
