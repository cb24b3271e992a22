#include "labrun/dataset.hpp"

#include "labrun/resources.hpp"
#include "labrun/sha256.hpp"
#include "labrun/utf8.hpp"

#include <torch/torch.h>

#include <locale.h>
#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <system_error>
#include <vector>

extern const unsigned char labrun_embedded_iris[];
extern const std::size_t labrun_embedded_iris_size;

namespace labrun {
namespace {

constexpr std::string_view kBlanks = " \t";

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(kBlanks);
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(kBlanks);
  return s.substr(first, last - first + 1);
}

// A number as pandas reads it: optional blanks and sign, decimal or exponent notation.
// Returns nullopt when the whole cell is not a number; NaN and Inf are returned as such.
std::optional<double> parse_number(std::string_view cell) {
  cell = trim(cell);
  if (!cell.empty() && cell.front() == '+') cell.remove_prefix(1);
  if (cell.empty()) return std::nullopt;
  double value = 0.0;
  const auto [end, ec] = std::from_chars(cell.data(), cell.data() + cell.size(), value);
  if (ec == std::errc::result_out_of_range && end == cell.data() + cell.size()) {
    // Beyond double's range: an overflow is infinite (refused as non-finite), an underflow rounds
    // to zero, as pandas reads "1e-400". strtod in the C locale tells them apart.
    static const locale_t c_locale = ::newlocale(LC_ALL_MASK, "C", nullptr);
    const std::string text(cell);
    return ::strtod_l(text.c_str(), nullptr, c_locale);
  }
  if (ec != std::errc{} || end != cell.data() + cell.size()) return std::nullopt;
  return value;
}

bool is_number(std::string_view cell) { return parse_number(cell).has_value(); }

// The text of a label cell: blanks trimmed, surrounding quotes removed, "" unescaped.
std::string unquote(std::string_view cell) {
  cell = trim(cell);
  if (cell.size() < 2 || cell.front() != '"') return std::string(cell);
  std::string out;
  cell = cell.substr(1, cell.size() - 2);
  for (std::size_t i = 0; i < cell.size(); ++i) {
    out += cell[i];
    if (cell[i] == '"' && i + 1 < cell.size() && cell[i + 1] == '"') ++i;
  }
  return out;
}

// All non-blank lines of the text, split into cells, kept as views into the text.
struct Table {
  std::vector<std::string_view> cells;  // row-major, ragged rows rejected while splitting
  std::vector<int64_t> line_numbers;    // file line of each row
  std::size_t width = 0;                // cells per row

  std::size_t rows() const { return line_numbers.size(); }
  std::string_view cell(std::size_t row, std::size_t column) const { return cells[row * width + column]; }
};

class Splitter {
 public:
  Splitter(const std::string& source, char delimiter) : source_(source), delimiter_(delimiter) {}

  Table split(std::string_view text) {
    Table table;
    int64_t line_number = 0;
    std::vector<std::string_view> row;
    while (!text.empty()) {
      ++line_number;
      const auto newline = text.find('\n');
      std::string_view line = text.substr(0, newline);
      text = newline == std::string_view::npos ? std::string_view{} : text.substr(newline + 1);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (trim(line).empty()) continue;
      split_line(line, line_number, row);
      if (table.rows() == 0) {
        table.width = row.size();
      } else if (row.size() != table.width) {
        fail(line_number, "has " + std::to_string(row.size()) + " cells, expected " + std::to_string(table.width) +
                              " as on line " + std::to_string(table.line_numbers.front()));
      }
      table.cells.insert(table.cells.end(), row.begin(), row.end());
      table.line_numbers.push_back(line_number);
    }
    return table;
  }

 private:
  // Splits one line at commas; a cell that starts with a double quote runs to its closing quote.
  void split_line(std::string_view line, int64_t line_number, std::vector<std::string_view>& row) {
    row.clear();
    std::size_t pos = 0;
    for (;;) {
      const auto start = line.find_first_not_of(kBlanks, pos);
      if (start != std::string_view::npos && line[start] == '"') {
        std::size_t close = start + 1;
        for (;; ++close) {
          close = line.find('"', close);
          if (close == std::string_view::npos) {
            fail(line_number, "unterminated double quote in column " + std::to_string(row.size()));
          }
          if (close + 1 < line.size() && line[close + 1] == '"') {
            ++close;  // "" inside a quoted cell
            continue;
          }
          break;
        }
        const auto comma = line.find(delimiter_, close);
        if (!trim(line.substr(close + 1, comma - close - 1)).empty()) {
          fail(line_number, "text after the closing quote in column " + std::to_string(row.size()));
        }
        row.push_back(line.substr(start, close + 1 - start));
        if (comma == std::string_view::npos) return;
        pos = comma + 1;
        continue;
      }
      const auto comma = line.find(delimiter_, pos);
      row.push_back(line.substr(pos, comma - pos));
      if (comma == std::string_view::npos) return;
      pos = comma + 1;
    }
  }

