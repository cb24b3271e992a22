#include "factorise_cmd.hpp"

#include "output.hpp"
#include "serialise.hpp"

#include "labrun/decomposition.hpp"

#include <fmt/format.h>
#include <torch/torch.h>

#include <cmath>
#include <iostream>
#include <map>

namespace labrun::cli {

CLI::App* setup_factorise(CLI::App& app, FactoriseCommand& options) {
  CLI::App* command = app.add_subcommand(
      "factorise", "Factorise the mean-centred data as U V^T by gradient descent (part 1.1) and compare with the "
                   "truncated SVD (part 1.2)");
  command->add_option("--rank", options.rank, "Rank r of the factors, 1 <= r < min(rows, columns)")
      ->capture_default_str();
  command->add_option("--epochs", options.epochs, "Gradient-descent epochs, >= 0")->capture_default_str();
  command->add_option("--lr", options.lr, "Learning rate, > 0")->capture_default_str();
  command->add_option("--reduction", options.reduction, "Loss reduction: sum (the exercise's) or mean")
      ->check(CLI::IsMember({"sum", "mean"}))
      ->capture_default_str();
  command->add_option("--loss-every", options.loss_every, "Record the loss every K epochs (0: no loss curve)")
      ->capture_default_str()
      ->type_name("K");
  add_common_options(*command, options.common);
  return command;
}

int run_factorise(const FactoriseCommand& options) {
  if (options.rank < 1) throw UsageError("--rank " + std::to_string(options.rank) + " must be >= 1");
  if (options.epochs < 0) throw UsageError("--epochs " + std::to_string(options.epochs) + " must be >= 0");
  if (!std::isfinite(options.lr) || options.lr <= 0.0) {
    throw UsageError(fmt::format("--lr {} must be a finite number > 0", options.lr));
  }
  if (options.loss_every < 0) {
    throw UsageError("--loss-every " + std::to_string(options.loss_every) + " must be >= 0");
  }
  apply_threads(options.common);
  const uint64_t seed = resolve_seed(options.common);

  const Dataset data = load_data(options.common, /*min_rows=*/2);
  const int64_t limit = std::min(data.rows(), data.columns());
  if (options.rank >= limit) {
    throw UsageError("--rank " + std::to_string(options.rank) + " must be < min(rows, columns) = " +
                     std::to_string(limit) + " of " + data.source + " (" + std::to_string(data.rows()) + " x " +
                     std::to_string(data.columns()) + ")");
  }
  const torch::Tensor A = centre_columns(data.features);

  FactoriseOptions gd;
  gd.rank = options.rank;
  gd.epochs = options.epochs;
  gd.lr = options.lr;
  gd.reduction = options.reduction == "mean" ? Reduction::mean : Reduction::sum;
  gd.seed = seed;
  gd.record_every = options.loss_every;
  const FactoriseResult trained = gd_factorise_ad(A, gd);
  const TruncatedSvd svd = truncated_svd(A, options.rank);

  const double gap = trained.loss - svd.loss;
  json results{{"gd", trained},
               {"svd", svd},
               {"gap", {{"absolute", number(gap)}, {"relative", svd.loss > 0.0 ? number(gap / svd.loss) : json(nullptr)}}}};
  json config{{"rank", options.rank},
              {"epochs", options.epochs},
              {"lr", options.lr},
              {"reduction", options.reduction},
              {"seed", seed},
              {"seed_given", options.common.seed.has_value()},
              {"loss_every", options.loss_every},
              {"threads", torch::get_num_threads()},
              {"dtype", "float64"},
              {"preprocessing", "mean-centred columns"}};
  const json out = document("factorise", std::move(config), describe(data), std::move(results));
  write_output(out.dump(2) + "\n", options.common.output);

  if (trained.diverged) {
    std::cerr << "labrun: warning: training diverged at epoch " << *trained.diverged_at_epoch
              << " (the loss became NaN or Inf); try a smaller --lr than " << options.lr << "\n";
    return kExitDiverged;
  }
  return kExitOk;
}

}  // namespace labrun::cli
