#include "labrun/statistics.hpp"

#include "labrun/options.hpp"

#include "check.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <random>
#include <string>
#include <utility>

namespace labrun {

namespace {

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
__extension__ typedef unsigned __int128 Wide;  // GCC's and Clang's 128-bit product, for Lemire's draw

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// xoshiro256** (Blackman & Vigna 2018), seeded by SplitMix64 as its authors advise; a
// UniformRandomBitGenerator, so std::binomial_distribution can draw from it.
class Xoshiro {
 public:
  using result_type = uint64_t;
  explicit Xoshiro(uint64_t seed) {
    for (uint64_t& word : s_) word = splitmix64(seed);
  }
  static constexpr result_type min() { return 0; }
  static constexpr result_type max() { return std::numeric_limits<result_type>::max(); }
  result_type operator()() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, range), unbiased (Lemire 2019).
  uint64_t below(uint64_t range) {
    Wide m = static_cast<Wide>((*this)()) * range;
    auto low = static_cast<uint64_t>(m);
    if (low < range) {
      const uint64_t threshold = (0 - range) % range;
      while (low < threshold) {
        m = static_cast<Wide>((*this)()) * range;
        low = static_cast<uint64_t>(m);
      }
    }
    return static_cast<uint64_t>(m >> 64);
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4]{};
};

// Neumaier's compensated sum.
class Sum {
 public:
  void add(double v) {
    const double t = sum_ + v;
    compensation_ += std::abs(sum_) >= std::abs(v) ? (sum_ - t) + v : (v - t) + sum_;
    sum_ = t;
  }
  double value() const { return sum_ + compensation_; }

 private:
  double sum_ = 0.0, compensation_ = 0.0;
};

// numpy.quantile's default on sorted values: linear between the order statistics around p (n - 1).
double quantile(const std::vector<double>& sorted, double p) {
  const double position = p * static_cast<double>(sorted.size() - 1);
  const auto below = static_cast<std::size_t>(position);
  const double above = below + 1 < sorted.size() ? sorted[below + 1] : sorted[below];
  return sorted[below] + (position - static_cast<double>(below)) * (above - sorted[below]);
}

Interval percentile_interval(std::vector<double>& statistics) {
  if (statistics.empty()) return {};
  std::sort(statistics.begin(), statistics.end());
  return {quantile(statistics, 0.025), quantile(statistics, 0.975)};
}

// Sorted values as distinct values and their counts: a resample is a count per distinct value.
struct Groups {
  std::vector<double> value;
  std::vector<int64_t> count;
  std::vector<uint32_t> of;  // the group of each sorted value
};

Groups group(const std::vector<double>& sorted) {
  Groups g;
  g.of.reserve(sorted.size());
  for (const double v : sorted) {
    if (g.value.empty() || v != g.value.back()) {
      g.value.push_back(v);
      g.count.push_back(0);
    }
    ++g.count.back();
    g.of.push_back(static_cast<uint32_t>(g.value.size() - 1));
  }
  return g;
}

// One bootstrap resample of n values as counts per group: by n uniform draws, or, when the values
// take few distinct values (accuracies: at most one per validation row), by one binomial draw per
// group (the multinomial's conditional form), which is the same distribution at O(groups) cost.
void resample(const Groups& g, int64_t n, Xoshiro& random, std::vector<int64_t>& counts) {
  counts.assign(g.value.size(), 0);
  const auto groups = static_cast<int64_t>(g.value.size());
  if (groups * 32 < n) {
    int64_t left = n, mass = n;
    for (std::size_t j = 0; j + 1 < g.value.size() && left > 0; ++j) {
      std::binomial_distribution<int64_t> draw(left, static_cast<double>(g.count[j]) / static_cast<double>(mass));
      counts[j] = draw(random);
      left -= counts[j];
      mass -= g.count[j];
    }
    counts.back() += left;
    return;
  }
  for (int64_t i = 0; i < n; ++i) ++counts[g.of[random.below(static_cast<uint64_t>(n))]];
}

struct Centres {
  double mean, median, iqm;
};

// The mean, median and interquartile mean of n values given as counts per group, in one walk.
Centres centres(const Groups& g, const std::vector<int64_t>& counts, int64_t n) {
  const double origin = g.value.front();
  const int64_t cut = n / 4, lo_mid = (n - 1) / 2, hi_mid = n / 2;
  Sum all, middle;
  double below_mid = kNan, above_mid = kNan;
  int64_t before = 0;
  for (std::size_t j = 0; j < g.value.size(); ++j) {
    const int64_t c = counts[j];
    if (c == 0) continue;
    const double v = g.value[j] - origin;
    all.add(static_cast<double>(c) * v);
    const int64_t from = std::max(before, cut), to = std::min(before + c, n - cut);
    if (to > from) middle.add(static_cast<double>(to - from) * v);
    if (lo_mid >= before && lo_mid < before + c) below_mid = g.value[j];
    if (hi_mid >= before && hi_mid < before + c) above_mid = g.value[j];
    before += c;
  }
  return {origin + all.value() / static_cast<double>(n), (below_mid + above_mid) / 2.0,
          origin + middle.value() / static_cast<double>(n - 2 * cut)};
}

double normal_sf(double z) { return 0.5 * std::erfc(z / std::sqrt(2.0)); }

// Ranks from 1 with ties averaged (scipy.stats.rankdata's default), and sum(t^3 - t) over ties.
std::pair<std::vector<double>, double> ranks(const std::vector<double>& values) {
  std::vector<std::size_t> order(values.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return values[a] < values[b]; });
  std::vector<double> rank(values.size());
  double ties = 0.0;
  for (std::size_t i = 0; i < order.size();) {
    std::size_t j = i;
    while (j + 1 < order.size() && values[order[j + 1]] == values[order[i]]) ++j;
    const double average = (static_cast<double>(i) + static_cast<double>(j)) / 2.0 + 1.0;
    for (std::size_t k = i; k <= j; ++k) rank[order[k]] = average;
    const auto t = static_cast<double>(j - i + 1);
    ties += t * t * t - t;
    i = j + 1;
  }
  return {std::move(rank), ties};
}

