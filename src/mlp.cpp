#include "labrun/mlp.hpp"

#include "check.hpp"
#include "mlp_pack.hpp"

#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace labrun {
namespace {

// numpy's legacy random_interval: a uniform integer in [0, max] by masked rejection.
uint32_t random_interval(std::mt19937& engine, uint32_t max) {
  if (max == 0) return 0;
  uint32_t mask = max;
  mask |= mask >> 1;
  mask |= mask >> 2;
  mask |= mask >> 4;
  mask |= mask >> 8;
  mask |= mask >> 16;
  uint32_t value = 0;
  while ((value = static_cast<uint32_t>(engine()) & mask) > max) {
  }
  return value;
}

void check_options(const MlpOptions& options) {
  require_at_least("train_mlp", "epochs", options.epochs, 0);
  require_lr("train_mlp", "lr", options.lr, Dtype::float32);
  require_at_least("train_mlp", "record_every", options.record_every, 0);
  detail::require_checkpoints("train_mlp", options.checkpoints, options.epochs);
}

// Is epoch count `e` the next checkpoint?
bool checkpoint_at(const MlpOptions& options, std::size_t next, int64_t e) {
  return next < options.checkpoints.size() && options.checkpoints[next] == e;
}

// The shares of correct rows, exactly: 77 of 100 is 0.77.
void set_accuracies(MlpCheckpoint& c, int64_t train_rows, int64_t val_rows) {
  c.train_accuracy = static_cast<double>(c.train_correct) / static_cast<double>(train_rows);
  c.val_accuracy = static_cast<double>(c.val_correct) / static_cast<double>(val_rows);
}

bool records(const MlpOptions& options, int64_t epoch) {
  return options.record_every > 0 && (epoch % options.record_every == 0 || epoch + 1 == options.epochs);
}

}  // namespace

std::vector<int64_t> RowShuffler::permutation(int64_t n) {
  std::vector<int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  for (int64_t i = n - 1; i >= 1; --i) {
    const auto j = static_cast<int64_t>(random_interval(engine_, static_cast<uint32_t>(i)));
    std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(j)]);
  }
  return order;
}

const char* to_string(Engine engine) { return engine == Engine::sequential ? "sequential" : "batched"; }

const char* to_string(Shuffle shuffle) {
  switch (shuffle) {
    case Shuffle::per_repeat:
      return "per-repeat";
    case Shuffle::none:
      return "none";
    case Shuffle::once:
      break;
  }
  return "once";
}

const char* to_string(Normalise normalise) {
  switch (normalise) {
    case Normalise::std:
      return "std";
    case Normalise::none:
      return "none";
    case Normalise::var:
      break;
  }
  return "var";
}

void require_labels(const Dataset& data) {
  if (data.labels.empty()) {
    if (data.looks_like_labels) {
      const std::string column = std::to_string(*data.looks_like_labels);
      throw DataError(data.source + ": the MLP needs labels, and the data has none named; column " + column +
                      " holds a few distinct whole numbers: if they are the classes, say --label " + column);
    }
    if (data.format == "npy") {
      throw DataError(data.source + ": the MLP needs labels, and a .npy file holds none: give them in a file of " +
                      "their own (--labels FILE: a .npy of whole numbers or a CSV column)");
    }
    throw DataError(data.source + ": the MLP needs labels, and the data has none: name its label column (--label), " +
                    "or give them in a file of their own (--labels FILE: a .npy of whole numbers or a CSV column)");
  }
  const std::unordered_set<std::string> classes(data.labels.begin(), data.labels.end());
  if (classes.size() < 2) {
    throw DataError(data.source + ": the label column holds " + std::to_string(classes.size()) +
                    " class; the MLP needs at least 2");
  }
}

