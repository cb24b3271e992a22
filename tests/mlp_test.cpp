#include "labrun/mlp.hpp"

#include "../src/mlp_pack.hpp"
#include "labrun/dataset.hpp"
#include "tensor_check.hpp"
#include "tolerance.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <iostream>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <utility>

namespace labrun {
namespace {

std::vector<int64_t> identity(int64_t n) {
  std::vector<int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), int64_t{0});
  return order;
}

MlpSplit iris_split(bool shuffle, uint32_t seed) {
  const Dataset iris = load_embedded_iris();
  RowShuffler shuffler(seed);
  return prepare_split(iris, shuffle ? shuffler.permutation(150) : identity(150), Normalise::var, 100);
}

std::vector<MlpParams> draw_models(int64_t count, uint64_t seed, int64_t hidden = 12) {
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  std::vector<MlpParams> models;
  for (int64_t r = 0; r < count; ++r) models.push_back(init_params(4, hidden, 3, generator));
  return models;
}

// A run against figures computed elsewhere (the exercise's Python code on another machine's BLAS
// kernel, or the other engine): the loss within the cross-entropy bound of tolerance.hpp for 100
// epochs whose longest sums run over the 100 training rows, the accuracies equal or apart by rows
// near a tie. `model` is a sequential run of the same model, whose logits say which rows those are.
// Returns how many rows are near a tie, in the training and the validation rows.
std::pair<int64_t, int64_t> expect_close_to(const MlpSplit& split, const MlpResult& model, double train_accuracy,
                                            double val_accuracy, double final_loss, const MlpResult& actual) {
  const double params_drift = test::drift(100, split.train_x.size(0), test::kRoundoffF32);
  const torch::Tensor train_logits = mlp_logits(model.trained, split.train_x);
  const torch::Tensor val_logits = mlp_logits(model.trained, split.val_x);
  const double max_logit = std::max(train_logits.abs().max().item<double>(), val_logits.abs().max().item<double>());
  const double margin = 4.0 * params_drift * max_logit;  // twice the logits' drift: both sides may move
  EXPECT_TRUE(test::within_relative(actual.final_loss, final_loss,
                                    test::cross_entropy_tolerance(params_drift, max_logit, final_loss),
                                    /*float32=*/true));
  const int64_t train_ties = test::near_ties(train_logits, margin);
  const int64_t val_ties = test::near_ties(val_logits, margin);
  EXPECT_TRUE(test::accuracy_within_ties(actual.train_accuracy, train_accuracy, split.train_x.size(0), train_ties));
  EXPECT_TRUE(test::accuracy_within_ties(actual.val_accuracy, val_accuracy, split.val_x.size(0), val_ties));
  return {train_ties, val_ties};
}

TEST(Mlp, RowShufflerIsNumpysRandomStatePermutation) {
  // numpy 1.24 (Debian 12): np.random.RandomState(0).permutation(10), and so on.
  EXPECT_EQ(RowShuffler(0).permutation(10), (std::vector<int64_t>{2, 8, 4, 9, 1, 6, 7, 3, 0, 5}));
  RowShuffler seven(7);
  const auto first = seven.permutation(150);
  const auto second = seven.permutation(150);  // the stream goes on, as on one RandomState
  EXPECT_EQ(std::vector<int64_t>(first.begin(), first.begin() + 6), (std::vector<int64_t>{149, 84, 40, 66, 106, 41}));
  EXPECT_EQ(std::vector<int64_t>(second.begin(), second.begin() + 6),
            (std::vector<int64_t>{113, 37, 131, 138, 145, 79}));
  EXPECT_EQ(RowShuffler(4294967295u).permutation(5), (std::vector<int64_t>{4, 1, 0, 2, 3}));
  // pandas: pd.read_csv(iris).sample(frac=1, random_state=0).index[:6]
  const auto order = RowShuffler(0).permutation(150);
  EXPECT_EQ(std::vector<int64_t>(order.begin(), order.begin() + 6), (std::vector<int64_t>{114, 62, 33, 107, 7, 100}));
}