void check_bootstrap(const char* function, const Bootstrap& bootstrap) {
  require_resamples(function, "resamples", bootstrap.resamples);
}

}  // namespace

uint64_t derived_seed(uint64_t seed, std::initializer_list<uint64_t> coordinates) {
  uint64_t state = seed;
  uint64_t mixed = splitmix64(state);
  for (const uint64_t c : coordinates) {
    state = mixed ^ c;
    mixed = splitmix64(state);
  }
  return mixed;
}

double student_t975(int64_t df) {
  // Exact to 9 digits up to 30 degrees of freedom; beyond, the Cornish-Fisher expansion in 1 / df
  // around the normal quantile (error below 1e-7 at 31).
  static constexpr double kTable[] = {12.706204736, 4.302652730, 3.182446305, 2.776445105, 2.570581836, 2.446911851,
                                      2.364624252,  2.306004135, 2.262157163, 2.228138852, 2.200985160, 2.178812830,
                                      2.160368656,  2.144786688, 2.131449546, 2.119905299, 2.109815578, 2.100922040,
                                      2.093024054,  2.085963447, 2.079613845, 2.073873068, 2.068657610, 2.063898562,
                                      2.059538553,  2.055529439, 2.051830516, 2.048407142, 2.045229642, 2.042272456};
  if (df < 1) return kNan;
  if (df <= 30) return kTable[df - 1];
  const double z = 1.959963984540054, v = static_cast<double>(df);
  const double z3 = z * z * z, z5 = z3 * z * z, z7 = z5 * z * z, z9 = z7 * z * z;
  const double g1 = (z3 + z) / 4.0;
  const double g2 = (5.0 * z5 + 16.0 * z3 + 3.0 * z) / 96.0;
  const double g3 = (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / 384.0;
  const double g4 = (79.0 * z9 + 776.0 * z7 + 1482.0 * z5 - 1920.0 * z3 - 945.0 * z) / 92160.0;
  return z + g1 / v + g2 / (v * v) + g3 / (v * v * v) + g4 / (v * v * v * v);
}

Summary summarise(std::vector<double> values, const Bootstrap& bootstrap) {
  check_bootstrap("summarise", bootstrap);
  Summary s{
      static_cast<int64_t>(values.size()), kNan, kNan, kNan, kNan, kNan, kNan, kNan, kNan, kNan, kNan, {}, {}, {}};
  if (values.empty() || std::any_of(values.begin(), values.end(), [](double v) { return std::isnan(v); })) return s;
  const auto n = static_cast<double>(values.size());
  // About the first value, compensated: n equal values give that value and std 0 exactly.
  const double origin = values.front();
  Sum deviations;
  for (const double v : values) deviations.add(v - origin);
  s.mean = origin + deviations.value() / n;
  if (values.size() > 1) {
    Sum squares;
    for (const double v : values) squares.add((v - s.mean) * (v - s.mean));
    s.std = std::sqrt(squares.value() / (n - 1.0));
    const double half = student_t975(s.n - 1) * s.std / std::sqrt(n);
    s.ci95_low = s.mean - half;
    s.ci95_high = s.mean + half;
  }
  std::sort(values.begin(), values.end());
  s.min = values.front();
  s.q1 = quantile(values, 0.25);
  const std::size_t mid = values.size() / 2;
  s.median = values.size() % 2 ? values[mid] : (values[mid - 1] + values[mid]) / 2.0;
  s.q3 = quantile(values, 0.75);
  s.max = values.back();
  const Groups g = group(values);
  s.iqm = centres(g, g.count, s.n).iqm;
  if (bootstrap.resamples > 0 && s.n > 1) {
    Xoshiro random(bootstrap.seed);
    const auto b = static_cast<std::size_t>(bootstrap.resamples);
    std::vector<double> means(b), medians(b), iqms(b);
    std::vector<int64_t> counts;
    for (std::size_t i = 0; i < b; ++i) {
      resample(g, s.n, random, counts);
      const Centres c = centres(g, counts, s.n);
      means[i] = c.mean;
      medians[i] = c.median;
      iqms[i] = c.iqm;
    }
    s.mean_bootstrap = percentile_interval(means);
    s.median_bootstrap = percentile_interval(medians);
    s.iqm_bootstrap = percentile_interval(iqms);
  }
  return s;
}

std::vector<double> holm(const std::vector<double>& p_values) {
  // A NaN (a comparison without values) is no test: it stays NaN and is not counted.
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < p_values.size(); ++i) {
    if (!std::isnan(p_values[i])) order.push_back(i);
  }
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return p_values[a] < p_values[b]; });
  std::vector<double> adjusted(p_values.size(), kNan);
  double running = 0.0;
  for (std::size_t k = 0; k < order.size(); ++k) {
    const double scaled = static_cast<double>(order.size() - k) * p_values[order[k]];
    running = std::max(running, std::min(1.0, scaled));
    adjusted[order[k]] = running;
  }
  return adjusted;
}

