#include "labrun/mlp.hpp"

#include "check.hpp"
#include "per_model_ops.hpp"

#include <torch/torch.h>

#include <cmath>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <string>
#include <unordered_map>

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
  detail::require_at_least("train_mlp", "epochs", options.epochs, 0);
  detail::require_finite_positive("train_mlp", "lr", options.lr);
  if (options.lr > std::numeric_limits<float>::max()) {
    detail::invalid("train_mlp", "lr " + std::to_string(options.lr) +
                                     " must be <= 3.4e38, float32's largest number: the MLP trains in float32");
  }
  detail::require_at_least("train_mlp", "record_every", options.record_every, 0);
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

MlpSplit prepare_split(const Dataset& data, const std::vector<int64_t>& row_order, Normalise normalise,
                       int64_t train_size) {
  const int64_t rows = data.rows();
  if (data.labels.empty()) {
    throw DataError(data.source + ": the MLP needs a label column, and the data has none");
  }
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
      throw DataError(data.source + ": column " + std::to_string(column) +
                      " is constant, so it cannot be divided by its variance (normalise none leaves it as it is)");
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
  std::size_t next = 0;                                      // the next checkpoint
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

namespace {

// The N models' parameters in the layouts the batched engine computes in:
//   W1: N x H x D (W1[n] = W1_n^T)   b1: N   W2: N x C x H (W2[n] = W2_n^T)   b2: N
// so that activations are N x H x B and logits N x C x B, with the batch (B) contiguous: every
// elementwise op runs over long rows, and the class dimension (C = 3) is never the innermost.
struct Batched {
  torch::Tensor W1, b1, W2, b2;
};

// logits: N x C x B, for inputs XT: D x B shared by every model, or N x D x B, one per model.
torch::Tensor batched_logits(const Batched& m, const torch::Tensor& XT) {
  const torch::Tensor hidden = detail::per_model_linear(m.W1, XT, m.b1, detail::Activation::relu);  // N x H x B
  return detail::per_model_linear(m.W2, hidden, m.b2, detail::Activation::none);
}

std::vector<double> to_doubles(const torch::Tensor& t) {
  const torch::Tensor d = t.detach().to(torch::kFloat64).contiguous();
  return {d.data_ptr<double>(), d.data_ptr<double>() + d.numel()};
}

// The splits' inputs transposed for batched_logits (D x B when shared, N x D x B otherwise) and
// their targets (B when shared, N x B otherwise).
std::pair<torch::Tensor, torch::Tensor> batch_inputs(const std::vector<MlpSplit>& splits, bool validation) {
  const auto x = [&](const MlpSplit& s) { return validation ? s.val_x : s.train_x; };
  const auto y = [&](const MlpSplit& s) { return validation ? s.val_y : s.train_y; };
  if (splits.size() == 1) {
    return {x(splits.front()).t().contiguous(), y(splits.front()).contiguous()};
  }
  std::vector<torch::Tensor> xs, ys;
  for (const MlpSplit& s : splits) {
    xs.push_back(x(s).t());
    ys.push_back(y(s));
  }
  return {torch::stack(xs).contiguous(), torch::stack(ys)};
}

// Each model's rows whose largest logit is at the true class.
std::vector<int64_t> batched_correct(const Batched& m, const std::pair<torch::Tensor, torch::Tensor>& inputs) {
  const torch::Tensor logits = batched_logits(m, inputs.first);  // N x C x B
  const torch::Tensor counts = (logits.argmax(1) == inputs.second).sum(1).to(torch::kLong).contiguous();
  return {counts.data_ptr<int64_t>(), counts.data_ptr<int64_t>() + counts.numel()};
}

}  // namespace

std::vector<MlpResult> train_mlp_batched(const MlpSplit& split, const std::vector<MlpParams>& models,
                                         const MlpOptions& options) {
  return train_mlp_batched(std::vector<MlpSplit>{split}, models, options);
}

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
  const auto N = static_cast<int64_t>(models.size());
  std::vector<torch::Tensor> w1, b1, w2, b2;
  for (const MlpParams& p : models) {
    w1.push_back(p.W1.detach().t());
    b1.push_back(p.b1.detach().reshape({}));
    w2.push_back(p.W2.detach().t());
    b2.push_back(p.b2.detach().reshape({}));
  }
  Batched m{torch::stack(w1).contiguous().requires_grad_(), torch::stack(b1).requires_grad_(),
            torch::stack(w2).contiguous().requires_grad_(), torch::stack(b2).requires_grad_()};
  const std::pair<torch::Tensor, torch::Tensor> train_inputs = batch_inputs(splits, /*validation=*/false);
  const torch::Tensor& XT = train_inputs.first;
  const torch::Tensor& targets = train_inputs.second;

  std::vector<MlpResult> runs(static_cast<std::size_t>(N));
  const auto val_inputs = batch_inputs(splits, /*validation=*/true);
  const int64_t train_rows = splits.front().train_y.size(0), val_rows = splits.front().val_y.size(0);
  // Every model as a run of `e` epochs would report it, with that run's last losses.
  const auto evaluate = [&](int64_t e, const std::vector<double>& losses) {
    torch::NoGradGuard no_grad;
    const std::vector<int64_t> train = batched_correct(m, {XT, targets});
    const std::vector<int64_t> val = batched_correct(m, val_inputs);
    // Models whose last update overflowed: no epoch's loss shows it.
    const std::vector<double> finite = to_doubles(m.W1.isfinite().flatten(1).all(1) &
                                                  m.W2.isfinite().flatten(1).all(1) & m.b1.isfinite() & m.b2.isfinite());
    std::vector<MlpCheckpoint> checkpoints(runs.size());
    for (std::size_t n = 0; n < runs.size(); ++n) {
      MlpCheckpoint& c = checkpoints[n];
      c.epochs = e;
      c.loss = losses[n];
      c.diverged = finite[n] == 0.0 || (runs[n].diverged_at_epoch && *runs[n].diverged_at_epoch < e);
      c.train_correct = train[n];
      c.val_correct = val[n];
      set_accuracies(c, train_rows, val_rows);
    }
    return checkpoints;
  };
  const auto add = [&runs](std::vector<MlpCheckpoint>&& checkpoints) {
    for (std::size_t n = 0; n < runs.size(); ++n) runs[n].checkpoints.push_back(checkpoints[n]);
  };
  std::size_t next = 0;          // the next checkpoint
  std::vector<double> previous;  // the last epoch's losses, when a checkpoint needs them
  torch::Tensor losses;
  for (int64_t epoch = 0; epoch < options.epochs; ++epoch) {
    // Forward: every model's loss, its own batch mean; their sum keeps the gradients apart.
    losses = detail::per_model_cross_entropy(batched_logits(m, XT), targets);
    const bool record = records(options, epoch);
    const bool checkpoint = checkpoint_at(options, next, epoch);
    if (record || checkpoint || checkpoint_at(options, next, epoch + 1) || !losses.isfinite().all().item<bool>()) {
      std::vector<double> values = to_doubles(losses);
      for (std::size_t n = 0; n < values.size(); ++n) {
        if (record) runs[n].loss_curve.push_back({epoch, values[n]});
        if (!std::isfinite(values[n]) && !runs[n].diverged_at_epoch) runs[n].diverged_at_epoch = epoch;
      }
      if (checkpoint) add(evaluate(epoch, epoch == 0 ? values : previous)), ++next;
      previous = std::move(values);
    }
    // Backward: autograd::grad hands the gradients back rather than accumulating them in .grad,
    // so there are none to clear.
    const torch::autograd::variable_list grads = torch::autograd::grad({losses.sum()}, {m.W1, m.b1, m.W2, m.b2});
    // Update p <- p - lr dp, one fused kernel a tensor.
    torch::NoGradGuard no_grad;
    m.W1.sub_(grads[0], options.lr);
    m.b1.sub_(grads[1], options.lr);
    m.W2.sub_(grads[2], options.lr);
    m.b2.sub_(grads[3], options.lr);
  }

  torch::NoGradGuard no_grad;
  if (!losses.defined()) losses = detail::per_model_cross_entropy(batched_logits(m, XT), targets);
  const std::vector<MlpCheckpoint> last = evaluate(options.epochs, to_doubles(losses));
  for (std::size_t n = 0; n < runs.size(); ++n) {
    const MlpCheckpoint& c = last[n];
    if (c.diverged && !runs[n].diverged_at_epoch) runs[n].diverged_at_epoch = options.epochs;
    runs[n].final_loss = c.loss;
    runs[n].train_correct = c.train_correct;
    runs[n].val_correct = c.val_correct;
    runs[n].train_accuracy = c.train_accuracy;
    runs[n].val_accuracy = c.val_accuracy;
    if (checkpoint_at(options, next, options.epochs)) runs[n].checkpoints.push_back(c);
  }
  return runs;
}

}  // namespace labrun
