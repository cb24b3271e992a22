#pragma once
// The exercise's studies, one call each, as the labrun command runs them: options in, result out.
//
//   factorise_study  parts 1.1-1.3: the data's mean-centred features factorised by gradient
//                    descent, the truncated SVD of the same rank, and optionally PCA of the data
//                    with the comparison of the learned U and the principal component scores
//   mlp_study        part 2: the shared-bias MLP trained `repeats` times from fresh draws, on one
//                    shuffle or one per repeat, by either engine, with the accuracies' summary
//   exercise         both from one seed, one generator through both parts, as the exercise's
//                    script runs after a single torch.manual_seed

#include "labrun/dataset.hpp"
#include "labrun/decomposition.hpp"
#include "labrun/factorise.hpp"
#include "labrun/mlp.hpp"
#include "labrun/statistics.hpp"

#include <ATen/core/Generator.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace labrun {

// How factorise_study holds the matrix.
//   in memory  the exercise's way: a centred copy of the features, the truncated SVD and PCA by
//              SVDs of that copy, training by autograd on it.
//   streamed   the features read a block of rows at a time (a mapped .npy file's pages dropped
//              after each block), never copied whole: each epoch is one pass (the same loss and
//              gradients, summed by blocks), and the truncated SVD and PCA come from the
//              eigendecomposition of the n x n Gram matrix of the centred data (each block's share
//              in the training type, summed in float64). For a tall matrix (rows >= columns) of at
//              most kMaxStreamedColumns columns. The numbers equal the in-memory study's to
//              rounding (tests: 1e-8 relative in float64); TruncatedSvd::reconstruction is not made.
// automatic streams a tall matrix of at least kStreamedElements entries.
enum class Streaming { automatic, always, never };
const char* to_string(Streaming streaming);
constexpr int64_t kStreamedElements = int64_t{1} << 24;
constexpr int64_t kMaxStreamedColumns = 4096;

struct FactoriseStudyOptions {
  FactoriseOptions gd;           // rank, epochs, lr, reduction, form, record_every; seed or generator
  Dtype dtype = Dtype::float64;  // of the centred matrix and the factors (the exercise: float64)
  bool pca = false;              // part 1.3 too: PCA of the data and the comparison with U
  Streaming streaming = Streaming::automatic;
  // Each centred column divided by its standard deviation (std) or its variance (var, as the MLP's
  // exercise scales) before the training, the truncated SVD and PCA, which all see the same
  // matrix; none (the exercise's): the centred data. For data whose columns' scales differ (a
  // column in the hundreds beside columns below 1), where at the exercise's lr the largest column
  // alone decides the step. A constant column is refused (DataError). Held in memory: streaming
  // does not scale (Streaming::always is refused with it).
  Normalise normalise = Normalise::none;
};

// The share (0 to 1) of the data's total variance that its largest column holds: near 1, that
// column's scale alone decides the factorisation's step, and Normalise::std is the answer. 0 when
// a column is constant (Normalise::std refuses it).
double largest_column_share(const Dataset& data);

// Whether a rows x columns matrix can be streamed, and whether these options stream it.
bool can_stream(int64_t rows, int64_t columns);
bool streams(int64_t rows, int64_t columns, const FactoriseStudyOptions& options);

struct FactoriseStudyResult {
  // The mean-centred features (centred in float64, then converted to dtype); undefined when
  // streamed, which never holds them whole.
  torch::Tensor A;
  bool streamed = false;
  FactoriseResult gd;
  TruncatedSvd svd;
  std::optional<Pca> pca;                        // with options.pca
  std::optional<SubspaceComparison> comparison;  // with options.pca, unless training diverged
  // gd.loss - svd.loss: >= 0 up to rounding (Eckart-Young).
  double gap() const { return gd.loss - svd.loss; }
  // gap() / svd.loss; nullopt when the optimum's loss is zero to rounding (the data has rank <=
  // r: svd.loss <= max(m, n) eps ||A||_F^2), where the ratio would be noise over noise (1.6e23).
  std::optional<double> relative_gap() const;
};

