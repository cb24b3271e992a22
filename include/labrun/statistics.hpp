#pragma once
// Statistics over runs: what a figure's spread between seeds says, and how two settings differ.
//
//   summarise  one figure over runs: mean, std, quartiles, the interquartile mean, Student's t
//              interval of the mean, and percentile-bootstrap intervals of the mean, the median and
//              the interquartile mean (Efron & Tibshirani 1993; rliable, Agarwal et al. 2021)
//   compare    two settings' runs: the difference of means with a bootstrap interval (paired when
//              run r of both shares its draws), the probability of improvement P(X > Y) with its
//              interval, and a rank test's p-value for Holm's correction over many comparisons
//
// Every bootstrap is seeded: the same values and seed give the same interval on every machine (the
// generator is labrun's own xoshiro256**, the draws Lemire's unbiased bounded integers).

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <vector>

namespace labrun {

// A two-sided 95% interval; NaN ends where undefined.
struct Interval {
  double low = std::numeric_limits<double>::quiet_NaN();
  double high = std::numeric_limits<double>::quiet_NaN();
};

// How many bootstrap resamples, drawn from which seed. resamples 0: no bootstrap (the intervals NaN).
// 10,000 resamples put a 95% endpoint within about 0.03 bootstrap standard errors of its limit
// (its Monte Carlo standard error: sqrt(0.025 * 0.975 / B) / phi(1.96) = 2.7 / sqrt(B) of them).
struct Bootstrap {
  int64_t resamples = 0;
  uint64_t seed = 0;
};
inline constexpr int64_t kDefaultResamples = 10000;
inline constexpr int64_t kMaxResamples = 1000000;

// The distribution of one figure over runs: mean, std (n - 1), min, quartiles (numpy's default,
// linear interpolation between order statistics), max, the interquartile mean (the mean of the
// middle half: scipy.stats.trim_mean(x, 0.25), which cuts floor(n / 4) values from each end), the
// 95% interval of the mean by Student's t, mean -+ t(0.975, n - 1) std / sqrt(n), and percentile
// bootstrap 95% intervals of the mean, median and IQM. NaN where undefined: every figure for no
// values; std and the intervals for one. Any NaN value makes every figure NaN but n. Sums are taken
// about the first value and compensated (Neumaier), so n equal values give that value and std 0
// exactly, and the mean of any values lies within one rounding of the exact mean.
struct Summary {
  int64_t n = 0;
  double mean = 0.0, std = 0.0, min = 0.0, q1 = 0.0, median = 0.0, q3 = 0.0, max = 0.0;
  double ci95_low = 0.0, ci95_high = 0.0;
  double iqm = 0.0;
  Interval mean_bootstrap, median_bootstrap, iqm_bootstrap;
};
Summary summarise(std::vector<double> values, const Bootstrap& bootstrap = {});

// The 0.975 quantile of Student's t distribution with `df` >= 1 degrees of freedom (12.706 for 1,
// 1.960 in the limit), to 1e-6 relative.
double student_t975(int64_t df);

// A seed for one part of a computation (a cell of a study, a figure, a pair): the study's seed and
// the part's coordinates mixed by SplitMix64, so that each part's draws are its own whatever order
// the parts are computed in (one process, a resumed one, a merge).
uint64_t derived_seed(uint64_t seed, std::initializer_list<uint64_t> coordinates);

// Two settings' runs of one figure, X and Y (Y the baseline). Paired: run r of X and of Y started
// from the same draws, so the difference is taken run by run and resampled as pairs; otherwise the
// two samples are resampled independently. NaN values (diverged runs) are left out (with their pair
// when paired).
struct Comparison {
  bool paired = false;
  int64_t n_x = 0, n_y = 0;       // values used (pairs: both equal the number of pairs)
  double difference = 0.0;        // mean(X) - mean(Y)
  Interval difference_bootstrap;  // its percentile bootstrap 95% interval
  double improvement = 0.0;       // P(X > Y) + P(X = Y) / 2: over pairs when paired (the share of
                                  // runs in which X beats Y), else Mann-Whitney's U / (n_x n_y)
  Interval improvement_bootstrap;
  double p_value = 0.0;  // two-sided: Wilcoxon's signed-rank test when paired (zero differences
                         // dropped), else Mann-Whitney's U test; normal approximation with the
                         // tie correction and a continuity correction, as scipy's asymptotic methods
  double p_holm = 0.0;   // after Holm's step-down correction over the comparisons made together
};
Comparison compare(const std::vector<double>& x, const std::vector<double>& y, bool paired, const Bootstrap& bootstrap);

// Holm's step-down adjustment of `p_values` (each p times the number not yet rejected, made
// monotone, at most 1), in their order; a NaN stays NaN and is not counted.
std::vector<double> holm(const std::vector<double>& p_values);

}  // namespace labrun
