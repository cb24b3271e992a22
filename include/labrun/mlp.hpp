#pragma once
// The exercise's MLP with a scalar bias shared by every unit of a layer (exercise part 2), from raw
// tensors: no torch::nn modules, no optimiser classes.
//
//   X: B x D (float32)   y: B class indices   W1: D x H   W2: H x C   b1, b2: one scalar each
//   logits = relu(X W1 + b1) W2 + b2                       B x C
//   loss   = cross_entropy(logits, y), the mean over the batch
//   each epoch: forward, backward, p <- p - lr dp for W1, b1, W2, b2 (no grad), clear the grads

#include "labrun/dataset.hpp"
#include "labrun/loss_curve.hpp"

#include <torch/types.h>

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace labrun {

// The row order pandas gives with df.sample(frac=1, random_state=seed): numpy's legacy
// RandomState(seed).permutation(n), i.e. MT19937 seeded by init_genrand(seed) and a Fisher-Yates
// shuffle from the end drawing each index by masked rejection on 32-bit outputs. Each call to
// permutation() continues the same stream, as repeated calls on one RandomState do.
class RowShuffler {
 public:
  explicit RowShuffler(uint32_t seed) : engine_(seed) {}
  std::vector<int64_t> permutation(int64_t n);

 private:
  std::mt19937 engine_;
};

// How features are scaled, per column over all rows: (x - mean) / var is the exercise's code
// (divided by the unbiased variance, not the standard deviation).
enum class Normalise { var, std, none };
const char* to_string(Normalise normalise);

// How a study trains its models: sequential, one after another (train_mlp, the exercise's loop);
// batched, side by side (train_mlp_batched).
enum class Engine { sequential, batched };
const char* to_string(Engine engine);

// A study's row orders: once, the exercise's df.sample(frac=1, random_state=seed); per_repeat, a
// new one each repeat (one RandomState stream); none, the data's order.
enum class Shuffle { once, per_repeat, none };
const char* to_string(Shuffle shuffle);

struct MlpSplit {
  torch::Tensor train_x;  // train_size x D, float32
  torch::Tensor train_y;  // train_size, int64
  torch::Tensor val_x;    // (rows - train_size) x D, float32
  torch::Tensor val_y;
  std::vector<std::string> classes;  // class index -> name, in order of first appearance
};

// Reorders the rows, numbers the classes by first appearance in that order, converts the features to
// float32 and normalises them, and splits off the first train_size rows for training.
// Throws DataError without a label column or with fewer than 2 classes; std::invalid_argument when
// train_size leaves no training or no validation rows.
MlpSplit prepare_split(const Dataset& data, const std::vector<int64_t>& row_order, Normalise normalise,
                       int64_t train_size);
// What prepare_split first checks of the data, for a caller to refuse it before any work: labels,
// of at least 2 classes (DataError saying how to give them: --label, --labels).
void require_labels(const Dataset& data);

struct MlpParams {
  torch::Tensor W1;  // D x H
  torch::Tensor b1;  // shape {1}: one bias shared by every hidden unit
  torch::Tensor W2;  // H x C
  torch::Tensor b2;  // shape {1}: one bias shared by every output
};

// W1 then W2 from torch::randn with `generator` (float32), b1 = b2 = 0; all four require grad.
MlpParams init_params(int64_t inputs, int64_t hidden, int64_t classes, at::Generator& generator);

// relu(X W1 + b1) W2 + b2
torch::Tensor mlp_logits(const MlpParams& params, const torch::Tensor& X);

struct MlpOptions {
  int64_t epochs = 100;
  double lr = 0.01;
  int64_t record_every = 0;  // every K epochs and the last one into loss_curve; 0: none
  // Epoch counts, ascending, each in [0, epochs], at which the model is also evaluated: what a run
  // of that many epochs would report, from the one training (so an epochs axis costs one run).
  std::vector<int64_t> checkpoints;
};

// A model after `epochs` updates, as a run with that many epochs reports it (see MlpResult).
struct MlpCheckpoint {
  int64_t epochs = 0;
  int64_t train_correct = 0;
  int64_t val_correct = 0;
  double train_accuracy = 0.0;
  double val_accuracy = 0.0;
  double loss = 0.0;  // the loss of epoch `epochs` - 1 (of the initial model for 0)
  bool diverged = false;
};

struct MlpResult {
  // The rows whose largest logit is at the true class, and their share of the rows as the exact
  // fraction (77 of 100: 0.77; the exercise's float32 mean gives 0.7699999809).
  int64_t train_correct = 0;
  int64_t val_correct = 0;
  double train_accuracy = 0.0;
  double val_accuracy = 0.0;
  double final_loss = 0.0;  // the last epoch's loss (before its update), as the exercise reports it
  std::vector<LossPoint> loss_curve;
  // The first epoch whose loss was NaN or Inf; `epochs` when only the trained parameters are not
  // finite (the last update overflowed).
  std::optional<int64_t> diverged_at_epoch;
  std::vector<MlpCheckpoint> checkpoints;  // one per MlpOptions::checkpoints
  // The trained parameters (detached), from train_mlp; the batched engine leaves them undefined,
  // as it trains thousands of models at once.
  MlpParams trained;
};

// One model, trained exactly as the exercise's code trains it. Throws std::invalid_argument for a
// bad option or mismatched shapes.
MlpResult train_mlp(const MlpSplit& split, const MlpParams& params, const MlpOptions& options);

// The BLAS work train_mlp does in floating-point operations: per epoch the two forward products
// and three backward ones, 2 B (2 D H + 3 H C) for B training rows; the evaluation at the end.
// The batched engine computes with kernels of its own and does none through BLAS.
double mlp_flops(int64_t train_rows, int64_t rows, int64_t inputs, int64_t hidden, int64_t classes,
                 const MlpOptions& options);

// N models on the same split, 16 at a time in the lanes of vector operations (a fused forward,
// backward and update kernel, no autograd); each model's loss is its own batch mean and its
// gradients exactly its own. The same numbers as train_mlp on each model, to rounding; a model's
// numbers do not depend on the other models, the CPU's vector width or the thread count. float32.
std::vector<MlpResult> train_mlp_batched(const MlpSplit& split, const std::vector<MlpParams>& models,
                                         const MlpOptions& options);
// The same with one split per model (models.size() splits of one shape), e.g. a new shuffle each.
std::vector<MlpResult> train_mlp_batched(const std::vector<MlpSplit>& splits, const std::vector<MlpParams>& models,
                                         const MlpOptions& options);

// The share of rows whose largest logit is at the true class, as the exercise computes it: the
// float32 mean of the matches.
double accuracy(const torch::Tensor& logits, const torch::Tensor& targets);
// The number of those rows.
int64_t correct(const torch::Tensor& logits, const torch::Tensor& targets);

}  // namespace labrun
