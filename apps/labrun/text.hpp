#pragma once
// labrun's document as the user asked for it: JSON, or a short human summary.

#include "serialise.hpp"

#include <string>

namespace labrun::cli {

// format "json": the document, pretty-printed; "text": text_summary(document).
std::string render(const json& document, const std::string& format);

// Tables of the losses and accuracies, made from the document alone.
std::string text_summary(const json& document);

}  // namespace labrun::cli
