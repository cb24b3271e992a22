#pragma once
// labrun's config files: the TOML subset that `--print-config` writes and `--config` reads.
//
//   # a comment
//   [sweep.mlp]                 a section: the subcommand whose options follow
//   lr = [0.01, 0.1]            a list (one line or several)
//   data = "runs/wine #2.csv"   a basic string: \" \\ \n \t \r \b \f \uXXXX \UXXXXXXXX escapes
//   label = 'a "quoted" name'   a literal string: no escapes
//   epochs = 100                a bare value (a number, true, false, or a word such as batched)
//   mlp.seed = 5                a dotted key: section mlp, key seed
//
// Read as text, whole, before anything runs: at most kMaxConfigBytes, UTF-8 (a byte-order mark is
// skipped), no NUL byte, every key once per section. What TOML has besides (inline tables,
// [[arrays of tables]], multi-line strings, dates) is refused with its line, never guessed at.

#include <cstddef>
#include <istream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace labrun {

// A config file that cannot be read or parsed; the message names the file and the line.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A config file holds options, a few lines of them: a larger one (or /dev/zero) is refused.
inline constexpr std::size_t kMaxConfigBytes = std::size_t{1} << 20;

struct ConfigEntry {
  std::vector<std::string> section;  // {"sweep", "mlp"}; empty above the first [section]
  std::string key;                   // "lr"
  std::vector<std::string> values;   // one for a value, each element for a list
  bool list = false;                 // written as [ ... ]
  int line = 0;                      // 1-based, where the key is
};

// Parses a config file's text; `name` (the path) goes into error messages.
std::vector<ConfigEntry> parse_config(std::string_view text, const std::string& name);

// Reads a config file's text from `input` (at most kMaxConfigBytes; a read error, a NUL byte or
// invalid UTF-8 is a ConfigError) and parses it.
std::vector<ConfigEntry> read_config(std::istream& input, const std::string& name);

// A value as a config file holds it: a plain number or true/false as it is, anything else as a
// basic string with escapes, so that any text (a '#', a quote, a newline) reads back unchanged.
std::string config_value(std::string_view value);

}  // namespace labrun
