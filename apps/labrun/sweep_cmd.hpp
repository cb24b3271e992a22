#pragma once
// labrun sweep mlp|factorise: a grid of settings, each repeated over seeds, as JSON Lines; and
// labrun merge: shards of one study into the records and summary one process writes.

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

struct MergeCommand {
  std::vector<std::string> inputs;
  std::string output;
  bool summary = false;  // the summary's table on stderr
};

// `labrun sweep` with its two subcommands; returns {mlp, factorise}.
std::pair<CLI::App*, CLI::App*> setup_sweep(CLI::App& app, SweepCommand& mlp, SweepCommand& factorise);
CLI::App* setup_merge(CLI::App& app, MergeCommand& command);

int run_sweep(const SweepCommand& command);
int run_merge(const MergeCommand& command);

}  // namespace labrun::cli