MlpSplit prepare_split(const Dataset& data, const std::vector<int64_t>& row_order, Normalise normalise,
                       int64_t train_size) {
  const int64_t rows = data.rows();
  // The classes are counted below, as they are numbered: only the missing labels are
  // require_labels' here (prepare_split runs once a repeat with a shuffle per repeat).
  if (data.labels.empty()) require_labels(data);
  if (static_cast<int64_t>(row_order.size()) != rows) {
    throw std::invalid_argument("prepare_split: row_order has " + std::to_string(row_order.size()) + " entries for " +
                                std::to_string(rows) + " rows");
  }
  if (train_size < 1 || train_size >= rows) {
    throw std::invalid_argument("prepare_split: train_size " + std::to_string(train_size) +
                                " must leave training and validation rows: 1 <= train_size < " + std::to_string(rows));
  }

  MlpSplit split;
  std::unordered_map<std::string, int64_t> index;
  torch::Tensor targets = torch::empty({rows}, torch::kLong);
  auto* target = targets.data_ptr<int64_t>();
  for (int64_t r = 0; r < rows; ++r) {
    const std::string& label = data.labels[static_cast<std::size_t>(row_order[static_cast<std::size_t>(r)])];
    const auto [it, inserted] = index.emplace(label, static_cast<int64_t>(split.classes.size()));
    if (inserted) split.classes.push_back(label);
    target[r] = it->second;
  }
  if (split.classes.size() < 2) {
    throw DataError(data.source + ": the label column holds " + std::to_string(split.classes.size()) +
                    " class; the MLP needs at least 2");
  }

  // As the exercise: float32 from the double values, then (x - mean) / var over all rows.
  // The exercise's tensor comes from pandas' DataFrame.values, which is column-major (pandas keeps
  // each dtype's columns as one block); torch.tensor keeps those strides, and libtorch's reductions
  // and matmuls then sum in another order than on a row-major copy. Column-major here too gives
  // the exercise's float32 numbers bit for bit.
  const torch::Tensor order = torch::tensor(row_order, torch::kLong);
  torch::Tensor X = data.features.index_select(0, order).to(torch::kFloat32).t().contiguous().t();
  detail::require_finite_data(data, X, "float32", "the MLP trains in float32 (|x| < 3.4e38); scale the data");
  if (normalise != Normalise::none) {
    const torch::Tensor variance = X.var(0);
    const auto constant = (variance == 0).nonzero();
    if (constant.numel() > 0) {
      const int64_t column = data.feature_columns[static_cast<std::size_t>(constant[0][0].item<int64_t>())];
      throw DataError(
          data.source + ": column " + std::to_string(column) + " is constant, so it cannot be divided by its " +
          (normalise == Normalise::var ? "variance" : "standard deviation") + " (normalise none leaves it as it is)");
    }
    X = (X - X.mean(0)) / (normalise == Normalise::var ? variance : variance.sqrt());
    detail::require_finite_data(data, X, "float32",
                                std::string("normalised by its ") +
                                    (normalise == Normalise::var ? "tiny variance" : "tiny standard deviation") +
                                    ", it leaves float32's range; scale the column or choose another --normalise");
  }
  split.train_x = X.narrow(0, 0, train_size);
  split.val_x = X.narrow(0, train_size, rows - train_size);
  split.train_y = targets.narrow(0, 0, train_size);
  split.val_y = targets.narrow(0, train_size, rows - train_size);
  return split;
}

MlpParams init_params(int64_t inputs, int64_t hidden, int64_t classes, at::Generator& generator) {
  if (inputs < 1 || hidden < 1 || classes < 1) {
    throw std::invalid_argument("init_params: sizes " + std::to_string(inputs) + ", " + std::to_string(hidden) + ", " +
                                std::to_string(classes) + " must all be >= 1");
  }
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  MlpParams p;
  p.W1 = torch::randn({inputs, hidden}, generator, f32).requires_grad_();
  p.W2 = torch::randn({hidden, classes}, generator, f32).requires_grad_();
  p.b1 = torch::zeros({1}, f32).requires_grad_();
  p.b2 = torch::zeros({1}, f32).requires_grad_();
  return p;
}

