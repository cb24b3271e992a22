#include "compare_cmd.hpp"

#include "document.hpp"
#include "labrun/output_file.hpp"
#include "labrun/render.hpp"
#include "labrun/study_file.hpp"

#include "labrun/resources.hpp"
#include "labrun/statistics.hpp"
#include "labrun/sweep.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

namespace labrun::cli {

CLI::App* setup_compare(CLI::App& app, CompareCommand& command) {
  CLI::App* sub =
      app.add_subcommand("compare",
                         "Compare a study's settings on one figure: paired differences with bootstrap intervals, the "
                         "probability of improvement, and rank tests with Holm's correction (docs/studies.md)");
  sub->add_option("study", command.input, "A whole study's JSON Lines (labrun sweep, or labrun merge of its shards)")
      ->required()
      ->check(CLI::ExistingFile);
  sub->add_option("--baseline", command.baseline,
                  "Compare each setting with this one, by its key, e.g. \"lr=0.01\" (default: every pair)")
      ->type_name("KEY");
  sub->add_option("--metric", command.metric,
                  "The figure compared: one of the study's (default val_accuracy, or loss for a factorisation)")
      ->type_name("NAME");
  sub->add_option("--epochs", command.epochs, "The epochs value compared, one of the study's (default: the largest)")
      ->type_name("N");
  sub->add_option("--bootstrap", command.resamples, "Bootstrap resamples of each interval, 0 to 1000000")
      ->type_name("B")
      ->capture_default_str();
  add_choice(*sub, "--format", command.format, {Format::json, Format::text}, "json: the whole document; text: a table");
  sub->add_option("-o,--output", command.output, "Write to FILE, atomically (default: stdout)")->type_name("FILE");
  refuse_empty_values(*sub);
  return sub;
}

namespace {

std::string table(const StudyPlan& plan, const std::vector<SettingComparison>& comparisons, const std::string& metric,
                  int64_t epochs) {
  std::string text = fmt::format("{} after {} epochs ({}): setting minus baseline; P(better): {} is better\n", metric,
                                 epochs, plan.part == "mlp" ? "labrun sweep mlp" : "labrun sweep factorise",
                                 comparisons.empty() || comparisons.front().higher_is_better ? "higher" : "lower");
  // The key columns as wide as the longest key (at least 24).
  std::size_t width = 24;
  for (const SettingComparison& c : comparisons) {
    width = std::max({width, plan.key(c.setting).size(), plan.key(c.baseline).size()});
  }
  text += fmt::format("{:<{}} {:<{}} {:>6} {:>10} {:>21} {:>9} {:>15} {:>9} {:>9}\n", "setting", width, "baseline",
                      width, "pairs", "difference", "95% bootstrap CI", "P(better)", "95% CI", "p", "p (Holm)");
  // Undefined figures (a setting whose every run diverged) as n/a, as the other tables write them.
  const auto figure = [](double value, const char* spec) {
    return std::isfinite(value) ? fmt::format(fmt::runtime(spec), value) : std::string("n/a");
  };
  const auto interval = [&](const Interval& i, const char* spec) {
    return std::isfinite(i.low) && std::isfinite(i.high) ? figure(i.low, spec) + " - " + figure(i.high, spec)
                                                         : std::string("n/a");
  };
  for (const SettingComparison& c : comparisons) {
    const Comparison& r = c.result;
    const std::string a = plan.key(c.setting), b = plan.key(c.baseline);
    text += fmt::format("{:<{}} {:<{}} {:>6} {:>10} {:>21} {:>9} {:>15} {:>9} {:>9}\n", a, width, b, width,
                        r.paired ? std::to_string(r.n_x) : "-", figure(r.difference, "{:.4g}"),
                        interval(r.difference_bootstrap, "{:.4f}"), figure(r.improvement, "{:.3f}"),
                        interval(r.improvement_bootstrap, "{:.3f}"), figure(r.p_value, "{:.2g}"),
                        figure(r.p_holm, "{:.2g}"));
  }
  return text;
}

}  // namespace

int run_compare(const CompareCommand& command) {
  with_option_names(OptionNames(), [&] { require_resamples("compare", "resamples", command.resamples); });
  refuse_output_onto_input(command.output, command.input, "the study");
  const ReadStudy study = read_whole_study(command.input);
  const HeaderPlan& header = study.header;
  const StudySummary& runs = study.runs;
  const StudyFile& file = study.file;
  const StudyPlan& plan = header.plan;
  if (header.count > 1) {
    throw DataError(fmt::format("{} is shard {}/{} of a study: merge the shards first (labrun merge)", command.input,
                                header.index, header.count));
  }
  if (file.runs == 0) throw DataError(command.input + " holds no runs to compare");
  if (file.runs < plan.runs()) {
    note(fmt::format("{} holds {} of its {} runs: the comparisons are over those (a pair needs both of its runs)",
                     command.input, file.runs, plan.runs()));
  }
  if (plan.settings() < 2) throw DataError(command.input + " has one setting: nothing to compare it with");
  CompareOptions options;
  options.metric = command.metric.empty() ? (plan.part == "mlp" ? "val_accuracy" : "loss") : command.metric;
  options.epochs = command.epochs;
  options.resamples = command.resamples;
  if (!command.baseline.empty()) {
    for (int64_t s = 0; s < plan.settings(); ++s) {
      if (plan.key(s) == command.baseline) options.baseline = s;
    }
    if (!options.baseline) {
      std::string keys;
      for (int64_t s = 0; s < plan.settings() && s < 12; ++s) keys += (keys.empty() ? "" : ", ") + plan.key(s);
      throw UsageError(fmt::format("--baseline \"{}\" is not a setting of {}: its settings are {}{}", command.baseline,
                                   command.input, keys, plan.settings() > 12 ? ", ..." : ""));
    }
  }
  const std::vector<SettingComparison> comparisons =
      with_option_names(OptionNames(), [&] { return compare_settings(plan, runs, options); });
  const int64_t epochs = options.epochs.value_or(plan.epochs.back());
  // A factorisation's loss and gap are of its matrix: settings that scale the columns otherwise
  // factorise other matrices, and their difference says nothing of the settings.
  const bool normalise_axis =
      std::any_of(plan.axes.begin(), plan.axes.end(), [](const Axis& axis) { return axis.name == "normalise"; });
  if (normalise_axis && (options.metric == "loss" || options.metric == "gap")) {
    note(
        fmt::format("{}: settings of another normalise factorise another matrix: their {} does not compare "
                    "across them (relative_gap does)",
                    command.input, options.metric));
  }
  std::string text;
  if (command.format == Format::text) {
    text = table(plan, comparisons, options.metric, epochs);
  } else {
    json list = json::array();
    for (const SettingComparison& c : comparisons) {
      const Comparison& r = c.result;
      list.push_back({{"setting", plan.key(c.setting)},
                      {"baseline", plan.key(c.baseline)},
                      {"paired", r.paired},
                      {"n", r.n_x},
                      {"n_baseline", r.n_y},
                      {"difference", number(r.difference)},
                      {"difference_ci95", {number(r.difference_bootstrap.low), number(r.difference_bootstrap.high)}},
                      {"p_better", number(r.improvement)},
                      {"p_better_ci95", {number(r.improvement_bootstrap.low), number(r.improvement_bootstrap.high)}},
                      {"test", r.paired ? "wilcoxon signed-rank" : "mann-whitney u"},
                      {"p_value", number(r.p_value)},
                      {"p_holm", number(r.p_holm)}});
    }
    text = compact_dump(json{{"schema_version", kSchemaVersion},
                             {"command", "compare"},
                             {"study", command.input},
                             {"metric", options.metric},
                             {"epochs", epochs},
                             {"higher_is_better", options.metric.find("accuracy") != std::string::npos},
                             {"runs", file.runs},
                             {"bootstrap_resamples", options.resamples},
                             {"seed", plan.seed},
                             {"comparisons", list}}) +
           "\n";
  }
  write_output(text, command.output);
  return kExitOk;
}

}  // namespace labrun::cli