Comparison compare(const std::vector<double>& x, const std::vector<double>& y, bool paired,
                   const Bootstrap& bootstrap) {
  constexpr const char* kFunction = "compare";
  check_bootstrap(kFunction, bootstrap);
  if (paired && x.size() != y.size()) {
    detail::invalid(kFunction,
                    "paired samples must be as long: " + std::to_string(x.size()) + " and " + std::to_string(y.size()));
  }
  Comparison c;
  c.paired = paired;
  Xoshiro random(bootstrap.seed);
  const auto b = static_cast<std::size_t>(bootstrap.resamples);
  std::vector<double> differences, improvements;
  if (paired) {
    std::vector<double> d;
    for (std::size_t i = 0; i < x.size(); ++i) {
      if (!std::isnan(x[i]) && !std::isnan(y[i])) d.push_back(x[i] - y[i]);
    }
    const auto n = static_cast<int64_t>(d.size());
    c.n_x = c.n_y = n;
    if (n == 0) {
      c.difference = c.improvement = c.p_value = c.p_holm = kNan;
      return c;
    }
    // The pairs' differences as distinct values and counts: a resample is a count per value (few
    // values for accuracies, so that a resample costs one binomial draw a value).
    std::vector<double> sorted = d;
    std::sort(sorted.begin(), sorted.end());
    const Groups g = group(sorted);
    const auto centre = [&](const std::vector<int64_t>& counts) {
      const double mean = centres(g, counts, n).mean;
      double wins = 0.0;
      for (std::size_t j = 0; j < g.value.size(); ++j) {
        wins += static_cast<double>(counts[j]) * (g.value[j] > 0.0 ? 1.0 : g.value[j] == 0.0 ? 0.5 : 0.0);
      }
      return std::pair<double, double>{mean, wins / static_cast<double>(n)};
    };
    std::tie(c.difference, c.improvement) = centre(g.count);
    std::vector<int64_t> counts;
    for (std::size_t i = 0; i < b && n > 1; ++i) {
      resample(g, n, random, counts);
      const auto [difference, improvement] = centre(counts);
      differences.push_back(difference);
      improvements.push_back(improvement);
    }
    // Wilcoxon's signed-rank test (zero differences dropped, scipy's zero_method "wilcox").
    std::vector<double> magnitude, sign;
    for (const double v : d) {
      if (v != 0.0) {
        magnitude.push_back(std::abs(v));
        sign.push_back(v > 0.0 ? 1.0 : -1.0);
      }
    }
    const auto m = static_cast<double>(magnitude.size());
    if (magnitude.empty()) {
      c.p_value = 1.0;
    } else {
      const auto [rank, ties] = ranks(magnitude);
      double plus = 0.0, minus = 0.0;
      for (std::size_t i = 0; i < rank.size(); ++i) (sign[i] > 0.0 ? plus : minus) += rank[i];
      const double t = std::min(plus, minus), mean = m * (m + 1.0) / 4.0;
      const double se = std::sqrt((m * (m + 1.0) * (2.0 * m + 1.0) - 0.5 * ties) / 24.0);
      c.p_value = se > 0.0 ? std::min(1.0, 2.0 * normal_sf(std::abs(t - mean) / se)) : 1.0;
    }
  } else {
    std::vector<double> xs, ys;
    for (const double v : x)
      if (!std::isnan(v)) xs.push_back(v);
    for (const double v : y)
      if (!std::isnan(v)) ys.push_back(v);
    std::sort(xs.begin(), xs.end());
    std::sort(ys.begin(), ys.end());
    c.n_x = static_cast<int64_t>(xs.size());
    c.n_y = static_cast<int64_t>(ys.size());
    if (xs.empty() || ys.empty()) {
      c.difference = c.improvement = c.p_value = c.p_holm = kNan;
      return c;
    }
    const Groups gx = group(xs), gy = group(ys);
    // mean(X) - mean(Y) and U / (n_x n_y), from counts per group, in one merge walk.
    const auto centre = [&](const std::vector<int64_t>& cx, const std::vector<int64_t>& cy) {
      const Centres mx = centres(gx, cx, c.n_x), my = centres(gy, cy, c.n_y);
      double u = 0.0;
      int64_t below = 0;
      std::size_t j = 0;
      for (std::size_t i = 0; i < gx.value.size(); ++i) {
        while (j < gy.value.size() && gy.value[j] < gx.value[i]) below += cy[j++];
        const int64_t equal = j < gy.value.size() && gy.value[j] == gx.value[i] ? cy[j] : 0;
        u += static_cast<double>(cx[i]) * (static_cast<double>(below) + 0.5 * static_cast<double>(equal));
      }
      return std::pair<double, double>{mx.mean - my.mean,
                                       u / (static_cast<double>(c.n_x) * static_cast<double>(c.n_y))};
    };
    std::tie(c.difference, c.improvement) = centre(gx.count, gy.count);
    std::vector<int64_t> cx, cy;
    for (std::size_t i = 0; i < b && c.n_x > 1 && c.n_y > 1; ++i) {
      resample(gx, c.n_x, random, cx);
      resample(gy, c.n_y, random, cy);
      const auto [difference, improvement] = centre(cx, cy);
      differences.push_back(difference);
      improvements.push_back(improvement);
    }
    // Mann-Whitney's U test, two-sided, with scipy's continuity correction.
    std::vector<double> both = xs;
    both.insert(both.end(), ys.begin(), ys.end());
    const auto [rank, ties] = ranks(both);
    const auto n1 = static_cast<double>(c.n_x), n2 = static_cast<double>(c.n_y), n = n1 + n2;
    double r1 = 0.0;
    for (std::size_t i = 0; i < xs.size(); ++i) r1 += rank[i];
    const double u1 = r1 - n1 * (n1 + 1.0) / 2.0, u = std::max(u1, n1 * n2 - u1);
    const double s = std::sqrt(n1 * n2 / 12.0 * ((n + 1.0) - ties / (n * (n - 1.0))));
    c.p_value = s > 0.0 ? std::min(1.0, 2.0 * normal_sf((u - n1 * n2 / 2.0 - 0.5) / s)) : 1.0;
  }
  c.difference_bootstrap = percentile_interval(differences);
  c.improvement_bootstrap = percentile_interval(improvements);
  c.p_holm = c.p_value;
  return c;
}

}  // namespace labrun
