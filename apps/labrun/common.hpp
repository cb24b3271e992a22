#pragma once
// What every labrun subcommand shares: exit codes, option declarations with their range checks,
// the data and output options, loading the data.

#include "labrun/dataset.hpp"
#include "labrun/factorise.hpp"
#include "labrun/options.hpp"
#include "labrun/resources.hpp"

#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace labrun::cli {

// labrun's exit codes, listed in the README and in --help.
enum ExitCode : int {
  kExitOk = 0,
  kExitDataError = 1,      // bad data, unreadable input, unwritable output, not enough memory
  kExitUsageError = 2,     // bad command line: unknown option, bad value, value out of range
  kExitDiverged = 3,       // training diverged; the JSON is still written
  kExitInternalError = 4,  // a bug in labrun or an error inside libtorch
};

// An option value that parses but is not acceptable (exit code 2).
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The range checks of a command's options, declared with them and run after parsing, so that
// each message names the option as the user typed it ("--mlp-epochs -1 must be >= 0").
class Checks {
 public:
  void add(std::function<void()> check) { checks_.push_back(std::move(check)); }
  void run() const {
    for (const auto& check : checks_) check();
  }

 private:
  std::vector<std::function<void()>> checks_;
};

// How a part's options are named where it is declared: as they are in the part's own command,
// or, under `labrun all`, with a prefix on those whose names the other part uses too. It remembers
// the names it gave, so that the library's OptionError, which names a field of the options struct,
// can be told with the option as declared (flag).
class OptionNames {
 public:
  explicit OptionNames(std::string clash_prefix = "") : clash_prefix_(std::move(clash_prefix)) {}
  // "--rank"; "--factorise-lr" where `clashes` in all. Remembers the name in a map that every copy
  // shares (the declarations' lambdas hold copies), so it is const.
  std::string operator()(std::string_view name, bool clashes = false) const;
  // The option of a library field: "train_size" -> "--train-size", "record_every" -> "--loss-every",
  // "resamples" -> "--bootstrap"; with the prefix it was declared with.
  std::string flag(std::string_view field) const;

 private:
  std::string clash_prefix_;  // "" in the part's own command; "factorise-" or "mlp-" in all
  std::shared_ptr<std::map<std::string, std::string, std::less<>>> declared_ =
      std::make_shared<std::map<std::string, std::string, std::less<>>>();
};

// Runs `call`, which checks options by the library's rules: an OptionError becomes a UsageError
// that names the option as `names` declared it ("train_size 150 must ..." -> "--train-size 150 must
// ...").
template <class Call>
decltype(auto) with_option_names(const OptionNames& names, Call&& call) {
  try {
    return call();
  } catch (const OptionError& e) {
    throw UsageError(names.flag(e.option()) + " " + e.rest());
  }
}

// Throw UsageError naming the option, its value and the limit: "--rank 0 must be >= 1" (the
// library's rule, labrun/options.hpp).
void require_at_least(const std::string& option, int64_t value, int64_t minimum);

// A whole-number option; one beyond 64 bits is refused as written, never clamped to 2^63 - 1.
CLI::Option* add_whole(CLI::App& command, const std::string& name, int64_t& value, const std::string& help);
// An integer option of at least `minimum`, checked by `checks`.
CLI::Option* add_at_least(CLI::App& command, Checks& checks, const std::string& name, int64_t& value, int64_t minimum,
                          const std::string& help);
// Bootstrap resamples, checked by `checks` with the library's rule (0 to kMaxResamples).
CLI::Option* add_resamples(CLI::App& command, Checks& checks, const std::string& name, int64_t& value,
                           const std::string& help);
// A learning rate, checked by `checks` with the library's rule for the dtype `dtype()` gives when
// the checks run.
CLI::Option* add_lr(CLI::App& command, Checks& checks, const std::string& name, double& value,
                    std::function<Dtype()> dtype, const std::string& help);

// The library's names of `values` (to_string) and the enum each names; `listed` gets them joined
// by `separator` for help and error text.
template <class Enum>
std::map<std::string, Enum> enum_names(std::initializer_list<Enum> values, std::string& listed, const char* separator) {
  std::map<std::string, Enum> names;
  for (const Enum v : values) {
    names.emplace(to_string(v), v);
    listed += (listed.empty() ? "" : separator) + std::string(to_string(v));
  }
  return names;
}