  [[noreturn]] void fail(int64_t line_number, const std::string& what) const {
    throw DataError(source_ + ": line " + std::to_string(line_number) + " " + what);
  }

  const std::string& source_;
  char delimiter_;
};

// Cells a delimiter makes of a line, quoted text aside.
std::size_t count_outside_quotes(std::string_view line, char delimiter) {
  std::size_t count = 0;
  bool quoted = false;
  for (const char c : line) {
    if (c == '"') quoted = !quoted;
    if (c == delimiter && !quoted) ++count;
  }
  return count;
}

// The delimiter that splits the first (up to 5) non-blank lines into the same number of cells,
// more than one: a comma, then a semicolon, then a tab; a comma when none does.
char detect_delimiter(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty() && lines.size() < 5) {
    const auto newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view{} : text.substr(newline + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!trim(line).empty()) lines.push_back(line);
  }
  for (const char candidate : {',', ';', '\t'}) {
    const std::size_t first = lines.empty() ? 0 : count_outside_quotes(lines.front(), candidate);
    const bool same = std::all_of(lines.begin(), lines.end(),
                                  [&](std::string_view l) { return count_outside_quotes(l, candidate) == first; });
    if (first > 0 && same) return candidate;
  }
  return ',';
}

// A cell that is a whole number (as pandas writes an index or integer labels).
std::optional<int64_t> whole_number(std::string_view cell) {
  const auto value = parse_number(cell);
  if (!value || !std::isfinite(*value) || std::floor(*value) != *value || std::fabs(*value) > 9.0e15)
    return std::nullopt;
  return static_cast<int64_t>(*value);
}

// A column's data cells, sorted, when every one is a whole number; nullopt otherwise.
std::optional<std::vector<int64_t>> sorted_whole_numbers(const Table& table, std::size_t first_row,
                                                         std::size_t column) {
  std::vector<int64_t> values;
  for (std::size_t r = first_row; r < table.rows(); ++r) {
    const auto value = whole_number(table.cell(r, column));
    if (!value) return std::nullopt;
    values.push_back(*value);
  }
  std::sort(values.begin(), values.end());
  return values;
}

// DataError at the first NUL byte of `chunk`, which follows `lines_before` line ends of the text.
void require_no_nul(std::string_view chunk, int64_t lines_before, const std::string& source) {
  const auto nul = chunk.find('\0');
  if (nul == std::string_view::npos) return;
  const auto line =
      lines_before + std::count(chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(nul), '\n') + 1;
  throw DataError(source + ": line " + std::to_string(line) + " holds a NUL byte: binary data, not CSV text");
}

std::string where(const std::string& source, int64_t line_number, int64_t column) {
  return source + ": line " + std::to_string(line_number) + ", column " + std::to_string(column) + ": ";
}

}  // namespace

