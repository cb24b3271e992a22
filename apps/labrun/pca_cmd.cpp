#include "pca_cmd.hpp"

#include "output.hpp"
#include "text.hpp"

namespace labrun::cli {

CLI::App* setup_pca(CLI::App& app, FactoriseCommand& options) {
  CLI::App* command = app.add_subcommand(
      "pca", "Factorise as part 1.1 does, run PCA on the same data, and compare the learned U with the principal "
             "component scores (part 1.3)");
  add_factorise_options(*command, options);
  return command;
}

json pca_results(const Factorisation& run) {
  const int64_t rank = run.gd.U.size(1);
  const Pca principal = pca(run.data.features, rank);

  json factor = run.gd;
  factor["U"] = matrix(run.gd.U);
  factor["V"] = matrix(run.gd.V);

  json comparison;  // null when training diverged: a NaN factor has no column space
  if (!run.gd.diverged) {
    const SubspaceComparison compared = compare_subspaces(run.gd.U, principal.scores);
    comparison = compared;
  }
  return json{{"pca", principal},
              {"factor", std::move(factor)},
              {"labels", run.data.labels},
              {"comparison", std::move(comparison)}};
}

int run_pca(const FactoriseCommand& options) {
  const Factorisation run = factorise(options);
  const json out = document("pca", factorise_config(options, run), describe(run.data), pca_results(run));
  write_output(render(out, options.common.format), options.common.output);
  return factorise_exit_code(options, run);
}

}  // namespace labrun::cli
