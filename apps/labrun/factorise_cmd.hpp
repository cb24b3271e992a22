#pragma once
// `labrun factorise`: exercise parts 1.1 and 1.2 (gradient-descent factorisation against the
// truncated SVD). Its pieces are shared with `labrun pca`, which starts from the same run.

#include "common.hpp"
#include "serialise.hpp"

#include "labrun/decomposition.hpp"
#include "labrun/factorise.hpp"

#include <CLI/CLI.hpp>

#include <string>

namespace labrun::cli {

struct FactoriseCommand {
  CommonOptions common;
  int64_t rank = 2;
  int64_t epochs = 1000;
  double lr = 0.01;
  std::string reduction = "sum";  // checked by CLI11: sum or mean
  std::string loss_form = "residual";  // checked by CLI11: residual (the exercise's) or gram
  int64_t loss_every = 0;
  std::string dtype = "float64";  // checked by CLI11: float64 (the exercise's) or float32
};

// --rank, --epochs, --lr, --reduction, --loss-form, --loss-every, --dtype and the common options.
void add_factorise_options(CLI::App& command, FactoriseCommand& options);
CLI::App* setup_factorise(CLI::App& app, FactoriseCommand& options);

// A finished factorisation of the data the options name.
struct Factorisation {
  Dataset data;
  torch::Tensor A;  // the mean-centred features, in --dtype
  uint64_t seed = 0;
  FactoriseResult gd;
  TruncatedSvd svd;
};

// The library's options for the gradient descent (seed and generator left unset).
FactoriseOptions gd_options(const FactoriseCommand& options);
// The BLAS work of factorise_data on `data` (and of pca's SVD), for use_best_blas_kernel.
double factorise_work_flops(const FactoriseCommand& options, const Dataset& data);

// Throws UsageError for an option out of range.
void check_factorise_options(const FactoriseCommand& options);
// Trains on `data` (UsageError when the rank does not fit it) and takes the SVD; U and V are drawn
// from `generator` when given, else from a generator seeded with `seed`.
Factorisation factorise_data(const FactoriseCommand& options, Dataset data, uint64_t seed, at::Generator* generator);
// Checks the options, applies --threads, loads the data (DataError), trains and takes the SVD.
Factorisation factorise(const FactoriseCommand& options);
json factorise_config(const FactoriseCommand& options, const Factorisation& run);
// { "gd", "svd", "gap" }
json factorise_results(const Factorisation& run);
// Prints the divergence warning and returns kExitDiverged, or returns kExitOk.
int factorise_exit_code(const FactoriseCommand& options, const Factorisation& run);

int run_factorise(const FactoriseCommand& options);

}  // namespace labrun::cli
