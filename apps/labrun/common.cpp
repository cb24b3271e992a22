#include "common.hpp"

#include "blas_restart.hpp"
#include "environment.hpp"

#include "labrun/resources.hpp"

#include <fmt/format.h>
#include <sys/stat.h>
#include <torch/torch.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <random>
#include <string_view>

namespace labrun::cli {

const char* to_string(Format format) { return format == Format::text ? "text" : "json"; }

std::string OptionNames::operator()(std::string_view name, bool clashes) const {
  std::string flag = "--" + (clashes ? clash_prefix_ : std::string()) + std::string(name);
  (*declared_)[std::string(name)] = flag;
  return flag;
}

std::string OptionNames::flag(std::string_view field) const {
  // The fields whose options are named otherwise; the rest are the field with - for _.
  static const std::map<std::string_view, std::string_view> kRenamed = {{"record_every", "loss-every"},
                                                                        {"resamples", "bootstrap"}};
  const auto renamed = kRenamed.find(field);
  std::string name(renamed != kRenamed.end() ? renamed->second : field);
  std::replace(name.begin(), name.end(), '_', '-');
  const auto declared = declared_->find(name);
  return declared != declared_->end() ? declared->second : "--" + name;
}

CLI::Option* add_whole(CLI::App& command, const std::string& name, int64_t& value, const std::string& help) {
  const CLI::Validator within_64_bits(
      [](std::string& text) -> std::string {
        errno = 0;
        char* end = nullptr;
        std::strtoll(text.c_str(), &end, 10);
        return errno == ERANGE ? text + " is beyond a 64-bit whole number" : std::string();
      },
      "", "64-bit");
  return command.add_option(name, value, help)->check(within_64_bits)->capture_default_str();
}

namespace {

// Runs `rule`, one of the library's (labrun/options.hpp): its OptionError becomes a UsageError
// naming `option`.
template <class Rule>
void check_by_rule(const std::string& option, Rule&& rule) {
  try {
    rule();
  } catch (const OptionError& e) {
    throw UsageError(option + " " + e.rest());
  }
}

}  // namespace

void require_at_least(const std::string& option, int64_t value, int64_t minimum) {
  check_by_rule(option, [&] { labrun::require_at_least("labrun", "value", value, minimum); });
}

CLI::Option* add_at_least(CLI::App& command, Checks& checks, const std::string& name, int64_t& value, int64_t minimum,
                          const std::string& help) {
  checks.add([name, &value, minimum] { require_at_least(name, value, minimum); });
  return add_whole(command, name, value, help);
}

CLI::Option* add_resamples(CLI::App& command, Checks& checks, const std::string& name, int64_t& value,
                           const std::string& help) {
  checks.add([name, &value] { check_by_rule(name, [&] { labrun::require_resamples("labrun", "resamples", value); }); });
  return add_whole(command, name, value, help)->type_name("B");
}

CLI::Option* add_lr(CLI::App& command, Checks& checks, const std::string& name, double& value,
                    std::function<Dtype()> dtype, const std::string& help) {
  checks.add(
      [name, &value, dtype] { check_by_rule(name, [&] { labrun::require_lr("labrun", "lr", value, dtype()); }); });
  return command.add_option(name, value, help)->capture_default_str();
}

void add_common_options(CLI::App& command, CommonOptions& options, Checks& checks) {
  command
      .add_option("--data", options.data_path, "CSV file to read, - for stdin (default: the embedded UCI Iris data)")
      ->type_name("FILE");
  command
      .add_option("--delimiter", options.delimiter,
                  "The cell separator: auto (comma, semicolon or tab, from the first lines), ',', ';' or tab")
      ->check(CLI::Validator(
          [](const std::string& value) {
            return value == "auto" || value == "," || value == ";" || value == "tab" || value == "\t"
                       ? std::string()
                       : "'" + value + "' is not one of auto, ',', ';', tab";
          },
          ""))
      ->type_name("auto|,|;|tab")
      ->capture_default_str();
  command
      .add_option("--features", options.features,
                  "Comma-separated feature columns: indices from 0 or header names (default: every numeric column)")
      ->delimiter(',')
      ->type_name("LIST");
  command
      .add_option("--label", options.label,
                  "Label column: an index from 0, a header name, or 'none' (default: the last column if it holds text)")
      ->type_name("COLUMN|none");
  command
      .add_option("--labels", options.labels_path,
                  "Class labels from a file of their own, one a row: a .npy of whole numbers, or a CSV's last "
                  "column (for .npy data, which holds none)")
      ->type_name("FILE");
  // Checked as text, before CLI11 converts it: a conversion would clamp a seed beyond 2^64 - 1.
  // At most 2^53 - 1, so that every JSON reader (JavaScript's numbers, jq) reads it exactly.
  command.add_option("--seed", options.seed, "Random seed, 0 to 2^53 - 1 (default: drawn at random; always reported)")
      ->check(CLI::Validator(
          [](const std::string& value) {
            constexpr std::string_view kMax = "9007199254740991";  // 2^53 - 1
            const bool digits = !value.empty() && value.find_first_not_of("0123456789") == std::string::npos;
            const std::string_view significant =
                std::string_view(value).substr(std::min(value.find_first_not_of('0'), value.size()));
            const bool fits =
                significant.size() < kMax.size() || (significant.size() == kMax.size() && significant <= kMax);
            return digits && fits ? std::string()
                                  : "the seed '" + value + "' must be a whole number from 0 to " + std::string(kMax) +
                                        " (2^53 - 1, the largest every JSON reader reads exactly)";
          },
          ""))
      ->type_name("N");
  command.add_option("--threads", options.threads, "libtorch's intra-op threads (default: libtorch's choice)")
      ->type_name("N");
  command.add_option("-o,--output", options.output, "Write the JSON to FILE, atomically (default: stdout)")
      ->type_name("FILE");
  add_choice(command, "--format", options.format, {Format::json, Format::text},
             "json: the whole document; text: a short human summary");
  command.add_flag(
      "--summary", options.summary,
      "Also print the text summary on stderr (with -o FILE: the JSON in FILE, the tables on the terminal)");
  add_choice(command, "--progress", options.progress, {ProgressMode::auto_, ProgressMode::always, ProgressMode::never},
             "A long run's progress on stderr (runs done, rate, time left): auto, when stderr is a terminal");
  command
      .add_flag("--print-config", options.print_config,
                "Print these options (with the seed) as a config file and exit; run it again with --config FILE, "
                "where options on the command line win")
      ->configurable(false);
  checks.add([&options] {
    if (!options.threads) return;
    require_at_least("--threads", *options.threads, 1);
    if (const int limit = thread_limit(); *options.threads > limit) {
      throw UsageError(
          fmt::format("--threads {} must be <= {}, 4 x the {} CPUs here", *options.threads, limit, limit / 4));
    }
  });
}

void refuse_empty_values(CLI::App& command) {
  const CLI::Validator non_empty(
      [](const std::string& value) { return value.empty() ? std::string("the value is empty") : std::string(); }, "");
  for (CLI::Option* option : command.get_options()) {
    if (option->get_expected_max() > 0) option->check(non_empty);
  }
}

Dataset load_data(const CommonOptions& options, int64_t min_rows) {
  // A column: digits are an index, anything else a header name ("-1" is neither).
  const auto column = [](const std::string& option, const std::string& text) -> ColumnRef {
    if (!text.empty() && text.find_first_not_of("0123456789") == std::string::npos) {
      if (text.size() > 15) throw UsageError(option + ": column " + text + " is out of any file's range");
      return ColumnRef(static_cast<int64_t>(std::stoll(text)));
    }
    if (!text.empty() && text[0] == '-' && text.find_first_not_of("0123456789", 1) == std::string::npos) {
      throw UsageError(option + ": column " + text + " must be >= 0");
    }
    return ColumnRef(text);
  };
  CsvOptions csv;
  for (const std::string& feature : options.features) csv.features.push_back(column("--features", feature));
  csv.min_rows = min_rows;
  if (!options.labels_path.empty() && !options.label.empty() && options.label != "none") {
    throw UsageError("--labels " + options.labels_path + " and --label " + options.label +
                     ": the labels come from one or the other");
  }
  const auto stdin_path = [](const std::string& p) { return p == "-" || p == "/dev/stdin" || p == "/dev/fd/0"; };
  if (stdin_path(options.data_path) && stdin_path(options.labels_path)) {
    throw UsageError("--data " + options.data_path + " and --labels " + options.labels_path +
                     " both read standard input: give one of them a file");
  }
  if (options.label == "none" || !options.labels_path.empty()) {
    csv.no_label = true;
  } else if (!options.label.empty()) {
    csv.label = column("--label", options.label);
  }
  csv.delimiter = options.delimiter == "auto"                               ? '\0'
                  : options.delimiter == "tab" || options.delimiter == "\t" ? '\t'
                                                                            : options.delimiter.front();
  // -o onto the data file would replace the data with the results.
  struct stat input {
  }, output{};
  if (!options.data_path.empty() && !options.output.empty() && options.output != "-" &&
      ::stat(options.data_path.c_str(), &input) == 0 && ::stat(options.output.c_str(), &output) == 0 &&
      input.st_dev == output.st_dev && input.st_ino == output.st_ino && S_ISREG(input.st_mode)) {
    throw UsageError("-o " + options.output + " is the --data file " + options.data_path +
                     ": writing the results there would replace the data; choose another output");
  }
  if (!options.labels_path.empty()) refuse_output_onto_input(options.output, options.labels_path, "the --labels file");
  Dataset data = options.data_path.empty()
                     ? load_embedded_iris(csv)
                     : with_option_names(OptionNames(), [&] { return read_data(options.data_path, csv); });
  if (!options.labels_path.empty()) read_labels(data, options.labels_path);
  if (data.index_column) {
    note(
        fmt::format("{}: column {} is pandas' index (an empty header above distinct whole numbers) and is left out; "
                    "give --features to read it",
                    data.source, *data.index_column));
  }
  if (data.looks_like_labels && !options.labels_path.empty()) {
    // The class itself among the features would leak it into the model.
    note(
        fmt::format("{}: column {} holds only a few distinct whole numbers and is read as a feature; if it holds "
                    "the classes --labels gives, leave it out with --features",
                    data.source, *data.looks_like_labels));
  } else if (data.looks_like_labels) {
    note(
        fmt::format("{}: column {} holds only a few distinct whole numbers and is read as a feature; if it is a "
                    "class label, say --label {}",
                    data.source, *data.looks_like_labels, *data.looks_like_labels));
  }
  if (!data.ignored_columns.empty()) {
    // Never silent: a column of text that is neither a feature nor the label.
    std::string columns;
    for (const int64_t c : data.ignored_columns) columns += (columns.empty() ? "" : ", ") + std::to_string(c);
    note(
        fmt::format("{}: column{} {} hold{} text and {} left out (not a feature, not the label); choose with "
                    "--features and --label",
                    data.source, data.ignored_columns.size() > 1 ? "s" : "", columns,
                    data.ignored_columns.size() > 1 ? "" : "s", data.ignored_columns.size() > 1 ? "are" : "is"));
  }
  return data;
}

Dataset start_command(const CommonOptions& common, const Checks& checks) {
  checks.run();
  apply_threads(common);
  return load_data(common, /*min_rows=*/2);
}

uint64_t admit_work(const CommonOptions& common, const Cost& cost, double numbers, const std::string& what,
                    const std::string& advice) {
  require_memory_for(cost.bytes, numbers, what, advice);
  use_best_blas_kernel(cost.flops, common);
  return resolve_seed(common);
}

void require_memory_for(double study_bytes, double numbers, const std::string& what, const std::string& advice) {
  // A number in the document: its node in the JSON tree, its text, the text's copy (measured:
  // about 100 bytes; docs/performance.md).
  constexpr double kBytesPerNumber = 150.0;
  require_memory(study_bytes + kBytesPerNumber * (numbers + 1000.0), what, "; " + advice);
}

double curve_numbers(int64_t epochs, int64_t record_every) {
  return record_every > 0 ? 2.0 * (static_cast<double>(std::max<int64_t>(epochs, 0) / record_every) + 2.0) : 0.0;
}

namespace {
std::vector<std::string>& pending_notes() {
  static std::vector<std::string> notes;
  return notes;
}
}  // namespace

void note(std::string text) { pending_notes().push_back(std::move(text)); }

void print_notes() {
  for (const std::string& text : pending_notes()) fmt::print(stderr, "labrun: note: {}\n", text);
  pending_notes().clear();
}

void apply_threads(const CommonOptions& options) {
  if (options.threads) torch::set_num_threads(*options.threads);  // checked with the options
  labrun::require_blas_address_space(torch::get_num_threads());
}

uint64_t resolve_seed(const CommonOptions& options) {
  if (options.seed) return *options.seed;
  std::random_device entropy;
  return static_cast<uint32_t>(entropy());
}

void refuse_output_onto_input(const std::string& output, const std::string& input, const std::string& what) {
  struct stat out {
  }, in{};
  if (output.empty() || output == "-" || ::stat(output.c_str(), &out) != 0 || ::stat(input.c_str(), &in) != 0) return;
  if (S_ISREG(out.st_mode) && in.st_dev == out.st_dev && in.st_ino == out.st_ino) {
    throw UsageError("-o " + output + " is " + what + " " + input +
                     ": writing there would replace it; write to another file");
  }
}

}  // namespace labrun::cli