TEST(Mlp, SplitNumbersClassesByFirstAppearanceAndNormalisesByVariance) {
  const Dataset iris = load_embedded_iris();
  const auto order = RowShuffler(0).permutation(150);
  const MlpSplit split = prepare_split(iris, order, Normalise::var, 100);
  EXPECT_EQ(split.train_x.sizes(), (torch::IntArrayRef{100, 4}));
  EXPECT_EQ(split.val_x.sizes(), (torch::IntArrayRef{50, 4}));
  EXPECT_EQ(split.train_x.scalar_type(), torch::kFloat32);
  // Row 114 comes first: Iris-virginica is class 0.
  EXPECT_EQ(split.classes.front(), "Iris-virginica");
  EXPECT_EQ(split.train_y[0].item<int64_t>(), 0);
  const torch::Tensor X = torch::cat({split.train_x, split.val_x});
  const torch::Tensor raw = iris.features.to(torch::kFloat32);
  EXPECT_LT(X.mean(0).abs().max().item<double>(), 1e-5);
  // (x - mean) / var has variance 1 / var.
  EXPECT_TRUE(test::tensors_close(X.var(0), 1.0 / raw.var(0), 1e-4));
  const MlpSplit std_split = prepare_split(iris, order, Normalise::std, 100);
  EXPECT_TRUE(test::tensors_close(torch::cat({std_split.train_x, std_split.val_x}).var(0), torch::ones({4}), 1e-5));
  const MlpSplit none = prepare_split(iris, identity(150), Normalise::none, 100);
  EXPECT_TRUE(test::tensors_close(none.train_x, raw.narrow(0, 0, 100), 0.0));
}

TEST(Mlp, SplitRejectsWhatCannotTrain) {
  const Dataset iris = load_embedded_iris();
  EXPECT_THROW(prepare_split(iris, identity(150), Normalise::var, 0), std::invalid_argument);
  EXPECT_THROW(prepare_split(iris, identity(150), Normalise::var, 150), std::invalid_argument);
  const Dataset one_class = parse_csv("1,2,a\n3,4,a\n5,7,a\n", "one.csv");
  EXPECT_THROW(prepare_split(one_class, identity(3), Normalise::var, 2), DataError);
  const Dataset unlabelled = parse_csv("1,2\n3,4\n5,7\n", "n.csv");
  EXPECT_THROW(prepare_split(unlabelled, identity(3), Normalise::var, 2), DataError);
  const Dataset constant = parse_csv("1,2,a\n1,4,b\n1,7,a\n", "c.csv");
  EXPECT_THROW(prepare_split(constant, identity(3), Normalise::var, 2), DataError);
  EXPECT_NO_THROW(prepare_split(constant, identity(3), Normalise::none, 2));
}

TEST(Mlp, ParametersHaveTheExercisesShapesAndScalarBiases) {
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(0);
  const MlpParams p = init_params(4, 12, 3, generator);
  EXPECT_EQ(p.W1.sizes(), (torch::IntArrayRef{4, 12}));
  EXPECT_EQ(p.W2.sizes(), (torch::IntArrayRef{12, 3}));
  EXPECT_EQ(p.b1.numel(), 1);
  EXPECT_EQ(p.b2.numel(), 1);
  for (const auto& t : {p.W1, p.W2, p.b1, p.b2}) EXPECT_TRUE(t.requires_grad());
  EXPECT_EQ(p.b1.item<float>(), 0.0f);
  // W1 is torch.randn(4, 12) after torch.manual_seed(0): its first entry -1.1258398.
  EXPECT_NEAR(p.W1[0][0].item<double>(), -1.1258398, 1e-6);
}

TEST(Mlp, SharedBiasGradientIsTheSumOfPerUnitGradients) {
  const MlpSplit split = iris_split(false, 0);
  const MlpParams p = draw_models(1, 5).front();
  // The same model with one bias per unit, all equal to the shared scalar.
  const torch::Tensor b1_units = p.b1.detach().expand({12}).clone().requires_grad_();
  const torch::Tensor b2_units = p.b2.detach().expand({3}).clone().requires_grad_();
  const torch::Tensor per_unit = torch::relu(split.train_x.matmul(p.W1) + b1_units).matmul(p.W2) + b2_units;
  torch::cross_entropy_loss(per_unit, split.train_y).backward();
  torch::cross_entropy_loss(mlp_logits(p, split.train_x), split.train_y).backward();
  EXPECT_NEAR(p.b1.grad().item<double>(), b1_units.grad().sum().item<double>(), 1e-6);
  EXPECT_NEAR(p.b2.grad().item<double>(), b2_units.grad().sum().item<double>(), 1e-6);
  // Closed form for b2: d loss / d b2 = sum_c mean_b (softmax - onehot) = 0 for any logits.
  EXPECT_NEAR(p.b2.grad().item<double>(), 0.0, 1e-6);
}

