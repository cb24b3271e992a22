#pragma once
// UTF-8 validation: every text labrun puts in its JSON (column names, labels, paths, the command
// line) is valid UTF-8, checked where it comes in.

#include <cstddef>
#include <optional>
#include <string_view>

namespace labrun {

// The offset of the first byte that does not belong to a valid UTF-8 sequence (RFC 3629: no
// overlong forms, no surrogates, nothing above U+10FFFF, no truncated sequence), or nullopt when
// all of `text` is valid.
std::optional<std::size_t> invalid_utf8_offset(std::string_view text);

}  // namespace labrun
