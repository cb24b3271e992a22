#include "all_cmd.hpp"

#include "blas_restart.hpp"
#include "document.hpp"
#include "factorise_cmd.hpp"
#include "labrun/output_file.hpp"
#include "labrun/render.hpp"
#include "mlp_cmd.hpp"
#include "progress.hpp"

#include <functional>

namespace labrun::cli {

CLI::App* setup_all(CLI::App& app, AllCommand& command) {
  CLI::App* sub = app.add_subcommand(
      "all",
      "Run every part (1.1 to 2.2) in one process from one seed and write one document: results.factorise "
      "(parts 1.1 to 1.3, as pca writes them) and results.mlp");
  // Defaults that fill the one-page report: both loss curves, and enough MLP runs to show their
  // spread (the batched engine trains 200 in a fraction of a second).
  command.exercise.factorise.gd.record_every = 10;
  command.exercise.mlp.training.record_every = 10;
  command.exercise.mlp.repeats = 200;
  add_factorise_options(*sub, command.exercise.factorise, command.checks, OptionNames{"factorise-"});
  add_mlp_options(*sub, command.exercise.mlp, command.checks, OptionNames{"mlp-"});
  // One option for both loss curves, as the report draws them side by side.
  sub->add_option("--loss-every", command.loss_every,
                  "Record both parts' losses every K epochs (0: none); overrides --factorise-loss-every and "
                  "--mlp-loss-every")
      ->type_name("K");
  add_common_options(*sub, command.common, command.checks);
  refuse_empty_values(*sub);
  return sub;
}

int run_all(const AllCommand& command) {
  command.checks.run();
  apply_threads(command.common);
  const Dataset data = load_data(command.common, /*min_rows=*/2);
  check_rank_fits("--rank", command.exercise.factorise.gd.rank, data);
  check_streamable("--streaming", command.exercise.factorise, data);
  check_train_size_fits("--train-size", command.exercise.mlp.train_size, data);
  ExerciseOptions options = command.exercise;
  if (command.loss_every) {
    require_at_least("--loss-every", *command.loss_every, 0);
    options.factorise.gd.record_every = *command.loss_every;
    options.mlp.training.record_every = *command.loss_every;
  }
  require_memory_for(exercise_memory(data, options),
                     factorise_document_numbers(data, options.factorise) + mlp_document_numbers(options.mlp),
                     factorise_size(data, options.factorise) + " and " + mlp_size(options.mlp),
                     "use fewer --repeats, a smaller --hidden or a larger --loss-every");
  use_best_blas_kernel(exercise_flops(data, options), command.common);
  options.seed = resolve_seed(command.common);

  ProgressLine progress(command.common.progress, "MLP runs");
  MlpStudyHooks hooks;
  hooks.on_progress = std::ref(progress);
  hooks.on_start = [&](const MlpStudyResult& start) {
    warn_unseen_classes(start, options.mlp.shuffle);
    warn_lost_updates(start, "--mlp-lr", options.mlp.training.lr);
  };
  const ExerciseResult result = exercise(data, options, hooks);
  progress.finish();
  const Provenance provenance{options.seed, command.common.seed.has_value()};
  emit(document("all", exercise_config(options, provenance), describe(data), exercise_results(result, data)),
       command.common);
  const int factorise_code = factorise_exit_code(data, result.factorise, options.factorise, OptionNames{"factorise-"});
  const int mlp_code = mlp_exit_code(result.mlp, "--mlp-lr", options.mlp.training.lr);
  return factorise_code != kExitOk ? factorise_code : mlp_code;
}

}  // namespace labrun::cli
