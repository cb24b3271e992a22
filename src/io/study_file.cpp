#include "labrun/study_file.hpp"

#include "json_scan.hpp"

#include "labrun/resources.hpp"
#include "labrun/utf8.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <optional>
#include <stdexcept>

namespace labrun {

json axis_value(const AxisValue& value) {
  if (const auto* i = std::get_if<int64_t>(&value)) return *i;
  if (const auto* d = std::get_if<double>(&value)) return *d;
  return std::get<std::string>(value);
}

json setting_values(const StudyPlan& plan, int64_t setting) {
  json values = json::object();
  for (const auto& [name, value] : plan.setting(setting)) values[name] = axis_value(value);
  return values;
}

json plan_json(const StudyPlan& plan) {
  json axes = json::array();
  for (const Axis& axis : plan.axes) {
    json values = json::array();
    for (const AxisValue& v : axis.values) values.push_back(axis_value(v));
    axes.push_back({{"name", axis.name}, {"values", values}});
  }
  return json{{"part", plan.part},
              {"axes", axes},
              {"epochs", plan.epochs},
              {"metrics", plan.metrics},
              {"repeats", plan.repeats},
              {"seed", plan.seed},
              {"settings", plan.settings()},
              {"runs", plan.runs()},
              {"bootstrap_resamples", plan.resamples}};
}

std::string run_line(const StudyPlan& plan, const RunRecord& run) {
  json checkpoints = json::array();
  for (const Checkpoint& c : run.checkpoints) {
    json point{{"epochs", c.epochs}, {"diverged", c.diverged}};
    for (std::size_t m = 0; m < plan.metrics.size(); ++m) point[plan.metrics[m]] = number(c.values[m]);
    checkpoints.push_back(std::move(point));
  }
  return json{{"type", "run"},
              {"run", run.run(plan)},
              {"setting", run.setting},
              {"key", plan.key(run.setting)},
              {"values", setting_values(plan, run.setting)},
              {"repeat", run.repeat},
              {"seed", run.seed},
              {"checkpoints", checkpoints}}
             .dump() +
         "\n";
}

// A run line, checked against the plan: its setting and repeat in the grid, its number their
// place, its key, values and seed the plan's (an MLP run draws from the study's seed, a
// factorisation from seed + repeat), a checkpoint for each of the plan's epochs in order, and
// figures in range (accuracies in [0, 1], losses >= 0, null where the run diverged). Anything else
// is std::invalid_argument saying what: resume and merge accept the same lines.
RunRecord parse_run(const StudyPlan& plan, const json& line) {
  const auto wrong = [](const std::string& what) { return std::invalid_argument(what); };
  RunRecord run;
  run.setting = line.at("setting").get<int64_t>();
  run.repeat = line.at("repeat").get<int64_t>();
  run.seed = line.at("seed").get<uint64_t>();
  if (run.setting < 0 || run.setting >= plan.settings() || run.repeat < 0 || run.repeat >= plan.repeats) {
    throw wrong(fmt::format("setting {}, repeat {} is outside the plan's {} settings x {} repeats", run.setting,
                            run.repeat, plan.settings(), plan.repeats));
  }
  if (line.at("run").get<int64_t>() != run.run(plan)) throw wrong("its run number is not its place");
  const uint64_t seed = plan.part == "mlp" ? plan.seed : plan.seed + static_cast<uint64_t>(run.repeat);
  if (run.seed != seed) throw wrong(fmt::format("its seed {} is not the plan's {}", run.seed, seed));
  if (line.at("key") != json(plan.key(run.setting)) || line.at("values") != setting_values(plan, run.setting)) {
    throw wrong("its key or values are not its setting's in the plan");
  }
  const json& points = line.at("checkpoints");
  if (!points.is_array() || points.size() != plan.epochs.size()) {
    throw wrong(
        fmt::format("it has {} checkpoints, the plan {}", points.is_array() ? points.size() : 0, plan.epochs.size()));
  }
  for (std::size_t i = 0; i < points.size(); ++i) {
    const json& point = points[i];
    Checkpoint c{point.at("epochs").get<int64_t>(), point.at("diverged").get<bool>(), {}};
    if (c.epochs != plan.epochs[i]) {
      throw wrong(fmt::format("checkpoint {} is at {} epochs, the plan's at {}", i, c.epochs, plan.epochs[i]));
    }
    for (const std::string& metric : plan.metrics) {
      const json& v = point.at(metric);
      const double value = v.is_null() ? std::nan("") : v.get<double>();
      const bool accuracy = metric.find("accuracy") != std::string::npos;
      if (!v.is_null() && ((accuracy && !(value >= 0.0 && value <= 1.0)) || (metric == "loss" && !(value >= 0.0)))) {
        throw wrong(fmt::format("its {} {} after {} epochs is out of range", metric, value, c.epochs));
      }
      c.values.push_back(value);
    }
    run.checkpoints.push_back(std::move(c));
  }
  return run;
}

// The summary lines and the end line.
json summary_record(const StudyPlan& plan, const CellSummary& cell) {
  json line{{"type", "summary"},
            {"setting", cell.setting},
            {"key", plan.key(cell.setting)},
            {"values", setting_values(plan, cell.setting)},
            {"epochs", cell.epochs},
            {"runs", cell.runs},
            {"diverged", cell.diverged},
            {"diverged_left_out", true}};
  for (std::size_t m = 0; m < plan.metrics.size(); ++m) line[plan.metrics[m]] = cell.metrics[m];
  return line;
}

std::string process_line(const json& record, int64_t first_run) {
  json line{{"type", "process"}, {"first_run", first_run}};
  line.update(record);
  return line.dump() + "\n";
}

std::string closing_lines(const StudyPlan& plan, const std::vector<CellSummary>& cells, int64_t runs) {
  std::string text;
  for (const CellSummary& cell : cells) text += summary_record(plan, cell).dump() + "\n";
  return text + json{{"type", "end"}, {"runs", runs}}.dump() + "\n";
}

// The study's summary as a table, for --summary and --format text.
std::string summary_table(const StudyPlan& plan, const std::vector<CellSummary>& cells) {
  const std::string first = plan.metrics[plan.part == "mlp" ? 1 : 0];  // val_accuracy, or loss
  // The bootstrap's interval of the mean stays within the values (a t interval of accuracies can
  // leave [0, 1]); Student's t where the study has no bootstrap.
  const bool bootstrap = plan.resamples > 0;
  std::string text =
      fmt::format("{:<32} {:>7} {:>6} {:>17} {:>10} {:>21} {:>10}\n", "setting", "epochs", "runs", first + " mean",
                  "std", bootstrap ? "95% CI (bootstrap)" : "95% CI (Student t)", "median");
  const std::size_t m = plan.part == "mlp" ? 1 : 0;
  for (const CellSummary& cell : cells) {
    if (cell.runs == 0) continue;  // a shard's or an unfinished study's cells without runs yet
    const Summary& s = cell.metrics[m];
    const std::string key = plan.key(cell.setting);
    const double low = bootstrap ? s.mean_bootstrap.low : s.ci95_low;
    const double high = bootstrap ? s.mean_bootstrap.high : s.ci95_high;
    text +=
        fmt::format("{:<32} {:>7} {:>6} {:>17.4g} {:>10.3g} {:>21} {:>10.4g}{}\n", key.empty() ? "(one setting)" : key,
                    cell.epochs, cell.runs, s.mean, s.std, fmt::format("{:.4g} - {:.4g}", low, high), s.median,
                    cell.diverged ? fmt::format("  ({} diverged, left out)", cell.diverged) : "");
  }
  return text;
}

// The same from a stream already open; `first_line`, when given, is line 1 already read from it
// (whole, with its newline), so that a shard is opened and read once.
namespace {

// A study's line is a few hundred bytes (a header a few KiB): a line longer than this is no study's
// (/dev/zero, a file without newlines), refused before it fills the memory.
constexpr std::size_t kMaxStudyLine = std::size_t{64} << 20;

// std::getline, bounded: false at the end of the stream; the eof bit set when the last line has no
// newline, as std::getline sets it.
bool read_line(std::istream& in, std::string& line, const std::string& path, int64_t number) {
  line.clear();
  std::streambuf* buffer = in.rdbuf();
  for (;;) {
    const int c = buffer->sbumpc();
    if (c == std::char_traits<char>::eof()) {
      in.setstate(line.empty() ? std::ios::eofbit | std::ios::failbit : std::ios::eofbit);
      return !line.empty();
    }
    if (c == '\n') return true;
    if (line.size() == kMaxStudyLine) {
      throw DataError(fmt::format("{}: line {} is longer than {} MiB: not a labrun study's JSON Lines", path, number,
                                  kMaxStudyLine >> 20));
    }
    line.push_back(static_cast<char>(c));
  }
}

}  // namespace

std::optional<json> parse_study_line(std::string_view line) {
  constexpr int kMaxDepth = 64;
  int depth = 0;
  const std::size_t too_deep = detail::scan_outside_strings(line, 0, [&depth](std::size_t, char c) {
    if (c == '}' || c == ']') --depth;
    return (c == '{' || c == '[') && ++depth > kMaxDepth;
  });
  if (too_deep != std::string_view::npos) return std::nullopt;
  try {
    return json::parse(line);
  } catch (const json::exception&) {  // parse_error, and out_of_range for a number beyond double
    return std::nullopt;
  }
}

StudyFile read_study(std::istream& in, const std::string& path, const std::string* first_line,
                     const std::function<void(const json& header)>& on_header,
                     const std::function<void(const json& run)>& on_run, bool allow_torn_header,
                     const std::function<void(const json& process)>& on_process) {
  StudyFile file;
  std::string line;
  std::size_t offset = 0;
  int64_t number = 0;
  bool closing = false;
  std::optional<json> pending_process;  // a process line, until the run after it
  while (first_line != nullptr || read_line(in, line, path, number + 1)) {
    const bool given = first_line != nullptr;
    if (given) line = *first_line;
    first_line = nullptr;
    ++number;
    const bool complete = given || !in.eof();  // a last line without its newline was cut short
    std::optional<json> parsed = parse_study_line(line);
    if (!complete || !parsed || !parsed->is_object()) {
      const bool last = in.peek() == std::char_traits<char>::eof();
      if (number == 1 && (!last || complete || !allow_torn_header)) {
        throw NotAStudy(path + ": line 1 is not a labrun study's header (a JSON object of type \"study\")");
      }
      if (number == 1) {  // the only line, cut short: the caller decides whose header it was
        file.torn_header = true;
        file.header_text = line;
        return file;
      }
      if (last) {  // the last line: torn by a crash
        file.torn = true;
        file.torn_run = line.rfind("{\"type\":\"run\"", 0) == 0;
        break;
      }
      throw DataError(
          fmt::format("{}: line {} is not a JSON object: the file is damaged (not a torn last line)", path, number));
    }
    const json* type_field = parsed->contains("type") ? &parsed->at("type") : nullptr;
    const std::string type = type_field != nullptr && type_field->is_string() ? type_field->get<std::string>() : "";
    if (number == 1) {
      if (type != "study") throw NotAStudy(path + ": line 1 is not a labrun study's header (type \"study\")");
      file.header = *parsed;
      on_header(file.header);
    } else if (type == "run") {
      if (closing) throw DataError(fmt::format("{}: line {} is a run after the summary", path, number));
      const json& number_field = parsed->contains("run") ? parsed->at("run") : json();
      if (!number_field.is_number_integer()) {
        throw DataError(fmt::format("{}: line {} is a run without its number", path, number));
      }
      const auto run = number_field.get<int64_t>();
      if (run <= file.last_run) {
        throw DataError(fmt::format("{}: line {} holds run {} after run {}: runs out of order or twice", path, number,
                                    run, file.last_run));
      }
      if (pending_process) {
        if (pending_process->at("first_run").get<int64_t>() != run) {
          throw DataError(fmt::format("{}: the process line before line {} says its first run is {}, not {}", path,
                                      number, pending_process->at("first_run").get<int64_t>(), run));
        }
        if (on_process) on_process(*pending_process);
        file.processes.push_back(std::move(*pending_process));
        pending_process.reset();
      }
      try {
        on_run(*parsed);
      } catch (const json::exception& e) {
        throw DataError(fmt::format("{}: line {} is not a run of this study: {}", path, number, e.what()));
      } catch (const std::invalid_argument& e) {
        throw DataError(fmt::format("{}: line {}: {}", path, number, e.what()));
      }
      file.last_run = run;
      ++file.runs;
    } else if (type == "process") {
      if (closing) throw DataError(fmt::format("{}: line {} is a process after the summary", path, number));
      if (pending_process) {
        throw DataError(
            fmt::format("{}: line {} is a process line after another with no run between: the file "
                        "is damaged (labrun cuts a process line that wrote no run)",
                        path, number));
      }
      const json& first = parsed->contains("first_run") ? parsed->at("first_run") : json();
      if (!first.is_number_integer() || (file.runs > 0 && first.get<int64_t>() != file.last_run + 1)) {
        throw DataError(
            fmt::format("{}: line {} is a process line whose first_run is not the number of the run "
                        "after it ({})",
                        path, number, file.last_run + 1));
      }
      pending_process = std::move(*parsed);
    } else if (type == "summary" || type == "end") {
      closing = true;
    } else {
      throw DataError(fmt::format("{}: line {} has type {}, not process, run, summary or end", path, number,
                                  printable(type_field != nullptr ? type_field->dump() : "(none)", 40)));
    }
    offset += line.size() + 1;
    // Resuming cuts after the last run: a process line with no run after it goes with the rest.
    if (number == 1 || type == "run") file.runs_end = offset;
  }
  if (number == 0) throw DataError(path + " is empty: no study's header");
  return file;
}

StudyFile read_study(const std::string& path, const std::function<void(const json& header)>& on_header,
                     const std::function<void(const json& run)>& on_run, bool allow_torn_header) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError("cannot read " + path + ": " + std::strerror(errno));
  return read_study(in, path, nullptr, on_header, on_run, allow_torn_header);
}

