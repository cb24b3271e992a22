// The streamed factorisation study (labrun/studies.hpp, Streaming) against the in-memory one.
//
// Bounds: both runs start from the same draws and take the same steps; only the order of their
// sums differs (blocks of rows against one product), so their iterates drift apart as
// tolerance.hpp derives, drift(E, m, u) over E epochs of sums of up to m products. The truncated
// SVD and PCA come from the Gram matrix's eigendecomposition against the data's SVD: a singular
// value s_i from the eigenvalue s_i^2, whose absolute error is that of the Gram matrix's entries
// (sums of m products) and of the eigensolver (n u ||C||), so |ds_i| <= (sqrt(m) + n) lambda u
// s_1^2 / s_i. The scores and angles follow their subspace, off by that error over the gap
// s_r^2 - s_{r+1}^2, which the test data keeps wide.

#include "labrun/studies.hpp"

#include "tolerance.hpp"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <utility>
#include <vector>

namespace labrun {
namespace {

// m x n values with a non-zero mean and singular values falling by a factor 0.8 a column (wide
// gaps between the leading ones), reproducible from the seed.
Dataset random_data(int64_t m, int64_t n, uint64_t seed) {
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  const torch::Tensor scale = torch::pow(0.8, torch::arange(n, torch::kFloat64));
  Dataset data;
  data.features = torch::randn({m, n}, generator, torch::kFloat64) * scale + 5.0;
  data.source = "random";
  for (int64_t c = 0; c < n; ++c) {
    data.feature_columns.push_back(c);
    data.feature_names.push_back("column " + std::to_string(c));
  }
  return data;
}

double max_abs(const torch::Tensor& t) { return t.abs().max().item<double>(); }

::testing::AssertionResult close(const torch::Tensor& actual, const torch::Tensor& expected, double relative) {
  const double scale = max_abs(expected);
  const double difference = max_abs(actual.to(torch::kFloat64) - expected.to(torch::kFloat64));
  if (difference <= relative * scale) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "largest difference " << difference << " exceeds " << relative << " x "
                                       << scale;
}

FactoriseStudyOptions options_for(LossForm form, Dtype dtype, Streaming streaming) {
  FactoriseStudyOptions options;
  options.gd.rank = 3;
  options.gd.epochs = 200;
  options.gd.reduction = Reduction::mean;
  options.gd.lr = 2.0;
  options.gd.form = form;
  options.gd.seed = 11;
  options.gd.record_every = 50;
  options.gd.checkpoints = {0, 100, 200};
  options.dtype = dtype;
  options.pca = true;
  options.streaming = streaming;
  return options;
}

TEST(Streaming, TheStreamedStudyIsTheInMemoryOne) {
  const int64_t m = 400, n = 30;
  const Dataset data = random_data(m, n, 3);
  for (const Dtype dtype : {Dtype::float64, Dtype::float32}) {
    for (const LossForm form : {LossForm::residual, LossForm::gram}) {
      SCOPED_TRACE(std::string(to_string(dtype)) + ", " + to_string(form));
      const bool f32 = dtype == Dtype::float32;
      const double u = f32 ? test::kRoundoffF32 : test::kRoundoffF64;
      const FactoriseStudyResult memory = factorise_study(data, options_for(form, dtype, Streaming::never));
      const FactoriseStudyResult streamed = factorise_study(data, options_for(form, dtype, Streaming::always));
      ASSERT_FALSE(memory.streamed);
      ASSERT_TRUE(streamed.streamed);
      EXPECT_FALSE(streamed.A.defined());
      EXPECT_FALSE(streamed.svd.reconstruction.defined());

      // Training: the iterates drift apart by rounding only.
      const double drift = test::drift(200, m, u);
      const double norm_A =
          std::sqrt(std::accumulate(memory.svd.singular_values.begin(), memory.svd.singular_values.end(), 0.0,
                                    [](double sum, double s) { return sum + s * s; }));
      EXPECT_TRUE(close(streamed.gd.U, memory.gd.U, drift));
      EXPECT_TRUE(close(streamed.gd.V, memory.gd.V, drift));
      EXPECT_TRUE(test::within_relative(streamed.gd.loss, memory.gd.loss,
                                        test::factorisation_loss_tolerance(drift, norm_A, memory.gd.loss), f32));
      EXPECT_EQ(streamed.gd.epochs_run, memory.gd.epochs_run);
      EXPECT_FALSE(streamed.gd.diverged());
      ASSERT_EQ(streamed.gd.loss_curve.size(), memory.gd.loss_curve.size());
      for (std::size_t i = 0; i < memory.gd.loss_curve.size(); ++i) {
        EXPECT_EQ(streamed.gd.loss_curve[i].epoch, memory.gd.loss_curve[i].epoch);
        // The gram form's epoch loss is a difference of terms of ||A||^2 (factorise.hpp).
        const double cancellation = form == LossForm::gram ? norm_A * norm_A / (m * n) * 8.0 * u : 0.0;
        EXPECT_NEAR(streamed.gd.loss_curve[i].loss, memory.gd.loss_curve[i].loss,
                    cancellation + 10.0 * drift * memory.gd.loss_curve[i].loss);
      }
      ASSERT_EQ(streamed.gd.checkpoints.size(), 3u);
      for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(streamed.gd.checkpoints[i].epochs, memory.gd.checkpoints[i].epochs);
        EXPECT_TRUE(test::within_relative(
            streamed.gd.checkpoints[i].loss, memory.gd.checkpoints[i].loss,
            test::factorisation_loss_tolerance(drift, norm_A, memory.gd.checkpoints[i].loss), f32));
      }
      // The last checkpoint is the result's loss, computed the same way.
      EXPECT_EQ(streamed.gd.checkpoints.back().loss, streamed.gd.loss);

      // The truncated SVD and PCA from the Gram matrix (the Gram matrix in the training type).
      const double s1 = memory.svd.singular_values.front();
      const double spectral = test::kLambda * (std::sqrt(static_cast<double>(m)) + n) * u;
      ASSERT_EQ(streamed.svd.singular_values.size(), memory.svd.singular_values.size());
      for (std::size_t i = 0; i < memory.svd.singular_values.size(); ++i) {
        const double s = memory.svd.singular_values[i];
        EXPECT_NEAR(streamed.svd.singular_values[i], s, spectral * s1 * s1 / s) << "singular value " << i;
      }
      EXPECT_TRUE(test::within_relative(streamed.svd.loss, memory.svd.loss, 100.0 * spectral, f32));
      // The factors of the SVD up to each component's sign.
      const torch::Tensor signs = (streamed.svd.U * memory.svd.U).sum(0).sign();
      EXPECT_TRUE(close(streamed.svd.U * signs, memory.svd.U, 1e3 * spectral));
      EXPECT_TRUE(close(streamed.svd.Vh * signs.unsqueeze(1), memory.svd.Vh, 1e3 * spectral));
      ASSERT_TRUE(streamed.pca && memory.pca);
      EXPECT_TRUE(close(streamed.pca->mean, memory.pca->mean, 10.0 * test::kRoundoffF64 * m));
      EXPECT_TRUE(close(streamed.pca->axes, memory.pca->axes, 1e3 * spectral));
      EXPECT_TRUE(close(streamed.pca->scores, memory.pca->scores, 1e3 * spectral));
      ASSERT_TRUE(streamed.comparison && memory.comparison);
      for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_NEAR(streamed.comparison->principal_angles[i], memory.comparison->principal_angles[i],
                    1e3 * (spectral + drift));
      }
      EXPECT_TRUE(streamed.relative_gap().has_value());
    }
  }
}

