#include "all_cmd.hpp"

#include "blas_restart.hpp"
#include "factorise_cmd.hpp"
#include "mlp_cmd.hpp"
#include "output.hpp"
#include "pca_cmd.hpp"
#include "text.hpp"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

namespace labrun::cli {

CLI::App* setup_all(CLI::App& app, AllCommand& options) {
  CLI::App* command = app.add_subcommand(
      "all", "Run every part (1.1 to 2.2) in one process from one seed and write one document: results.factorise, "
             "results.pca, results.mlp");
  command->add_option("--rank", options.rank, "Rank of the factorisation")->capture_default_str();
  command->add_option("--factorise-epochs", options.factorise_epochs, "Epochs of the factorisation, >= 0")
      ->capture_default_str();
  command->add_option("--factorise-lr", options.factorise_lr, "Learning rate of the factorisation, > 0")
      ->capture_default_str();
  command->add_option("--reduction", options.reduction, "Loss reduction of the factorisation: sum or mean")
      ->check(CLI::IsMember({"sum", "mean"}))
      ->capture_default_str();
  command->add_option("--loss-form", options.loss_form, "How autograd sees the factorisation's loss: residual or gram")
      ->check(CLI::IsMember({"residual", "gram"}))
      ->capture_default_str();
  command->add_option("--hidden", options.hidden, "Hidden units of the MLP, >= 1")->capture_default_str();
  command->add_option("--mlp-epochs", options.mlp_epochs, "Epochs of the MLP, >= 0")->capture_default_str();
  command->add_option("--mlp-lr", options.mlp_lr, "Learning rate of the MLP, > 0")->capture_default_str();
  command->add_option("--repeats", options.repeats, "MLP models trained, >= 1")->capture_default_str();
  command->add_option("--train-size", options.train_size, "The first rows that train the MLP")->capture_default_str();
  command->add_option("--normalise", options.normalise, "MLP feature scaling: var, std or none")
      ->check(CLI::IsMember({"var", "std", "none"}))
      ->capture_default_str();
  command->add_option("--engine", options.engine, "MLP engine: sequential or batched")
      ->check(CLI::IsMember({"sequential", "batched"}))
      ->capture_default_str();
  command->add_flag("--reshuffle", options.reshuffle, "A new shuffle and split for each MLP repeat");
  command->add_flag("--no-shuffle", options.no_shuffle, "Keep the file's row order for the MLP");
  command->add_option("--loss-every", options.loss_every, "Record losses every K epochs (0: none)")
      ->capture_default_str()
      ->type_name("K");
  add_common_options(*command, options.common);
  return command;
}

int run_all(const AllCommand& options) {
  // Checked under this command's own option names before the parts check theirs.
  require_at_least("--factorise-epochs", options.factorise_epochs, 0);
  require_finite_positive("--factorise-lr", options.factorise_lr);
  require_at_least("--mlp-epochs", options.mlp_epochs, 0);
  require_finite_positive("--mlp-lr", options.mlp_lr);
  FactoriseCommand factorise_options;
  factorise_options.common = options.common;
  factorise_options.rank = options.rank;
  factorise_options.epochs = options.factorise_epochs;
  factorise_options.lr = options.factorise_lr;
  factorise_options.reduction = options.reduction;
  factorise_options.loss_form = options.loss_form;
  factorise_options.loss_every = options.loss_every;
  MlpCommand mlp_options;
  mlp_options.common = options.common;
  mlp_options.hidden = options.hidden;
  mlp_options.epochs = options.mlp_epochs;
  mlp_options.lr = options.mlp_lr;
  mlp_options.repeats = options.repeats;
  mlp_options.train_size = options.train_size;
  mlp_options.normalise = options.normalise;
  mlp_options.engine = options.engine;
  mlp_options.reshuffle = options.reshuffle;
  mlp_options.no_shuffle = options.no_shuffle;
  mlp_options.loss_every = options.loss_every;
  check_factorise_options(factorise_options);
  check_mlp_options(mlp_options);

  apply_threads(options.common);
  const Dataset data = load_data(options.common, /*min_rows=*/2);
  use_best_blas_kernel(factorise_work_flops(factorise_options, data) + mlp_work_flops(mlp_options, data));
  const uint64_t seed = resolve_seed(options.common);

  // One stream, as the exercise's script after one torch.manual_seed: U and V, then the MLP's weights.
  at::Generator generator = at::make_generator<at::CPUGeneratorImpl>(seed);
  const Factorisation factorised = factorise_data(factorise_options, data, seed, &generator);
  const MlpOutcome trained = mlp_data(mlp_options, data, seed, generator);

  json factorise_config_json = factorise_config(factorise_options, factorised);
  json mlp_config_json = trained.config;
  for (const char* shared : {"seed", "seed_given", "threads"}) {
    factorise_config_json.erase(shared);
    mlp_config_json.erase(shared);
  }
  const json config{{"seed", seed},
                    {"seed_given", options.common.seed.has_value()},
                    {"threads", torch::get_num_threads()},
                    {"factorise", std::move(factorise_config_json)},
                    {"mlp", std::move(mlp_config_json)}};
  const json results{{"factorise", factorise_results(factorised)},
                     {"pca", pca_results(factorised)},
                     {"mlp", trained.results}};
  write_output(render(document("all", config, describe(data), results), options.common.format),
               options.common.output);
  const int factorise_code = factorise_exit_code(factorise_options, factorised);
  const int mlp_code = mlp_exit_code(mlp_options, trained);
  return factorise_code != kExitOk ? factorise_code : mlp_code;
}

}  // namespace labrun::cli
