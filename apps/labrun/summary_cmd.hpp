#pragma once
// labrun summary STUDY.jsonl: the summary of a finished or partial study, or of a shard.

#include "common.hpp"

#include <CLI/CLI.hpp>

#include <string>

namespace labrun::cli {

struct SummaryCommand {
  std::string input;
  Format format = Format::text;
  std::string output;
};

CLI::App* setup_summary(CLI::App& app, SummaryCommand& command);
int run_summary(const SummaryCommand& command);

}  // namespace labrun::cli