TEST(Streaming, EachBlockIsReadAndItsPagesReleasedOnce) {
  // A pass reads the rows in order and hands every row back once (an npy file's pages are
  // dropped then: dataset_test's ReadsALargeNpyWithoutCopyingIt). 1024 columns make blocks of 1024
  // rows: three a pass.
  const int64_t m = 2500;
  Dataset data = random_data(m, 1024, 1);
  std::vector<std::pair<int64_t, int64_t>> released;
  data.release_rows = [&released](int64_t begin, int64_t end) { released.emplace_back(begin, end); };
  FactoriseStudyOptions options = options_for(LossForm::gram, Dtype::float64, Streaming::always);
  options.gd.epochs = 4;
  options.gd.checkpoints.clear();
  factorise_study(data, options);
  ASSERT_FALSE(released.empty());
  // Passes: the mean, the Gram matrix, the decomposition, one an epoch, the final loss.
  int64_t covered = 0, passes = 0;
  for (const auto& [begin, end] : released) {
    EXPECT_EQ(begin, covered % m);
    EXPECT_LT(begin, end);
    covered += end - begin;
    if (end == m) ++passes;
  }
  EXPECT_EQ(covered, m * passes);
  EXPECT_EQ(passes, 3 + 4 + 1);
  EXPECT_EQ(released.size(), 3u * static_cast<std::size_t>(passes));
}

