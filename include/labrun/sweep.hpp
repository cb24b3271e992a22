#pragma once
// Studies over a grid of settings, each repeated over seeds: the options of one part crossed,
// every setting trained `repeats` times, each run evaluated at several epoch counts.
//
//   axes      the swept options, in one order per part (plan_sweep's: mlp lr, epochs, hidden,
//             train_size, normalise, engine, shuffle; factorise rank, lr, epochs, reduction,
//             loss_form, dtype, engine, normalise); the grid is their product with the first
//             axis varying slowest. The epochs axis costs one training, not one per value: each
//             run trains to the largest count and is evaluated at every count on the way
//             (MlpOptions::checkpoints, FactoriseOptions::checkpoints).
//   setting   a value of every axis but epochs: what one training needs. Settings are numbered
//             0 .. settings() - 1 in grid order.
//   run       a setting and a repeat 0 .. repeats - 1, numbered setting * repeats + repeat; its
//             figures at each epochs value. MLP: repeat r is the r-th model of
//             `labrun mlp --seed S --repeats R` with that setting (one stream of draws, so every
//             setting starts from the same initial weights where the shapes agree); factorisation:
//             repeat r is `labrun factorise --seed S+r`.
//   cell      a setting and an epochs value: what the summary describes.
//   shard     i of N (from 1): the runs numbered [(i-1) T / N, i T / N) of T, contiguous.

#include "labrun/dataset.hpp"
#include "labrun/studies.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace labrun {

using AxisValue = std::variant<int64_t, double, std::string>;
std::string to_string(const AxisValue& value);  // 12, 0.1, "var" (shortest round-trip for doubles)

struct Axis {
  std::string name;  // the option's name: "lr", "hidden", ...
  std::vector<AxisValue> values;
  bool operator==(const Axis& other) const { return name == other.name && values == other.values; }
};

// The study's shape: what a shard, a resumed study and a merge must agree on.
struct StudyPlan {
  std::string part;                  // "mlp" or "factorise"
  std::vector<Axis> axes;            // swept options; epochs among them when it is swept
  std::vector<int64_t> epochs;       // ascending: the checkpoints
  std::vector<std::string> metrics;  // the figures of a checkpoint, in order
  int64_t repeats = 1;
  uint64_t seed = 0;
  // Bootstrap resamples of each summary's intervals (0: none); cell (setting, checkpoint) and
  // figure m draw from derived_seed(seed, {setting, checkpoint, m}).
  int64_t resamples = kDefaultResamples;

  int64_t settings() const;  // the product of the axes' sizes, epochs left out
  int64_t runs() const { return settings() * repeats; }
  int64_t cells() const { return settings() * static_cast<int64_t>(epochs.size()); }
  // The setting's value on every axis but epochs, in axis order.
  std::vector<std::pair<std::string, AxisValue>> setting(int64_t index) const;
  // "lr=0.1 hidden=12": the setting's values, epochs left out; "" for a grid of epochs alone.
  std::string key(int64_t setting) const;
  bool operator==(const StudyPlan& other) const;
};

// A run's figures after `epochs` epochs, in StudyPlan::metrics order; NaN where undefined.
struct Checkpoint {
  int64_t epochs = 0;
  bool diverged = false;
  std::vector<double> values;
};

struct RunRecord {
  int64_t setting = 0;
  int64_t repeat = 0;
  uint64_t seed = 0;                    // the seed its draws come from (MLP: the study's; factorisation: seed + repeat)
  std::vector<Checkpoint> checkpoints;  // one per StudyPlan::epochs
  int64_t run(const StudyPlan& plan) const { return setting * plan.repeats + repeat; }
};

// A list of values for every option a part can sweep; an empty list is not swept (the base's
// value holds). Values must be distinct.
struct MlpSweep {
  MlpStudyOptions base;  // repeats, seed, chunk and the options not swept
  std::vector<double> lr;
  std::vector<int64_t> epochs;
  std::vector<int64_t> hidden;
  std::vector<int64_t> train_size;
  std::vector<Normalise> normalise;
  std::vector<Engine> engine;
  std::vector<Shuffle> shuffle;
};

