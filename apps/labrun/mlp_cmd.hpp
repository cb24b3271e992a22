#pragma once
// `labrun mlp`: exercise part 2, the options of the library's mlp_study, declared once and reused
// by `labrun all`.

#include "common.hpp"

#include "labrun/studies.hpp"

#include <CLI/CLI.hpp>

#include <string>

namespace labrun::cli {

struct MlpCommand {
  CommonOptions common;
  MlpStudyOptions study;
  Checks checks;
  OptionNames names;
};

// --hidden, --epochs, --lr, --repeats, --train-size, --normalise, --engine, --reshuffle,
// --no-shuffle, --loss-every, named by `names`.
void add_mlp_options(CLI::App& command, MlpStudyOptions& options, Checks& checks, const OptionNames& names);
CLI::App* setup_mlp(CLI::App& app, MlpCommand& command);

// The numbers the study puts in its document, and its size in words, for require_memory_for.
double mlp_document_numbers(const MlpStudyOptions& options);
std::string mlp_size(const MlpStudyOptions& options);

int mlp_exit_code(const MlpStudyResult& result, const std::string& lr_option, double lr);
// A warning on stderr, before the training, when validation classes never appear in training.
void warn_unseen_classes(const MlpStudyResult& start, Shuffle shuffle);
// The warning when most of the first update is lost to float32 (MlpStudyResult::lost_update_share).
void warn_lost_updates(const MlpStudyResult& start, const std::string& lr_option, double lr);

int run_mlp(const MlpCommand& command);

}  // namespace labrun::cli
