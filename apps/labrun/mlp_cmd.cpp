#include "mlp_cmd.hpp"

#include "document.hpp"
#include "labrun/output_file.hpp"
#include "labrun/render.hpp"
#include "labrun/utf8.hpp"
#include "progress.hpp"

#include <fmt/format.h>

#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace labrun::cli {

void warn_unseen_classes(const MlpStudyResult& start, Shuffle shuffle) {
  if (start.unseen_classes.empty()) return;
  std::string names;
  for (const std::string& name : start.unseen_classes) names += (names.empty() ? "" : ", ") + printable(name, 60);
  fmt::print(stderr,
             "labrun: warning: the validation rows hold {} {} that the training rows never do{}: no model can "
             "predict {}\n",
             start.unseen_classes.size() == 1 ? "class" : "classes", names,
             shuffle == Shuffle::none ? " (--no-shuffle keeps the file's order: rows sorted by class?)" : "",
             start.unseen_classes.size() == 1 ? "it" : "them");
}

void warn_lost_updates(const MlpStudyResult& start, const std::string& lr_option, double lr) {
  if (start.lost_update_share <= 0.5) return;
  fmt::print(stderr,
             "labrun: warning: at {} {:g}, {:.0f}% of the first update's steps are below float32's precision beside "
             "the weights they update, and are lost: training changes {}; a larger {}\n",
             lr_option, lr, 100.0 * start.lost_update_share,
             start.lost_update_share == 1.0 ? "nothing" : "most weights little or not at all", lr_option);
}

void add_mlp_options(CLI::App& command, MlpStudyOptions& options, Checks& checks, const OptionNames& names) {
  add_at_least(command, checks, names("hidden"), options.hidden, 1, "Hidden units H, >= 1");
  add_at_least(command, checks, names("epochs", true), options.training.epochs, 0,
               "Full-batch gradient-descent epochs, >= 0");
  add_lr(
      command, checks, names("lr", true), options.training.lr, [] { return Dtype::float32; },
      "Learning rate, > 0 (and <= 3.4e38: the MLP trains in float32)");
  add_at_least(command, checks, names("repeats"), options.repeats, 1,
               "Models trained from fresh initialisations, >= 1");
  add_whole(command, names("train-size"), options.train_size, "The first rows that train; the rest validate");
  add_choice(command, names("normalise"), options.normalise, {Normalise::var, Normalise::std, Normalise::none},
             "Feature scaling: var, (x - mean) / variance (the exercise's); std; none");
  add_choice(command, names("engine"), options.engine, {Engine::sequential, Engine::batched},
             "sequential: one model after another, the exercise's code; batched: all models at once");
  // Two flags for one choice of the library's (Shuffle), so that the exercise's shuffle is the default.
  auto flags = std::make_shared<std::pair<bool, bool>>(false, false);
  const std::string reshuffle = names("reshuffle"), no_shuffle = names("no-shuffle");
  command.add_flag_callback(
      reshuffle,
      [flags, &options] {
        flags->first = true;
        options.shuffle = Shuffle::per_repeat;
      },
      "Draw a new shuffle and split for each repeat");
  command.add_flag_callback(
      no_shuffle,
      [flags, &options] {
        flags->second = true;
        options.shuffle = Shuffle::none;
      },
      "Keep the file's row order");
  checks.add([flags, reshuffle, no_shuffle] {
    if (flags->first && flags->second) throw UsageError(reshuffle + " and " + no_shuffle + " exclude each other");
  });
  add_at_least(command, checks, names("loss-every", true), options.training.record_every, 0,
               "Record each run's loss every K epochs (0: none)")
      ->type_name("K");
  add_resamples(command, checks, names("bootstrap"), options.resamples,
                "Bootstrap resamples of the summary's 95% intervals of the mean, median and IQM, 0 to 1000000 (0: "
                "none)");
}

CLI::App* setup_mlp(CLI::App& app, MlpCommand& command) {
  return add_study_command(
      app, "mlp",
      "Train the shared-bias MLP from raw tensors (part 2.1) several times and report the accuracies (part 2.2)",
      command, add_mlp_options);
}

int mlp_exit_code(const MlpStudyResult& result, const std::string& lr_option, double lr) {
  if (result.diverged_runs == 0) return kExitOk;
  const int64_t runs = result.val_accuracy.n + result.diverged_runs;  // the summary leaves the diverged out
  const std::string which =
      result.diverged_runs == runs ? "every repeat" : fmt::format("{} of {} repeats", result.diverged_runs, runs);
  std::cerr << fmt::format(
      "labrun: warning: training diverged in {} (a loss became NaN or Inf); try a smaller {} than {}\n", which,
      lr_option, lr);
  return kExitDiverged;
}

double mlp_document_numbers(const MlpStudyOptions& options) {
  return static_cast<double>(options.repeats) *
         (8.0 + curve_numbers(options.training.epochs, options.training.record_every));
}

std::string mlp_size(const MlpStudyOptions& options) {
  return fmt::format("{} repeats of a {}-unit MLP over {} epochs", options.repeats, options.hidden,
                     options.training.epochs);
}

int run_mlp(const MlpCommand& command) {
  const Dataset data = start_command(command.common, command.checks);
  MlpStudyOptions options = command.study;
  with_option_names(command.names, [&] { check_options(data, options); });
  require_labels(data);
  // The runs are written as they finish, not kept: the document's memory is a run's.
  MlpStudyOptions one_run = options;
  one_run.repeats = 1;
  options.seed =
      admit_work(command.common, estimate(data, options, /*keeps_runs=*/false), mlp_document_numbers(one_run),
                 mlp_size(options), "use fewer --repeats or a smaller --hidden");

  // JSON goes out as the runs come (into a temporary file for -o, renamed when whole); the text
  // summary, and --summary, show the first runs and the summary of all.
  const bool json_out = command.common.format == Format::json;
  const Provenance provenance{options.seed, command.common.seed.has_value()};
  json head = document("mlp", mlp_config(options, &provenance), describe(data), json::object());
  std::optional<Output> output;
  if (json_out) output.emplace(command.common.output);
  std::optional<StreamedDocument> stream;
  json shown = json::array();
  constexpr std::size_t kShown = 20;  // as many as the text summary lists
  ProgressLine progress(command.common.progress, "runs");
  MlpStudyHooks hooks;
  hooks.on_start = [&](const MlpStudyResult& start) {
    warn_unseen_classes(start, options.shuffle);
    warn_lost_updates(start, command.names.flag("lr"), options.training.lr);
    head["results"] = mlp_results_head(start);
    if (json_out) stream.emplace(head, std::vector<std::string>{"results"}, "runs", *output);
  };
  hooks.on_run = [&](int64_t repeat, MlpResult&& run) {
    const json j = mlp_run(repeat, run);
    if (stream) stream->item(j);
    if (shown.size() < kShown) shown.push_back(j);
  };
  hooks.on_progress = std::ref(progress);
  const MlpStudyResult result = mlp_study(data, options, hooks);
  progress.finish();
  const json tail = mlp_results_tail(result);
  if (stream) {
    stream->finish(tail);
    output->commit();
  }
  if (!json_out || command.common.summary) {
    head["results"]["runs"] = shown;
    head["results"].update(tail);
    if (!json_out) write_output(text_summary(head), command.common.output);
    if (command.common.summary) std::cerr << text_summary(head);
  }
  return mlp_exit_code(result, command.names.flag("lr"), options.training.lr);
}

}  // namespace labrun::cli
