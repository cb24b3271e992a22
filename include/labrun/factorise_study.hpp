#pragma once
// Exercise parts 1.1 to 1.3 in one call: the data's mean-centred features factorised by gradient
// descent, the truncated SVD of the same rank, and optionally PCA of the data with the comparison
// of the learned U and the principal component scores.

#include "labrun/dataset.hpp"
#include "labrun/decomposition.hpp"
#include "labrun/factorise.hpp"
#include "labrun/mlp.hpp"  // Normalise
#include "labrun/options.hpp"
#include "labrun/resources.hpp"

#include <cstdint>
#include <optional>

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
// The options' rules (labrun/options.hpp) for this data: 1 <= rank < min(rows, columns), epochs
// and record_every >= 0, an lr for the dtype, checkpoints ascending, Streaming::always only where
// the matrix can be streamed and is not scaled. Throws OptionError (function "factorise_study").
void check_options(const Dataset& data, const FactoriseStudyOptions& options);

// Throws OptionError for an option out of range (check_options); DataError for data whose scale
// the dtype cannot hold; ResourceError when it cannot fit in memory.
FactoriseStudyResult factorise_study(const Dataset& data, const FactoriseStudyOptions& options);

// What it costs: its BLAS work (the training, the truncated SVD and PCA's SVD) and its peak memory,
// an estimate from the shapes on the high side, by which it refuses work that cannot fit before it
// starts.
Cost estimate(int64_t rows, int64_t columns, const FactoriseStudyOptions& options);

}  // namespace labrun
