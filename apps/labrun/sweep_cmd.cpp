#include "sweep_cmd.hpp"

#include "blas_restart.hpp"
#include "document.hpp"
#include "labrun/output_file.hpp"
#include "progress.hpp"

#include "labrun/resources.hpp"
#include "labrun/study_file.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string_view>
#include <type_traits>

namespace labrun::cli {
namespace {

// A record's bytes in the JSON Lines, for the estimate printed before the study starts; a summary
// line a cell (~600 bytes measured), and the end line.
constexpr double kRecordBytes = 120.0, kCheckpointBytes = 110.0, kClosingBytes = 2048.0;

// The disk's free space against what the file will hold, for a regular file or one to be made; a
// pipe, a FIFO or a device has no disk to fill.
void require_disk_space(const std::string& out, double bytes) {
  if (out.empty() || out == "-") return;
  struct stat target {};
  const bool exists = ::stat(out.c_str(), &target) == 0;
  const std::size_t slash = out.rfind('/');
  const std::string directory = slash == std::string::npos ? "." : slash == 0 ? "/" : out.substr(0, slash);
  struct statvfs disk {};
  if ((exists && !S_ISREG(target.st_mode)) || ::statvfs(directory.c_str(), &disk) != 0) return;
  const double free = static_cast<double>(disk.f_bavail) * static_cast<double>(disk.f_frsize);
  if (bytes > free) {
    throw ResourceError(
        fmt::format("the sweep would write about {} to {}, and {} is free there; fewer values "
                    "or repeats, or shards (--shard i/N) on several disks",
                    format_bytes(bytes), out, format_bytes(free)));
  }
}

// "0.01,0.1,1" -> its items; an empty item ("0.1,", "0.1,,1") is refused, as an empty value is.
std::vector<std::string> split_list(const std::string& option, const std::string& text) {
  std::vector<std::string> items;
  std::size_t start = 0;
  while (true) {
    const std::size_t comma = text.find(',', start);
    items.push_back(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (items.back().empty()) {
      throw UsageError(fmt::format("{} '{}': item {} is empty; give values separated by commas, e.g. 0.01,0.1", option,
                                   text, items.size()));
    }
    if (comma == std::string::npos) return items;
    start = comma + 1;
  }
}

template <class T>
T parse_item(const std::string& option, const std::string& item) {
  errno = 0;
  char* end = nullptr;
  if constexpr (std::is_same_v<T, double>) {
    const double value = std::strtod(item.c_str(), &end);
    if (end == item.c_str() + item.size() && errno != ERANGE) return value;
    if (end == item.c_str() + item.size() && !item.empty()) {  // a number, beyond double's range
      throw UsageError(fmt::format("{}: '{}' is {} double's range (about 2.2e-308 to 1.8e308)", option, item,
                                   std::abs(value) > 1.0 ? "beyond" : "below"));
    }
    throw UsageError(fmt::format("{}: '{}' is not a number", option, item));
  } else {
    const long long value = std::strtoll(item.c_str(), &end, 10);
    if (end == item.c_str() + item.size() && errno != ERANGE && item.find_first_of(".eE") == std::string::npos) {
      return static_cast<T>(value);
    }
    throw UsageError(fmt::format("{}: '{}' is not a whole number", option, item));
  }
}

// A list option, comma-separated: --lr 0.01,0.1,1. Parsed after the command line is (by `checks`),
// so that each message names the option and the item.
template <class T>
void add_list(CLI::App& command, Checks& checks, const std::string& name, std::vector<T>& values,
              const std::string& help) {
  auto text = std::make_shared<std::string>();
  command.add_option(name, *text, help)->type_name("LIST");
  checks.add([name, text, &values] {
    if (text->empty()) return;
    values.clear();
    for (const std::string& item : split_list(name, *text)) values.push_back(parse_item<T>(name, item));
  });
}

// A list option whose values are named by the library's to_string: --normalise var,std.
template <class Enum>
void add_choices(CLI::App& command, Checks& checks, const std::string& name, std::vector<Enum>& values,
                 std::initializer_list<Enum> choices, const std::string& help) {
  std::string listed;
  const std::map<std::string, Enum> names = enum_names(choices, listed, ",");
  auto text = std::make_shared<std::string>();
  command.add_option(name, *text, help)->type_name("LIST of " + listed);
  checks.add([name, text, names, listed, &values] {
    if (text->empty()) return;
    values.clear();
    for (const std::string& item : split_list(name, *text)) {
      if (!names.count(item)) throw UsageError(fmt::format("{}: '{}' is not one of {}", name, item, listed));
      values.push_back(names.at(item));
    }
  });
}

void add_sweep_common(CLI::App& sub, SweepCommand& command) {
  sub.add_option("--shard", command.shard,
                 "Run shard i of N (i/N, from 1/N to N/N): a contiguous share of the runs; combine the shards' "
                 "outputs with labrun merge")
      ->type_name("i/N");
  sub.add_flag("--resume", command.resume,
               "Continue the study in the -o FILE: keep its runs, drop a torn last line, train the rest");
}

constexpr const char* kBootstrapHelp =
    "Bootstrap resamples of each summary's 95% intervals of the mean, median and IQM, 0 to 1000000 (0: "
    "none)";

// "1 setting", "3 settings".
std::string counted(int64_t n, const std::string& one, const std::string& many = "") {
  return std::to_string(n) + " " + (n == 1 ? one : many.empty() ? one + "s" : many);
}

std::pair<int64_t, int64_t> parse_shard(const std::string& text) {
  const std::size_t slash = text.find('/');
  const auto whole = [](const std::string& s) {
    return !s.empty() && s.size() <= 9 && s.find_first_not_of("0123456789") == std::string::npos;
  };
  if (slash == std::string::npos || !whole(text.substr(0, slash)) || !whole(text.substr(slash + 1))) {
    throw UsageError("--shard " + text + " must be i/N with whole numbers, e.g. 2/3 (the second of three)");
  }
  const int64_t i = std::stoll(text.substr(0, slash)), n = std::stoll(text.substr(slash + 1));
  if (n < 1) throw UsageError(fmt::format("--shard {}: N, the number of shards, must be >= 1", text));
  if (i < 1 || i > n) {
    throw UsageError(fmt::format("--shard {}: shards are numbered 1 to N, so i must be in 1..{}", text, n));
  }
  if (n > kMaxShards) {
    throw UsageError(fmt::format("--shard {}: at most {} shards (2^20) make one study", text, kMaxShards));
  }
  return {i, n};
}

}  // namespace

std::pair<CLI::App*, CLI::App*> setup_sweep(CLI::App& app, SweepCommand& mlp, SweepCommand& factorise) {
  CLI::App* sweep = app.add_subcommand(
      "sweep",
      "A grid of settings, each repeated over seeds: one JSON Lines record per run as it finishes, then a "
      "summary per setting and epochs value (docs/studies.md)");
  sweep->require_subcommand(1);

  mlp.part = "mlp";
  CLI::App* m = sweep->add_subcommand("mlp", "Sweep the MLP (part 2.2): lr, epochs, hidden, train size, ...");
  MlpSweep& s = mlp.mlp;
  s.base.repeats = 200;
  add_list(*m, mlp.checks, "--lr", s.lr, "Learning rates, e.g. 0.01,0.1,1");
  add_list(*m, mlp.checks, "--epochs", s.epochs,
           "Epoch counts: each run trains to the largest and is evaluated at each (default 100)");
  add_list(*m, mlp.checks, "--hidden", s.hidden, "Hidden units H (default 12)");
  add_list(*m, mlp.checks, "--train-size", s.train_size, "Rows that train (default 100)");
  add_choices(*m, mlp.checks, "--normalise", s.normalise, {Normalise::var, Normalise::std, Normalise::none},
              "Feature scaling (default var)");
  add_choices(*m, mlp.checks, "--engine", s.engine, {Engine::sequential, Engine::batched}, "Engines (default batched)");
  add_choices(*m, mlp.checks, "--shuffle", s.shuffle, {Shuffle::once, Shuffle::per_repeat, Shuffle::none},
              "Shuffles: once (the exercise's), per-repeat, none (default once)");
  add_at_least(*m, mlp.checks, "--repeats", s.base.repeats, 1, "Runs of each setting, >= 1");
  add_at_least(*m, mlp.checks, "--chunk", s.base.chunk, 1, "Models the batched engine trains at once, >= 1");
  add_resamples(*m, mlp.checks, "--bootstrap", s.base.resamples, kBootstrapHelp);
  add_sweep_common(*m, mlp);
  add_common_options(*m, mlp.common, mlp.checks);
  // A study is JSON Lines written in place (so that --resume can continue it), in one format.
  m->get_option("--output")
      ->description("Write the study's JSON Lines to FILE, in place: --resume continues it (default: stdout)");
  m->remove_option(m->get_option("--format"));
  refuse_empty_values(*m);

  factorise.part = "factorise";
  CLI::App* f = sweep->add_subcommand("factorise", "Sweep the factorisation (part 1): rank, lr, epochs, ...");
  FactoriseSweep& g = factorise.factorise;
  g.repeats = 20;
  add_list(*f, factorise.checks, "--rank", g.rank, "Ranks r (default 2)");
  add_list(*f, factorise.checks, "--lr", g.lr, "Learning rates (default 0.01)");
  add_list(*f, factorise.checks, "--epochs", g.epochs,
           "Epoch counts: each run trains to the largest and is evaluated at each (default 1000)");
  add_choices(*f, factorise.checks, "--reduction", g.reduction, {Reduction::sum, Reduction::mean},
              "Loss reductions (default sum)");
  add_choices(*f, factorise.checks, "--loss-form", g.form, {LossForm::residual, LossForm::gram},
              "Loss forms (default residual)");
  add_choices(*f, factorise.checks, "--dtype", g.dtype, {Dtype::float64, Dtype::float32}, "Dtypes (default float64)");
  add_choices(*f, factorise.checks, "--normalise", g.normalise, {Normalise::none, Normalise::std, Normalise::var},
              "Column scalings (default none, the exercise's)");
  add_choices(*f, factorise.checks, "--engine", g.engines, {Engine::sequential, Engine::batched},
              "batched: a setting's seeds trained together (default); sequential: one after another");
  add_at_least(*f, factorise.checks, "--chunk", g.chunk, 1, "Seeds the batched engine trains at once, >= 1");
  add_resamples(*f, factorise.checks, "--bootstrap", g.resamples, kBootstrapHelp);
  add_at_least(*f, factorise.checks, "--repeats", g.repeats, 1, "Runs of each setting, >= 1: repeat r uses seed + r");
  add_sweep_common(*f, factorise);
  add_common_options(*f, factorise.common, factorise.checks);
  // A study is JSON Lines written in place (so that --resume can continue it), in one format.
  f->get_option("--output")
      ->description("Write the study's JSON Lines to FILE, in place: --resume continues it (default: stdout)");
  f->remove_option(f->get_option("--format"));
  refuse_empty_values(*f);
  return {m, f};
}

int run_sweep(const SweepCommand& command) {
  command.checks.run();
  apply_threads(command.common);
  const std::string& path = command.common.output;
  if (command.resume && (path.empty() || path == "-")) {
    throw UsageError("--resume continues the study in -o FILE: give the file");
  }
  const Dataset data = load_data(command.common, /*min_rows=*/2);
  // Resuming a study started without --seed: its seed is the one its header recorded (a seed drawn
  // anew would make it another study); an equal --seed is the same study.
  const std::optional<json> recorded = command.resume ? recorded_config(path) : std::nullopt;
  std::optional<uint64_t> recorded_seed;
  if (recorded && recorded->contains("seed") && recorded->at("seed").is_number_unsigned()) {
    recorded_seed = recorded->at("seed").get<uint64_t>();
  }
  const uint64_t seed = !command.common.seed && recorded_seed ? *recorded_seed : resolve_seed(command.common);
  if (!command.common.seed && recorded_seed) {
    note(fmt::format("{}: resumed with the seed its study recorded, {}", path, *recorded_seed));
  }
  Sweep sweep = command.part == "mlp" ? Sweep(command.mlp) : Sweep(command.factorise);
  std::visit(
      [seed](auto& s) {
        if constexpr (std::is_same_v<std::decay_t<decltype(s)>, MlpSweep>) {
          s.base.seed = seed;
        } else {
          s.seed = seed;
        }
      },
      sweep);

  const StudyPlan plan = with_option_names(OptionNames(), [&] { return plan_sweep(data, sweep); });
  const auto [shard, shards] = command.shard.empty() ? std::pair<int64_t, int64_t>{1, 1} : parse_shard(command.shard);
  if (shards > 1 && !command.common.seed) {
    throw UsageError("--shard " + command.shard + " needs --seed: every shard of a study must draw from one seed");
  }
  if (command.common.format == Format::text) {
    throw UsageError("labrun sweep writes JSON Lines; --summary prints the summary's table on stderr beside them");
  }
  if (plan.runs() > kMaxRuns || plan.runs() < 0) {
    throw UsageError(
        fmt::format("the grid has {} settings x {} repeats = {} runs; at most {} in one study: fewer "
                    "values or repeats",
                    plan.settings(), plan.repeats, plan.runs(), kMaxRuns));
  }
  const HeaderPlan target{plan, shard, shards, shard_span(plan, shard, shards)};
  const RunSpan span = target.span;
  const auto span_runs = static_cast<double>(span.end - span.begin);
  const double output_bytes = span_runs * (kRecordBytes + kCheckpointBytes * static_cast<double>(plan.epochs.size()));
  const double memory = StudySummary::memory(plan) + sweep_memory(data, sweep, plan);

  json config = sweep_config(sweep);
  config["seed"] = seed;
  // Whether the first process was given its seed; a resumed one takes the file's word for it.
  config["seed_given"] =
      recorded && recorded->contains("seed_given") ? recorded->at("seed_given") : json(command.common.seed.has_value());
  json header{{"type", "study"}};
  header.update(document(
      "sweep " + plan.part, config, describe(data),
      json{{"plan", plan_json(plan)},
           {"shard", {{"index", shard}, {"count", shards}, {"first_run", span.begin}, {"end_run", span.end}}}}));
  // The plan lives in results, and the comparison of parts looks at it there.
  header["plan"] = header["results"]["plan"];
  header["shard"] = header["results"]["shard"];
  header.erase("results");

  require_disk_space(path, output_bytes + static_cast<double>(header.dump().size()) +
                               kClosingBytes * (static_cast<double>(plan.cells()) + 1.0));
  require_memory(memory, fmt::format("the sweep of {} runs", plan.runs()),
                 "; fewer values or repeats, or a smaller --chunk");

  // One writer at a time: an exclusive lock on the file for as long as this process writes it.
  // Resuming keeps the runs already in the file (and summarises them), cuts a torn last line and
  // the closing lines, and trains the rest.
  const StudyLock lock(path);
  StudySummary summary(plan);
  Prepared prepared;
  try {
    prepared = prepare_study_file(path, header, target, command.resume, summary);
  } catch (const StudyMismatch& e) {
    throw UsageError(e.what());
  }
  for (std::string& text : prepared.notes) note(std::move(text));
  // What it will do, before it starts (and once nothing refuses it: one line for a refusal).
  // The settings and what makes them; the epochs are not an axis of settings but counts each run
  // is evaluated at.
  std::string axes;
  for (const Axis& axis : plan.axes) {
    if (axis.name != "epochs") axes += fmt::format("{}{} {}", axes.empty() ? "" : " x ", axis.values.size(), axis.name);
  }
  // The summary's bootstrap, when it takes long enough to be worth a word.
  const double bootstrap_seconds = StudySummary::seconds(plan);
  const std::string bootstrap =
      bootstrap_seconds >= 10.0
          ? fmt::format("; the summary's bootstrap up to {} at the end (--bootstrap B sets its resamples, 0 none)",
                        format_duration(bootstrap_seconds))
          : "";
  fmt::print(
      stderr, "labrun: sweep {}: {}{} x {} = {}{}, {}, {}; about {} of JSON Lines, {} of memory{}\n", plan.part,
      counted(plan.settings(), "setting"), axes.empty() ? "" : " (" + axes + ")", counted(plan.repeats, "repeat"),
      counted(plan.runs(), "run"),
      shards > 1 ? fmt::format(" (shard {}/{} runs {})", shard, shards, span.end - span.begin) : "",
      plan.epochs.size() > 1
          ? fmt::format("each trained {} epochs and evaluated at {} counts", plan.epochs.back(), plan.epochs.size())
          : fmt::format("each trained {}", counted(plan.epochs.back(), "epoch")),
      counted(plan.cells(), "summary", "summaries"), format_bytes(output_bytes), format_bytes(memory), bootstrap);

  const std::vector<RunSpan> todo = missing_runs({span}, summary);

  // The BLAS work of the runs to train, for the choice of kernel (which may restart labrun: before
  // anything is written). The header records the decision.
  use_best_blas_kernel(sweep_flops_per_run(data, sweep, plan) * span_runs, command.common);
  header["environment"] = environment();
  Output output(path, Output::Mode::append);
  if (prepared.fresh) output.write(header.dump() + "\n");
  // Each process that writes runs says what it is, before them.
  if (!todo.empty()) {
    const json process = process_record();
    prepared.processes.push_back(json{{"first_run", todo.front().begin}});
    prepared.processes.back().update(process);
    if (const std::string differ = process_differences(prepared.processes); !differ.empty()) note(path + ": " + differ);
    output.write(process_line(process, todo.front().begin));
  }
  // Runs go out in chunks: one write per 64 KiB or per chunk of models, whichever comes first.
  std::string pending;
  const auto flush = [&] {
    output.write(pending);
    pending.clear();
  };
  ProgressLine progress(command.common.progress, "runs");
  SweepHooks hooks;
  hooks.on_run = [&](RunRecord&& run) {
    pending += run_line(plan, run);
    summary.add(run);
    if (pending.size() > 65536) flush();
  };
  hooks.on_progress = [&](const Progress& p) {
    flush();
    progress(p);
  };
  run_sweep(data, sweep, plan, todo, hooks);
  flush();
  progress.finish();
  const std::vector<CellSummary> cells = summary.cells();
  output.write(closing_lines(plan, cells, summary.count()));
  output.commit();
  if (command.common.summary) std::cerr << summary_table(plan, cells);
  return kExitOk;
}

}  // namespace labrun::cli
