#pragma once
// What every labrun subcommand shares: exit codes, the data and output options, loading the data.

#include "labrun/dataset.hpp"

#include <CLI/CLI.hpp>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace labrun::cli {

// labrun's exit codes, listed in the README and in --help.
enum ExitCode : int {
  kExitOk = 0,
  kExitDataError = 1,      // bad data, unreadable input, unwritable output
  kExitUsageError = 2,     // bad command line: unknown option, bad value, value out of range
  kExitDiverged = 3,       // training diverged; the JSON is still written
  kExitInternalError = 4,  // a bug in labrun or an error inside libtorch
};

// An option value that parses but is not acceptable (exit code 2).
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct CommonOptions {
  std::string data_path;          // empty: the embedded Iris data
  std::vector<int64_t> features;  // empty: every numeric column
  std::string label;              // empty: automatic; "none"; or a column index
  std::optional<uint64_t> seed;   // nullopt: labrun picks one and reports it
  std::optional<int> threads;     // nullopt: libtorch's default
  std::string output;             // empty or "-": stdout
  std::string format = "json";    // json | text, checked by CLI11
};

// Throw UsageError naming the option, its value and the limit: "--rank 0 must be >= 1".
void require_at_least(const char* option, int64_t value, int64_t minimum);
void require_finite_positive(const char* option, double value);

// Declares --data, --features, --label, --seed, --threads, -o/--output and --format on a subcommand.
void add_common_options(CLI::App& command, CommonOptions& options);

// Reads --data (or the embedded Iris file) with --features and --label; throws DataError or
// UsageError.
Dataset load_data(const CommonOptions& options, int64_t min_rows);

// Applies --threads to libtorch.
void apply_threads(const CommonOptions& options);

// The seed to use: --seed, or one drawn from the system's entropy, below 2^32 so that numpy's
// RandomState (the exercise's shuffle) takes it too.
uint64_t resolve_seed(const CommonOptions& options);

}  // namespace labrun::cli
