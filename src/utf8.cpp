#include "labrun/utf8.hpp"

#include <cstdint>
#include <cstdio>
#include <cstring>

namespace labrun {

std::optional<std::size_t> invalid_utf8_offset(std::string_view text) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  std::size_t i = 0;
  while (i < text.size()) {
    // ASCII, the common case, eight bytes at a time: no byte with its high bit set.
    for (uint64_t word = 0; i + 8 <= text.size(); i += 8) {
      std::memcpy(&word, text.data() + i, 8);
      if ((word & 0x8080808080808080ULL) != 0) break;
    }
    if (i >= text.size()) break;
    const unsigned char lead = byte(i);
    if (lead < 0x80) {
      ++i;
      continue;
    }
    // The sequence's length and the range of its second byte (which rules out overlong forms,
    // surrogates and code points above U+10FFFF); the rest are 0x80..0xBF.
    std::size_t length = 0;
    unsigned char low = 0x80, high = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      if (lead == 0xE0) low = 0xA0;
      if (lead == 0xED) high = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      if (lead == 0xF0) low = 0x90;
      if (lead == 0xF4) high = 0x8F;
    } else {
      return i;
    }
    if (i + length > text.size()) return i;
    if (byte(i + 1) < low || byte(i + 1) > high) return i;
    for (std::size_t k = 2; k < length; ++k) {
      if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return i;
    }
    i += length;
  }
  return std::nullopt;
}

std::string printable(std::string_view text, std::size_t max) {
  std::string out;
  const std::string_view shown = text.substr(0, max);
  for (std::size_t i = 0; i < shown.size();) {
    const auto u = static_cast<unsigned char>(shown[i]);
    // A whole UTF-8 character that is not a control (C1 controls are U+0080 to U+009F: C2 80-9F).
    const std::size_t length = u >= 0xf0 ? 4 : u >= 0xe0 ? 3 : u >= 0xc2 ? 2 : 1;
    const std::string_view character = shown.substr(i, length);
    const bool c1 = u == 0xc2 && character.size() == 2 && static_cast<unsigned char>(character[1]) < 0xa0;
    if (length > 1 && character.size() == length && !c1 && !invalid_utf8_offset(character)) {
      out += character;
      i += length;
      continue;
    }
    if (u >= 0x20 && u < 0x7f) {
      out += shown[i];
    } else {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\x%02x", u);
      out += escaped;
    }
    ++i;
  }
  if (text.size() > max) out += "...";
  return out;
}

}  // namespace labrun