ReadStudy read_whole_study(const std::string& path) {
  std::optional<HeaderPlan> header;
  std::optional<StudySummary> runs;
  StudyFile file = read_study(
      path,
      [&](const json& h) {
        header = plan_from_header(path, h);
        require_memory(StudySummary::memory(header->plan), "the study's runs", "");
        runs.emplace(header->plan);
      },
      [&](const json& line) { runs->add(parse_run(header->plan, line)); });
  return {std::move(*header), std::move(*runs), std::move(file)};
}

// The keys two parts of one study must share; the first that differs ("plan.repeats", naming the
// member of plan or config), or "".
std::string differing_key(const json& a, const json& b) {
  for (const char* key : {"command", "plan", "config"}) {
    const json& x = a.at(key);
    const json& y = b.at(key);
    if (x == y) continue;
    if (x.is_object() && y.is_object()) {
      for (const auto& [member, value] : x.items()) {
        if (!y.contains(member) || y.at(member) != value) return std::string(key) + "." + member;
      }
      for (const auto& [member, value] : y.items()) {
        if (!x.contains(member)) return std::string(key) + "." + member;
      }
    }
    return key;
  }
  for (const char* key : {"sha256", "rows", "columns", "feature_columns", "label_column"}) {
    if (a.at("data").at(key) != b.at("data").at(key)) return std::string("data.") + key;
  }
  // Since 2.5.0 (a study's parts of 2.4 have none): the labels' bytes, wherever the file was.
  const auto labels = [](const json& h) {
    const json file = h.at("data").value("labels_file", json());
    return file.is_object() ? file.value("sha256", json()) : json();
  };
  if (labels(a) != labels(b)) return "data.labels_file";
  return "";
}

