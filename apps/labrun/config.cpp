#include "config.hpp"

#include "common.hpp"

#include "labrun/config_file.hpp"

#include <fmt/format.h>
#include <sys/stat.h>

#include <climits>
#include <cstdlib>
#include <filesystem>

namespace labrun::cli {
namespace {

std::string g_config_path;            // the --config file read, "" when none
bool g_config_readable_twice = true;  // a regular file (not a pipe, FIFO or device)

// What kind of file `path` is, for a message: "a pipe", "a character device".
std::string kind_of(const struct stat& info) {
  if (S_ISFIFO(info.st_mode)) return "a pipe or FIFO";
  if (S_ISCHR(info.st_mode)) return "a character device";
  if (S_ISSOCK(info.st_mode)) return "a socket";
  return "not a regular file";
}

bool regular_file(const std::string& path, struct stat& info) {
  return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode);
}

// The folder relative paths in a config file are read from: the file's own when it is a regular
// file (found through symbolic links, /dev/stdin included), else the working directory ("").
std::string folder_of(const std::string& path) {
  char resolved[PATH_MAX];
  struct stat info {};
  if (!regular_file(path, info) || ::realpath(path.c_str(), resolved) == nullptr) return "";
  return std::filesystem::path(resolved).parent_path().string();
}

bool is_path_key(const std::string& key) {
  return key == "data" || key == "labels" || key == "output" || key == "o" || key == "study" || key == "shards";
}

// The subcommand that `section` names below `app` ({"sweep", "mlp"}), or nullptr.
const CLI::App* subcommand_at(const CLI::App& app, const std::vector<std::string>& section) {
  const CLI::App* command = &app;
  for (const std::string& name : section) {
    const CLI::App* next = nullptr;
    for (const CLI::App* sub : command->get_subcommands({})) {
      if (sub->get_name() == name) next = sub;
    }
    if (next == nullptr) return nullptr;
    command = next;
  }
  return command;
}

std::string section_name(const CLI::App& command) {
  std::string name = command.get_name();
  for (const CLI::App* parent = command.get_parent(); parent && parent->get_parent(); parent = parent->get_parent()) {
    name = parent->get_name() + "." + name;
  }
  return name;
}

std::string listed(const std::vector<std::string>& sections) {
  if (sections.empty()) return "no section";
  std::string text;
  for (const std::string& section : sections) text += (text.empty() ? "[" : ", [") + section + "]";
  return text;
}

}  // namespace

std::string ConfigReader::to_config(const CLI::App* app, bool defaults, bool descriptions, std::string prefix) const {
  return CLI::ConfigTOML().to_config(app, defaults, descriptions, std::move(prefix));
}

std::vector<CLI::ConfigItem> ConfigReader::from_config(std::istream& input) const {
  const CLI::Option* option = app_.get_config_ptr();
  path_ = option != nullptr && option->count() > 0 ? option->as<std::string>() : "";
  struct stat info {};
  g_config_path = path_;
  g_config_readable_twice = regular_file(path_, info);
  std::vector<ConfigEntry> entries;
  try {
    entries = read_config(input, path_);
  } catch (const ConfigError& e) {
    throw CLI::ConfigError(std::string("--config ") + e.what());
  }
  const std::string folder = folder_of(path_);
  std::vector<CLI::ConfigItem> items;
  for (ConfigEntry& entry : entries) {
    std::string section;
    for (const std::string& part : entry.section) section += (section.empty() ? "" : ".") + part;
    if (!section.empty() && std::find(sections_.begin(), sections_.end(), section) == sections_.end()) {
      sections_.push_back(section);
    }
    // A list for an option that takes one value: its comma-separated form (sweep's --lr 0.01,0.1).
    if (entry.values.size() > 1) {
      const CLI::App* command = subcommand_at(app_, entry.section);
      const CLI::Option* target = command ? command->get_option_no_throw("--" + entry.key) : nullptr;
      if (target != nullptr && target->get_expected_max() == 1) {
        std::string joined;
        for (const std::string& value : entry.values) joined += (joined.empty() ? "" : ",") + value;
        entry.values = {joined};
      }
    }
    if (is_path_key(entry.key) && !folder.empty()) {
      for (std::string& value : entry.values) {
        if (!value.empty() && value != "-" && value.front() != '/') value = folder + "/" + value;
      }
    }
    CLI::ConfigItem item;
    item.parents = entry.section;
    item.name = entry.key;
    item.inputs = entry.values;
    items.push_back(std::move(item));
  }
  return items;
}

