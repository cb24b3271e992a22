#pragma once
// labrun compare STUDY.jsonl: which differences between a study's settings are real (issue 27).

#include "common.hpp"

#include <CLI/CLI.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace labrun::cli {

struct CompareCommand {
  std::string input;
  std::string baseline;           // a setting's key ("lr=0.1"); empty: every pair
  std::string metric;             // empty: val_accuracy for an MLP study, loss for a factorisation
  std::optional<int64_t> epochs;  // the study's largest when not given
  int64_t resamples = 10000;
  Format format = Format::json;
  std::string output;
};

CLI::App* setup_compare(CLI::App& app, CompareCommand& command);
int run_compare(const CompareCommand& command);

}  // namespace labrun::cli