Dataset parse_csv(std::string_view text, const std::string& source, const CsvOptions& options) {
  if (text.empty()) throw DataError(source + ": the file is empty");
  const std::string_view whole_text = text;
  require_no_nul(text, 0, source);
  // A byte-order mark (Excel's "CSV UTF-8") is not part of the first cell.
  if (text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);
  if (const auto bad = invalid_utf8_offset(text)) {
    const auto before = text.substr(0, *bad);
    const auto line_start = before.rfind('\n');
    const std::size_t column = *bad - (line_start == std::string_view::npos ? 0 : line_start + 1) + 1;
    char byte[8];
    std::snprintf(byte, sizeof byte, "0x%02x", static_cast<unsigned char>(text[*bad]));
    throw DataError(source + ": line " + std::to_string(std::count(before.begin(), before.end(), '\n') + 1) +
                    ", byte " + std::to_string(column) + " (" + byte +
                    ") is not UTF-8: labrun reads UTF-8 text (convert it, e.g. iconv -f latin1 -t utf-8)");
  }

  if (options.delimiter != 0 && options.delimiter != ',' && options.delimiter != ';' && options.delimiter != '\t') {
    throw std::invalid_argument("parse_csv: the delimiter must be ',', ';', '\\t' or 0 (detect)");
  }
  const char delimiter = options.delimiter != 0 ? options.delimiter : detect_delimiter(text);
  const Table table = Splitter(source, delimiter).split(text);
  if (table.rows() == 0) throw DataError(source + ": the file holds only blank lines");
  const auto width = static_cast<int64_t>(table.width);

  // A header: every cell of the first row is text, and the second row holds a number.
  bool has_header = false;
  if (table.rows() >= 2) {
    bool first_all_text = true;
    bool second_has_number = false;
    for (std::size_t c = 0; c < table.width; ++c) {
      first_all_text = first_all_text && !is_number(table.cell(0, c));
      second_has_number = second_has_number || is_number(table.cell(1, c));
    }
    has_header = first_all_text && second_has_number;
  }
  const std::size_t first_row = has_header ? 1 : 0;
  const auto rows = static_cast<int64_t>(table.rows() - first_row);
  if (const int64_t needed = std::max<int64_t>(options.min_rows, 1); rows < needed) {
    throw DataError(source + ": " + std::to_string(rows) + " data rows, at least " + std::to_string(needed) +
                    " needed");
  }
  if (options.no_label && options.label) {
    throw std::invalid_argument("parse_csv: a label column is given together with no_label");
  }

  const auto check_column = [&](int64_t column, const char* what) {
    if (column < 0 || column >= width) {
      throw DataError(source + ": " + what + " column " + std::to_string(column) + " is out of range: the file has " +
                      std::to_string(width) + " columns, numbered 0 to " + std::to_string(width - 1));
    }
  };

  // A column by index or by header name.
  const auto resolve = [&](const ColumnRef& ref, const char* what) {
    if (ref.index) {
      check_column(*ref.index, what);
      return *ref.index;
    }
    std::string names;
    for (std::size_t c = 0; has_header && c < table.width; ++c) {
      const std::string name = unquote(table.cell(0, c));
      if (name == ref.name) return static_cast<int64_t>(c);
      names += (names.empty() ? "" : ", ") + name;
    }
    throw DataError(source + ": no " + what + " column named '" + printable(ref.name) + "' " +
                    (has_header ? "(the header names " + printable(names) + ")"
                                : "(the file has no header row: give column indices, from 0)"));
  };

  Dataset data;
  data.source = source;
  data.sha256 = sha256_hex(whole_text);
  data.has_header = has_header;
  data.delimiter = delimiter;
  if (options.label) {
    data.label_column = resolve(*options.label, "label");
  } else if (!options.no_label && !is_number(table.cell(first_row, table.width - 1))) {
    data.label_column = width - 1;
  }

  if (options.features.empty()) {
    // pandas' DataFrame.to_csv() writes its index first, under an empty header cell.
    if (has_header && width > 1 && data.label_column != 0 &&
        (trim(unquote(table.cell(0, 0))).empty() || unquote(table.cell(0, 0)) == "Unnamed: 0")) {
      const auto values = sorted_whole_numbers(table, first_row, 0);
      if (values && std::adjacent_find(values->begin(), values->end()) == values->end()) data.index_column = 0;
    }
    for (int64_t c = 0; c < width; ++c) {
      if (c == data.label_column || c == data.index_column) continue;
      const auto column = static_cast<std::size_t>(c);
      if (is_number(table.cell(first_row, column))) {
        data.feature_columns.push_back(c);
        continue;
      }
      // Text on the first data row: a column of text is left out, and said so; a column of
      // numbers whose first cell is not one is an error, never a silently dropped feature.
      for (std::size_t r = first_row + 1; r < table.rows(); ++r) {
        if (is_number(table.cell(r, column))) {
          throw DataError(where(source, table.line_numbers[first_row], c) + "'" +
                          printable(trim(table.cell(first_row, column))) + "' is not a number, but line " +
                          std::to_string(table.line_numbers[r]) + " holds one in this column: fix the cell, or " +
                          "choose the feature columns with --features");
        }
      }
      data.ignored_columns.push_back(c);
    }
    if (data.feature_columns.empty()) {
      throw DataError(source + ": no numeric column to read features from (line " +
                      std::to_string(table.line_numbers[first_row]) + " holds only text)");
    }
    // No label asked for, and the last feature holds a few distinct whole numbers: class codes?
    const int64_t last = data.feature_columns.back();
    if (!options.label && !options.no_label && !data.label_column && last == width - 1 &&
        data.feature_columns.size() > 1) {
      if (auto values = sorted_whole_numbers(table, first_row, static_cast<std::size_t>(last))) {
        const auto distinct = std::distance(values->begin(), std::unique(values->begin(), values->end()));
        if (distinct >= 2 && distinct <= 10 && 2 * distinct <= rows) data.looks_like_labels = last;
      }
    }
  } else {
    for (const ColumnRef& ref : options.features) {
      const int64_t c = resolve(ref, "feature");
      if (c == data.label_column) {
        throw DataError(source + ": column " + std::to_string(c) + " cannot be both a feature and the label");
      }
      if (std::count(data.feature_columns.begin(), data.feature_columns.end(), c) > 0) {
        throw DataError(source + ": feature column " + std::to_string(c) + " is listed twice");
      }
      data.feature_columns.push_back(c);
    }
  }

  const auto columns = static_cast<int64_t>(data.feature_columns.size());
  data.features = torch::empty({rows, columns}, torch::kFloat64);
  double* out = data.features.data_ptr<double>();
  for (std::size_t r = first_row; r < table.rows(); ++r) {
    for (const int64_t c : data.feature_columns) {
      const std::string_view cell = table.cell(r, static_cast<std::size_t>(c));
      const auto value = parse_number(cell);
      if (!value) {
        throw DataError(where(source, table.line_numbers[r], c) + (trim(cell).empty()
                                                                       ? std::string("empty cell")
                                                                       : "non-numeric cell '" + printable(cell) + "'"));
      }
      if (!std::isfinite(*value)) {
        throw DataError(where(source, table.line_numbers[r], c) + "non-finite value '" + printable(trim(cell)) + "'");
      }
      *out++ = *value;
    }
  }

  if (data.label_column) {
    const auto c = static_cast<std::size_t>(*data.label_column);
    data.labels.reserve(static_cast<std::size_t>(rows));
    for (std::size_t r = first_row; r < table.rows(); ++r) {
      std::string label = unquote(table.cell(r, c));
      if (label.empty()) throw DataError(where(source, table.line_numbers[r], *data.label_column) + "empty label");
      data.labels.push_back(std::move(label));
    }
  }
  for (const int64_t c : data.feature_columns) {
    data.feature_names.push_back(has_header ? unquote(table.cell(0, static_cast<std::size_t>(c)))
                                            : "column " + std::to_string(c));
  }
  return data;
}