struct FactoriseSweep {
  FactoriseStudyOptions base;  // rank, epochs, lr, ... when not swept; pca is not part of a sweep
  int64_t repeats = 1;
  uint64_t seed = 0;
  // batched: a setting's seeds trained together (gd_factorise_batched), `chunk` at a time;
  // sequential: one gd_factorise_ad after another (the exercise's loop).
  Engine engine = Engine::batched;
  int64_t chunk = 128;
  int64_t resamples = kDefaultResamples;  // the summary's bootstrap (MlpSweep: base.resamples)
  std::vector<Engine> engines;
  std::vector<int64_t> rank;
  std::vector<double> lr;
  std::vector<int64_t> epochs;
  std::vector<Reduction> reduction;
  std::vector<LossForm> form;
  std::vector<Dtype> dtype;
  std::vector<Normalise> normalise;
};

// A sweep of either part.
using Sweep = std::variant<MlpSweep, FactoriseSweep>;

// A list of one value is not an axis: it sets every run's value, as the base's would. The sweep
// with each such list's value moved into its base (and the list emptied): what its runs train
// with, and what a study's config records. plan_sweep and setting_options apply it themselves.
MlpSweep fold_single_values(MlpSweep sweep);
FactoriseSweep fold_single_values(FactoriseSweep sweep);
Sweep fold_single_values(Sweep sweep);

// The plan of a sweep on `data`, every setting checked first: throws OptionError naming the axis
// (as the options struct names its field) and the value for a repeated value, or a value the data
// or the part cannot take (a rank >= the columns, a train size >= the rows, lr <= 0, ...). A list
// of two or more values is an axis; a list of one is not (fold_single_values).
StudyPlan plan_sweep(const Dataset& data, const MlpSweep& sweep);
StudyPlan plan_sweep(const Dataset& data, const FactoriseSweep& sweep);
StudyPlan plan_sweep(const Dataset& data, const Sweep& sweep);

// The options that train `setting` (epochs: the largest of the plan's).
MlpStudyOptions setting_options(const MlpSweep& sweep, const StudyPlan& plan, int64_t setting);
FactoriseStudyOptions setting_options(const FactoriseSweep& sweep, const StudyPlan& plan, int64_t setting);

// Runs [begin, end) by number.
struct RunSpan {
  int64_t begin = 0;
  int64_t end = 0;
};
// Shard `index` (1 .. count) of the plan's runs. Throws std::invalid_argument out of range.
RunSpan shard_span(const StudyPlan& plan, int64_t index, int64_t count);

// As MlpStudyHooks: the calls may come from a worker thread, never two at once, in order.
struct SweepHooks {
  std::function<void(RunRecord&& run)> on_run;  // each run as it finishes, in order of number
  ProgressCallback on_progress;                 // runs done of the runs in the spans
};

// Trains the runs in `spans` (ascending, disjoint), handing each to hooks.on_run. Memory follows
// one chunk of models (MlpStudyOptions::chunk), not the number of runs. Throws as mlp_study and
// factorise_study do.
void run_sweep(const Dataset& data, const MlpSweep& sweep, const StudyPlan& plan, const std::vector<RunSpan>& spans,
               const SweepHooks& hooks);
void run_sweep(const Dataset& data, const FactoriseSweep& sweep, const StudyPlan& plan,
               const std::vector<RunSpan>& spans, const SweepHooks& hooks);

void run_sweep(const Dataset& data, const Sweep& sweep, const StudyPlan& plan, const std::vector<RunSpan>& spans,
               const SweepHooks& hooks);

