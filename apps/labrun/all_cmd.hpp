#pragma once
// `labrun all`: every part of the exercise (1.1 to 2.2) in one process and one document. Its
// options are the two parts' own declarations, with the names both parts use prefixed
// (--factorise-epochs, --mlp-lr, ...): a new option of a part reaches `all` without an edit here.

#include "common.hpp"

#include "labrun/studies.hpp"

#include <CLI/CLI.hpp>

#include <cstdint>
#include <optional>

namespace labrun::cli {

struct AllCommand {
  CommonOptions common;
  ExerciseOptions exercise;
  std::optional<int64_t> loss_every;  // both parts' record_every
  Checks checks;
  OptionNames factorise_names{"factorise-"}, mlp_names{"mlp-"};
};

CLI::App* setup_all(CLI::App& app, AllCommand& command);
int run_all(const AllCommand& command);

}  // namespace labrun::cli
