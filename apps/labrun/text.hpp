#pragma once
// labrun's document as the user asked for it: JSON, or a short human summary.

#include "common.hpp"
#include "serialise.hpp"

#include <string>

namespace labrun::cli {

// The document as JSON, indented, with each array of plain values on one line (a matrix: one row
// per line).
std::string compact_dump(const json& document);

// json: compact_dump(document); text: text_summary(document).
std::string render(const json& document, Format format);

// Tables of the losses and accuracies, made from the document alone.
std::string text_summary(const json& document);

// Writes the document to --output in --format, and with --summary its text summary on stderr.
void emit(const json& document, const CommonOptions& common);

}  // namespace labrun::cli
