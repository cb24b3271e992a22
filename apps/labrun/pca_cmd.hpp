#pragma once
// `labrun pca`: exercise part 1.3, PCA of the data against the factor U learned by part 1.1.

#include "factorise_cmd.hpp"

#include <CLI/CLI.hpp>

namespace labrun::cli {

CLI::App* setup_pca(CLI::App& app, FactoriseCommand& options);
int run_pca(const FactoriseCommand& options);

// { "pca", "factor", "labels", "comparison" } for a finished factorisation.
json pca_results(const Factorisation& run);

}  // namespace labrun::cli