// Figures printed by ../shared/reference/lab2_reference.py mlp --no-shuffle --seed S --repeats N,
// on a machine whose OpenBLAS ran its SkylakeX kernel. On the same kernel labrun's sequential
// engine gives them to the last bit (the live test parity.mlp checks that against the Python code
// run here); on another kernel the float32 GEMMs sum in another order (issue 11: 1 ulp apart on
// Haswell and Prescott), hence the bound.
TEST(Mlp, SequentialEqualsTheExerciseCodeWithoutShuffle) {
  const MlpSplit split = iris_split(false, 0);
  const std::vector<MlpParams> models = draw_models(3, 11);
  const double python[3][3] = {{0.9399999976158142, 0.23999999463558197, 0.4094562530517578},
                               {0.8600000143051147, 0.18000000715255737, 0.4804835021495819},
                               {0.8199999928474426, 0.07999999821186066, 0.7478535175323486}};
  for (std::size_t r = 0; r < 3; ++r) {
    SCOPED_TRACE("repeat " + std::to_string(r));
    const MlpResult run = train_mlp(split, models[r], {});
    expect_close_to(split, run, python[r][0], python[r][1], python[r][2], run);
  }
}

// lab2_reference.py mlp --seed 3 --repeats 5 (pandas' shuffle with random_state=3).
TEST(Mlp, SequentialEqualsTheExerciseCodeWithItsShuffle) {
  const MlpSplit split = iris_split(true, 3);
  const std::vector<MlpParams> models = draw_models(5, 3);
  const double python[5][3] = {{0.8399999737739563, 0.800000011920929, 0.4308023750782013},
                               {0.7400000095367432, 0.8199999928474426, 0.8986124992370605},
                               {0.6800000071525574, 0.6600000262260437, 0.624337375164032},
                               {0.8500000238418579, 0.8399999737739563, 0.4116901457309723},
                               {0.5699999928474426, 0.6600000262260437, 1.2793158292770386}};
  for (std::size_t r = 0; r < 5; ++r) {
    SCOPED_TRACE("repeat " + std::to_string(r));
    const MlpResult run = train_mlp(split, models[r], {});
    const auto [train_ties, val_ties] = expect_close_to(split, run, python[r][0], python[r][1], python[r][2], run);
    // Repeat 0 is `labrun mlp --seed 3`'s run 0: the CLI tests allow its accuracies one row each.
    if (r == 0) {
      EXPECT_LE(train_ties, 1);
      EXPECT_LE(val_ties, 1);
    }
  }
}

TEST(Mlp, BatchedEqualsSequential) {
  const MlpSplit split = iris_split(true, 1);
  const std::vector<MlpParams> models = draw_models(16, 1);
  MlpOptions options;
  options.record_every = 25;
  const std::vector<MlpResult> batched = train_mlp_batched(split, models, options);
  ASSERT_EQ(batched.size(), 16u);
  for (std::size_t r = 0; r < models.size(); ++r) {
    SCOPED_TRACE("repeat " + std::to_string(r));
    const MlpResult sequential = train_mlp(split, models[r], options);
    expect_close_to(split, sequential, sequential.train_accuracy, sequential.val_accuracy, sequential.final_loss,
                    batched[r]);
    ASSERT_EQ(batched[r].loss_curve.size(), sequential.loss_curve.size());
    for (std::size_t i = 0; i < sequential.loss_curve.size(); ++i) {
      const LossPoint& point = sequential.loss_curve[i];
      // After `epoch` epochs: the same bound with that many epochs (one forward pass at epoch 0).
      const double params_drift = test::drift(std::max<int64_t>(point.epoch, 1), 100, test::kRoundoffF32);
      const double max_logit = mlp_logits(sequential.trained, split.train_x).abs().max().item<double>();
      EXPECT_TRUE(test::within_relative(batched[r].loss_curve[i].loss, point.loss,
                                        test::cross_entropy_tolerance(params_drift, max_logit, point.loss), true))
          << "epoch " << point.epoch;
    }
  }
}