torch::Tensor mlp_logits(const MlpParams& p, const torch::Tensor& X) {
  return torch::relu(X.matmul(p.W1) + p.b1).matmul(p.W2) + p.b2;
}

double accuracy(const torch::Tensor& logits, const torch::Tensor& targets) {
  return (logits.argmax(1) == targets).to(torch::kFloat32).mean().item<double>();
}

int64_t correct(const torch::Tensor& logits, const torch::Tensor& targets) {
  return (logits.argmax(1) == targets).sum().item<int64_t>();
}

double mlp_flops(int64_t train_rows, int64_t rows, int64_t inputs, int64_t hidden, int64_t classes,
                 const MlpOptions& options) {
  const double forward = 2.0 * static_cast<double>(hidden) * static_cast<double>(inputs + classes);
  const double backward = 2.0 * static_cast<double>(hidden) * static_cast<double>(inputs + 2 * classes);
  return static_cast<double>(train_rows) * (forward + backward) *
             static_cast<double>(std::max<int64_t>(options.epochs, 0)) +
         static_cast<double>(rows) * forward;
}

MlpResult train_mlp(const MlpSplit& split, const MlpParams& initial, const MlpOptions& options) {
  check_options(options);
  if (initial.W1.size(0) != split.train_x.size(1)) {
    throw std::invalid_argument("train_mlp: W1 has " + std::to_string(initial.W1.size(0)) + " rows for " +
                                std::to_string(split.train_x.size(1)) + " features");
  }
  // The model's own copies, so that the caller's initial tensors stay as they were.
  MlpParams p{initial.W1.detach().clone().requires_grad_(), initial.b1.detach().clone().requires_grad_(),
              initial.W2.detach().clone().requires_grad_(), initial.b2.detach().clone().requires_grad_()};
  MlpResult run;
  const auto train_rows = split.train_y.size(0), val_rows = split.val_y.size(0);
  // The model as a run of `e` epochs would report it, with that run's last loss.
  const auto evaluate = [&](int64_t e, double loss) {
    torch::NoGradGuard no_grad;
    MlpCheckpoint c;
    c.epochs = e;
    c.loss = loss;
    const bool finite = p.W1.isfinite().all().item<bool>() && p.W2.isfinite().all().item<bool>() &&
                        p.b1.isfinite().all().item<bool>() && p.b2.isfinite().all().item<bool>();
    c.diverged = !finite || (run.diverged_at_epoch && *run.diverged_at_epoch < e);
    c.train_correct = correct(mlp_logits(p, split.train_x), split.train_y);
    c.val_correct = correct(mlp_logits(p, split.val_x), split.val_y);
    set_accuracies(c, train_rows, val_rows);
    return c;
  };
  std::size_t next = 0;                                        // the next checkpoint
  double previous = std::numeric_limits<double>::quiet_NaN();  // the last epoch's loss, when a checkpoint needs it
  torch::Tensor loss;
  for (int64_t epoch = 0; epoch < options.epochs; ++epoch) {
    // Forward: logits = relu(X W1 + b1) W2 + b2, loss = cross_entropy (batch mean).
    loss = torch::cross_entropy_loss(mlp_logits(p, split.train_x), split.train_y);
    const bool checkpoint = checkpoint_at(options, next, epoch);
    if (records(options, epoch) || !run.diverged_at_epoch || checkpoint || checkpoint_at(options, next, epoch + 1)) {
      const double value = loss.item<double>();
      if (records(options, epoch)) run.loss_curve.push_back({epoch, value});
      if (!std::isfinite(value) && !run.diverged_at_epoch) run.diverged_at_epoch = epoch;
      if (checkpoint) run.checkpoints.push_back(evaluate(epoch, epoch == 0 ? value : previous)), ++next;
      previous = value;
    }
    // Backward.
    loss.backward();
    // Update p <- p - lr dp, then clear the gradients.
    torch::NoGradGuard no_grad;
    for (torch::Tensor* t : {&p.W1, &p.b1, &p.W2, &p.b2}) {
      t->sub_(options.lr * t->grad());
      t->mutable_grad().zero_();
    }
  }
  torch::NoGradGuard no_grad;
  const bool finite = p.W1.isfinite().all().item<bool>() && p.W2.isfinite().all().item<bool>() &&
                      p.b1.isfinite().all().item<bool>() && p.b2.isfinite().all().item<bool>();
  if (!finite && !run.diverged_at_epoch) run.diverged_at_epoch = options.epochs;
  run.final_loss = loss.defined()
                       ? loss.item<double>()
                       : torch::cross_entropy_loss(mlp_logits(p, split.train_x), split.train_y).item<double>();
  if (checkpoint_at(options, next, options.epochs)) run.checkpoints.push_back(evaluate(options.epochs, run.final_loss));
  run.train_correct = correct(mlp_logits(p, split.train_x), split.train_y);
  run.val_correct = correct(mlp_logits(p, split.val_x), split.val_y);
  run.train_accuracy = static_cast<double>(run.train_correct) / static_cast<double>(train_rows);
  run.val_accuracy = static_cast<double>(run.val_correct) / static_cast<double>(val_rows);
  run.trained = MlpParams{p.W1.detach(), p.b1.detach(), p.W2.detach(), p.b2.detach()};
  return run;
}

