#pragma once
// labrun's results as JSON (labrun::io): where library types meet nlohmann::json.
// Tensors become plain numbers and arrays here, explicitly; NaN and Inf become null.

#include "labrun/dataset.hpp"
#include "labrun/decomposition.hpp"
#include "labrun/factorise.hpp"
#include "labrun/runtime.hpp"
#include "labrun/studies.hpp"
#include "labrun/sweep.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace labrun {

// Keys stay in the order they are written: schema_version first, results last.
using json = nlohmann::ordered_json;

// The library's types as JSON, found by nlohmann::json beside them (argument-dependent lookup).
void to_json(json& j, const RuntimeInfo& info);
void to_json(json& j, const BlasKernelInfo& kernel);
void to_json(json& j, const FactoriseResult& result);
void to_json(json& j, const TruncatedSvd& svd);
void to_json(json& j, const Pca& pca);
void to_json(json& j, const SubspaceComparison& comparison);  // X is the learned factor U, Y the PCA scores
void to_json(json& j, const MlpResult& run);                  // without "repeat": the caller numbers runs
void to_json(json& j, const Summary& summary);

// The version of the output's layout: minor for added fields, major for removed or changed ones.
inline constexpr const char* kSchemaVersion = "2.5.0";

// A double, or null when it is NaN or Inf.
json number(double value);

// A 2-D tensor as an array of rows; a 1-D tensor as an array.
json matrix(const torch::Tensor& t);

// The seed a run used and whether the user gave it: in the config of a command's own document.
struct Provenance {
  uint64_t seed = 0;
  bool seed_given = false;
};

// The effective options; with `provenance` (a part's own command) also seed, seed_given and
// threads, which `all` writes once at the top of its config.
json factorise_config(const FactoriseStudyOptions& options, const Provenance* provenance);
json mlp_config(const MlpStudyOptions& options, const Provenance* provenance);
json exercise_config(const ExerciseOptions& options, const Provenance& provenance);
// A sweep's base options (its one-value lists folded in: fold_single_values), and the
// factorisation's engine (the numbers differ in rounding): a study header's config, less its seed.
json sweep_config(const Sweep& sweep);

// { "gd", "svd", "gap" }
json factorise_results(const FactoriseStudyResult& result);
// { "pca", "factor", "labels", "comparison" } (comparison null when training diverged)
json pca_results(const FactoriseStudyResult& result, const Dataset& data);
// { "classes", "train_rows", "val_rows", "runs", "summary", "seconds", "seconds_per_model" }
json mlp_results(const MlpStudyResult& result);
// Its parts, for a document written as the runs come: what comes before "runs", a run, what after.
json mlp_results_head(const MlpStudyResult& result);
json mlp_run(int64_t repeat, const MlpResult& run);
json mlp_results_tail(const MlpStudyResult& result);
// { "factorise", "pca", "mlp" }
json exercise_results(const ExerciseResult& result, const Dataset& data);

// The data block: source, rows, columns, the columns used and their names, the label column.
json describe(const Dataset& data);

}  // namespace labrun