// Beside the derived bounds (BatchedEqualsSequential: 2e-2 to 7e-2 relative for these runs), a
// regression bound from what the engines do: the batched kernel's final losses and loss curves
// measured within 7.7e-7 relative of autograd (256 models)'s (float32 sums in another order, FMA on AVX2 and
// AVX-512 CPUs; 4.6e-7 against the exercise's loop over 200 runs), every count equal. A kernel
// whose step is 0.05% too large is 9.4e-4 off in final loss: this test fails for it, as it does for
// a dropped gradient term (scripts/mutants.sh).
TEST(Mlp, BatchedIsHeldToAutogradByWhatItActuallyDoes) {
  // The bound for the kernels built with FMA (x86-64-v3/v4 CPUs, where this was measured). A CPU
  // without AVX2 and FMA runs the SSE2 build, which rounds apart (final losses 5.5e-5 absolute,
  // ~1e-4 relative, from the FMA build; docs/development.md): a bound of 2e-4 there.
  const double kRegression = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 1e-5 : 2e-4;
  int64_t models_checked = 0;
  double worst = 0.0;
  struct Case {
    uint32_t seed;
    int64_t hidden;
    int64_t epochs;
    double lr;
  };
  for (const Case c : {Case{4, 12, 100, 0.01}, Case{5, 12, 300, 0.1}, Case{6, 5, 100, 0.05}, Case{7, 20, 60, 0.01}}) {
    SCOPED_TRACE("seed " + std::to_string(c.seed) + ", hidden " + std::to_string(c.hidden));
    const MlpSplit split = iris_split(true, c.seed);
    const std::vector<MlpParams> models = draw_models(64, c.seed, c.hidden);
    MlpOptions options;
    options.epochs = c.epochs;
    options.lr = c.lr;
    options.record_every = 10;
    const std::vector<MlpResult> batched = train_mlp_batched(split, models, options);
    for (std::size_t r = 0; r < models.size(); ++r) {
      const MlpResult sequential = train_mlp(split, models[r], options);
      if (sequential.diverged_at_epoch) continue;
      ++models_checked;
      const auto relative = [](double a, double b) { return std::abs(a - b) / std::max(std::abs(b), 1e-30); };
      worst = std::max(worst, relative(batched[r].final_loss, sequential.final_loss));
      EXPECT_LE(relative(batched[r].final_loss, sequential.final_loss), kRegression) << "repeat " << r;
      EXPECT_EQ(batched[r].train_accuracy, sequential.train_accuracy) << "repeat " << r;
      EXPECT_EQ(batched[r].val_accuracy, sequential.val_accuracy) << "repeat " << r;
      ASSERT_EQ(batched[r].loss_curve.size(), sequential.loss_curve.size());
      for (std::size_t i = 0; i < sequential.loss_curve.size(); ++i) {
        EXPECT_LE(relative(batched[r].loss_curve[i].loss, sequential.loss_curve[i].loss), kRegression)
            << "repeat " << r << ", epoch " << sequential.loss_curve[i].epoch;
      }
    }
  }
  EXPECT_GE(models_checked, 200);
  std::cout << "batched vs autograd over " << models_checked << " models: final losses within " << worst
            << " relative\n";
}

TEST(Mlp, BatchedWithOneSplitPerModelEqualsSequential) {
  const Dataset iris = load_embedded_iris();
  RowShuffler shuffler(9);
  std::vector<MlpSplit> splits;
  for (int r = 0; r < 6; ++r) splits.push_back(prepare_split(iris, shuffler.permutation(150), Normalise::var, 100));
  const std::vector<MlpParams> models = draw_models(6, 9);
  const std::vector<MlpResult> batched = train_mlp_batched(splits, models, {});
  for (std::size_t r = 0; r < models.size(); ++r) {
    SCOPED_TRACE("repeat " + std::to_string(r));
    const MlpResult sequential = train_mlp(splits[r], models[r], {});
    expect_close_to(splits[r], sequential, sequential.train_accuracy, sequential.val_accuracy, sequential.final_loss,
                    batched[r]);
  }
  EXPECT_THROW(train_mlp_batched(std::vector<MlpSplit>(2, splits[0]), models, {}), std::invalid_argument);
}

