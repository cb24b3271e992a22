#pragma once
// A pass over JSON text that skips its strings, for the checks made before (or instead of) parsing
// it: the nesting depth of a study line, where a value of a torn header ends.

#include <cstddef>
#include <string_view>

namespace labrun::detail {

// Calls visit(i, c) for each character of `text` from `at` that lies outside a string (the quotes
// themselves excluded) and returns the first i for which it returns true; npos when none does.
template <class Visit>
std::size_t scan_outside_strings(std::string_view text, std::size_t at, Visit visit) {
  bool in_string = false;
  for (std::size_t i = at; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (visit(i, c)) {
      return i;
    }
  }
  return std::string_view::npos;
}

}  // namespace labrun::detail
