#pragma once
// --config and --print-config: labrun's config files (include/labrun/config_file.hpp) read into
// CLI11's options and written from them.

#include "common.hpp"

#include <CLI/CLI.hpp>

#include <cstdint>
#include <istream>
#include <optional>
#include <string>
#include <vector>

namespace labrun::cli {

// Reads `--config FILE` for CLI11 with the library's parser (bounded, UTF-8, TOML strings and
// lists; CLI11's own reader takes a '#' inside quotes for a comment and reads /dev/zero to the end
// of memory). A list given to an option that takes one comma-separated value is joined
// ("lr = [0.01, 0.1]" is --lr 0.01,0.1); a relative data or output path is read from the file's
// folder. Remembers the file's sections, and whether the file could be read a second time.
class ConfigReader : public CLI::Config {
 public:
  explicit ConfigReader(const CLI::App& app) : app_(app) {}
  std::string to_config(const CLI::App* app, bool defaults, bool descriptions, std::string prefix) const override;
  std::vector<CLI::ConfigItem> from_config(std::istream& input) const override;

  // After the parse: a --config whose file holds no section of the subcommand that runs (or with no
  // subcommand at all) would run the defaults; refused (UsageError), naming the sections it holds.
  void require_section_of_command() const;

 private:
  const CLI::App& app_;
  mutable std::string path_;                   // the file read, "" when none
  mutable std::vector<std::string> sections_;  // "sweep.mlp" each, in the file's order
};

// The first input of this run that a second start of labrun could not read again ("--data -",
// "--config /dev/fd/63 (a pipe)"), or "" when every one is a regular file (or the embedded data).
std::string once_only_input(const CommonOptions& inputs);

// The options of `command` as a config file for --config (a [command] section of name=value lines,
// given options and defaults, in declaration order; lists as [a, b]; paths absolute, so that the
// file can be moved), with `seed` when --seed was not given, so that reading it back gives the
// same run.
std::string config_text(const CLI::App& command, std::optional<uint64_t> seed);

}  // namespace labrun::cli