// An enum option whose values are the library's names for them (to_string), and only those.
template <class Enum>
CLI::Option* add_choice(CLI::App& command, const std::string& name, Enum& value, std::initializer_list<Enum> values,
                        const std::string& help) {
  std::string listed;
  const std::map<std::string, Enum> names = enum_names(values, listed, "|");
  // The option keeps the name as typed (so that --print-config writes names) and sets the enum.
  CLI::Validator by_name(
      [names, listed](std::string& input) {
        return names.count(input) ? std::string() : "'" + input + "' is not one of " + listed;
      },
      "");
  return command
      .add_option_function<std::string>(
          name, [&value, names](const std::string& input) { value = names.at(input); }, help)
      ->check(by_name)
      ->type_name(listed)
      ->default_str(to_string(value));
}

enum class Format { json, text };
const char* to_string(Format format);

// --progress: auto_ shows a study's progress on stderr when it is a terminal (progress.hpp).
enum class ProgressMode { auto_, always, never };
const char* to_string(ProgressMode mode);

struct CommonOptions {
  std::string data_path;              // empty: the embedded Iris data; "-": stdin
  std::vector<std::string> features;  // indices or header names; empty: every numeric column
  std::string label;                  // empty: automatic; "none"; a column index or header name
  std::string labels_path;            // a file of labels, one a row (labrun/dataset.hpp read_labels)
  std::string delimiter = "auto";     // auto, ",", ";", "tab"
  std::optional<uint64_t> seed;       // nullopt: labrun picks one and reports it
  std::optional<int> threads;         // nullopt: libtorch's default
  std::string output;                 // empty or "-": stdout
  Format format = Format::json;
  bool print_config = false;  // print the options as a --config file and exit
  bool summary = false;       // also the text summary on stderr
  ProgressMode progress = ProgressMode::auto_;
};

// Declares --data, --features, --label, --seed, --threads, -o/--output and --format on a subcommand.
void add_common_options(CLI::App& command, CommonOptions& options, Checks& checks);

// Refuses an empty value ("--epochs ''") for every option of `command` that takes one, rather
// than reading it as 0 or the default. Call it after the options are declared.
void refuse_empty_values(CLI::App& command);

// A subcommand of `app` for one of the library's studies: the study's options (added by
// add_options(command, study, checks, names)), then the common ones.
template <class Command, class AddOptions>
CLI::App* add_study_command(CLI::App& app, const std::string& name, const std::string& description, Command& command,
                            AddOptions add_options) {
  CLI::App* sub = app.add_subcommand(name, description);
  add_options(*sub, command.study, command.checks, command.names);
  add_common_options(*sub, command.common, command.checks);
  refuse_empty_values(*sub);
  return sub;
}

// Reads --data (or the embedded Iris file) with --features and --label; throws DataError or
// UsageError.
Dataset load_data(const CommonOptions& options, int64_t min_rows);

// The steps every study command takes, in this order:
//   start_command   its options' checks, --threads, the data (or the embedded Iris file);
//   (the command checks the study's options against the data: check_options)
//   admit_work      refuses work that cannot fit in memory, moves to the BLAS kernel that pays for
//                   its flops (use_best_blas_kernel, blas_restart.hpp), and returns the seed.
Dataset start_command(const CommonOptions& common, const Checks& checks);
// `cost`: the study's estimate; `numbers`, `what`, `advice`: as require_memory_for takes them.
uint64_t admit_work(const CommonOptions& common, const Cost& cost, double numbers, const std::string& what,
                    const std::string& advice);

// Refuses (labrun::ResourceError, exit 1) a run whose study needs `study_bytes` and whose document
// holds `numbers` numbers when that does not fit in the memory available, before it starts.
// `what` names the run by its sizes ("mlp with --repeats 10000000 and --hidden 12"), `advice`
// what to lower.
void require_memory_for(double study_bytes, double numbers, const std::string& what, const std::string& advice);

// Numbers in the document of a run: loss-curve points, factors, per-run figures.
double curve_numbers(int64_t epochs, int64_t record_every);

// A note for the user ("column 0 holds text and is left out"), printed on stderr by print_notes
// when the work starts (use_best_blas_kernel, once every check that needs no work has passed) or,
// for commands without training, once the output is written: a run refused before it starts
// still says one line only.
void note(std::string text);
void print_notes();

// Applies --threads (checked by the command's Checks) to libtorch.
void apply_threads(const CommonOptions& options);

// The seed to use: --seed, or one drawn from the system's entropy, below 2^32 so that numpy's
// RandomState (the exercise's shuffle) takes it too.
uint64_t resolve_seed(const CommonOptions& options);

// -o onto an input (the same file by device and inode: links too) would replace what is read:
// a UsageError naming both, before anything is read or written.
void refuse_output_onto_input(const std::string& output, const std::string& input, const std::string& what);

}  // namespace labrun::cli
