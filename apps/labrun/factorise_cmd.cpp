#include "factorise_cmd.hpp"

#include "blas_restart.hpp"
#include "output.hpp"
#include "text.hpp"

#include <fmt/format.h>
#include <torch/torch.h>

#include <iostream>

namespace labrun::cli {

void add_factorise_options(CLI::App& command, FactoriseCommand& options) {
  command.add_option("--rank", options.rank, "Rank r of the factors, 1 <= r < min(rows, columns)")
      ->capture_default_str();
  command.add_option("--epochs", options.epochs, "Gradient-descent epochs, >= 0")->capture_default_str();
  command.add_option("--lr", options.lr, "Learning rate, > 0")->capture_default_str();
  command.add_option("--reduction", options.reduction, "Loss reduction: sum (the exercise's) or mean")
      ->check(CLI::IsMember({"sum", "mean"}))
      ->capture_default_str();
  command.add_option("--loss-form", options.loss_form,
                     "How autograd sees the loss: residual, mse_loss(U V^T, A) as the exercise; gram, the expanded "
                     "square ||A||^2 - 2<U, A V> + <U^T U, V^T V>, faster for large matrices")
      ->check(CLI::IsMember({"residual", "gram"}))
      ->capture_default_str();
  command.add_option("--loss-every", options.loss_every, "Record the loss every K epochs (0: no loss curve)")
      ->capture_default_str()
      ->type_name("K");
  command.add_option("--dtype", options.dtype, "Floating-point type of the matrix and factors")
      ->check(CLI::IsMember({"float64", "float32"}))
      ->capture_default_str();
  add_common_options(command, options.common);
}

CLI::App* setup_factorise(CLI::App& app, FactoriseCommand& options) {
  CLI::App* command = app.add_subcommand(
      "factorise", "Factorise the mean-centred data as U V^T by gradient descent (part 1.1) and compare with the "
                   "truncated SVD (part 1.2)");
  add_factorise_options(*command, options);
  return command;
}

void check_factorise_options(const FactoriseCommand& options) {
  require_at_least("--rank", options.rank, 1);
  require_at_least("--epochs", options.epochs, 0);
  require_finite_positive("--lr", options.lr);
  require_at_least("--loss-every", options.loss_every, 0);
}

FactoriseOptions gd_options(const FactoriseCommand& options) {
  FactoriseOptions gd;
  gd.rank = options.rank;
  gd.epochs = options.epochs;
  gd.lr = options.lr;
  gd.reduction = options.reduction == "mean" ? Reduction::mean : Reduction::sum;
  gd.form = options.loss_form == "gram" ? LossForm::gram : LossForm::residual;
  return gd;
}

double factorise_work_flops(const FactoriseCommand& options, const Dataset& data) {
  // The training, the truncated SVD and (for pca) the principal components' SVD.
  return factorise_flops(data.rows(), data.columns(), gd_options(options)) +
         2.0 * svd_flops(data.rows(), data.columns());
}

Factorisation factorise_data(const FactoriseCommand& options, Dataset data, uint64_t seed, at::Generator* generator) {
  Factorisation run;
  run.seed = seed;
  run.data = std::move(data);
  const int64_t limit = std::min(run.data.rows(), run.data.columns());
  if (options.rank >= limit) {
    throw UsageError(fmt::format("--rank {} must be < min(rows, columns) = {} of {} ({} x {})", options.rank, limit,
                                 run.data.source, run.data.rows(), run.data.columns()));
  }
  // Centred in float64 (as the exercise), then converted.
  run.A = centre_columns(run.data.features).to(options.dtype == "float32" ? torch::kFloat32 : torch::kFloat64);

  FactoriseOptions gd = gd_options(options);
  gd.seed = seed;
  gd.generator = generator;
  gd.record_every = options.loss_every;
  run.gd = gd_factorise_ad(run.A, gd);
  run.svd = truncated_svd(run.A, options.rank);
  return run;
}

Factorisation factorise(const FactoriseCommand& options) {
  check_factorise_options(options);
  apply_threads(options.common);
  Dataset data = load_data(options.common, /*min_rows=*/2);
  use_best_blas_kernel(factorise_work_flops(options, data));
  const uint64_t seed = resolve_seed(options.common);
  return factorise_data(options, std::move(data), seed, nullptr);
}

json factorise_config(const FactoriseCommand& options, const Factorisation& run) {
  return json{{"rank", options.rank},
              {"epochs", options.epochs},
              {"lr", options.lr},
              {"reduction", options.reduction},
              {"loss_form", options.loss_form},
              {"seed", run.seed},
              {"seed_given", options.common.seed.has_value()},
              {"loss_every", options.loss_every},
              {"threads", torch::get_num_threads()},
              {"dtype", options.dtype},
              {"preprocessing", "mean-centred columns"}};
}

json factorise_results(const Factorisation& run) {
  const double gap = run.gd.loss - run.svd.loss;
  return json{
      {"gd", run.gd},
      {"svd", run.svd},
      {"gap", {{"absolute", number(gap)}, {"relative", run.svd.loss > 0.0 ? number(gap / run.svd.loss) : json()}}}};
}

int factorise_exit_code(const FactoriseCommand& options, const Factorisation& run) {
  if (!run.gd.diverged) return kExitOk;
  std::cerr << fmt::format(
      "labrun: warning: training diverged at epoch {} (the loss became NaN or Inf); try a smaller --lr than {}\n",
      *run.gd.diverged_at_epoch, options.lr);
  return kExitDiverged;
}

int run_factorise(const FactoriseCommand& options) {
  const Factorisation run = factorise(options);
  const json out = document("factorise", factorise_config(options, run), describe(run.data), factorise_results(run));
  write_output(render(out, options.common.format), options.common.output);
  return factorise_exit_code(options, run);
}

}  // namespace labrun::cli