TEST(Streaming, WhichMatricesStream) {
  FactoriseStudyOptions options;
  EXPECT_FALSE(streams(150, 4, options));  // Iris: in memory, the exercise's way
  EXPECT_TRUE(streams(kStreamedElements / 64, 64, options));
  EXPECT_FALSE(streams(kStreamedElements / 64 - 1, 64, options));
  EXPECT_FALSE(streams(64, kStreamedElements / 64, options));  // wide
  EXPECT_FALSE(streams(int64_t{1} << 20, kMaxStreamedColumns + 1, options));
  options.streaming = Streaming::always;
  EXPECT_TRUE(streams(150, 4, options));
  EXPECT_FALSE(streams(4, 150, options));
  options.streaming = Streaming::never;
  EXPECT_FALSE(streams(kStreamedElements, 64, options));
  EXPECT_STREQ(to_string(Streaming::automatic), "auto");
  EXPECT_STREQ(to_string(Streaming::always), "always");
  EXPECT_STREQ(to_string(Streaming::never), "never");
  // The memory a streamed study needs does not grow with the matrix's rows beyond its factors.
  options.streaming = Streaming::always;
  const double small = estimate(10000, 1000, options).bytes;
  const double large = estimate(1000000, 1000, options).bytes;
  EXPECT_LT(large - small, 990000.0 * 1000.0 * 8.0 * 0.1);
}

TEST(Streaming, RefusesWhatCannotStreamAndBadDataAsTheInMemoryStudyDoes) {
  FactoriseStudyOptions options = options_for(LossForm::residual, Dtype::float64, Streaming::always);
  options.gd.epochs = 5;
  options.gd.checkpoints.clear();
  // Wide data cannot stream.
  try {
    factorise_study(random_data(10, 20, 1), options);
    FAIL() << "no exception";
  } catch (const OptionError& e) {
    EXPECT_EQ(e.option(), "streaming");
    EXPECT_NE(std::string(e.what()).find("streaming always needs at least as many rows as columns"), std::string::npos)
        << e.what();
  }
  // Constant data: no principal subspace to compare with.
  Dataset constant = random_data(50, 5, 1);
  constant.features = torch::ones_like(constant.features);
  EXPECT_THROW(factorise_study(constant, options), DataError);
  // Beyond float32.
  Dataset huge = random_data(50, 5, 1);
  huge.features = huge.features * 1e39;
  options.dtype = Dtype::float32;
  EXPECT_THROW(factorise_study(huge, options), DataError);
  // Squares beyond float32 while the values fit: the loss cannot be computed.
  huge.features = random_data(50, 5, 1).features * 1e19;
  EXPECT_THROW(factorise_study(huge, options), DataError);
  // Bad options, as gd_factorise_ad refuses them.
  options.dtype = Dtype::float64;
  options.gd.lr = -1.0;
  EXPECT_THROW(factorise_study(random_data(50, 5, 1), options), OptionError);
}

TEST(Streaming, DivergesWhereTheInMemoryStudyDoes) {
  const Dataset data = random_data(200, 10, 5);
  FactoriseStudyOptions options = options_for(LossForm::residual, Dtype::float64, Streaming::never);
  options.gd.reduction = Reduction::sum;
  options.gd.lr = 1.0;
  options.gd.epochs = 100;
  options.gd.checkpoints = {0, 100};
  const FactoriseStudyResult memory = factorise_study(data, options);
  options.streaming = Streaming::always;
  const FactoriseStudyResult streamed = factorise_study(data, options);
  ASSERT_TRUE(memory.gd.diverged());
  EXPECT_EQ(streamed.gd.diverged_at_epoch, memory.gd.diverged_at_epoch);
  EXPECT_EQ(streamed.gd.epochs_run, memory.gd.epochs_run);
  EXPECT_FALSE(streamed.comparison.has_value());
  EXPECT_TRUE(streamed.gd.checkpoints.back().diverged);
}

}  // namespace
}  // namespace labrun
