#pragma once
// labrun's document as a user reads it (labrun::io): JSON laid out for the eye, a short human
// summary, or a document written as its runs come.

#include "labrun/json.hpp"

#include <cstddef>
#include <string>
#include <vector>

namespace labrun {

// The document as JSON, indented, with each array of plain values on one line (a matrix: one row
// per line).
std::string compact_dump(const json& document);

// Tables of the losses and accuracies, made from the document alone.
std::string text_summary(const json& document);

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

}  // namespace labrun
