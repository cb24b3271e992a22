#pragma once
// UTF-8 validation: every text labrun puts in its JSON (column names, labels, paths, the command
// line) is valid UTF-8, checked where it comes in.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace labrun {

// The offset of the first byte that does not belong to a valid UTF-8 sequence (RFC 3629: no
// overlong forms, no surrogates, nothing above U+10FFFF, no truncated sequence), or nullopt when
// all of `text` is valid.
std::optional<std::size_t> invalid_utf8_offset(std::string_view text);

// Text safe to put on one line of an error message or a terminal: printable ASCII and whole UTF-8
// characters that are not controls as they are ("café"), every other byte as \xNN (control
// characters, an escape sequence's ESC, bytes that are not UTF-8), at most `max` bytes of the
// text, then "...".
std::string printable(std::string_view text, std::size_t max = 40);

}  // namespace labrun