Dataset read_csv(const std::string& given, const CsvOptions& options) {
  const bool from_stdin = given == "-";
  const std::string path = from_stdin ? "stdin" : given;
  std::error_code ec;
  if (!from_stdin) {
    const auto status = std::filesystem::status(path, ec);
    if (!std::filesystem::exists(status)) throw DataError(path + ": no such file");
    if (std::filesystem::is_directory(status)) throw DataError(path + ": is a directory, not a CSV file");
  }
  const std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(
      from_stdin ? ::fdopen(::dup(STDIN_FILENO), "rb") : std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) throw DataError(path + ": cannot open: " + std::strerror(errno));
  // Parsing holds the text, a view of each cell and the values: about 8 bytes a byte of text.
  constexpr double kBytesPerByte = 8.0;
  struct stat info {};
  const bool sized = ::fstat(::fileno(file.get()), &info) == 0 && S_ISREG(info.st_mode);
  if (sized) require_memory(kBytesPerByte * static_cast<double>(info.st_size), "reading " + path);
  // A pipe or a device has no size: it is read as far as the memory it may fill (/dev/zero is
  // refused at its first byte, /dev/urandom in its first block).
  const double room = sized ? std::numeric_limits<double>::infinity() : available_memory().bytes / kBytesPerByte;
  std::string text;
  std::vector<char> buffer(std::size_t{1} << 16);
  std::size_t got = 0;
  int64_t lines = 0;
  while ((got = std::fread(buffer.data(), 1, buffer.size(), file.get())) > 0) {
    const std::string_view chunk(buffer.data(), got);
    require_no_nul(chunk, lines, path);
    lines += std::count(chunk.begin(), chunk.end(), '\n');
    text.append(chunk);
    if (static_cast<double>(text.size()) > room) {
      throw ResourceError(path + ": more than " + format_bytes(static_cast<double>(text.size())) +
                          " read and more to come; labrun holds the data in memory, with room for " +
                          format_bytes(room) + " of text");
    }
  }
  if (std::ferror(file.get())) throw DataError(path + ": read error: " + std::strerror(errno));
  Dataset data = parse_csv(text, path, options);
  if (!from_stdin) data.path = std::filesystem::absolute(path, ec).lexically_normal().string();
  return data;
}

std::string_view embedded_iris_text() {
  return {reinterpret_cast<const char*>(labrun_embedded_iris), labrun_embedded_iris_size};
}

Dataset load_embedded_iris(const CsvOptions& options) {
  return parse_csv(embedded_iris_text(), "embedded:iris.data", options);
}

torch::Tensor centre_columns(const torch::Tensor& A) { return A - A.mean(0); }

}  // namespace labrun