TEST(Mlp, AccuraciesAreSharesAndRunsRepeat) {
  const MlpSplit split = iris_split(true, 2);
  const std::vector<MlpParams> models = draw_models(8, 2);
  const auto a = train_mlp_batched(split, models, {});
  const auto b = train_mlp_batched(split, draw_models(8, 2), {});
  for (std::size_t r = 0; r < a.size(); ++r) {
    EXPECT_GE(a[r].train_accuracy, 0.0);
    EXPECT_LE(a[r].train_accuracy, 1.0);
    EXPECT_GE(a[r].val_accuracy, 0.0);
    EXPECT_LE(a[r].val_accuracy, 1.0);
    EXPECT_EQ(a[r].final_loss, b[r].final_loss);
    EXPECT_EQ(a[r].val_accuracy, b[r].val_accuracy);
  }
  // The caller's initial tensors are left as they were.
  EXPECT_TRUE(torch::equal(models[0].W1, draw_models(1, 2).front().W1));
}

TEST(Mlp, DivergenceIsRecordedPerModel) {
  const MlpSplit split = iris_split(false, 0);
  MlpOptions options;
  options.lr = 1e6;
  const auto runs = train_mlp_batched(split, draw_models(3, 0), options);
  for (const auto& run : runs) EXPECT_TRUE(run.diverged_at_epoch.has_value());
  EXPECT_TRUE(train_mlp(split, draw_models(1, 0).front(), options).diverged_at_epoch.has_value());
}

// The MLP pack's forward and backward pass against autograd through libtorch's ops on each model
// alone (mlp_logits, cross_entropy), in float32: every loss and gradient is a sum over the 40 rows
// in another order, so they agree within a few times 40 x 2^-24 of the magnitudes summed (bounded
// by 1 + the largest value), and the pack's exp and log add 2 ulp. Each lane has its own model,
// inputs and targets, its biases non-zero, its weights scaled so that relu cuts off some units.
TEST(Mlp, PackGradientsMatchAutograd) {
  torch::manual_seed(21);
  constexpr int64_t kRows = 40, kD = 4, kH = 6, kC = 3;
  constexpr std::size_t kModels = 11;  // a partial pack: the unused lanes must not matter
  std::vector<torch::Tensor> W1, b1, W2, b2, x, y;
  for (std::size_t l = 0; l < kModels; ++l) {
    const double scale = 0.5 + static_cast<double>(l);  // logits up to a few hundred
    W1.push_back(torch::randn({kD, kH}) * scale);
    b1.push_back(torch::randn({1}));
    W2.push_back(torch::randn({kH, kC}) * scale);
    b2.push_back(torch::randn({1}));
    x.push_back(torch::randn({kRows, kD}));
    y.push_back(torch::randint(kC, {kRows}));
  }
  const detail::MlpPackShape shape{kD, kH, kC};
  const detail::MlpPackParams params = detail::pack_params(W1, b1, W2, b2, 0, kModels);
  const detail::PackRows rows = detail::pack_rows(x, y);
  detail::MlpPackParams grads;
  detail::PackLanes loss;
  detail::mlp_pack_gradients(shape, params, rows, grads, loss);
  const auto lane = [](const detail::PackArray& packed, std::size_t l, at::IntArrayRef sizes) {
    std::vector<float> values;
    for (std::size_t i = l; i < packed.size(); i += detail::kPackLanes) values.push_back(packed[i]);
    return torch::tensor(values).reshape(sizes);
  };
  const std::vector<int64_t> correct = detail::mlp_pack_correct(shape, params, rows);
  for (std::size_t l = 0; l < kModels; ++l) {
    SCOPED_TRACE("lane " + std::to_string(l));
    const MlpParams p{W1[l].clone().requires_grad_(), b1[l].clone().requires_grad_(), W2[l].clone().requires_grad_(),
                      b2[l].clone().requires_grad_()};
    const torch::Tensor logits = mlp_logits(p, x[l]);
    const torch::Tensor reference = torch::cross_entropy_loss(logits, y[l]);
    const auto expected = torch::autograd::grad({reference}, {p.W1, p.b1, p.W2, p.b2});
    const auto bound = [](const torch::Tensor& t) {
      return 4 * kRows * std::ldexp(1.0, -24) * (1 + t.abs().max().item<double>());
    };
    EXPECT_NEAR(loss.lane[l], reference.item<double>(),
                bound(reference) + 4 * std::ldexp(1.0, -24) * reference.item<double>());
    EXPECT_TRUE(test::tensors_close(lane(grads.W1, l, {kD, kH}), expected[0], bound(expected[0]))) << "dW1";
    EXPECT_NEAR(grads.b1.lane[l], expected[1].item<double>(), bound(expected[1])) << "db1";
    EXPECT_TRUE(test::tensors_close(lane(grads.W2, l, {kH, kC}), expected[2], bound(expected[2]))) << "dW2";
    EXPECT_NEAR(grads.b2.lane[l], expected[3].item<double>(), bound(expected[3])) << "db2";
    EXPECT_EQ(correct[l], labrun::correct(logits.detach(), y[l]));
  }
}

