#pragma once
// Writing labrun's output whole or not at all.

#include <string>

namespace labrun::cli {

// Writes `text` to stdout when `path` is empty or "-", otherwise to `path` atomically: a temporary
// file in the same directory, flushed and renamed over `path`, so that a reader never sees a torn
// file and a failed run leaves an existing file as it was. Throws labrun::DataError on failure.
void write_output(const std::string& text, const std::string& path);

}  // namespace labrun::cli
