#include "labrun/config_file.hpp"

#include "labrun/utf8.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <map>
#include <sstream>
#include <utility>

namespace labrun {
namespace {

// Its arguments written one after another, as an ostream writes them.
template <typename... Parts>
std::string cat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

std::string hex_byte(unsigned value, int digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text(static_cast<std::size_t>(digits), '0');
  for (int i = digits - 1; i >= 0; --i, value >>= 4) text[static_cast<std::size_t>(i)] = kHex[value & 0xf];
  return text;
}

// The line (1-based) that offset `at` of `text` lies on.
int line_of(std::string_view text, std::size_t at) {
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(at), '\n'));
}

std::string join(const std::vector<std::string>& parts, const char* separator) {
  std::string joined;
  for (const std::string& part : parts) joined += (joined.empty() ? "" : separator) + part;
  return joined;
}

void append_utf8(std::string& out, unsigned long code) {
  if (code < 0x80) {
    out += static_cast<char>(code);
  } else if (code < 0x800) {
    out += static_cast<char>(0xc0 | (code >> 6));
    out += static_cast<char>(0x80 | (code & 0x3f));
  } else if (code < 0x10000) {
    out += static_cast<char>(0xe0 | (code >> 12));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (code & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (code >> 18));
    out += static_cast<char>(0x80 | ((code >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (code & 0x3f));
  }
}

bool is_key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

// A recursive-descent reader of the subset the header describes, one pass over the text.
class Parser {
 public:
  Parser(std::string_view text, const std::string& name) : text_(text), name_(name) {}

  std::vector<ConfigEntry> parse() {
    std::vector<ConfigEntry> entries;
    std::vector<std::string> section;
    std::map<std::string, int> sections_seen;  // "[sweep.mlp]" -> its line
    std::map<std::string, int> keys_seen;      // "sweep.mlp.lr" -> its line
    while (!done()) {
      skip_blanks();
      if (done()) break;
      const char c = peek();
      if (c == '\n' || c == '\r' || c == '#') {
        end_of_line();
        continue;
      }
      if (c == '[') {
        ++at_;
        if (peek() == '[') fail("[[arrays of tables]] hold no options; a section is [name], e.g. [mlp]");
        skip_blanks();
        section = key_path("a section name, e.g. [mlp]");
        skip_blanks();
        if (peek() != ']') fail("a section name ends with ], e.g. [sweep.mlp]");
        ++at_;
        const std::string name = "[" + join(section, ".") + "]";
        if (const auto [it, fresh] = sections_seen.emplace(name, line_); !fresh) {
          fail(cat("section ", name, " is given twice (lines ", it->second, " and ", line_,
                   "); write its options under one"));
        }
        end_of_line();
        continue;
      }
      ConfigEntry entry;
      entry.line = line_;
      std::vector<std::string> path = key_path("a key, e.g. rank = 2");
      entry.key = path.back();
      path.pop_back();
      entry.section = section;
      entry.section.insert(entry.section.end(), path.begin(), path.end());
      skip_blanks();
      if (peek() != '=') fail("expected '=' after the key " + entry.key + ", e.g. " + entry.key + " = 2");
      ++at_;
      skip_blanks();
      if (peek() == '[') {
        ++at_;
        entry.list = true;
        read_list(entry.values);
      } else if (peek() == '{') {
        fail("inline tables {...} hold no options; write key = value lines under a [section]");
      } else {
        entry.values.push_back(value(/*in_list=*/false));
      }
      end_of_line();
      std::vector<std::string> full = entry.section;
      full.push_back(entry.key);
      if (const auto [it, fresh] = keys_seen.emplace(join(full, "."), entry.line); !fresh) {
        throw ConfigError(cat(name_, ": line ", entry.line, ": ", entry.key, " is given twice (lines ", it->second,
                              " and ", entry.line, "); keep one"));
      }
      entries.push_back(std::move(entry));
    }
    return entries;
  }

 private:
  std::string_view text_;
  const std::string& name_;
  std::size_t at_ = 0;
  int line_ = 1;

  [[noreturn]] void fail(const std::string& what) const { throw ConfigError(cat(name_, ": line ", line_, ": ", what)); }
  bool done() const { return at_ >= text_.size(); }
  char peek() const { return done() ? '\0' : text_[at_]; }
  void skip_blanks() {
    while (peek() == ' ' || peek() == '\t') ++at_;
  }
  void skip_comment() {
    if (peek() != '#') return;
    while (!done() && peek() != '\n') ++at_;
  }
  // Blanks, a comment, then the end of the line (or of the text).
  void end_of_line() {
    skip_blanks();
    skip_comment();
    if (peek() == '\r' && at_ + 1 < text_.size() && text_[at_ + 1] == '\n') ++at_;
    if (done()) return;
    if (peek() != '\n') fail("unexpected '" + printable(text_.substr(at_, 1)) + "' after the value; one key a line");
    ++at_;
    ++line_;
  }
  // Inside a list: blanks, comments and line ends, which TOML allows between elements.
  void skip_space_in_list() {
    for (;;) {
      skip_blanks();
      skip_comment();
      if (peek() == '\r' && at_ + 1 < text_.size() && text_[at_ + 1] == '\n') ++at_;
      if (peek() != '\n') return;
      ++at_;
      ++line_;
    }
  }

  std::vector<std::string> key_path(const char* expected) {
    std::vector<std::string> parts;
    for (;;) {
      if (peek() == '"' || peek() == '\'') fail("quoted keys name no option; write the key bare, e.g. rank = 2");
      const std::size_t start = at_;
      while (is_key_char(peek())) ++at_;
      if (at_ == start) {
        fail(done() || peek() == '\n'
                 ? std::string("expected ") + expected
                 : "expected " + std::string(expected) + ", found '" + printable(text_.substr(at_, 1)) + "'");
      }
      parts.emplace_back(text_.substr(start, at_ - start));
      skip_blanks();
      if (peek() != '.') return parts;
      ++at_;
      skip_blanks();
    }
  }

  void read_list(std::vector<std::string>& values) {
    const int opened = line_;
    for (;;) {
      skip_space_in_list();
      if (done()) throw ConfigError(cat(name_, ": line ", opened, ": the list is not closed by ]"));
      if (peek() == ']') break;
      if (peek() == '[') fail("a list of lists is no option's value");
      values.push_back(value(/*in_list=*/true));
      skip_space_in_list();
      if (peek() == ',') {
        ++at_;
        continue;
      }
      if (peek() == ']') break;
      if (done()) throw ConfigError(cat(name_, ": line ", opened, ": the list is not closed by ]"));
      fail("expected ',' or ']' in the list, found '" + printable(text_.substr(at_, 1)) + "'");
    }
    ++at_;
  }

  std::string value(bool in_list) {
    if (text_.substr(at_, 3) == "\"\"\"" || text_.substr(at_, 3) == "'''") {
      fail("multi-line strings are not read; write a newline as \\n in a \"...\" string");
    }
    if (peek() == '"') return basic_string();
    if (peek() == '\'') return literal_string();
    const std::size_t start = at_;
    while (!done() && peek() != ' ' && peek() != '\t' && peek() != '\n' && peek() != '\r' && peek() != '#' &&
           !(in_list && (peek() == ',' || peek() == ']'))) {
      ++at_;
    }
    if (at_ == start) fail("a value is missing after '='");
    return std::string(text_.substr(start, at_ - start));
  }

  std::string literal_string() {
    ++at_;
    const std::size_t start = at_;
    while (!done() && peek() != '\'' && peek() != '\n') ++at_;
    if (peek() != '\'') fail("a '...' string is not closed on its line");
    ++at_;
    return std::string(text_.substr(start, at_ - 1 - start));
  }

  std::string basic_string() {
    ++at_;
    std::string out;
    for (;;) {
      if (done() || peek() == '\n') fail("a \"...\" string is not closed on its line");
      const char c = text_[at_++];
      if (c == '"') return out;
      if (c != '\\') {
        const auto u = static_cast<unsigned char>(c);
        if ((u < 0x20 && c != '\t') || u == 0x7f) {
          fail("a control character (\\x" + hex_byte(u, 2) + ") in a string; write it as an escape such as \\n");
        }
        out += c;
        continue;
      }
      if (done() || peek() == '\n') fail("a \"...\" string is not closed on its line");
      const char e = text_[at_++];
      switch (e) {
        case 'b':
          out += '\b';
          break;
        case 't':
          out += '\t';
          break;
        case 'n':
          out += '\n';
          break;
        case 'f':
          out += '\f';
          break;
        case 'r':
          out += '\r';
          break;
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case 'u':
        case 'U': {
          const std::size_t digits = e == 'u' ? 4 : 8;
          const std::string_view hex = text_.substr(at_, digits);
          if (hex.size() != digits || hex.find_first_not_of("0123456789abcdefABCDEF") != std::string_view::npos) {
            fail(cat("\\", e, " takes ", digits, " hexadecimal digits"));
          }
          const unsigned long code = std::stoul(std::string(hex), nullptr, 16);
          if ((code >= 0xd800 && code <= 0xdfff) || code > 0x10ffff) {
            fail(cat("\\", e, hex, " is not a Unicode scalar value"));
          }
          append_utf8(out, code);
          at_ += digits;
          break;
        }
        default:
          fail("unknown escape \\" + printable(std::string_view(&e, 1)) +
               " (known: \\\" \\\\ \\n \\t \\r \\b \\f \\uXXXX)");
      }
    }
  }
};

bool is_plain(std::string_view value) {
  if (value == "true" || value == "false") return true;
  // A decimal number as TOML writes it: [+-]digits[.digits][(e|E)[+-]digits].
  std::size_t i = 0;
  const auto digits = [&] {
    const std::size_t start = i;
    while (i < value.size() && value[i] >= '0' && value[i] <= '9') ++i;
    return i > start;
  };
  if (i < value.size() && (value[i] == '+' || value[i] == '-')) ++i;
  if (!digits()) return false;
  if (i < value.size() && value[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < value.size() && (value[i] == 'e' || value[i] == 'E')) {
    ++i;
    if (i < value.size() && (value[i] == '+' || value[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == value.size();
}

}  // namespace

std::vector<ConfigEntry> parse_config(std::string_view text, const std::string& name) {
  constexpr std::string_view kByteOrderMark = "\xef\xbb\xbf";
  if (text.substr(0, kByteOrderMark.size()) == kByteOrderMark) text.remove_prefix(kByteOrderMark.size());
  if (const std::size_t nul = text.find('\0'); nul != std::string_view::npos) {
    throw ConfigError(cat(name, ": line ", line_of(text, nul), " holds a NUL byte: not a config file"));
  }
  if (const auto bad = invalid_utf8_offset(text)) {
    throw ConfigError(
        cat(name, ": line ", line_of(text, *bad), " is not UTF-8 (byte ", *bad + 1, "): a config file is UTF-8 text"));
  }
  return Parser(text, name).parse();
}

std::vector<ConfigEntry> read_config(std::istream& input, const std::string& name) {
  std::string text;
  std::string piece(std::size_t{1} << 16, '\0');
  while (input) {
    errno = 0;
    input.read(piece.data(), static_cast<std::streamsize>(piece.size()));
    const auto got = static_cast<std::size_t>(input.gcount());
    if (std::find(piece.begin(), piece.begin() + static_cast<std::ptrdiff_t>(got), '\0') !=
        piece.begin() + static_cast<std::ptrdiff_t>(got)) {
      text.append(piece, 0, got);
      throw ConfigError(cat(name, ": line ", line_of(text, text.find('\0')), " holds a NUL byte: not a config file"));
    }
    text.append(piece, 0, got);
    if (text.size() > kMaxConfigBytes) {
      throw ConfigError(cat(name, ": larger than ", kMaxConfigBytes >> 10,
                            " KiB: a config file holds a few options, written by --print-config"));
    }
  }
  if (input.bad()) {
    const int error = errno;
    throw ConfigError(name + ": could not be read" +
                      (error != 0 ? std::string(" (") + std::strerror(error) + ")" : ""));
  }
  return parse_config(text, name);
}

std::string config_value(std::string_view value) {
  if (is_plain(value)) return std::string(value);
  std::string quoted = "\"";
  for (const char c : value) {
    const auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        quoted += "\\\"";
        break;
      case '\\':
        quoted += "\\\\";
        break;
      case '\n':
        quoted += "\\n";
        break;
      case '\t':
        quoted += "\\t";
        break;
      case '\r':
        quoted += "\\r";
        break;
      case '\b':
        quoted += "\\b";
        break;
      case '\f':
        quoted += "\\f";
        break;
      default:
        quoted += u < 0x20 || u == 0x7f ? "\\u" + hex_byte(u, 4) : std::string(1, c);
    }
  }
  return quoted + "\"";
}

}  // namespace labrun
