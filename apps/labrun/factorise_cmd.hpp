#pragma once
// `labrun factorise` (exercise parts 1.1 and 1.2) and `labrun pca` (part 1.3): the options of the
// library's factorise_study, declared once and reused by `labrun all`.

#include "common.hpp"

#include "labrun/studies.hpp"

#include <CLI/CLI.hpp>

#include <string>

namespace labrun::cli {

struct FactoriseCommand {
  CommonOptions common;
  FactoriseStudyOptions study;
  Checks checks;
  OptionNames names;
};

// --rank, --epochs, --lr, --reduction, --loss-form, --loss-every, --dtype, --streaming, named by
// `names`.
void add_factorise_options(CLI::App& command, FactoriseStudyOptions& options, Checks& checks, const OptionNames& names);
CLI::App* setup_factorise(CLI::App& app, FactoriseCommand& command);
CLI::App* setup_pca(CLI::App& app, FactoriseCommand& command);

// The numbers the study puts in its document, and its size in words, for require_memory_for.
double factorise_document_numbers(const Dataset& data, const FactoriseStudyOptions& options);
std::string factorise_size(const Dataset& data, const FactoriseStudyOptions& options);

// The exit code of a factorisation, with its warnings: diverged (an lr that settles, from the
// data's largest singular value; --normalise std where one direction holds the variance), or far
// from the truncated SVD's optimum at the end (more epochs, a larger lr).
int factorise_exit_code(const Dataset& data, const FactoriseStudyResult& result, const FactoriseStudyOptions& options,
                        const OptionNames& names);

int run_factorise(const FactoriseCommand& command, bool with_pca);

}  // namespace labrun::cli