std::vector<MlpResult> train_mlp_batched(const MlpSplit& split, const std::vector<MlpParams>& models,
                                         const MlpOptions& options) {
  return train_mlp_batched(std::vector<MlpSplit>{split}, models, options);
}

namespace {

// Trains models [first, first + count) (count <= kPackLanes) as one pack, into runs[first...].
void train_pack(const std::vector<MlpSplit>& splits, const std::vector<torch::Tensor>& W1,
                const std::vector<torch::Tensor>& b1, const std::vector<torch::Tensor>& W2,
                const std::vector<torch::Tensor>& b2, std::size_t first, std::size_t count, const MlpOptions& options,
                std::vector<MlpResult>& runs) {
  const MlpSplit& front = splits.front();
  const detail::MlpPackShape shape{front.train_x.size(1), W1[first].size(1), W2[first].size(1)};
  detail::MlpPackParams params = detail::pack_params(W1, b1, W2, b2, first, count);
  detail::MlpPackParams grads;
  const auto rows = [&](bool validation) {
    std::vector<torch::Tensor> x, y;
    for (std::size_t l = 0; l < (splits.size() > 1 ? count : 1); ++l) {
      const MlpSplit& s = splits[splits.size() > 1 ? first + l : 0];
      x.push_back(validation ? s.val_x : s.train_x);
      y.push_back(validation ? s.val_y : s.train_y);
    }
    return detail::pack_rows(x, y);
  };
  const detail::PackRows train = rows(false), val = rows(true);
  MlpResult* const run = runs.data() + first;

  // Every model as a run of `e` epochs would report it, with that run's last losses.
  const auto evaluate = [&](int64_t e, const detail::PackLanes& losses) {
    const std::vector<int64_t> train_correct = detail::mlp_pack_correct(shape, params, train);
    const std::vector<int64_t> val_correct = detail::mlp_pack_correct(shape, params, val);
    // Models whose last update overflowed: no epoch's loss shows it.
    const std::vector<bool> finite = detail::mlp_pack_finite(params);
    std::vector<MlpCheckpoint> checkpoints(count);
    for (std::size_t l = 0; l < count; ++l) {
      MlpCheckpoint& c = checkpoints[l];
      c.epochs = e;
      c.loss = losses.lane[l];
      c.diverged = !finite[l] || (run[l].diverged_at_epoch && *run[l].diverged_at_epoch < e);
      c.train_correct = train_correct[l];
      c.val_correct = val_correct[l];
      set_accuracies(c, train.rows, val.rows);
    }
    return checkpoints;
  };
  std::size_t next = 0;  // the next checkpoint
  detail::PackLanes losses, previous;
  const auto lr = static_cast<float>(options.lr);
  for (int64_t epoch = 0; epoch < options.epochs; ++epoch) {
    // Forward and backward: every model's loss, its own batch mean, and its gradients.
    detail::mlp_pack_gradients(shape, params, train, grads, losses);
    const bool record = records(options, epoch);
    for (std::size_t l = 0; l < count; ++l) {
      const double value = losses.lane[l];
      if (record) run[l].loss_curve.push_back({epoch, value});
      if (!std::isfinite(value) && !run[l].diverged_at_epoch) run[l].diverged_at_epoch = epoch;
    }
    if (checkpoint_at(options, next, epoch)) {
      const std::vector<MlpCheckpoint> checkpoints = evaluate(epoch, epoch == 0 ? losses : previous);
      for (std::size_t l = 0; l < count; ++l) run[l].checkpoints.push_back(checkpoints[l]);
      ++next;
    }
    previous = losses;
    // Update: p <- p - lr dp. The gradients are overwritten by the next epoch: none to clear.
    detail::mlp_pack_update(params, grads, lr);
  }

  if (options.epochs == 0) detail::mlp_pack_gradients(shape, params, train, grads, losses);
  const std::vector<MlpCheckpoint> last = evaluate(options.epochs, losses);
  for (std::size_t l = 0; l < count; ++l) {
    const MlpCheckpoint& c = last[l];
    if (c.diverged && !run[l].diverged_at_epoch) run[l].diverged_at_epoch = options.epochs;
    run[l].final_loss = c.loss;
    run[l].train_correct = c.train_correct;
    run[l].val_correct = c.val_correct;
    run[l].train_accuracy = c.train_accuracy;
    run[l].val_accuracy = c.val_accuracy;
    if (checkpoint_at(options, next, options.epochs)) run[l].checkpoints.push_back(c);
  }
}

}  // namespace

