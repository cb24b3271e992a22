#pragma once
// `labrun factorise`: exercise parts 1.1 and 1.2 (gradient-descent factorisation against the
// truncated SVD).

#include "common.hpp"

#include "labrun/factorise.hpp"

#include <CLI/CLI.hpp>

namespace labrun::cli {

struct FactoriseCommand {
  CommonOptions common;
  int64_t rank = 2;
  int64_t epochs = 1000;
  double lr = 0.01;
  std::string reduction = "sum";  // checked by CLI11: sum or mean
  int64_t loss_every = 0;
};

CLI::App* setup_factorise(CLI::App& app, FactoriseCommand& options);
int run_factorise(const FactoriseCommand& options);

}  // namespace labrun::cli
