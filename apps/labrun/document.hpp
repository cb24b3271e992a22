#pragma once
// A command's JSON document: labrun's results (labrun/json.hpp) with what this process adds, the
// command line that made it and the machine it ran on.

#include "common.hpp"

#include "labrun/json.hpp"

#include <string>

namespace labrun::cli {

// { "schema_version", "command", "provenance", "config", "data", "environment", "results" }
json document(const std::string& command, json config, json data, json results);

// json: compact_dump(document); text: text_summary(document) (labrun/render.hpp).
std::string render(const json& document, Format format);

// Writes the document to --output in --format, and with --summary its text summary on stderr.
void emit(const json& document, const CommonOptions& common);

// The document's "environment": libtorch, the BLAS library and the kernel decided on, threads.
json environment();

// This process as a study file records it: labrun's version and commit, the BLAS library and
// kernel it computes on, the host, the process and when it started (labrun/study_file.hpp).
json process_record();

}  // namespace labrun::cli
