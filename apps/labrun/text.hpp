#pragma once
// labrun's document as the user asked for it: JSON, or a short human summary.

#include "common.hpp"
#include "document.hpp"

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

class Output;

// A document written as it is made (64 KiB at a time), laid out as compact_dump lays it out:
// `document` with, at the end of the object `path` names ({"results"}), an array of items that
// come one by one, followed by keys known only at the end.
class StreamedDocument {
 public:
  StreamedDocument(json document, const std::vector<std::string>& path, const std::string& array, Output& output);
  void item(const json& value);
  void finish(const json& rest);  // an object: its keys go after the array

 private:
  Output& output_;
  std::string suffix_;
  std::size_t indent_ = 0;  // of the array's key
  std::size_t items_ = 0;
  // Items not yet written: they go out 64 KiB at a time (a write a run cost 3% of a study of
  // small models).
  std::string pending_;
};

}  // namespace labrun::cli
