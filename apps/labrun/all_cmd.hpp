#pragma once
// `labrun all`: every part of the exercise (1.1 to 2.2) in one process and one document.

#include "common.hpp"

#include <CLI/CLI.hpp>

#include <string>

namespace labrun::cli {

struct AllCommand {
  CommonOptions common;
  // Parts 1.1 to 1.3.
  int64_t rank = 2;
  int64_t factorise_epochs = 1000;
  double factorise_lr = 0.01;
  std::string reduction = "sum";
  std::string loss_form = "residual";
  // Part 2.
  int64_t hidden = 12;
  int64_t mlp_epochs = 100;
  double mlp_lr = 0.01;
  int64_t repeats = 5;
  int64_t train_size = 100;
  std::string normalise = "var";
  std::string engine = "batched";
  bool reshuffle = false;
  bool no_shuffle = false;
  int64_t loss_every = 0;
};

CLI::App* setup_all(CLI::App& app, AllCommand& options);
int run_all(const AllCommand& options);

}  // namespace labrun::cli