std::vector<MlpResult> train_mlp_batched(const std::vector<MlpSplit>& splits, const std::vector<MlpParams>& models,
                                         const MlpOptions& options) {
  check_options(options);
  if (models.empty()) return {};
  if (splits.size() != 1 && splits.size() != models.size()) {
    throw std::invalid_argument("train_mlp_batched: " + std::to_string(splits.size()) + " splits for " +
                                std::to_string(models.size()) + " models: give one shared split or one per model");
  }
  for (const MlpSplit& s : splits) {
    if (s.train_x.sizes() != splits.front().train_x.sizes() || s.val_x.sizes() != splits.front().val_x.sizes()) {
      throw std::invalid_argument("train_mlp_batched: every split needs the same shapes");
    }
  }
  const int64_t D = splits.front().train_x.size(1);
  for (const MlpParams& p : models) {
    if (p.W1.sizes() != models.front().W1.sizes() || p.W2.sizes() != models.front().W2.sizes() || p.W1.size(0) != D) {
      throw std::invalid_argument("train_mlp_batched: every model needs the same shapes and D = " + std::to_string(D) +
                                  " inputs");
    }
  }
  std::vector<torch::Tensor> W1, b1, W2, b2;
  for (const MlpParams& p : models) {
    W1.push_back(p.W1);
    b1.push_back(p.b1);
    W2.push_back(p.W2);
    b2.push_back(p.b2);
  }
  std::vector<MlpResult> runs(models.size());
  for (std::size_t first = 0; first < models.size(); first += detail::kPackLanes) {
    const std::size_t count = std::min<std::size_t>(detail::kPackLanes, models.size() - first);
    train_pack(splits, W1, b1, W2, b2, first, count, options, runs);
  }
  return runs;
}

}  // namespace labrun