HeaderPlan plan_from_header(const std::string& path, const json& header) {
  const auto bad = [&path](const std::string& what) -> DataError {
    return DataError(path + ": its header is not a labrun study's: " + what);
  };
  HeaderPlan h;
  try {
    for (const char* key : {"schema_version", "command", "config", "data", "plan", "shard"}) {
      if (!header.contains(key)) throw bad(std::string("no ") + key);
    }
    // Another major version of the schema is another format: refused, naming both.
    const std::string version = header.at("schema_version").get<std::string>();
    const auto major = [](const std::string& v) { return v.substr(0, v.find('.')); };
    if (major(version) != major(kSchemaVersion)) {
      throw DataError(
          fmt::format("{}: written in labrun's study format {}, and this labrun reads format {} (another "
                      "major version): use the labrun that wrote it",
                      path, printable(version, 40), kSchemaVersion));
    }
    for (const char* key : {"sha256", "rows", "columns", "feature_columns", "label_column"}) {
      if (!header.at("data").contains(key)) throw bad(std::string("no data.") + key);
    }
    const json& p = header.at("plan");
    StudyPlan& plan = h.plan;
    plan.part = p.at("part").get<std::string>();
    plan.epochs = p.at("epochs").get<std::vector<int64_t>>();
    plan.metrics = p.at("metrics").get<std::vector<std::string>>();
    plan.repeats = p.at("repeats").get<int64_t>();
    plan.seed = p.at("seed").get<uint64_t>();
    // Studies written before 2.4.0 have no bootstrap_resamples: the default summarises them.
    plan.resamples = p.value("bootstrap_resamples", kDefaultResamples);
    if (plan.resamples < 0 || plan.resamples > kMaxResamples) throw bad("plan.bootstrap_resamples out of range");
    if (plan.part != "mlp" && plan.part != "factorise") throw bad("plan.part " + plan.part);
    if (plan.epochs.empty() || !std::is_sorted(plan.epochs.begin(), plan.epochs.end()) || plan.epochs.front() < 0) {
      throw bad("plan.epochs must ascend from >= 0");
    }
    if (plan.metrics.empty() || plan.repeats < 1) throw bad("plan.metrics or plan.repeats");
    double runs = static_cast<double>(plan.repeats);
    for (const json& axis : p.at("axes")) {
      Axis a{axis.at("name").get<std::string>(), {}};
      for (const json& v : axis.at("values")) {
        a.values.push_back(v.is_number_integer() ? AxisValue(v.get<int64_t>())
                           : v.is_number()       ? AxisValue(v.get<double>())
                                                 : AxisValue(v.get<std::string>()));
      }
      if (a.values.size() < 2) throw bad("axis " + a.name + " has fewer than 2 values");
      if (a.name != "epochs") runs *= static_cast<double>(a.values.size());
      plan.axes.push_back(std::move(a));
    }
    if (runs > static_cast<double>(kMaxRuns)) throw bad(fmt::format("{:.0f} runs, more than labrun takes", runs));
    if (p.at("runs").get<int64_t>() != plan.runs()) throw bad("plan.runs is not the grid's size");
    const json& shard = header.at("shard");
    h.index = shard.at("index").get<int64_t>();
    h.count = shard.at("count").get<int64_t>();
    if (h.count < 1 || h.count > kMaxShards || h.index < 1 || h.index > h.count) {
      throw bad(fmt::format("shard {}/{} (shards are numbered 1 to N, N at most {})", h.index, h.count, kMaxShards));
    }
    h.span = shard_span(plan, h.index, h.count);
    if (shard.at("first_run").get<int64_t>() != h.span.begin || shard.at("end_run").get<int64_t>() != h.span.end) {
      throw bad("its shard's runs are not shard " + std::to_string(h.index) + "'s");
    }
  } catch (const json::exception& e) {
    throw bad(e.what());
  }
  return h;
}

}  // namespace labrun
