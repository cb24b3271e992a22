#include "sweep_cmd.hpp"

#include "blas_restart.hpp"
#include "output.hpp"
#include "progress.hpp"
#include "serialise.hpp"
#include "study_file.hpp"

#include "labrun/utf8.hpp"

#include "labrun/resources.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

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

// A record's bytes in the JSON Lines, for the estimate printed before the study starts.
constexpr double kRecordBytes = 120.0, kCheckpointBytes = 110.0;

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

// One value is the setting of every run, not an axis: the key stays short.
template <class T, class Base>
void one_is_base(std::vector<T>& values, Base& base) {
  if (values.size() == 1) {
    base = values.front();
    values.clear();
  }
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

// "plan_sweep: train_size 150 must ..." -> "--train-size 150 must ...".
[[noreturn]] void rethrow_as_usage(const std::invalid_argument& e) {
  std::string message = e.what();
  const std::string prefix = "plan_sweep: ";
  if (message.rfind(prefix, 0) == 0) {
    message = message.substr(prefix.size());
    const std::size_t space = message.find(' ');
    std::string option = message.substr(0, space);
    for (char& c : option) c = c == '_' ? '-' : c;
    message = "--" + option + message.substr(space);
  }
  throw UsageError(message);
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
  if (n < 1 || i < 1 || i > n) {
    throw UsageError(fmt::format("--shard {}: shards are numbered 1 to N with N >= 1, so i must be in 1..{}", text,
                                 std::max<int64_t>(n, 1)));
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
  add_at_least(*m, mlp.checks, "--bootstrap", s.base.resamples, 0, kBootstrapHelp);
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
  add_choices(*f, factorise.checks, "--engine", g.engines, {Engine::sequential, Engine::batched},
              "batched: a setting's seeds trained together (default); sequential: one after another");
  add_at_least(*f, factorise.checks, "--chunk", g.chunk, 1, "Seeds the batched engine trains at once, >= 1");
  add_at_least(*f, factorise.checks, "--bootstrap", g.resamples, 0, kBootstrapHelp);
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

CLI::App* setup_merge(CLI::App& app, MergeCommand& command) {
  CLI::App* sub = app.add_subcommand(
      "merge",
      "Combine the shards of one study (labrun sweep ... --shard i/N) into the records and summary one "
      "process writes");
  sub->add_option("shards", command.inputs, "The shards' JSON Lines files, every one of 1/N to N/N")
      ->required()
      ->check(CLI::ExistingFile);
  sub->add_option("-o,--output", command.output, "Write to FILE, atomically (default: stdout)")->type_name("FILE");
  sub->add_flag("--summary", command.summary, "Also print the merged study's summary table on stderr");
  refuse_empty_values(*sub);
  return sub;
}

// Where the JSON value starting at `at` ends (one past it), or npos when the text ends first.
std::size_t value_end(std::string_view text, std::size_t at) {
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = at; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    if (c == '{' || c == '[') ++depth;
    if (c == '}' || c == ']') {
      if (--depth == 0) return i + 1;
    }
    if (depth == 0 && (c == ',' || c == '}')) return i;
  }
  return std::string_view::npos;
}

// Whether `torn` (a header cut short) is the start of this study's `header` text, but for the
// values that differ between two processes of one study: where and when it ran ("provenance")
// and on what ("environment").
bool is_prefix_of_header(std::string_view torn, std::string_view header) {
  if (torn.empty()) return false;
  std::size_t t = 0, h = 0;
  while (t < torn.size()) {
    if (h >= header.size() || torn[t] != header[h]) return false;
    ++t;
    ++h;
    for (const std::string_view key : {std::string_view("\"provenance\":"), std::string_view("\"environment\":")}) {
      if (h >= key.size() && header.substr(h - key.size(), key.size()) == key) {
        const std::size_t torn_end = value_end(torn, t);
        if (torn_end == std::string_view::npos) return true;  // cut inside it
        t = torn_end;
        h = value_end(header, h);
      }
    }
  }
  return true;
}

// The config of the study header on `path`'s first line, or nullopt when it holds none (missing,
// empty, not a study: what --resume then says is decided where the file is read whole).
std::optional<json> recorded_config(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string first;
  if (!in || !std::getline(in, first)) return std::nullopt;
  if (in.eof()) {
    // A header cut short (a crash while writing it): its seed, when the cut came after it, so that
    // an unseeded study's torn header is recognised as this study's and started afresh.
    const std::size_t config = first.find("\"config\":{");
    const std::size_t seed = config == std::string::npos ? config : first.find("\"seed\":", config);
    const std::size_t given = seed == std::string::npos ? seed : first.find(",\"seed_given\":", seed);
    if (given == std::string::npos) return std::nullopt;
    const std::string digits = first.substr(seed + 7, given - seed - 7);
    if (digits.empty() || digits.size() > 16 || digits.find_first_not_of("0123456789") != std::string::npos) {
      return std::nullopt;
    }
    json partial{{"seed", std::stoull(digits)}};
    const std::string flag = first.substr(given + 14, 5);
    if (flag.rfind("true", 0) == 0) partial["seed_given"] = true;
    if (flag == "false") partial["seed_given"] = false;
    return partial;
  }
  try {
    const json header = json::parse(first);
    if (header.is_object() && header.value("type", "") == "study" && header.contains("config") &&
        header.at("config").is_object()) {
      return header.at("config");
    }
  } catch (const json::exception&) {
  }
  return std::nullopt;
}

// An exclusive flock(2) on a study file (a regular file, or one about to be made), held while the
// object lives; none for stdout, pipes and devices. A second writer is refused at once, naming the
// process that holds the lock (from /proc/locks).
class StudyLock {
 public:
  explicit StudyLock(const std::string& path) {
    struct stat info {};
    if (path.empty() || path == "-" || (::stat(path.c_str(), &info) == 0 && !S_ISREG(info.st_mode))) return;
    fd_ = ::open(path.c_str(), O_RDONLY | O_CREAT | O_CLOEXEC, 0666);
    if (fd_ < 0) return;  // the write reports what is wrong with the path
    if (::flock(fd_, LOCK_EX | LOCK_NB) == 0) return;
    const int error = errno;
    const std::string holder = error == EWOULDBLOCK ? holder_of(fd_) : std::string();
    ::close(fd_);
    fd_ = -1;
    if (error != EWOULDBLOCK) throw DataError("cannot lock " + path + ": " + std::strerror(error));
    throw DataError(path + " is being written by another labrun" + (holder.empty() ? "" : " (process " + holder + ")") +
                    ": one process writes a study file at a time; wait for it, or give another -o");
  }
  ~StudyLock() {
    if (fd_ >= 0) ::close(fd_);
  }
  StudyLock(const StudyLock&) = delete;
  StudyLock& operator=(const StudyLock&) = delete;

 private:
  int fd_ = -1;

  // "1: FLOCK  ADVISORY  WRITE 4242 fd:01:1234 0 EOF": the process holding a lock on fd's inode.
  static std::string holder_of(int fd) {
    struct stat info {};
    if (::fstat(fd, &info) != 0) return {};
    std::ifstream locks("/proc/locks");
    const std::string inode = ":" + std::to_string(info.st_ino) + " ";
    std::string line;
    while (std::getline(locks, line)) {
      if (line.find("FLOCK") == std::string::npos || line.find(inode) == std::string::npos) continue;
      std::istringstream fields(line);
      std::string number, kind, advisory, mode, pid;
      if (fields >> number >> kind >> advisory >> mode >> pid &&
          pid.find_first_not_of("0123456789") == std::string::npos) {
        return pid;
      }
    }
    return {};
  }
};

int run_sweep(const SweepCommand& command) {
  command.checks.run();
  apply_threads(command.common);
  if (command.resume && (command.common.output.empty() || command.common.output == "-")) {
    throw UsageError("--resume continues the study in -o FILE: give the file");
  }
  const Dataset data = load_data(command.common, /*min_rows=*/2);
  MlpSweep mlp = command.mlp;
  FactoriseSweep factorise = command.factorise;
  const bool is_mlp = command.part == "mlp";
  // Resuming a study started without --seed: its seed is the one its header recorded (a seed drawn
  // anew would make it another study); an equal --seed is the same study.
  const std::optional<json> recorded = command.resume ? recorded_config(command.common.output) : std::nullopt;
  std::optional<uint64_t> recorded_seed;
  if (recorded && recorded->contains("seed") && recorded->at("seed").is_number_unsigned()) {
    recorded_seed = recorded->at("seed").get<uint64_t>();
  }
  const uint64_t seed = !command.common.seed && recorded_seed ? *recorded_seed : resolve_seed(command.common);
  if (!command.common.seed && recorded_seed) {
    note(fmt::format("{}: resumed with the seed its study recorded, {}", command.common.output, *recorded_seed));
  }
  mlp.base.seed = seed;
  factorise.seed = seed;
  // A list of one value sets every run's value; two or more make an axis.
  one_is_base(mlp.lr, mlp.base.training.lr);
  one_is_base(mlp.epochs, mlp.base.training.epochs);
  one_is_base(mlp.hidden, mlp.base.hidden);
  one_is_base(mlp.train_size, mlp.base.train_size);
  one_is_base(mlp.normalise, mlp.base.normalise);
  one_is_base(mlp.engine, mlp.base.engine);
  one_is_base(mlp.shuffle, mlp.base.shuffle);
  one_is_base(factorise.rank, factorise.base.gd.rank);
  one_is_base(factorise.lr, factorise.base.gd.lr);
  one_is_base(factorise.epochs, factorise.base.gd.epochs);
  one_is_base(factorise.reduction, factorise.base.gd.reduction);
  one_is_base(factorise.form, factorise.base.gd.form);
  one_is_base(factorise.dtype, factorise.base.dtype);
  one_is_base(factorise.engines, factorise.engine);

  StudyPlan plan;
  try {
    plan = is_mlp ? plan_sweep(data, mlp) : plan_sweep(data, factorise);
  } catch (const std::invalid_argument& e) {
    rethrow_as_usage(e);
  }
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
  const RunSpan span = shard_span(plan, shard, shards);
  const auto span_runs = static_cast<double>(span.end - span.begin);
  const double output_bytes = span_runs * (kRecordBytes + kCheckpointBytes * static_cast<double>(plan.epochs.size()));
  const double memory =
      StudySummary::memory(plan) + (is_mlp ? sweep_memory(data, mlp, plan) : sweep_memory(data, factorise, plan));

  // What it will do, before it starts.
  std::string axes;
  for (const Axis& axis : plan.axes) axes += fmt::format("{} {} x ", axis.values.size(), axis.name);
  // The summary's bootstrap, when it takes long enough to be worth a word.
  const double bootstrap_seconds = StudySummary::seconds(plan);
  const std::string bootstrap =
      bootstrap_seconds >= 10.0
          ? fmt::format("; the summary's bootstrap up to {} at the end (--bootstrap B sets its resamples, 0 none)",
                        format_duration(bootstrap_seconds))
          : "";
  fmt::print(stderr,
             "labrun: sweep {}: {}{} repeats = {}, {}{} ({}), {}; about {} of JSON Lines, "
             "{} of memory{}\n",
             plan.part, axes, plan.repeats, counted(plan.settings(), "setting"), counted(plan.runs(), "run"),
             shards > 1 ? fmt::format(", of which shard {}/{} runs {}", shard, shards, span.end - span.begin) : "",
             plan.epochs.size() > 1
                 ? fmt::format("each trains {} epochs, evaluated at {} counts", plan.epochs.back(), plan.epochs.size())
                 : fmt::format("each trains {}", counted(plan.epochs.back(), "epoch")),
             counted(plan.cells(), "summary", "summaries"), format_bytes(output_bytes), format_bytes(memory),
             bootstrap);
  // Its output must fit on the disk it goes to (checked once the header is made), and its work in memory.

  json config = is_mlp ? mlp_config(mlp.base, nullptr) : factorise_config(factorise.base, nullptr);
  if (!is_mlp) config["engine"] = to_string(factorise.engine);  // the numbers differ in rounding
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

  // The disk's free space against what the file will hold (the header, the runs, the summaries),
  // for a regular file or one to be made; a pipe, a FIFO or a device has no disk to fill.
  if (!command.common.output.empty() && command.common.output != "-") {
    const std::string& out = command.common.output;
    struct stat target {};
    const bool exists = ::stat(out.c_str(), &target) == 0;
    const std::size_t slash = out.rfind('/');
    const std::string directory = slash == std::string::npos ? "." : slash == 0 ? "/" : out.substr(0, slash);
    struct statvfs disk {};
    if ((!exists || S_ISREG(target.st_mode)) && ::statvfs(directory.c_str(), &disk) == 0) {
      const double free = static_cast<double>(disk.f_bavail) * static_cast<double>(disk.f_frsize);
      // A summary line a setting and epochs count (~600 bytes measured; 2 KiB allowed), and the end.
      const double cells = static_cast<double>(plan.settings()) * static_cast<double>(plan.epochs.size());
      const double bytes = output_bytes + static_cast<double>(header.dump().size()) + 2048.0 * (cells + 1.0);
      if (bytes > free) {
        throw ResourceError(
            fmt::format("the sweep would write about {} to {}, and {} is free there; fewer values "
                        "or repeats, or shards (--shard i/N) on several disks",
                        format_bytes(bytes), out, format_bytes(free)));
      }
    }
  }

  require_memory(memory, fmt::format("the sweep of {} runs", plan.runs()),
                 "; fewer values or repeats, or a smaller --chunk");

  // Resuming: the runs already in the file are kept (and summarised), a torn last line and the
  // closing lines are cut off, the rest is trained.
  StudySummary summary(plan);
  const std::string& path = command.common.output;
  struct stat existing {};
  const bool regular_file = !path.empty() && path != "-" && ::stat(path.c_str(), &existing) == 0 &&
                            S_ISREG(existing.st_mode) && existing.st_size > 0;
  if (regular_file && !command.resume) {
    throw UsageError(path + " already holds something; --resume continues the study in it, or give another -o");
  }
  // One writer at a time: an exclusive lock on the file for as long as this process writes it.
  const StudyLock lock(path);
  bool fresh = !(command.resume && regular_file);
  if (command.resume && regular_file) {
    StudyFile file;
    try {
      file = read_study(
          path,
          [&](const json& found) {
            plan_from_header(path, found);
            const std::string key = differing_key(found, header);
            if (!key.empty() || found.at("shard") != header.at("shard")) {
              throw UsageError(
                  fmt::format("--resume: {} holds another study (its {} differs from this command's); "
                              "run the command that made it, or give another -o",
                              path, key.empty() ? "shard" : key));
            }
          },
          [&](const json& run) {
            // The shard's runs from its first, in order and without a gap: a gap filled at the end
            // would leave runs out of order, which merge and resume refuse.
            const RunRecord record = parse_run(plan, run);
            const int64_t expected = span.begin + summary.count();
            if (record.run(plan) != expected) {
              throw std::invalid_argument(fmt::format("it is run {}, and run {} of shard {}/{} was expected next",
                                                      record.run(plan), expected, shard, shards));
            }
            summary.add(record);
          },
          /*allow_torn_header=*/true);
    } catch (const NotAStudy& e) {
      throw UsageError(std::string("--resume: ") + e.what() + "; it is left as it was: give another -o");
    }
    if (file.torn_header) {
      // A crash (a full disk) inside this study's header leaves a prefix of it: start afresh.
      // Anything else is someone's file, and stays as it is.
      if (!is_prefix_of_header(file.header_text, header.dump())) {
        throw UsageError("--resume: " + path + " holds one line, cut short, that is not this study's header; " +
                         "it is left as it was: give another -o");
      }
      note(path + ": it holds this study's header cut short (a crash while writing it) and no runs; " +
           "the study starts afresh");
      fresh = true;
    }
    if (::truncate(path.c_str(), static_cast<off_t>(file.runs_end)) != 0) {
      throw DataError("cannot cut " + path + " after its runs: " + std::strerror(errno));
    }
    if (file.torn)
      note(path + ": its last line was cut short (a crash while writing) and is dropped; that run is trained again");
    if (!fresh) note(fmt::format("{}: {} runs were there and are kept", path, file.runs));
  }
  const std::vector<RunSpan> todo = missing_runs({span}, summary);

  // The BLAS work of the runs to train, for the choice of kernel (which may restart labrun: before
  // anything is written).
  double flops = 0.0;
  for (int64_t setting = 0; setting < plan.settings(); ++setting) {
    flops += is_mlp ? mlp_study_flops(data, setting_options(mlp, plan, setting)) / static_cast<double>(plan.repeats)
                    : factorise_study_flops(data.rows(), data.columns(), setting_options(factorise, plan, setting));
  }
  use_best_blas_kernel(flops * span_runs / static_cast<double>(plan.settings()), command.common.data_path);
  Output output(path, Output::Mode::append);
  if (fresh) output.write(header.dump() + "\n");
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
  if (is_mlp) {
    run_sweep(data, mlp, plan, todo, hooks);
  } else {
    run_sweep(data, factorise, plan, todo, hooks);
  }
  flush();
  progress.finish();
  const std::vector<CellSummary> cells = summary.cells();
  output.write(closing_lines(plan, cells, summary.count()));
  output.commit();
  if (command.common.summary) std::cerr << summary_table(plan, cells);
  return kExitOk;
}

// Output's interface for a merge: to a regular file through Output (atomic); to stdout, a pipe or
// a device through an unnamed temporary file (tmpfile(3): gone with the process, whatever ends it),
// copied out at commit().
class Spool {
 public:
  explicit Spool(const std::string& path) : path_(path) {
    struct stat info {};
    const bool to_file = !path.empty() && path != "-" && (::stat(path.c_str(), &info) != 0 || S_ISREG(info.st_mode));
    if (to_file) {
      direct_ = std::make_unique<Output>(path);
      return;
    }
    // In $TMPDIR (tmpfile(3) would use /tmp whatever it says), unlinked at once: gone with the
    // process, however it ends.
    const char* tmpdir = std::getenv("TMPDIR");
    std::string name = std::string(tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp") + "/labrun-merge.XXXXXX";
    const int fd = ::mkstemp(name.data());
    if (fd < 0) {
      throw DataError("cannot make a temporary file for the merge in " + name.substr(0, name.rfind('/')) + ": " +
                      std::strerror(errno) + " (set TMPDIR to a folder with room)");
    }
    ::unlink(name.c_str());
    spool_.reset(::fdopen(fd, "w+b"));
    if (!spool_) {
      ::close(fd);
      throw DataError(std::string("cannot make a temporary file for the merge: ") + std::strerror(errno));
    }
  }
  void write(const std::string& text) {
    if (direct_) return direct_->write(text);
    if (std::fwrite(text.data(), 1, text.size(), spool_.get()) != text.size()) {
      throw DataError(std::string("cannot write the merge's temporary file: ") + std::strerror(errno) +
                      " (set TMPDIR to a folder with room)");
    }
  }
  void commit() {
    if (direct_) return direct_->commit();
    if (std::fflush(spool_.get()) != 0) {
      throw DataError(std::string("cannot write the merge's temporary file: ") + std::strerror(errno) +
                      " (set TMPDIR to a folder with room)");
    }
    if (std::fseek(spool_.get(), 0, SEEK_SET) != 0) {
      throw DataError(std::string("cannot read the merge's temporary file back: ") + std::strerror(errno));
    }
    Output out(path_);
    std::string piece(std::size_t{1} << 20, '\0');
    while (const std::size_t got = std::fread(piece.data(), 1, piece.size(), spool_.get())) {
      out.write(piece.substr(0, got));
    }
    if (std::ferror(spool_.get())) throw DataError("cannot read the merge's temporary file back");
    out.commit();
  }

 private:
  std::string path_;
  std::unique_ptr<Output> direct_;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> spool_{nullptr, &std::fclose};
};

// A shell word: as it is when it needs no quoting, else in single quotes.
std::string shell_word(const std::string& word) {
  if (!word.empty() &&
      word.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-+=/.,:@%") ==
          std::string::npos) {
    return word;
  }
  std::string quoted = "'";
  for (const char c : word) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

// The command that (re)makes shard `index` of a study, from the command line a shard's header
// recorded: its --shard set to index/count, its -o made the shard's own (the recorded shard's
// number in the file name replaced by index, else shard-<index>.jsonl), and --resume added.
// Empty when the header recorded no command line.
std::string shard_command(const json& header, int64_t index, int64_t count) {
  const json* line = nullptr;
  if (header.contains("provenance") && header.at("provenance").contains("command_line")) {
    line = &header.at("provenance").at("command_line");
  }
  if (line == nullptr || !line->is_array() || line->empty()) return {};
  const std::string recorded = header.contains("shard") ? std::to_string(header.at("shard").value("index", 0)) : "";
  std::vector<std::string> words;
  bool resume = false, shard_given = false;
  for (std::size_t i = 0; i < line->size(); ++i) {
    if (!(*line)[i].is_string()) return {};
    std::string word = (*line)[i].get<std::string>();
    const bool shard_value = i > 0 && words.back() == "--shard";
    const bool output_value = i > 0 && (words.back() == "-o" || words.back() == "--output");
    if (word.rfind("--shard=", 0) == 0 || shard_value) {
      word = (shard_value ? "" : "--shard=") + fmt::format("{}/{}", index, count);
      shard_given = true;
    } else if (output_value) {
      const std::size_t at = recorded.empty() ? std::string::npos : word.rfind(recorded);
      word = at == std::string::npos ? fmt::format("shard-{}.jsonl", index)
                                     : word.substr(0, at) + std::to_string(index) + word.substr(at + recorded.size());
    }
    resume = resume || word == "--resume";
    words.push_back(word);
  }
  if (!shard_given) words.insert(words.end(), {"--shard", fmt::format("{}/{}", index, count)});
  if (!resume) words.push_back("--resume");
  std::string text;
  for (const std::string& word : words) text += (text.empty() ? "" : " ") + shell_word(word);
  return text;
}

int run_merge(const MergeCommand& command) {
  // -o onto a shard would replace what is being read.
  struct stat out {};
  if (!command.output.empty() && command.output != "-" && ::stat(command.output.c_str(), &out) == 0) {
    for (const std::string& path : command.inputs) {
      struct stat in {};
      if (::stat(path.c_str(), &in) == 0 && in.st_dev == out.st_dev && in.st_ino == out.st_ino) {
        throw UsageError("-o " + command.output + " is the shard " + path + ": write the merge to another file");
      }
    }
  }
  // Every header first: one study, each shard once, none missing.
  // Each shard is opened once and read once: its header now, its runs below, from the same stream
  // (a named FIFO or a process substitution can be read only once).
  struct Part {
    std::string path;
    json header;
    std::string first_line;
    std::unique_ptr<std::ifstream> in;
  };
  std::vector<Part> parts;
  for (const std::string& path : command.inputs) {
    auto in = std::make_unique<std::ifstream>(path, std::ios::binary);
    if (!*in) throw DataError("cannot read " + path + ": " + std::strerror(errno));
    std::string first;
    if (!std::getline(*in, first)) throw DataError("cannot read " + path + ": empty or unreadable");
    json header;
    try {
      header = json::parse(first);
    } catch (const json::parse_error&) {
      throw DataError(path + ": line 1 is not JSON: not a labrun study");
    }
    if (!header.is_object() || header.value("type", "") != "study") {
      throw DataError(path + ": line 1 is not a labrun study's header (type \"study\")");
    }
    // A regular file is closed until its runs are read (a merge of thousands of shards would run
    // out of descriptors), and opened again then; a stream stays open, as it can be read once.
    struct stat info {};
    if (::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode)) in.reset();
    parts.push_back({path, header, first, std::move(in)});
  }
  const json& first = parts.front().header;
  const HeaderPlan first_plan = plan_from_header(parts.front().path, first);
  const StudyPlan& plan = first_plan.plan;
  const int64_t count = first_plan.count;
  // plan_from_header has refused a count beyond kMaxShards.
  std::vector<const Part*> by_index(static_cast<std::size_t>(count), nullptr);
  std::map<const Part*, HeaderPlan> shards;
  for (const Part& part : parts) {
    const HeaderPlan h = &part == &parts.front() ? first_plan : plan_from_header(part.path, part.header);
    const std::string key = differing_key(part.header, first);
    if (!key.empty()) {
      throw UsageError(
          fmt::format("{} and {} are not shards of one study: their {} differ", parts.front().path, part.path, key));
    }
    if (h.count != count) {
      throw UsageError(fmt::format("{} is shard {}/{} and {} is of {} shards: not one study's shards", part.path,
                                   h.index, h.count, parts.front().path, count));
    }
    const Part*& slot = by_index[static_cast<std::size_t>(h.index - 1)];
    if (slot != nullptr) {
      throw UsageError(fmt::format("{} and {} are both shard {}/{}", slot->path, part.path, h.index, count));
    }
    slot = &part;
    shards[&part] = h;
  }
  for (std::size_t i = 0; i < by_index.size(); ++i) {
    if (by_index[i] == nullptr) {
      const std::string rerun = shard_command(first, static_cast<int64_t>(i) + 1, count);
      throw UsageError(
          fmt::format("shard {}/{} is missing{}", i + 1, count, rerun.empty() ? "" : "; make it with: " + rerun));
    }
  }
  require_memory(StudySummary::memory(plan), "the merge's summary", "");

  json header = first;
  header["shard"] = {{"index", 1}, {"count", 1}, {"first_run", 0}, {"end_run", plan.runs()}};
  json merged;
  for (const Part& part : parts) merged.push_back(part.path);
  header["merged_from"] = merged;
  // Nothing reaches stdout, a pipe or a device unless the whole study does: the merge is spooled
  // to an unnamed temporary file and copied out once every shard has been read and checked. A
  // regular file is replaced atomically by Output itself.
  Spool output(command.output);
  output.write(header.dump() + "\n");
  StudySummary summary(plan);
  for (const Part* part : by_index) {
    const int64_t begin = shards.at(part).span.begin;
    const int64_t end = shards.at(part).span.end;
    std::string pending;
    std::ifstream reopened;
    if (!part->in) {
      reopened.open(part->path, std::ios::binary);
      std::string header_again;
      if (!reopened || !std::getline(reopened, header_again) || header_again != part->first_line) {
        throw DataError(part->path + ": changed or gone while merging (its header is not the one read first)");
      }
    }
    const StudyFile file = read_study(
        part->in ? *part->in : reopened, part->path, &part->first_line, [](const json&) {},
        [&](const json& run) {
          const RunRecord record = parse_run(plan, run);
          const int64_t number = record.run(plan);
          if (number < begin || number >= end) {
            throw DataError(
                fmt::format("{}: run {} is not in its shard's runs [{}, {})", part->path, number, begin, end));
          }
          summary.add(record);
          pending += run.dump() + "\n";
          if (pending.size() > 65536) {
            output.write(pending);
            pending.clear();
          }
        });
    output.write(pending);
    if (file.torn || file.runs != end - begin) {
      const std::string rerun = shard_command(part->header, shards.at(part).index, count);
      throw DataError(
          fmt::format("{} (shard {}/{}) holds {} of its {} runs{}: finish it with the same command and "
                      "--resume{}",
                      part->path, shards.at(part).index, count, file.runs, end - begin,
                      file.torn ? " and a torn last line" : "", rerun.empty() ? "" : ": " + rerun));
    }
  }
  const std::vector<CellSummary> cells = summary.cells();
  output.write(closing_lines(plan, cells, summary.count()));
  output.commit();
  if (command.summary) std::cerr << summary_table(plan, cells);
  return kExitOk;
}

}  // namespace labrun::cli
