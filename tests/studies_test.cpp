#include "labrun/studies.hpp"

#include "labrun/resources.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <numeric>
#include <optional>

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>
#include <vector>

namespace labrun {
namespace {

TEST(Studies, FactoriseStudyIsTheTrainingTheSvdAndThePca) {
  const Dataset iris = load_embedded_iris();
  FactoriseStudyOptions options;
  options.gd.seed = 0;
  options.pca = true;
  const FactoriseStudyResult study = factorise_study(iris, options);
  // The same computations called one by one, on the same kernel: bit for bit.
  const torch::Tensor A = centre_columns(iris.features);
  FactoriseOptions gd;
  gd.seed = 0;
  EXPECT_EQ(study.gd.loss, gd_factorise_ad(A, gd).loss);
  EXPECT_EQ(study.svd.loss, truncated_svd(A, 2).loss);
  ASSERT_TRUE(study.pca.has_value());
  ASSERT_TRUE(study.comparison.has_value());
  EXPECT_EQ(study.comparison->principal_angles,
            compare_subspaces(study.gd.U, pca(iris.features, 2).scores).principal_angles);
  EXPECT_EQ(study.gap(), study.gd.loss - study.svd.loss);
  EXPECT_GE(study.gap(), -1e-12 * study.svd.loss);  // Eckart-Young

  options.pca = false;
  options.dtype = Dtype::float32;
  const FactoriseStudyResult f32 = factorise_study(iris, options);
  EXPECT_FALSE(f32.pca.has_value());
  EXPECT_EQ(f32.A.scalar_type(), torch::kFloat32);
  EXPECT_EQ(f32.gd.U.scalar_type(), torch::kFloat32);
}

TEST(Studies, ADivergedFactorHasNoComparison) {
  FactoriseStudyOptions options;
  options.gd.seed = 0;
  options.gd.lr = 1.0;
  options.pca = true;
  const FactoriseStudyResult study = factorise_study(load_embedded_iris(), options);
  EXPECT_TRUE(study.gd.diverged());
  EXPECT_TRUE(study.pca.has_value());
  EXPECT_FALSE(study.comparison.has_value());
}

TEST(Studies, NormalisedColumnsAreWhatTrainingTheSvdAndPcaSee) {
  const Dataset iris = load_embedded_iris();
  FactoriseStudyOptions options;
  options.gd.seed = 0;
  options.pca = true;
  options.normalise = Normalise::std;
  const FactoriseStudyResult study = factorise_study(iris, options);
  // The same as the study of the columns scaled by hand: the same steps, bit for bit.
  // Each column's standard deviation computed on the column divided by its largest magnitude
  // (so that 1e300 or 1e-300 data neither overflow nor underflow): the same to 1e-15.
  const torch::Tensor features = iris.features.to(torch::kFloat64);
  const torch::Tensor largest = features.abs().amax(0);
  const torch::Tensor spread = (features / largest).std(0) * largest;
  EXPECT_TRUE(torch::allclose(spread, features.var(0).sqrt(), 1e-15, 0.0));
  Dataset scaled = iris;
  scaled.features = features / spread;
  options.normalise = Normalise::none;
  const FactoriseStudyResult by_hand = factorise_study(scaled, options);
  EXPECT_EQ(study.gd.loss, by_hand.gd.loss);
  EXPECT_EQ(study.svd.loss, by_hand.svd.loss);
  EXPECT_EQ(study.pca->explained_variance_ratio, by_hand.pca->explained_variance_ratio);
  EXPECT_TRUE(torch::allclose(study.A.std(0), torch::ones({4}, torch::kFloat64), 0.0, 1e-12));
  // var divides by the variance: unit standard deviation times 1 / std.
  options.normalise = Normalise::var;
  const FactoriseStudyResult var = factorise_study(iris, options);
  EXPECT_TRUE(torch::allclose(var.A.std(0), 1.0 / features.var(0).sqrt(), 1e-12, 0.0));
  // Scale-free: 1e300 and 1e-300 times the data give the same scaled matrix (the variance alone
  // would overflow or underflow); var, whose divisor is the variance itself, refuses them.
  options.normalise = Normalise::std;
  for (const double factor : {1e300, 1e-300}) {
    Dataset extreme = iris;
    extreme.features = features * factor;
    const FactoriseStudyResult far = factorise_study(extreme, options);
    EXPECT_NEAR(far.svd.loss, study.svd.loss, 1e-12 * study.svd.loss) << factor;
  }
  Dataset huge = iris;
  huge.features = features * 1e300;
  options.normalise = Normalise::var;
  EXPECT_THROW(factorise_study(huge, options), DataError);
  // Squares that underflow are refused without a scaling, not reported as a zero loss.
  options.normalise = Normalise::none;
  Dataset tiny = iris;
  tiny.features = features * 1e-300;
  EXPECT_THROW(factorise_study(tiny, options), DataError);
  options.dtype = Dtype::float32;
  tiny.features = features * 1e-30;
  EXPECT_THROW(factorise_study(tiny, options), DataError);
  options.dtype = Dtype::float64;
  options.normalise = Normalise::var;
  // A constant column cannot be divided by its spread; streaming does not scale.
  Dataset constant = iris;
  constant.features = iris.features.clone();
  constant.features.select(1, 2).fill_(3.0);
  EXPECT_THROW(factorise_study(constant, options), DataError);
  options.streaming = Streaming::always;
  EXPECT_THROW(factorise_study(iris, options), std::invalid_argument);
}

TEST(Studies, TheStableLrSettlesWhereLargerOnesDiverge) {
  const Dataset iris = load_embedded_iris();
  FactoriseStudyOptions options;
  options.gd.seed = 0;
  const FactoriseStudyResult study = factorise_study(iris, options);
  const std::optional<double> lr = stable_lr(study, options.gd);
  ASSERT_TRUE(lr.has_value());
  // Iris: the start's curvature, 2 (|U0|^2 + |V0|^2) from 150 x 2 and 4 x 2 factors, is the larger.
  const auto norm = [](double rows) { return 0.5 * std::sqrt(rows * 2.0) + 0.29 * (std::sqrt(rows) + std::sqrt(2.0)); };
  EXPECT_DOUBLE_EQ(*lr, 1.0 / (2.0 * (norm(150) * norm(150) + norm(4) * norm(4))));
  EXPECT_GT(1.0 / *lr, 4.0 * study.svd.singular_values.front());
  EXPECT_NEAR(*lr, 0.0030, 0.00005);
  options.gd.reduction = Reduction::mean;
  EXPECT_DOUBLE_EQ(*stable_lr(study, options.gd), *lr * 150.0 * 4.0);
  options.gd.reduction = Reduction::sum;
  // It settles where ten times it diverges, on Iris and on matrices whose optimum's curvature
  // (a large s1) or whose start's (many rows, a higher rank) decides: seeds 0 and 1 of each.
  const auto centred_normal = [](int64_t rows, int64_t columns, double scale) {
    Dataset d;
    d.features = torch::randn({rows, columns}, at::make_generator<at::CPUGeneratorImpl>(3), torch::kFloat64) * scale;
    d.source = "randn";
    for (int64_t c = 0; c < columns; ++c) d.feature_columns.push_back(c);
    return d;
  };
  struct Case {
    Dataset data;
    int64_t rank;
  };
  const std::vector<Case> cases = {{iris, 2},
                                   {centred_normal(5000, 8, 1.0), 2},
                                   {centred_normal(178, 13, 1.0), 5},
                                   {centred_normal(100, 6, 300.0), 2}};
  for (const Case& c : cases) {
    for (const uint64_t seed : {0, 1}) {
      options.gd.rank = c.rank;
      options.gd.seed = seed;
      options.gd.lr = 0.01;
      options.gd.epochs = 300;
      const double step = *stable_lr(factorise_study(c.data, options), options.gd);
      options.gd.lr = step;
      EXPECT_FALSE(factorise_study(c.data, options).gd.diverged()) << c.data.rows() << " rows, seed " << seed;
      options.gd.lr = 10.0 * step;
      EXPECT_TRUE(factorise_study(c.data, options).gd.diverged()) << c.data.rows() << " rows, 10x, seed " << seed;
    }
  }
  EXPECT_NEAR(largest_column_share(iris), 0.68133, 1e-5);  // petal length: 3.1132 of 4.5693 (numpy, ddof 1)
  Dataset constant = iris;
  constant.features = iris.features.clone();
  constant.features.select(1, 1).fill_(2.0);
  EXPECT_EQ(largest_column_share(constant), 0.0);  // normalise std would refuse it: no answer
}

TEST(Studies, TheShareOfLostUpdatesIsMeasuredOnRepeatZerosFirstStep) {
  const Dataset iris = load_embedded_iris();
  MlpStudyOptions options;
  options.seed = 0;
  options.repeats = 2;
  options.training.epochs = 3;
  const MlpStudyResult exercise = mlp_study(iris, options);
  EXPECT_LT(exercise.lost_update_share, 0.05);
  options.training.lr = 1e-12;
  const MlpStudyResult tiny = mlp_study(iris, options);
  EXPECT_GT(tiny.lost_update_share, 0.9);
  EXPECT_LE(tiny.lost_update_share, 1.0);
  // The probe draws from a generator of its own: the study's models are those without it.
  options.training.lr = 0.01;
  EXPECT_EQ(mlp_study(iris, options).runs[1].final_loss, exercise.runs[1].final_loss);
  options.training.epochs = 0;
  EXPECT_EQ(mlp_study(iris, options).lost_update_share, 0.0);
}

TEST(Studies, FactoriseStudyRefusesARankTheDataCannotHave) {
  FactoriseStudyOptions options;
  options.gd.rank = 4;
  try {
    factorise_study(load_embedded_iris(), options);
    FAIL() << "no exception";
  } catch (const OptionError& e) {
    EXPECT_EQ(e.option(), "rank");
    EXPECT_EQ(std::string(e.what()),
              "factorise_study: rank 4 must be < min(rows, columns) = 4 of embedded:iris.data (150 x 4)");
  }
}

// Each rule is one function (labrun/options.hpp), and each study names the field it refuses, so
// that a caller can say it in its own words (the command: its option's name).
TEST(Studies, EachStudyNamesTheFieldOfTheOptionItRefuses) {
  const Dataset iris = load_embedded_iris();
  const auto field_of = [](const std::function<void()>& call) -> std::string {
    try {
      call();
    } catch (const OptionError& e) {
      return e.function() + " " + e.option();
    }
    return "nothing refused";
  };
  FactoriseStudyOptions factorise;
  EXPECT_EQ(field_of([&] { check_options(iris, factorise); }), "nothing refused");
  factorise.gd.record_every = -1;
  EXPECT_EQ(field_of([&] { check_options(iris, factorise); }), "factorise_study record_every");
  factorise = {};
  factorise.dtype = Dtype::float32;
  factorise.gd.lr = 1e39;  // beyond float32, fine in float64
  EXPECT_EQ(field_of([&] { check_options(iris, factorise); }), "factorise_study lr");
  factorise.dtype = Dtype::float64;
  EXPECT_EQ(field_of([&] { check_options(iris, factorise); }), "nothing refused");
  factorise.streaming = Streaming::always;
  factorise.normalise = Normalise::std;
  EXPECT_EQ(field_of([&] { check_options(iris, factorise); }), "factorise_study streaming");

  MlpStudyOptions mlp;
  EXPECT_EQ(field_of([&] { check_options(iris, mlp); }), "nothing refused");
  mlp.train_size = 150;
  EXPECT_EQ(field_of([&] { check_options(iris, mlp); }), "mlp_study train_size");
  mlp = {};
  mlp.resamples = kMaxResamples + 1;
  EXPECT_EQ(field_of([&] { check_options(iris, mlp); }), "mlp_study resamples");
  mlp = {};
  mlp.training.lr = 1e-50;  // 0 in float32, where the MLP trains
  EXPECT_EQ(field_of([&] { mlp_study(iris, mlp); }), "mlp_study lr");

  // The exercise checks both parts before either starts, and says which refused.
  ExerciseOptions exercise;
  exercise.mlp.hidden = 0;
  bool factorised = false;
  ExerciseHooks hooks;
  hooks.on_factorised = [&](const FactoriseStudyResult&) { factorised = true; };
  EXPECT_EQ(field_of([&] { labrun::exercise(iris, exercise, hooks); }), "mlp_study hidden");
  EXPECT_FALSE(factorised);
  exercise = {};
  exercise.factorise.gd.rank = 4;
  EXPECT_EQ(field_of([&] { labrun::exercise(iris, exercise, hooks); }), "factorise_study rank");
}

TEST(Studies, MlpStudyRunsEitherEngineOnTheSameDraws) {
  const Dataset iris = load_embedded_iris();
  MlpStudyOptions options;
  options.seed = 3;
  options.repeats = 4;
  options.engine = Engine::sequential;
  const MlpStudyResult sequential = mlp_study(iris, options);
  // Repeat r is train_mlp on the exercise's shuffle with the r-th draw of W1, W2: the same as by hand.
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(3);
  const MlpSplit split = prepare_split(iris, RowShuffler(3).permutation(150), Normalise::var, 100);
  for (std::size_t r = 0; r < 4; ++r) {
    const MlpResult by_hand = train_mlp(split, init_params(4, 12, 3, generator), {});
    EXPECT_EQ(sequential.runs[r].final_loss, by_hand.final_loss) << "repeat " << r;
  }
  EXPECT_EQ(sequential.classes, split.classes);
  EXPECT_EQ(sequential.train_rows, 100);
  EXPECT_EQ(sequential.val_rows, 50);
  EXPECT_EQ(sequential.diverged_runs, 0);
  options.engine = Engine::batched;
  const MlpStudyResult batched = mlp_study(iris, options);
  ASSERT_EQ(batched.runs.size(), 4u);
  for (std::size_t r = 0; r < 4; ++r) {
    // Another order of sums: mlp_test.cpp's BatchedEqualsSequential derives the bound; here, that
    // the batched study trained the same models (far closer than two different draws).
    EXPECT_NEAR(batched.runs[r].final_loss, sequential.runs[r].final_loss, 1e-2 * sequential.runs[r].final_loss);
  }
  options.shuffle = Shuffle::per_repeat;
  const MlpStudyResult reshuffled = mlp_study(iris, options);
  EXPECT_EQ(reshuffled.runs[0].final_loss, batched.runs[0].final_loss);  // the first shuffle is the same
  EXPECT_NE(reshuffled.runs[1].final_loss, batched.runs[1].final_loss);
}

// Runs equal field by field: the same computation on the same kernel, bit for bit.
void expect_same_run(const MlpResult& a, const MlpResult& b, const std::string& where) {
  EXPECT_EQ(a.final_loss, b.final_loss) << where;
  EXPECT_EQ(a.train_correct, b.train_correct) << where;
  EXPECT_EQ(a.val_correct, b.val_correct) << where;
  EXPECT_EQ(a.diverged_at_epoch, b.diverged_at_epoch) << where;
}

TEST(Studies, AModelIsTheSameInAnyChunkAndAnyShare) {
  const Dataset iris = load_embedded_iris();
  for (const Shuffle shuffle : {Shuffle::once, Shuffle::per_repeat}) {
    MlpStudyOptions options;
    options.seed = 5;
    options.repeats = 11;
    options.training.epochs = 30;
    options.shuffle = shuffle;
    const MlpStudyResult whole = mlp_study(iris, options);  // one chunk
    options.chunk = 4;                                      // 4 + 4 + 3
    std::vector<std::pair<int64_t, MlpResult>> handed;
    std::vector<Progress> progress;
    MlpStudyHooks hooks;
    hooks.on_run = [&](int64_t repeat, MlpResult&& run) { handed.emplace_back(repeat, std::move(run)); };
    hooks.on_progress = [&](const Progress& p) { progress.push_back(p); };
    const MlpStudyResult chunked = mlp_study(iris, options, hooks);
    EXPECT_TRUE(chunked.runs.empty());  // handed over, not kept
    ASSERT_EQ(handed.size(), 11u);
    for (std::size_t r = 0; r < 11; ++r) {
      EXPECT_EQ(handed[r].first, static_cast<int64_t>(r));
      expect_same_run(handed[r].second, whole.runs[r], "chunked, repeat " + std::to_string(r));
    }
    ASSERT_EQ(progress.size(), 3u);
    EXPECT_EQ(progress.back().done, 11);
    EXPECT_EQ(progress.back().total, 11);
    // The summary of the handed-over runs is the summary of the kept ones.
    EXPECT_EQ(chunked.val_accuracy.mean, whole.val_accuracy.mean);
    EXPECT_EQ(chunked.final_loss.q3, whole.final_loss.q3);
    // A share: repeats 6 to 9 are the whole study's repeats 6 to 9.
    options.first_repeat = 6;
    options.end_repeat = 9;
    const MlpStudyResult share = mlp_study(iris, options);
    ASSERT_EQ(share.runs.size(), 3u);
    for (std::size_t i = 0; i < 3; ++i) expect_same_run(share.runs[i], whole.runs[6 + i], "share");
    options.first_repeat = 10;
    options.end_repeat = 12;
    EXPECT_THROW(mlp_study(iris, options), std::invalid_argument);
  }
}

TEST(Studies, ThreadsTrainTheSameModels) {
  // Pieces of a chunk on two threads (each with libtorch's intra-op threads off), against one.
  const Dataset iris = load_embedded_iris();
  const int before = at::get_num_threads();
  for (const Engine engine : {Engine::batched, Engine::sequential}) {
    MlpStudyOptions options;
    options.seed = 8;
    options.repeats = engine == Engine::batched ? 300 : 70;
    options.training.epochs = 20;
    options.training.record_every = 7;
    options.engine = engine;
    at::set_num_threads(1);
    const MlpStudyResult one = mlp_study(iris, options);
    at::set_num_threads(2);
    const MlpStudyResult two = mlp_study(iris, options);
    EXPECT_EQ(at::get_num_threads(), 2);  // the caller's setting is left as it was
    ASSERT_EQ(two.runs.size(), one.runs.size());
    for (std::size_t r = 0; r < one.runs.size(); ++r) {
      expect_same_run(two.runs[r], one.runs[r], std::string(to_string(engine)) + " repeat " + std::to_string(r));
      ASSERT_EQ(two.runs[r].loss_curve.size(), one.runs[r].loss_curve.size());
      EXPECT_EQ(two.runs[r].loss_curve.back().loss, one.runs[r].loss_curve.back().loss);
    }
  }
  at::set_num_threads(before);
}

TEST(Studies, CheckpointsAreWhatShorterRunsReport) {
  const Dataset iris = load_embedded_iris();
  for (const Engine engine : {Engine::sequential, Engine::batched}) {
    MlpStudyOptions options;
    options.seed = 2;
    options.repeats = 3;
    options.engine = engine;
    options.training.epochs = 40;
    options.training.lr = 0.5;
    options.training.checkpoints = {0, 1, 7, 40};
    const MlpStudyResult long_run = mlp_study(iris, options);
    for (const int64_t epochs : {0, 1, 7, 40}) {
      MlpStudyOptions shorter = options;
      shorter.training.epochs = epochs;
      shorter.training.checkpoints.clear();
      const MlpStudyResult short_run = mlp_study(iris, shorter);
      for (std::size_t r = 0; r < 3; ++r) {
        const auto& c = long_run.runs[r].checkpoints;
        const auto it = std::find_if(c.begin(), c.end(), [&](const MlpCheckpoint& p) { return p.epochs == epochs; });
        ASSERT_NE(it, c.end());
        const MlpResult& s = short_run.runs[r];
        const std::string where = std::string(to_string(engine)) + ", epochs " + std::to_string(epochs);
        EXPECT_EQ(it->loss, s.final_loss) << where;
        EXPECT_EQ(it->train_correct, s.train_correct) << where;
        EXPECT_EQ(it->val_correct, s.val_correct) << where;
        EXPECT_EQ(it->val_accuracy, s.val_accuracy) << where;
        EXPECT_EQ(it->diverged, s.diverged_at_epoch.has_value()) << where;
      }
    }
    MlpStudyOptions bad = options;
    bad.training.checkpoints = {7, 1};
    EXPECT_THROW(mlp_study(iris, bad), std::invalid_argument);
    bad.training.checkpoints = {41};
    EXPECT_THROW(mlp_study(iris, bad), std::invalid_argument);
  }
  // A diverging run: checkpoints after the divergence say so, as the shorter runs do.
  MlpStudyOptions wild;
  wild.repeats = 2;
  wild.training.epochs = 30;
  wild.training.lr = 1e30;
  wild.training.checkpoints = {0, 30};
  const MlpStudyResult diverged = mlp_study(iris, wild);
  EXPECT_FALSE(diverged.runs[0].checkpoints.front().diverged);
  EXPECT_TRUE(diverged.runs[0].checkpoints.back().diverged);
}

TEST(Studies, BatchedFactorisationsAreTheSingleRunsOfTheirSeeds) {
  const torch::Tensor A = centre_columns(load_embedded_iris().features);
  for (const LossForm form : {LossForm::residual, LossForm::gram}) {
    for (const Reduction reduction : {Reduction::sum, Reduction::mean}) {
      FactoriseOptions options;
      options.epochs = 1000;
      options.form = form;
      options.reduction = reduction;
      options.lr = reduction == Reduction::sum ? 0.01 : 1.0;
      options.record_every = 250;
      options.checkpoints = {0, 100, 1000};
      const std::vector<uint64_t> seeds = {0, 1, 2, 77};
      const std::vector<FactoriseResult> batched = gd_factorise_batched(A, options, seeds);
      ASSERT_EQ(batched.size(), seeds.size());
      for (std::size_t s = 0; s < seeds.size(); ++s) {
        FactoriseOptions single_options = options;
        single_options.seed = seeds[s];
        const FactoriseResult single = gd_factorise_ad(A, single_options);
        const std::string where =
            std::string(to_string(form)) + "/" + to_string(reduction) + ", seed " + std::to_string(seeds[s]);
        // The same draws and formulas; the batched sums may add in another order. Gradient descent
        // here contracts towards the optimum, so rounding does not grow: 1e-9 relative holds with
        // margin (seen: below 1e-13).
        EXPECT_NEAR(batched[s].loss, single.loss, 1e-9 * single.loss) << where;
        EXPECT_EQ(batched[s].epochs_run, single.epochs_run) << where;
        ASSERT_EQ(batched[s].loss_curve.size(), single.loss_curve.size()) << where;
        EXPECT_NEAR(batched[s].loss_curve[0].loss, single.loss_curve[0].loss, 1e-12 * single.loss_curve[0].loss);
        ASSERT_EQ(batched[s].checkpoints.size(), 3u);
        EXPECT_NEAR(batched[s].checkpoints[1].loss, single.checkpoints[1].loss, 1e-9 * single.checkpoints[1].loss);
        EXPECT_NEAR((batched[s].U - single.U).abs().max().item<double>(), 0.0, 1e-6) << where;
      }
    }
  }
  // A seed that diverges stops alone; the others train on.
  FactoriseOptions wild;
  wild.epochs = 200;
  wild.lr = 0.02;  // seeds 2, 3 and 5 converge, the others diverge at epoch 9 or 10
  const std::vector<FactoriseResult> mixed = gd_factorise_batched(A, wild, {0, 1, 2, 3, 4, 5, 6, 7});
  EXPECT_TRUE(mixed[0].diverged());
  EXPECT_FALSE(mixed[2].diverged());
  for (std::size_t s = 0; s < mixed.size(); ++s) {
    FactoriseOptions single = wild;
    single.seed = s;
    const FactoriseResult alone = gd_factorise_ad(A, single);
    EXPECT_EQ(mixed[s].diverged_at_epoch, alone.diverged_at_epoch) << "seed " << s;
    EXPECT_EQ(mixed[s].epochs_run, alone.epochs_run) << "seed " << s;
    if (!alone.diverged()) {
      EXPECT_NEAR(mixed[s].loss, alone.loss, 1e-9 * alone.loss) << "seed " << s;
    }
  }
}

// float32 packs hold 16 seeds (float64's 8): 20 seeds make a full pack and a partial one. Both runs
// sum in float32 in another order; the loss contracts towards the optimum (rounding does not grow),
// so they agree within a few hundred float32 roundings of the loss: 1e-4 relative.
TEST(Studies, BatchedFactorisationsInFloat32AreTheSingleRuns) {
  const torch::Tensor A = centre_columns(load_embedded_iris().features).to(torch::kFloat32);
  FactoriseOptions options;
  options.epochs = 300;
  std::vector<uint64_t> seeds(20);
  std::iota(seeds.begin(), seeds.end(), uint64_t{100});
  const std::vector<FactoriseResult> batched = gd_factorise_batched(A, options, seeds);
  for (std::size_t s = 0; s < seeds.size(); ++s) {
    FactoriseOptions single = options;
    single.seed = seeds[s];
    const FactoriseResult alone = gd_factorise_ad(A, single);
    EXPECT_NEAR(batched[s].loss, alone.loss, 1e-4 * alone.loss) << "seed " << seeds[s];
    EXPECT_EQ(batched[s].U.scalar_type(), torch::kFloat32);
  }
}

TEST(Studies, FactorisationCheckpointsAreWhatShorterRunsReport) {
  const torch::Tensor A = centre_columns(load_embedded_iris().features);
  FactoriseOptions options;
  options.seed = 4;
  options.epochs = 50;
  options.checkpoints = {0, 10, 50};
  const FactoriseResult long_run = gd_factorise_ad(A, options);
  ASSERT_EQ(long_run.checkpoints.size(), 3u);
  for (const FactoriseCheckpoint& c : long_run.checkpoints) {
    FactoriseOptions shorter = options;
    shorter.epochs = c.epochs;
    shorter.checkpoints.clear();
    EXPECT_EQ(c.loss, gd_factorise_ad(A, shorter).loss) << c.epochs << " epochs";
    EXPECT_FALSE(c.diverged);
  }
  // Diverging at some epoch: every checkpoint from there on is diverged, as the shorter runs are.
  options.lr = 10.0;
  const FactoriseResult wild = gd_factorise_ad(A, options);
  ASSERT_TRUE(wild.diverged());
  EXPECT_TRUE(wild.checkpoints.back().diverged);
  options.checkpoints = {60};
  EXPECT_THROW(gd_factorise_ad(A, options), std::invalid_argument);
}

TEST(Studies, MlpStudyRefusesWhatCannotTrain) {
  const Dataset iris = load_embedded_iris();
  MlpStudyOptions options;
  options.train_size = 150;
  EXPECT_THROW(mlp_study(iris, options), std::invalid_argument);
  options = {};
  options.repeats = 0;
  EXPECT_THROW(mlp_study(iris, options), std::invalid_argument);
  options = {};
  options.hidden = 0;
  EXPECT_THROW(mlp_study(iris, options), std::invalid_argument);
  // Work beyond any machine's memory is refused before it starts (issue 16, kind 4).
  options = {};
  options.hidden = int64_t{1} << 40;
  EXPECT_THROW(mlp_study(iris, options), ResourceError);
}

TEST(Studies, MemoryEstimatesGrowWithTheWork) {
  const Dataset iris = load_embedded_iris();
  MlpStudyOptions small;
  MlpStudyOptions more = small;
  more.repeats = 10 * small.repeats;
  EXPECT_GT(estimate(iris, more).bytes, 5.0 * estimate(iris, small).bytes);
  more = small;
  more.training.record_every = 1;
  EXPECT_GT(estimate(iris, more).bytes, estimate(iris, small).bytes);
  // The batched engine holds a chunk of models at once, the sequential one a few (32 a thread):
  // beyond a chunk, the repeats add only the three figures each run leaves for the summary.
  MlpStudyOptions batched = small, sequential = small;
  batched.repeats = sequential.repeats = 1000;
  sequential.engine = Engine::sequential;
  EXPECT_GT(estimate(iris, batched).bytes, 2.0 * estimate(iris, sequential).bytes);
  MlpStudyOptions chunk = batched, many = batched;
  chunk.repeats = 2000;  // two chunks
  many.repeats = 100000;
  const double per_run = (estimate(iris, many, false).bytes - estimate(iris, chunk, false).bytes) / 98000.0;
  EXPECT_NEAR(per_run, 3.0 * 8.0, 1e-9);
  MlpStudyOptions small_chunk = batched;
  small_chunk.chunk = 64;
  EXPECT_LT(estimate(iris, small_chunk).bytes, 0.5 * estimate(iris, batched).bytes);

  FactoriseStudyOptions factorise;
  FactoriseStudyOptions with_pca = factorise;
  with_pca.pca = true;
  EXPECT_GT(estimate(150, 4, with_pca).bytes, estimate(150, 4, factorise).bytes);
  // In memory a matrix costs copies of itself; streamed, its Gram matrix, blocks and factors.
  factorise.streaming = Streaming::never;
  EXPECT_GT(estimate(50000, 2000, factorise).bytes, 50000.0 * 2000.0 * 8.0);
  factorise.streaming = Streaming::automatic;
  EXPECT_LT(estimate(50000, 2000, factorise).bytes, 0.5 * 50000.0 * 2000.0 * 4.0);
}

TEST(Studies, DataBeyondTheTrainingDtypeIsADataError) {
  Dataset iris = load_embedded_iris();
  iris.features = iris.features * 1e39;  // finite in float64, not in float32
  EXPECT_THROW(mlp_study(iris, MlpStudyOptions{}), DataError);
  FactoriseStudyOptions f32;
  f32.dtype = Dtype::float32;
  EXPECT_THROW(factorise_study(iris, f32), DataError);
  EXPECT_NO_THROW(factorise_study(iris, FactoriseStudyOptions{}));
}

TEST(Studies, ConstantDataHasNoPrincipalSubspaceToCompareWith) {
  Dataset constant = load_embedded_iris();
  constant.features = torch::ones_like(constant.features);
  FactoriseStudyOptions options;
  options.pca = true;
  EXPECT_THROW(factorise_study(constant, options), DataError);
  options.pca = false;  // factorising it is fine: the loss goes to 0
  EXPECT_NO_THROW(factorise_study(constant, options));
}

TEST(Studies, TheExerciseDrawsBothPartsFromOneStream) {
  const Dataset iris = load_embedded_iris();
  ExerciseOptions options;
  options.seed = 5;
  options.mlp.repeats = 2;
  options.mlp.engine = Engine::sequential;
  const ExerciseResult whole = exercise(iris, options);
  // By hand: one generator, U and V first, then each repeat's W1 and W2.
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(5);
  FactoriseOptions gd;
  gd.generator = generator;
  EXPECT_EQ(whole.factorise.gd.loss, gd_factorise_ad(centre_columns(iris.features), gd).loss);
  const MlpSplit split = prepare_split(iris, RowShuffler(5).permutation(150), Normalise::var, 100);
  for (std::size_t r = 0; r < 2; ++r) {
    EXPECT_EQ(whole.mlp.runs[r].final_loss, train_mlp(split, init_params(4, 12, 3, generator), {}).final_loss);
  }
  EXPECT_TRUE(whole.factorise.comparison.has_value());  // PCA is part of the exercise
  // Streamed: the factorisation handed over before the MLP starts, the runs as they finish, none kept.
  std::vector<std::string> order;
  std::vector<double> losses;
  ExerciseHooks hooks;
  hooks.on_factorised = [&](const FactoriseStudyResult& f) {
    order.push_back("factorised");
    EXPECT_EQ(f.gd.loss, whole.factorise.gd.loss);
  };
  hooks.mlp.on_start = [&](const MlpStudyResult&) { order.push_back("mlp"); };
  hooks.mlp.on_run = [&](int64_t, MlpResult&& run) { losses.push_back(run.final_loss); };
  const ExerciseResult streamed = exercise(iris, options, hooks);
  EXPECT_EQ(order, (std::vector<std::string>{"factorised", "mlp"}));
  EXPECT_EQ(losses, (std::vector<double>{whole.mlp.runs[0].final_loss, whole.mlp.runs[1].final_loss}));
  EXPECT_TRUE(streamed.mlp.runs.empty());
  EXPECT_EQ(streamed.mlp.val_accuracy.mean, whole.mlp.val_accuracy.mean);
  EXPECT_LT(estimate(iris, options, /*keeps_runs=*/false).bytes, estimate(iris, options).bytes + 1.0);
}

}  // namespace
}  // namespace labrun
