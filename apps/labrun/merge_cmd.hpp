#pragma once
// labrun merge: the shards of one study into the records and summary one process writes.

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace labrun::cli {

struct MergeCommand {
  std::vector<std::string> inputs;
  std::string output;
  bool summary = false;  // the summary's table on stderr
};

CLI::App* setup_merge(CLI::App& app, MergeCommand& command);
int run_merge(const MergeCommand& command);

}  // namespace labrun::cli
