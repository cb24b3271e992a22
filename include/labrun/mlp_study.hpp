#pragma once
// Exercise part 2 in one call: the shared-bias MLP trained `repeats` times from fresh draws, on one
// shuffle or one per repeat, by either engine, with the accuracies' summary.

#include "labrun/dataset.hpp"
#include "labrun/mlp.hpp"
#include "labrun/options.hpp"
#include "labrun/resources.hpp"
#include "labrun/statistics.hpp"

#include <ATen/core/Generator.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace labrun {

struct MlpStudyOptions {
  MlpOptions training;  // epochs, lr, record_every
  int64_t hidden = 12;
  int64_t repeats = 5;
  int64_t train_size = 100;  // the first rows (after the shuffle) train, the rest validate
  Normalise normalise = Normalise::var;
  // sequential: one model after another, the exercise's loop (train_mlp); batched: all at once.
  Engine engine = Engine::batched;
  // once: the exercise's df.sample(frac=1, random_state=seed); per_repeat: a new one each repeat
  // (one RandomState stream); none: the data's order.
  Shuffle shuffle = Shuffle::once;
  // The shuffle's seed (numpy's RandomState takes it mod 2^32), and the weights' unless a
  // generator is given: repeat r draws its W1, then its W2.
  uint64_t seed = 0;
  std::optional<at::Generator> generator;  // a handle: shares the caller's state
  // Models the batched engine trains at once: its memory follows the chunk, not the repeats. Each
  // model's numbers are the same whatever the chunk (the engine computes models independently).
  int64_t chunk = 1024;
  // Only repeats [first_repeat, end_repeat) (default: every one): a share of a study, as a shard or a
  // resumed study trains it. Repeat r is the same model whichever share trains it: the draws of
  // the repeats before it are made and discarded.
  int64_t first_repeat = 0;
  std::optional<int64_t> end_repeat;
  // Bootstrap resamples of the summary's intervals (0: none), drawn from seeds derived from `seed`.
  int64_t resamples = kDefaultResamples;
};

// How far a study has got: runs done of the runs it trains, and the seconds since it started.
struct Progress {
  int64_t done = 0;
  int64_t total = 0;
  double seconds = 0.0;
};
using ProgressCallback = std::function<void(const Progress&)>;

struct MlpStudyResult;

// What a study reports as it goes. Each may be empty.
//
// Threads: with more than one thread (threads > 1 or libtorch's default), on_run and on_progress
// may be called from one of the study's worker threads rather than the caller's (1,024 of 2,000
// calls with 2 threads): never two at once, always in repeat order, each call finished before the
// next starts. A hook that touches the caller's state needs no lock against other hooks, but must
// not assume it runs on the caller's thread (thread-local state, a GUI's event loop). on_start
// runs on the caller's thread.
struct MlpStudyHooks {
  // Each run as it finishes, in order of its repeat. When given, the runs are handed over here and
  // not kept (MlpStudyResult::runs stays empty): memory does not grow with the repeats.
  std::function<void(int64_t repeat, MlpResult&& run)> on_run;
  // After each chunk (batched) or model (sequential).
  ProgressCallback on_progress;
  // Before the first run, once the split is made: its classes, train and validation rows.
  std::function<void(const MlpStudyResult& head)> on_start;
};

struct MlpStudyResult {
  std::vector<std::string> classes;  // of the first split: class index -> label
  int64_t train_rows = 0;
  int64_t val_rows = 0;
  std::vector<MlpResult> runs;  // one per repeat trained, in order; empty with MlpStudyHooks::on_run
  Summary train_accuracy, val_accuracy, final_loss;  // over the runs that did not diverge
  double seconds = 0.0;                              // the training, every repeat
  int64_t diverged_runs = 0;                         // runs whose loss became NaN or Inf
  // Classes of the first split's validation rows that its training rows never hold (--no-shuffle on
  // rows sorted by class): no model can predict them. With one shuffle or none, every run's split.
  std::vector<std::string> unseen_classes;
  // The share of the first update's steps that float32 loses, for repeat 0's model: the weights w
  // whose gradient g is not 0 and for which w - lr g rounds back to w. 1 when training cannot
  // change the model (lr 1e-44: every step is below the weights' precision); near 0 at the
  // exercise's lr. 0 without training (epochs 0) or when every gradient is 0.
  double lost_update_share = 0.0;
};
// The options' rules (labrun/options.hpp) for this data: hidden, repeats and chunk >= 1, a
// bootstrap of 0 to kMaxResamples, 1 <= train_size < rows, epochs and record_every >= 0, an lr for
// float32, the repeats' share within [0, repeats]. Throws OptionError (function "mlp_study").
void check_options(const Dataset& data, const MlpStudyOptions& options);

// Throws OptionError for an option out of range (check_options); DataError for data the MLP cannot
// train on (no labels, one class, a constant column to normalise, values beyond float32);
// ResourceError when it cannot fit in memory.
MlpStudyResult mlp_study(const Dataset& data, const MlpStudyOptions& options, const MlpStudyHooks& hooks = {});

// What it costs: its BLAS work (none with the batched engine, whose kernels are labrun's own) and
// its peak memory; with `keeps_runs` false, as with MlpStudyHooks::on_run, the runs are handed over,
// not kept.
Cost estimate(const Dataset& data, const MlpStudyOptions& options, bool keeps_runs = true);

}  // namespace labrun
