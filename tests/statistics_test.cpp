// labrun/statistics.hpp: the summary's figures, the bootstrap's intervals and the comparisons.
// Figures marked "scipy 1.10" were computed by Debian's python3-scipy on the same values
// (tests/statistics_test.py compares whole studies with scipy and numpy as well).
#include "labrun/statistics.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <stdexcept>
#include <vector>

namespace labrun {
namespace {

TEST(Statistics, SummaryFigures) {
  const Summary s = summarise({4.0, 1.0, 3.0, 2.0});
  EXPECT_EQ(s.mean, 2.5);
  EXPECT_EQ(s.median, 2.5);
  EXPECT_EQ(s.min, 1.0);
  EXPECT_EQ(s.max, 4.0);
  EXPECT_DOUBLE_EQ(s.std, std::sqrt(5.0 / 3.0));  // n - 1
  const Summary one = summarise({7.0});
  EXPECT_EQ(one.median, 7.0);
  EXPECT_EQ(one.iqm, 7.0);
  EXPECT_TRUE(std::isnan(one.std));
  EXPECT_TRUE(std::isnan(summarise({}).mean));
  EXPECT_EQ(summarise({}).n, 0);
  // Quartiles as numpy.quantile([1, 2, 3, 4], [0.25, 0.75]) = 1.75, 3.25.
  EXPECT_EQ(s.n, 4);
  EXPECT_DOUBLE_EQ(s.q1, 1.75);
  EXPECT_DOUBLE_EQ(s.q3, 3.25);
  EXPECT_EQ(one.q1, 7.0);
  // The mean's 95% interval: 2.5 -+ t(0.975, 3) sqrt(5/3) / 2.
  const double half = 3.182446305 * std::sqrt(5.0 / 3.0) / 2.0;
  EXPECT_NEAR(s.ci95_low, 2.5 - half, 1e-9);
  EXPECT_NEAR(s.ci95_high, 2.5 + half, 1e-9);
  EXPECT_TRUE(std::isnan(one.ci95_low));
  // A NaN leaves nothing to order: every figure is NaN, n stays.
  const Summary with_nan = summarise({1.0, std::nan(""), 3.0});
  EXPECT_EQ(with_nan.n, 3);
  EXPECT_TRUE(std::isnan(with_nan.min) && std::isnan(with_nan.median) && std::isnan(with_nan.mean));
  EXPECT_TRUE(std::isnan(with_nan.iqm));
}

TEST(Statistics, StudentsTQuantile) {
  // Tables (scipy.stats.t.ppf(0.975, df)): the table's end, the expansion's start, and beyond.
  EXPECT_NEAR(student_t975(1), 12.706204736, 1e-9);
  EXPECT_NEAR(student_t975(30), 2.042272456, 1e-9);
  EXPECT_NEAR(student_t975(31), 2.039513446, 1e-6);
  EXPECT_NEAR(student_t975(40), 2.021075390, 1e-6);
  EXPECT_NEAR(student_t975(120), 1.979930405, 1e-7);
  EXPECT_NEAR(student_t975(1000000), 1.959966, 1e-6);
  EXPECT_TRUE(std::isnan(student_t975(0)));
}

// Issue 27: 50 equal values gave mean 0.3499999999999999 and std 5.6e-17 by a naive sum.
TEST(Statistics, EqualValuesGiveThatValueExactly) {
  for (const double v : {0.35, 0.1, 0.7, 1e-300, 12345.678}) {
    const Summary s = summarise(std::vector<double>(50, v), {1000, 7});
    EXPECT_EQ(s.mean, v);
    EXPECT_EQ(s.std, 0.0);
    EXPECT_EQ(s.iqm, v);
    EXPECT_EQ(s.ci95_low, v);
    EXPECT_EQ(s.mean_bootstrap.low, v);
    EXPECT_EQ(s.mean_bootstrap.high, v);
    EXPECT_EQ(s.iqm_bootstrap.high, v);
  }
  // And the mean of values that sum inexactly is the exact mean, rounded once.
  const Summary tenths = summarise(std::vector<double>(10, 0.1));
  EXPECT_EQ(tenths.mean, 0.1);
}

TEST(Statistics, InterquartileMeanIsScipysTrimMean) {
  // scipy.stats.trim_mean(x, 0.25) cuts floor(n / 4) values from each end (scipy 1.10).
  std::vector<double> ten;
  for (int i = 1; i <= 10; ++i) ten.push_back(i);
  EXPECT_DOUBLE_EQ(summarise(ten).iqm, 5.5);
  EXPECT_DOUBLE_EQ(summarise({5, 1, 9, 3, 7, 2, 8}).iqm, 5.0);
  EXPECT_DOUBLE_EQ(summarise({1, 2, 3}).iqm, 2.0);  // floor(3 / 4) = 0: the mean
  EXPECT_DOUBLE_EQ(summarise({1, 2, 3, 100}).iqm, 2.5);
}

// The percentile bootstrap of the mean approaches mean -+ 1.96 s_n / sqrt(n) (s_n: the population
// std, the bootstrap's), by both ways of drawing a resample: index draws (many distinct values) and
// binomial draws per value (few distinct values among many runs). Bound: each endpoint's Monte
// Carlo error at B = 10,000 is 2.7 / sqrt(B) = 0.027 bootstrap standard errors; the normal
// approximation adds skew terms of order 1 / sqrt(n); 0.15 standard errors holds both.
TEST(Statistics, BootstrapIntervalsOfTheMeanByBothDraws) {
  const auto check = [](const std::vector<double>& values, const char* what) {
    SCOPED_TRACE(what);
    const Summary s = summarise(values, {kDefaultResamples, 2026});
    const auto n = static_cast<double>(values.size());
    const double se = s.std * std::sqrt((n - 1.0) / n) / std::sqrt(n);
    EXPECT_NEAR(s.mean_bootstrap.low, s.mean - 1.959964 * se, 0.15 * se);
    EXPECT_NEAR(s.mean_bootstrap.high, s.mean + 1.959964 * se, 0.15 * se);
    EXPECT_LE(s.median_bootstrap.low, s.median);
    EXPECT_GE(s.median_bootstrap.high, s.median);
    EXPECT_LE(s.iqm_bootstrap.low, s.iqm);
    EXPECT_GE(s.iqm_bootstrap.high, s.iqm);
  };
  std::vector<double> continuous, discrete;
  for (int i = 0; i < 300; ++i) continuous.push_back(std::sin(i * 12.9898) * 0.5 + 0.01 * i);
  for (int i = 0; i < 5000; ++i) discrete.push_back(0.02 * ((i * 7919) % 11 + (i * 104729) % 7));
  check(continuous, "300 distinct values: index draws");
  check(discrete, "5000 values of 17 distinct: binomial draws");
}

TEST(Statistics, BootstrapIsSeededAndOptional) {
  std::vector<double> values;
  for (int i = 0; i < 100; ++i) values.push_back(std::cos(i * 1.7));
  const Summary a = summarise(values, {2000, 1}), b = summarise(values, {2000, 1}), c = summarise(values, {2000, 2});
  EXPECT_EQ(a.mean_bootstrap.low, b.mean_bootstrap.low);
  EXPECT_EQ(a.iqm_bootstrap.high, b.iqm_bootstrap.high);
  EXPECT_NE(a.mean_bootstrap.low, c.mean_bootstrap.low);
  const Summary none = summarise(values);
  EXPECT_TRUE(std::isnan(none.mean_bootstrap.low) && std::isnan(none.iqm_bootstrap.high));
  EXPECT_TRUE(std::isnan(summarise({1.0}, {1000, 1}).mean_bootstrap.low));
  EXPECT_THROW(summarise(values, {-1, 0}), std::invalid_argument);
  EXPECT_THROW(summarise(values, {kMaxResamples + 1, 0}), std::invalid_argument);
  EXPECT_NE(derived_seed(5, {0, 1}), derived_seed(5, {1, 0}));
  EXPECT_EQ(derived_seed(5, {0, 1}), derived_seed(5, {0, 1}));
}

// Wilcoxon's and Mann-Whitney's p-values as scipy 1.10 gives them on these values:
// wilcoxon(x, y, zero_method="wilcox", correction=False, method="approx").pvalue and
// mannwhitneyu(x, y, alternative="two-sided", method="asymptotic").pvalue, U / nm.
TEST(Statistics, ComparisonsAsScipy) {
  const std::vector<double> x{0.82, 0.76, 0.9, 0.88, 0.7, 0.84, 0.8, 0.86, 0.9, 0.74, 0.78, 0.92};
  const std::vector<double> y{0.8, 0.76, 0.84, 0.86, 0.72, 0.8, 0.8, 0.82, 0.88, 0.7, 0.8, 0.9};
  const Comparison paired = compare(x, y, true, {kDefaultResamples, 3});
  EXPECT_NEAR(paired.p_value, 0.04387371517590828, 1e-12);
  EXPECT_NEAR(paired.difference, 0.22 / 12.0, 1e-12);
  EXPECT_NEAR(paired.improvement, (8.0 + 0.5 * 2.0) / 12.0, 1e-12);  // 8 wins, 2 ties of 12 pairs
  EXPECT_LT(paired.difference_bootstrap.low, paired.difference);
  EXPECT_GT(paired.difference_bootstrap.low, 0.0);
  const Comparison apart = compare(x, y, false, {kDefaultResamples, 3});
  EXPECT_NEAR(apart.p_value, 0.5039256720044688, 1e-12);
  EXPECT_NEAR(apart.improvement, 0.5833333333333334, 1e-12);
  EXPECT_LT(apart.difference_bootstrap.low, 0.0);  // unpaired, the same difference is not resolved
  // One setting better in every run: P(X > Y) = 1 and the interval says so.
  std::vector<double> better = y;
  for (double& v : better) v += 0.04;
  const Comparison clear = compare(better, y, true, {1000, 1});
  EXPECT_EQ(clear.improvement, 1.0);
  EXPECT_EQ(clear.improvement_bootstrap.low, 1.0);
  // Diverged runs (NaN) leave with their pair.
  std::vector<double> holes = x;
  holes[0] = std::nan("");
  EXPECT_EQ(compare(holes, y, true, {}).n_x, 11);
  EXPECT_EQ(compare(holes, y, false, {}).n_y, 12);
  EXPECT_THROW(compare(x, {1.0}, true, {}), std::invalid_argument);
  // No difference at all: nothing to reject.
  EXPECT_EQ(compare(y, y, true, {}).p_value, 1.0);
}

TEST(Statistics, HolmsStepDown) {
  const std::vector<double> adjusted = holm({0.01, 0.04, 0.03});
  EXPECT_DOUBLE_EQ(adjusted[0], 0.03);
  EXPECT_DOUBLE_EQ(adjusted[1], 0.06);  // 2 x 0.03, kept monotone above 1 x 0.04
  EXPECT_DOUBLE_EQ(adjusted[2], 0.06);
  EXPECT_EQ(holm({0.6, 0.7})[1], 1.0);
  EXPECT_TRUE(holm({}).empty());
  const std::vector<double> gap = holm({0.02, std::nan(""), 0.01});
  EXPECT_DOUBLE_EQ(gap[0], 0.02);
  EXPECT_TRUE(std::isnan(gap[1]));
  EXPECT_DOUBLE_EQ(gap[2], 0.02);
}

}  // namespace
}  // namespace labrun
