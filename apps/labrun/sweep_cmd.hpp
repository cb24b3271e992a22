#pragma once
// labrun sweep mlp|factorise: a grid of settings, each repeated over seeds, as JSON Lines (the
// study file of labrun/study_file.hpp).

#include "common.hpp"

#include "labrun/sweep.hpp"

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace labrun::cli {

struct SweepCommand {
  std::string part;  // "mlp" or "factorise"
  MlpSweep mlp;
  FactoriseSweep factorise;
  CommonOptions common;
  Checks checks;
  std::string shard;  // "i/N"
  bool resume = false;
};

// `labrun sweep` with its two subcommands; returns {mlp, factorise}.
std::pair<CLI::App*, CLI::App*> setup_sweep(CLI::App& app, SweepCommand& mlp, SweepCommand& factorise);

int run_sweep(const SweepCommand& command);

}  // namespace labrun::cli