// The features in float64, each column divided by its standard deviation or variance (unbiased,
// as the MLP's; computed on the column divided by its largest magnitude, so that data near 1e300
// or 1e-300 neither overflows nor underflows), as FactoriseStudyOptions::normalise asks; as they
// are for none. Dividing before centring centres the scaled columns. Throws DataError for a
// constant column, or a variance beyond double's range for var.
torch::Tensor normalised_columns(const Dataset& data, Normalise normalise);

// A learning rate at which gradient descent stays stable on this study's matrix instead of
// diverging: 1 / lambda, half the largest stable step 2 / lambda, where lambda is the loss's
// largest curvature along the way: the larger of 4 s1 at the balanced optimum (s1 the matrix's
// largest singular value, result.svd) and 2 (|U0|^2 + |V0|^2) at the start (the spectral norms of
// uniform [0, 1) factors, bounded from their shapes); times rows x columns for the mean reduction.
// Safe, not tight: 0.0030 on Iris, where the exercise's 0.01 also converges. On a 178 x 13
// wine-like file whose one column holds 99.8% of the variance it is 5.7e-5, where 2e-4 diverges
// (tests: Cli.FactoriseAdvisesAnLrThatConverges, Studies.TheStableLrSettlesWhereLargerOnesDiverge).
// nullopt for a zero matrix.
std::optional<double> stable_lr(const FactoriseStudyResult& result, const FactoriseOptions& gd);

// Throws std::invalid_argument when the rank does not fit the data (1 <= rank < min(rows,
// columns)), an option is out of range or Streaming::always is asked of a matrix that cannot be; DataError for data
// whose scale the dtype cannot hold; ResourceError when it cannot fit in memory.
FactoriseStudyResult factorise_study(const Dataset& data, const FactoriseStudyOptions& options);

// Its BLAS work in floating-point operations: the training, the truncated SVD and PCA's SVD.
double factorise_study_flops(int64_t rows, int64_t columns, const FactoriseStudyOptions& options);

// The memory each study needs at its peak, in bytes: an estimate from its shapes, on the high
// side, by which the studies refuse (ResourceError, labrun/resources.hpp) work that cannot fit
// before they start.
double factorise_study_memory(int64_t rows, int64_t columns, const FactoriseStudyOptions& options);

enum class Engine { sequential, batched };
enum class Shuffle { once, per_repeat, none };
const char* to_string(Engine engine);
const char* to_string(Shuffle shuffle);

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

// Throws DataError for data the MLP cannot train on (no labels, one class, a constant column to
// normalise, values beyond float32), std::invalid_argument for an option out of range and
// ResourceError when it cannot fit in memory.
MlpStudyResult mlp_study(const Dataset& data, const MlpStudyOptions& options, const MlpStudyHooks& hooks = {});

// Its BLAS work in floating-point operations: none with the batched engine, whose kernels are
// labrun's own.
double mlp_study_flops(const Dataset& data, const MlpStudyOptions& options);
// With `keeps_runs` false, as with MlpStudyHooks::on_run: the runs are handed over, not kept.
double mlp_study_memory(const Dataset& data, const MlpStudyOptions& options, bool keeps_runs = true);

struct ExerciseOptions {
  FactoriseStudyOptions factorise;  // PCA is always part of it; seeds and generators are set here
  MlpStudyOptions mlp;
  uint64_t seed = 0;
};

struct ExerciseResult {
  FactoriseStudyResult factorise;
  MlpStudyResult mlp;
};

// What the exercise reports as it goes: the factorisation once it is done (before the MLP starts),
// then the MLP's study as MlpStudyHooks says (with mlp.on_run, its runs are handed over and not
// kept: memory does not grow with the repeats).
struct ExerciseHooks {
  std::function<void(const FactoriseStudyResult& factorised)> on_factorised;
  MlpStudyHooks mlp;
};

ExerciseResult exercise(const Dataset& data, const ExerciseOptions& options, const ExerciseHooks& hooks = {});
double exercise_flops(const Dataset& data, const ExerciseOptions& options);
// Its peak memory in bytes, on the high side; keeps_runs: the MLP's runs are kept (no mlp.on_run).
double exercise_memory(const Dataset& data, const ExerciseOptions& options, bool keeps_runs = true);

}  // namespace labrun
