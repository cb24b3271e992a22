#pragma once
// The batched MLP engine's kernel: a pack of up to kPackLanes models of the same shapes trained side
// by side, model l in vector lane l of every array. One model's epoch is a few thousand
// multiply-adds on vectors of length 3 to 12, far too small for BLAS; across 16 models every one of
// them is a full vector operation, and a whole pack (parameters, gradients, one row's activations)
// stays in the L1 cache while it trains.
//
//   a pack's arrays, each element one vector of kPackLanes floats (lane l: model l):
//   x: B x D   target: B (the class index, as a float)   W1: D x H   b1   W2: H x C   b2
//   per training row:  a = x W1 + b1,  h = relu(a),  z = h W2 + b2,  p = softmax(z)
//                      loss += logsumexp(z) - z[target]
//   its gradients:     dz = (p - onehot(target)) / B,  dW2 += h^T dz,  db2 += sum dz,
//                      dh = (dz W2^T) [a > 0],  dW1 += x^T dh,  db1 += sum dh
//
// Full-batch gradient descent sums the rows' gradients with the parameters held fixed, so a row's
// forward and backward pass run back to back and no activation outlives its row. The lanes never
// mix: a model's numbers do not depend on its lane, its pack or the other models, nor on the CPU's
// vector width among CPUs with AVX2 and FMA (src/mlp_pack.cpp: an older CPU rounds apart).

#include "lanes.hpp"

#include <torch/types.h>

#include <cstddef>
#include <cstdint>
#include <vector>

namespace labrun::detail {

constexpr int kPackLanes = 16;

// Arrays of lane vectors: element [i * kPackLanes + l] is entry i of model l.
using PackArray = std::vector<float, CacheAligned<float>>;
// One value a lane.
struct alignas(64) PackLanes {
  float lane[kPackLanes] = {};
};

struct MlpPackShape {
  int64_t D = 0, H = 0, C = 0;  // inputs, hidden units, classes
};

// Rows of inputs and their classes, one set per lane (lanes may share a split: copies of it).
struct PackRows {
  int64_t rows = 0;
  PackArray x;       // rows x D
  PackArray target;  // rows: the class index, as a float
};

struct MlpPackParams {
  PackArray W1;  // D x H
  PackLanes b1;
  PackArray W2;  // H x C
  PackLanes b2;
};

// Packs models [first, first + count) of `params` (W1: D x H, b1, W2: H x C, b2 tensors, float32);
// unused lanes hold zeros.
MlpPackParams pack_params(const std::vector<torch::Tensor>& W1, const std::vector<torch::Tensor>& b1,
                          const std::vector<torch::Tensor>& W2, const std::vector<torch::Tensor>& b2, std::size_t first,
                          std::size_t count);
// Packs rows: `x[i]` (rows x D, float32) and `y[i]` (rows, int64) for lane i; unused lanes repeat lane 0.
PackRows pack_rows(const std::vector<torch::Tensor>& x, const std::vector<torch::Tensor>& y);

// One epoch's forward and backward pass: each lane's batch-mean loss into `loss` and the gradients
// of those losses into `grads` (overwritten).
void mlp_pack_gradients(const MlpPackShape& shape, const MlpPackParams& params, const PackRows& rows,
                        MlpPackParams& grads, PackLanes& loss);

// p <- p - lr dp for all four parameters.
void mlp_pack_update(MlpPackParams& params, const MlpPackParams& grads, float lr);

// Each lane's rows whose largest logit (the first of equal ones, a NaN above all) is at the target.
std::vector<int64_t> mlp_pack_correct(const MlpPackShape& shape, const MlpPackParams& params, const PackRows& rows);

// Whether each lane's parameters are all finite.
std::vector<bool> mlp_pack_finite(const MlpPackParams& params);

}  // namespace labrun::detail
