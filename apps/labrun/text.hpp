#pragma once
// labrun's document as the user asked for it: JSON, or a short human summary.

#include "common.hpp"
#include "serialise.hpp"

#include <string>

namespace labrun::cli {

// json: the document, pretty-printed; text: text_summary(document).
std::string render(const json& document, Format format);

// Tables of the losses and accuracies, made from the document alone.
std::string text_summary(const json& document);

}  // namespace labrun::cli