// The peak memory of run_sweep in bytes, on the high side (the largest setting's chunk).
double sweep_memory(const Dataset& data, const MlpSweep& sweep, const StudyPlan& plan);
double sweep_memory(const Dataset& data, const FactoriseSweep& sweep, const StudyPlan& plan);
double sweep_memory(const Dataset& data, const Sweep& sweep, const StudyPlan& plan);

// The BLAS work of one run, averaged over the plan's settings (flops): for the choice of BLAS kernel.
double sweep_flops_per_run(const Dataset& data, const Sweep& sweep, const StudyPlan& plan);

// A cell's figures are summarised over the runs that did not diverge by its epochs count: a
// diverged run's accuracies are those of a model whose weights hold Inf or NaN, and its loss is
// NaN. `diverged` counts the runs left out; each figure's n is runs - diverged.
struct CellSummary {
  int64_t setting = 0;
  int64_t epochs = 0;
  int64_t runs = 0;
  int64_t diverged = 0;
  std::vector<Summary> metrics;  // in StudyPlan::metrics order
};

// The figures of a study's runs, 8 bytes a figure, summarised per cell in order of repeat whatever
// order they came in, so that one process, a resumed one and a merge of shards summarise alike.
class StudySummary {
 public:
  explicit StudySummary(const StudyPlan& plan);
  // Bytes it holds at most: a figure per metric, checkpoint and run.
  static double memory(const StudyPlan& plan);
  // Throws std::invalid_argument for a run outside the plan, of the wrong shape, or added twice.
  void add(const RunRecord& run);
  bool has(int64_t run) const { return present_[static_cast<std::size_t>(run)]; }
  int64_t count() const { return count_; }
  // One per cell (setting, then epochs), over the runs added.
  std::vector<CellSummary> cells() const;
  // The seconds cells() takes at most for a whole study, on the high side: its bootstrap costs
  // about 10 ns per run and resample for a figure of many distinct values (a loss: measured 4.9 ns
  // at 20,000 runs a cell, 10.7 ns at a million, BM_Summarise) and little for an accuracy.
  static double seconds(const StudyPlan& plan);
  // One figure of a setting's runs at a checkpoint, by repeat: NaN for a run not added or diverged.
  std::vector<double> figure(int64_t setting, std::size_t checkpoint, std::size_t metric) const;

 private:
  StudyPlan plan_;
  std::vector<double> values_;            // [run][checkpoint][metric]
  std::vector<bool> present_, diverged_;  // [run], [run][checkpoint]
  int64_t count_ = 0;
};

// Whether run r of settings a and b start from the same draws, so that their figures pair up run
// by run: the MLP's settings of one hidden width and one shuffle mode (the same initial weights and
// split for each repeat), the factorisation's of one rank and dtype (the same initial U and V).
bool draws_shared(const StudyPlan& plan, int64_t a, int64_t b);

// Settings compared on one figure at one epochs value: `setting` against `baseline`, paired when
// their draws are shared. `better` is P(setting better than baseline): higher is better for an
// accuracy, lower for a loss or gap.
struct SettingComparison {
  int64_t setting = 0, baseline = 0;
  bool higher_is_better = true;
  Comparison result;  // difference = mean(setting) - mean(baseline); improvement = P(better)
};
struct CompareOptions {
  std::string metric;               // one of the plan's metrics
  std::optional<int64_t> epochs;    // a checkpoint of the plan; default the last
  std::optional<int64_t> baseline;  // each setting against it; default every pair
  int64_t resamples = kDefaultResamples;
};
// Every comparison, with Holm's correction over all of them (p_holm). Throws OptionError for a
// metric or epochs value the plan does not have, a baseline outside it or resamples out of range. Each pair's
// bootstrap draws from a seed derived from the study's, so a study gives the same intervals.
std::vector<SettingComparison> compare_settings(const StudyPlan& plan, const StudySummary& runs,
                                                const CompareOptions& options);

// The runs the spans hold that `done` does not: what a resumed study still has to train.
std::vector<RunSpan> missing_runs(const std::vector<RunSpan>& spans, const StudySummary& done);

}  // namespace labrun
