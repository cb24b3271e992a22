#pragma once
// labrun's results as JSON: the only place where library types meet nlohmann::json.
// Tensors become plain numbers and arrays here, explicitly; NaN and Inf become null.

#include "labrun/dataset.hpp"
#include "labrun/decomposition.hpp"
#include "labrun/factorise.hpp"
#include "labrun/runtime.hpp"

#include <nlohmann/json.hpp>

#include <string>

namespace labrun {

// Keys stay in the order they are written: schema_version first, results last.
using json = nlohmann::ordered_json;

// The version of the output's layout: minor for added fields, major for removed or changed ones.
inline constexpr const char* kSchemaVersion = "1.3.0";

// A double, or null when it is NaN or Inf.
json number(double value);

// A 2-D tensor as an array of rows; a 1-D tensor as an array.
json matrix(const torch::Tensor& t);

void to_json(json& j, const RuntimeInfo& info);
void to_json(json& j, const BlasKernelInfo& kernel);
void to_json(json& j, const FactoriseResult& result);
void to_json(json& j, const TruncatedSvd& svd);
void to_json(json& j, const Pca& pca);
// X is the learned factor U, Y the PCA scores.
void to_json(json& j, const SubspaceComparison& comparison);

// The data block: source, rows, columns, the columns used and their names, the label column.
json describe(const Dataset& data);

// { "schema_version", "command", "config", "data", "environment", "results" }
json document(const std::string& command, json config, json data,
                        json results);

}  // namespace labrun
