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

#include <ATen/core/Generator.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace labrun {

enum class Dtype { float64, float32 };
const char* to_string(Dtype dtype);

struct FactoriseStudyOptions {
  FactoriseOptions gd;           // rank, epochs, lr, reduction, form, record_every; seed or generator
  Dtype dtype = Dtype::float64;  // of the centred matrix and the factors (the exercise: float64)
  bool pca = false;              // part 1.3 too: PCA of the data and the comparison with U
};

struct FactoriseStudyResult {
  torch::Tensor A;  // the mean-centred features (centred in float64, then converted to dtype)
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

// Throws std::invalid_argument when the rank does not fit the data (1 <= rank < min(rows,
// columns)) or an option is out of range; DataError for data whose scale the dtype cannot hold;
// ResourceError when it cannot fit in memory.
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
};

// mean, std (n - 1; NaN for one value), min, median, max; all NaN for no values.
struct Summary {
  double mean = 0.0, std = 0.0, min = 0.0, median = 0.0, max = 0.0;
};
Summary summarise(std::vector<double> values);

struct MlpStudyResult {
  std::vector<std::string> classes;  // of the first split: class index -> label
  int64_t train_rows = 0;
  int64_t val_rows = 0;
  std::vector<MlpResult> runs;  // one per repeat, in order
  Summary train_accuracy, val_accuracy, final_loss;
  double seconds = 0.0;       // the training, every repeat
  int64_t diverged_runs = 0;  // runs whose loss became NaN or Inf
};

// Throws DataError for data the MLP cannot train on (no labels, one class, a constant column to
// normalise, values beyond float32), std::invalid_argument for an option out of range and
// ResourceError when it cannot fit in memory.
MlpStudyResult mlp_study(const Dataset& data, const MlpStudyOptions& options);

// Its BLAS work in floating-point operations: none with the batched engine, whose kernels are
// labrun's own.
double mlp_study_flops(const Dataset& data, const MlpStudyOptions& options);
double mlp_study_memory(const Dataset& data, const MlpStudyOptions& options);

struct ExerciseOptions {
  FactoriseStudyOptions factorise;  // PCA is always part of it; seeds and generators are set here
  MlpStudyOptions mlp;
  uint64_t seed = 0;
};

struct ExerciseResult {
  FactoriseStudyResult factorise;
  MlpStudyResult mlp;
};

ExerciseResult exercise(const Dataset& data, const ExerciseOptions& options);
double exercise_flops(const Dataset& data, const ExerciseOptions& options);
double exercise_memory(const Dataset& data, const ExerciseOptions& options);

}  // namespace labrun
