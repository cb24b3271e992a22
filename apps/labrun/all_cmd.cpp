#include "all_cmd.hpp"

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
  add_factorise_options(*sub, command.exercise.factorise, command.checks, command.factorise_names);
  add_mlp_options(*sub, command.exercise.mlp, command.checks, command.mlp_names);
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
  const Dataset data = start_command(command.common, command.checks);
  ExerciseOptions options = command.exercise;
  if (command.loss_every) {
    require_at_least("--loss-every", *command.loss_every, 0);
    options.factorise.gd.record_every = *command.loss_every;
    options.mlp.training.record_every = *command.loss_every;
  }
  // Each part's options checked as exercise() checks them, and named as the part declared them.
  FactoriseStudyOptions factorise = options.factorise;
  factorise.pca = true;
  with_option_names(command.factorise_names, [&] { check_options(data, factorise); });
  with_option_names(command.mlp_names, [&] { check_options(data, options.mlp); });
  require_labels(data);
  // The MLP's runs are written as they finish, not kept: the document's memory is a run's.
  ExerciseOptions one_run = options;
  one_run.mlp.repeats = 1;
  options.seed = admit_work(command.common, estimate(data, options, /*keeps_runs=*/false),
                            factorise_document_numbers(data, options.factorise) + mlp_document_numbers(one_run.mlp),
                            factorise_size(data, options.factorise) + " and " + mlp_size(options.mlp),
                            "use fewer --repeats, a smaller --hidden or a larger --loss-every");

  // As mlp writes its document: JSON as the runs come (the factorisation's results first, known
  // before the MLP starts), the text summary from the first runs and the summary of all.
  const bool json_out = command.common.format == Format::json;
  const Provenance provenance{options.seed, command.common.seed.has_value()};
  json head = document("all", exercise_config(options, provenance), describe(data), json::object());
  std::optional<Output> output;
  if (json_out) output.emplace(command.common.output);
  std::optional<StreamedDocument> stream;
  json shown = json::array();
  constexpr std::size_t kShown = 20;  // as many as the text summary lists
  ProgressLine progress(command.common.progress, "MLP runs");
  ExerciseHooks hooks;
  hooks.on_factorised = [&](const FactoriseStudyResult& factorised) {
    head["results"]["factorise"] = pca_results(factorised, data);
  };
  hooks.mlp.on_start = [&](const MlpStudyResult& start) {
    warn_unseen_classes(start, options.mlp.shuffle);
    warn_lost_updates(start, command.mlp_names.flag("lr"), options.mlp.training.lr);
    head["results"]["mlp"] = mlp_results_head(start);
    if (json_out) stream.emplace(head, std::vector<std::string>{"results", "mlp"}, "runs", *output);
  };
  hooks.mlp.on_run = [&](int64_t repeat, MlpResult&& run) {
    const json j = mlp_run(repeat, run);
    if (stream) stream->item(j);
    if (shown.size() < kShown) shown.push_back(j);
  };
  hooks.mlp.on_progress = std::ref(progress);
  const ExerciseResult result = exercise(data, options, hooks);
  progress.finish();
  const json tail = mlp_results_tail(result.mlp);
  if (stream) {
    stream->finish(tail);
    output->commit();
  }
  if (!json_out || command.common.summary) {
    head["results"]["mlp"]["runs"] = shown;
    head["results"]["mlp"].update(tail);
    if (!json_out) write_output(text_summary(head), command.common.output);
    if (command.common.summary) std::cerr << text_summary(head);
  }
  const int factorise_code = factorise_exit_code(data, result.factorise, options.factorise, command.factorise_names);
  const int mlp_code = mlp_exit_code(result.mlp, command.mlp_names.flag("lr"), options.mlp.training.lr);
  return factorise_code != kExitOk ? factorise_code : mlp_code;
}

}  // namespace labrun::cli