void ConfigReader::require_section_of_command() const {
  if (path_.empty()) return;
  const CLI::App* command = nullptr;
  for (const CLI::App* level = &app_; level != nullptr;) {
    const CLI::App* next = nullptr;
    for (const CLI::App* sub : level->get_subcommands({})) {
      if (sub->parsed()) next = sub;
    }
    if (next != nullptr) command = next;
    level = next;
  }
  const std::string example = sections_.empty() ? "mlp" : sections_.front();
  if (command == nullptr) {
    throw UsageError(
        fmt::format("--config {}: say which subcommand to run with it, e.g. labrun --config {} {} (the "
                    "file holds {})",
                    path_, path_, fmt::join(CLI::detail::split(example, '.'), " "), listed(sections_)));
  }
  const std::string wanted = section_name(*command);
  if (std::find(sections_.begin(), sections_.end(), wanted) != sections_.end()) return;
  std::string run = wanted;
  std::replace(run.begin(), run.end(), '.', ' ');
  const bool printable = command->get_option_no_throw("--print-config") != nullptr;
  throw UsageError(
      fmt::format("--config {} holds no [{}] section (it holds {}): {} would run with none of its "
                  "options; write them under [{}]{}",
                  path_, wanted, listed(sections_), run, wanted,
                  printable ? " (labrun " + run + " --print-config writes one)" : ""));
}

std::string once_only_input(const CommonOptions& inputs) {
  struct stat info {};
  for (const auto& [option, path] : {std::pair<const char*, const std::string&>{"--data", inputs.data_path},
                                     std::pair<const char*, const std::string&>{"--labels", inputs.labels_path}}) {
    if (path == "-") return std::string(option) + " - (standard input)";
    if (!path.empty() && ::stat(path.c_str(), &info) == 0 && !S_ISREG(info.st_mode)) {
      return std::string(option) + " " + path + " (" + kind_of(info) + ")";
    }
  }
  if (!g_config_path.empty() && !g_config_readable_twice) {
    const bool known = ::stat(g_config_path.c_str(), &info) == 0;
    return "--config " + g_config_path + (known ? " (" + kind_of(info) + ")" : "");
  }
  return "";
}

std::string config_text(const CLI::App& command, std::optional<uint64_t> seed) {
  std::string text = "[" + section_name(command) + "]\n";
  for (const CLI::Option* option : command.get_options()) {
    if (!option->get_configurable() || option->get_lnames().empty() || option->get_lnames().front() == "help") {
      continue;
    }
    const std::string& name = option->get_lnames().front();
    std::vector<std::string> values = option->count() > 0 ? option->results() : std::vector<std::string>{};
    if (values.empty() && !option->get_default_str().empty()) values = {option->get_default_str()};
    if (name == "seed" && option->count() == 0 && seed) values = {std::to_string(*seed)};
    if (values.empty()) continue;
    if (is_path_key(name)) {
      for (std::string& value : values) {
        if (!value.empty() && value != "-") value = std::filesystem::absolute(value).lexically_normal().string();
      }
    }
    // A comma-separated list (sweep's --lr 0.01,0.1) is written as the TOML list it is.
    if (option->get_expected_max() == 1 && option->get_type_name().rfind("LIST", 0) == 0) {
      values = CLI::detail::split(values.back(), ',');
    }
    if (option->get_expected_max() == 0) {  // a flag given
      text += name + "=true\n";
    } else if (option->get_expected_max() > 1 || values.size() > 1) {
      std::string list;
      for (const std::string& v : values) list += (list.empty() ? "" : ", ") + config_value(v);
      text += name + "=[" + list + "]\n";
    } else {
      text += name + "=" + config_value(values.back()) + "\n";
    }
  }
  return text;
}

}  // namespace labrun::cli