// A model's numbers do not depend on its lane or on the other models in its pack: the kernels
// never mix lanes, so lane 0 of a pack of one equals lane 7 of a full pack bit for bit.
TEST(Mlp, PackLanesAreIndependent) {
  torch::manual_seed(22);
  std::vector<torch::Tensor> W1, b1, W2, b2, x, y;
  for (int l = 0; l < detail::kPackLanes; ++l) {
    W1.push_back(torch::randn({4, 12}));
    b1.push_back(torch::randn({1}));
    W2.push_back(torch::randn({12, 3}));
    b2.push_back(torch::randn({1}));
    x.push_back(torch::randn({30, 4}));
    y.push_back(torch::randint(3, {30}));
  }
  const detail::MlpPackShape shape{4, 12, 3};
  detail::MlpPackParams full_grads, one_grads;
  detail::PackLanes full_loss, one_loss;
  detail::mlp_pack_gradients(shape, detail::pack_params(W1, b1, W2, b2, 0, W1.size()), detail::pack_rows(x, y),
                             full_grads, full_loss);
  detail::mlp_pack_gradients(shape, detail::pack_params(W1, b1, W2, b2, 7, 1), detail::pack_rows({x[7]}, {y[7]}),
                             one_grads, one_loss);
  EXPECT_EQ(full_loss.lane[7], one_loss.lane[0]);
  EXPECT_EQ(full_grads.b1.lane[7], one_grads.b1.lane[0]);
  EXPECT_EQ(full_grads.b2.lane[7], one_grads.b2.lane[0]);
  const auto L = static_cast<std::size_t>(detail::kPackLanes);
  for (std::size_t i = 0; i < full_grads.W1.size(); i += L) EXPECT_EQ(full_grads.W1[i + 7], one_grads.W1[i]) << i;
  for (std::size_t i = 0; i < full_grads.W2.size(); i += L) EXPECT_EQ(full_grads.W2[i + 7], one_grads.W2[i]) << i;
}

// Infinite and NaN logits give a non-finite loss (the engine's divergence check relies on it), as
// libtorch's cross_entropy does; a NaN logit counts as the largest.
TEST(Mlp, PackLossIsNotFiniteForNonFiniteLogits) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<torch::Tensor> W1, b1, W2, b2, x, y;
  for (const float b : {0.0f, inf, -inf, nan, 1e30f}) {
    W1.push_back(torch::ones({2, 2}));
    b1.push_back(torch::zeros({1}));
    W2.push_back(torch::eye(2));
    b2.push_back(torch::full({1}, b));
    x.push_back(torch::ones({3, 2}));
    y.push_back(torch::tensor({0, 1, 1}));
  }
  const detail::MlpPackShape shape{2, 2, 2};
  const detail::MlpPackParams params = detail::pack_params(W1, b1, W2, b2, 0, W1.size());
  detail::MlpPackParams grads;
  detail::PackLanes loss;
  detail::mlp_pack_gradients(shape, params, detail::pack_rows(x, y), grads, loss);
  EXPECT_NEAR(loss.lane[0], std::log(2.0), 1e-7);  // equal logits (2, 2): ln 2 a row
  EXPECT_FALSE(std::isfinite(loss.lane[1]));
  EXPECT_FALSE(std::isfinite(loss.lane[2]));
  EXPECT_FALSE(std::isfinite(loss.lane[3]));
  EXPECT_NEAR(loss.lane[4], std::log(2.0), 1e-7);  // a shared bias of 1e30 cancels out of the softmax
  const std::vector<bool> finite = detail::mlp_pack_finite(params);
  EXPECT_TRUE(finite[0]);
  EXPECT_FALSE(finite[1]);
  EXPECT_FALSE(finite[3]);
  EXPECT_EQ(detail::mlp_pack_correct(shape, params, detail::pack_rows(x, y))[3], 1);  // NaN logits: class 0 wins
}

}  // namespace
}  // namespace labrun
