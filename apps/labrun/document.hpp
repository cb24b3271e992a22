#pragma once
// A command's JSON document: labrun's results (labrun/json.hpp) with what this process adds, the
// command line that made it and the machine it ran on.

#include "labrun/json.hpp"

#include <string>

namespace labrun::cli {

// { "schema_version", "command", "provenance", "config", "data", "environment", "results" }
json document(const std::string& command, json config, json data, json results);

// The document's "environment": libtorch, the BLAS library and the kernel decided on, threads.
json environment();

// This process as a study file records it: labrun's version and commit, the BLAS library and
// kernel it computes on, the host, the process and when it started (labrun/study_file.hpp).
json process_record();

}  // namespace labrun::cli
