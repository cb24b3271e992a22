#pragma once
// `labrun mlp`: exercise part 2, the shared-bias MLP trained from raw tensors, repeated.

#include "common.hpp"
#include "serialise.hpp"

#include <ATen/core/Generator.h>
#include <CLI/CLI.hpp>

#include <string>

namespace labrun::cli {

struct MlpCommand {
  CommonOptions common;
  int64_t hidden = 12;
  int64_t epochs = 100;
  double lr = 0.01;
  int64_t repeats = 5;
  int64_t train_size = 100;
  std::string normalise = "var";   // var | std | none, checked by CLI11
  std::string engine = "batched";  // sequential | batched, checked by CLI11
  bool reshuffle = false;
  bool no_shuffle = false;
  int64_t loss_every = 0;
};

CLI::App* setup_mlp(CLI::App& app, MlpCommand& options);

// Trains options.repeats models; returns the results block and whether any run diverged.
struct MlpOutcome {
  json config;
  json data;
  json results;
  bool diverged = false;
};
// Throws UsageError for an option out of range.
void check_mlp_options(const MlpCommand& options);
// Checks the options, applies --threads, loads the data and trains.
MlpOutcome mlp(const MlpCommand& options);
// The BLAS work of mlp_data on `data`, for use_best_blas_kernel: none with the batched engine.
double mlp_work_flops(const MlpCommand& options, const Dataset& data);
// Trains on `data`, drawing the initial weights from `generator` (UsageError for a --train-size
// that does not fit the data).
MlpOutcome mlp_data(const MlpCommand& options, const Dataset& data, uint64_t seed, at::Generator& generator);
// Prints the divergence warning and returns kExitDiverged, or returns kExitOk.
int mlp_exit_code(const MlpCommand& options, const MlpOutcome& out);

int run_mlp(const MlpCommand& options);

}  // namespace labrun::cli
