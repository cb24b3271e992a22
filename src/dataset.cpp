#include "labrun/dataset.hpp"

#include "input_file.hpp"
#include "npy.hpp"

#include "labrun/options.hpp"
#include "labrun/resources.hpp"
#include "labrun/sha256.hpp"
#include "labrun/utf8.hpp"

#include <torch/torch.h>

#include <locale.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <algorithm>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <system_error>
#include <vector>

extern const unsigned char labrun_embedded_iris[];
extern const std::size_t labrun_embedded_iris_size;

namespace labrun {
namespace {

// A header name's key for "did you mean": lower case, '-' and ' ' as '_'.
std::string name_key(const std::string& name) {
  std::string key;
  for (const char c : name)
    key.push_back(c == '-' || c == ' ' ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  return key;
}

// Levenshtein's distance, for names of a header (short).
std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// The header name a mistyped one most likely meant: the same but for case and '-', ' ', '_', or
// within two edits of it (one for names of three or four characters, none for shorter ones); ""
// when none is that close.
std::string closest_name(const std::string& typed, const std::vector<std::string>& names) {
  const std::string key = name_key(typed);
  std::string best;
  std::size_t best_distance = key.size() <= 2 ? 1 : key.size() <= 4 ? 2 : 3;
  for (const std::string& name : names) {
    const std::size_t d = edit_distance(key, name_key(name));
    if (d < best_distance) {
      best = name;
      best_distance = d;
    }
  }
  return best;
}

constexpr std::string_view kBlanks = " \t";

std::string_view trim(std::string_view s) {
  const auto first = s.find_first_not_of(kBlanks);
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(kBlanks);
  return s.substr(first, last - first + 1);
}

// A number as pandas reads it: optional blanks and sign, decimal or exponent notation, in quotes or
// not (quotes are CSV's syntax: pandas reads "3" as 3). Returns nullopt when the whole cell is not a
// number; NaN and Inf are returned as such.
std::optional<double> parse_number(std::string_view cell) {
  cell = trim(cell);
  if (cell.size() >= 2 && cell.front() == '"' && cell.back() == '"' &&
      cell.substr(1, cell.size() - 2).find('"') == std::string_view::npos) {
    cell = trim(cell.substr(1, cell.size() - 2));
  }
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

// The text's non-blank lines one at a time, split into cells kept as views into the text. Every
// row must have as many cells as the first.
class Rows {
 public:
  Rows(std::string_view text, const std::string& source, char delimiter)
      : rest_(text), size_(text.size()), source_(source), delimiter_(delimiter) {}

  // The next non-blank line's cells into `row`; false at the end of the text.
  bool next(std::vector<std::string_view>& row) {
    while (!rest_.empty()) {
      ++line_number_;
      const auto newline = rest_.find('\n');
      std::string_view line = rest_.substr(0, newline);
      rest_ = newline == std::string_view::npos ? std::string_view{} : rest_.substr(newline + 1);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (trim(line).empty()) continue;
      split_line(line, row);
      if (width_ == 0) {
        width_ = row.size();
        first_line_ = line_number_;
      } else if (row.size() != width_) {
        fail("has " + std::to_string(row.size()) + " cells, expected " + std::to_string(width_) + " as on line " +
             std::to_string(first_line_));
      }
      return true;
    }
    return false;
  }
  int64_t line_number() const { return line_number_; }           // of the row last returned
  std::size_t consumed() const { return size_ - rest_.size(); }  // bytes of the text read so far

 private:
  // Splits one line at the delimiter; a cell that starts with a double quote runs to its closing
  // quote.
  void split_line(std::string_view line, std::vector<std::string_view>& row) const {
    row.clear();
    std::size_t pos = 0;
    for (;;) {
      const auto start = line.find_first_not_of(kBlanks, pos);
      if (start != std::string_view::npos && line[start] == '"') {
        std::size_t close = start + 1;
        for (;; ++close) {
          close = line.find('"', close);
          if (close == std::string_view::npos)
            fail("unterminated double quote in column " + std::to_string(row.size()));
          if (close + 1 < line.size() && line[close + 1] == '"') {
            ++close;  // "" inside a quoted cell
            continue;
          }
          break;
        }
        const auto comma = line.find(delimiter_, close);
        if (!trim(line.substr(close + 1, comma - close - 1)).empty()) {
          fail("text after the closing quote in column " + std::to_string(row.size()));
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

  [[noreturn]] void fail(const std::string& what) const {
    throw DataError(source_ + ": line " + std::to_string(line_number_) + " " + what);
  }

  std::string_view rest_;
  std::size_t size_;
  const std::string& source_;
  char delimiter_;
  std::size_t width_ = 0;
  int64_t line_number_ = 0;
  int64_t first_line_ = 0;
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

// An index cell as pandas writes one: digits alone (0, 1, 2, ...), never "1.0" or "1e3".
std::optional<int64_t> index_number(std::string_view cell) {
  cell = trim(cell);
  if (cell.empty() || cell.size() > 15 || cell.find_first_not_of("0123456789") != std::string_view::npos) {
    return std::nullopt;
  }
  return whole_number(cell);
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

// The text is checked and parsed this many bytes at a time; `release` (when set) is told how far
// each pass has gone, so that a mapped file's pages behind it can be dropped.
constexpr std::size_t kPieceBytes = std::size_t{32} << 20;
using Release = std::function<void(std::size_t offset, std::size_t bytes)>;

struct TextFacts {
  std::string sha256;
  int64_t line_ends = 0;
};

// One pass over the whole text, a piece at a time: no NUL byte, UTF-8 after an optional byte-order
// mark (`body` starts after it), the digest of every byte and the number of line ends.
TextFacts scan_text(std::string_view whole, std::size_t body, const std::string& source, const Release& release) {
  Sha256 hash;
  hash.update(whole.substr(0, body));
  TextFacts facts;
  std::size_t at = body;
  while (at < whole.size()) {
    // A piece ends after a line end, so that no UTF-8 sequence is cut.
    std::size_t end = std::min(whole.size(), at + kPieceBytes);
    if (end < whole.size()) {
      const auto newline = whole.rfind('\n', end - 1);
      if (newline != std::string_view::npos && newline >= at) end = newline + 1;
    }
    const std::string_view piece = whole.substr(at, end - at);
    require_no_nul(piece, facts.line_ends, source);
    if (const auto bad = invalid_utf8_offset(piece)) {
      const auto before = piece.substr(0, *bad);
      const auto line_start = before.rfind('\n');
      const std::size_t column = *bad - (line_start == std::string_view::npos ? 0 : line_start + 1) + 1;
      char byte[8];
      std::snprintf(byte, sizeof byte, "0x%02x", static_cast<unsigned char>(piece[*bad]));
      throw DataError(source + ": line " +
                      std::to_string(facts.line_ends + std::count(before.begin(), before.end(), '\n') + 1) + ", byte " +
                      std::to_string(column) + " (" + byte +
                      ") is not UTF-8: labrun reads UTF-8 text (convert it, e.g. iconv -f latin1 -t utf-8)");
    }
    hash.update(piece);
    facts.line_ends += std::count(piece.begin(), piece.end(), '\n');
    if (release) release(at, piece.size());
    at = end;
  }
  facts.sha256 = hash.hex();
  return facts;
}

class RowParser {
 public:
  RowParser(std::string_view text, const std::string& source, const CsvOptions& options, const TextFacts& facts,
            std::size_t text_offset, const Release& release)
      : text_(text),
        source_(source),
        options_(options),
        facts_(facts),
        text_offset_(text_offset),
        release_(release),
        delimiter_(options.delimiter != 0 ? options.delimiter : detect_delimiter(text)),
        reader_(text, source, delimiter_) {}

  Dataset parse() {
    read_head();
    data_.source = source_;
    data_.sha256 = facts_.sha256;
    data_.has_header = has_header_;
    data_.delimiter = delimiter_;
    choose_columns();
    torch::Tensor features = read_values();
    settle_columns(std::move(features));
    return std::move(data_);
  }

 private:
  // The first two rows: a header when every cell of the first is text and the second holds a
  // number. The first data row decides the columns' kinds.
  void read_head() {
    if (!reader_.next(first_)) throw DataError(source_ + ": the file holds only blank lines");
    first_line_ = reader_.line_number();
    has_second_ = reader_.next(second_);
    second_line_ = reader_.line_number();
    width_ = static_cast<int64_t>(first_.size());
    if (has_second_) {
      bool first_all_text = true;
      bool second_has_number = false;
      for (std::size_t c = 0; c < first_.size(); ++c) {
        first_all_text = first_all_text && !is_number(first_[c]);
        second_has_number = second_has_number || is_number(second_[c]);
      }
      has_header_ = first_all_text && second_has_number;
    }
    data_row_ = has_header_ ? second_ : first_;
    data_line_ = has_header_ ? second_line_ : first_line_;
    if (!has_header_ && !has_second_ && needed_rows() > 1) {
      throw DataError(source_ + ": 1 data rows, at least " + std::to_string(needed_rows()) + " needed");
    }
  }

  int64_t needed_rows() const { return std::max<int64_t>(options_.min_rows, 1); }
  std::string_view cell(const std::vector<std::string_view>& row, int64_t c) const {
    return row[static_cast<std::size_t>(c)];
  }

  // A column by index or by header name; `what` is "label" or "feature".
  int64_t resolve(const ColumnRef& ref, const char* what) const {
    if (ref.index) {
      if (*ref.index < 0 || *ref.index >= width_) {
        throw DataError(source_ + ": " + what + " column " + std::to_string(*ref.index) +
                        " is out of range: the file has " + std::to_string(width_) + " columns, numbered 0 to " +
                        std::to_string(width_ - 1));
      }
      return *ref.index;
    }
    std::string names;
    std::vector<std::string> all;
    for (int64_t c = 0; has_header_ && c < width_; ++c) {
      const std::string name = unquote(cell(first_, c));
      if (name == ref.name) return c;
      names += (names.empty() ? "" : ", ") + name;
      all.push_back(name);
    }
    const std::string close = closest_name(ref.name, all);
    throw DataError(source_ + ": no " + what + " column named '" + printable(ref.name) + "'" +
                    (close.empty() ? "" : "; did you mean '" + printable(close) + "'?") + " " +
                    (has_header_ ? "(the header names " + printable(names, 2000) + ")"
                                 : "(the file has no header row: give column indices, from 0)"));
  }

  // The label column (given, or the last when its first data cell is text), the feature columns
  // (given, or every column whose first data cell is a number) and the text columns left out.
  void choose_columns() {
    if (options_.label) {
      data_.label_column = resolve(*options_.label, "label");
    } else if (!options_.no_label && !is_number(cell(data_row_, width_ - 1))) {
      data_.label_column = width_ - 1;
    }
    if (options_.features.empty()) {
      // pandas' DataFrame.to_csv() writes its index first, under an empty header cell: a column of
      // distinct whole numbers, known only when every row has been read. Read as a feature until then.
      index_candidate_ = has_header_ && width_ > 1 && data_.label_column != 0 &&
                         (trim(unquote(first_[0])).empty() || unquote(first_[0]) == "Unnamed: 0") &&
                         index_number(data_row_[0]).has_value();
      for (int64_t c = 0; c < width_; ++c) {
        if (c == data_.label_column) continue;
        if (is_number(cell(data_row_, c))) {
          data_.feature_columns.push_back(c);
        } else {
          data_.ignored_columns.push_back(c);  // text on the first data row: checked on every row below
        }
      }
    } else {
      for (const ColumnRef& ref : options_.features) {
        const int64_t c = resolve(ref, "feature");
        if (c == data_.label_column) {
          throw DataError(source_ + ": column " + std::to_string(c) + " cannot be both a feature and the label");
        }
        if (std::count(data_.feature_columns.begin(), data_.feature_columns.end(), c) > 0) {
          throw DataError(source_ + ": feature column " + std::to_string(c) + " is listed twice");
        }
        data_.feature_columns.push_back(c);
      }
    }
    if (data_.feature_columns.empty() && !options_.features_optional) throw no_features();
  }

  DataError no_features() const {
    // A delimiter given that splits no line, where another does: that is what is wrong.
    const char found = detect_delimiter(text_);
    const auto name = [](char d) { return d == '\t' ? std::string("tab") : "'" + std::string(1, d) + "'"; };
    if (options_.delimiter != 0 && width_ == 1 && found != options_.delimiter &&
        count_outside_quotes(text_.substr(0, text_.find('\n')), found) > 0) {
      return DataError(source_ + ": --delimiter " + name(options_.delimiter) + " splits no line into cells; its " +
                       "lines are split by " + name(found) + ": --delimiter " + (found == '\t' ? "tab" : name(found)) +
                       " (or auto, the default)");
    }
    return DataError(source_ + ": no numeric column to read features from (line " + std::to_string(data_line_) +
                     " holds only text)");
  }

  // Every data row, from the first on, a line at a time: its feature values (rows x features, in
  // float64), its label, and the text columns checked to hold no number.
  torch::Tensor read_values() {
    // Every data row: at most the text's line ends (and one unended line), less the header.
    const auto columns = static_cast<int64_t>(data_.feature_columns.size());
    const int64_t most_rows = facts_.line_ends + 1 - (has_header_ ? 1 : 0);
    // What parsing holds, known now from the line count: the values, and a string for each label.
    require_memory(
        static_cast<double>(most_rows) * (8.0 * static_cast<double>(columns) + (data_.label_column ? 48.0 : 0.0)),
        "reading " + source_);
    torch::Tensor features = torch::empty({most_rows, columns}, torch::kFloat64);
    double* out = features.data_ptr<double>();
    int64_t rows = 0;
    std::size_t released = 0;
    std::vector<std::string_view> row = data_row_;
    int64_t line = data_line_;
    bool second_pending = !has_header_ && has_second_;  // read while looking for a header
    for (;;) {
      for (const int64_t c : data_.feature_columns) {
        const std::string_view value_cell = cell(row, c);
        const auto value = parse_number(value_cell);
        if (!value) {
          throw DataError(where(source_, line, c) + (trim(value_cell).empty()
                                                         ? std::string("empty cell")
                                                         : "non-numeric cell '" + printable(value_cell) + "'"));
        }
        if (!std::isfinite(*value)) {
          throw DataError(where(source_, line, c) + "non-finite value '" + printable(trim(value_cell)) + "'");
        }
        *out++ = *value;
      }
      // A column of text whose first data cell is not a number but which holds numbers below it is
      // an error, never a silently dropped feature.
      for (const int64_t c : data_.ignored_columns) {
        if (line != data_line_ && is_number(cell(row, c))) {
          throw DataError(where(source_, data_line_, c) + "'" + printable(trim(cell(data_row_, c))) +
                          "' is not a number, but line " + std::to_string(line) +
                          " holds one in this column: fix the cell, or choose the feature columns with --features");
        }
      }
      if (index_candidate_) {
        const auto value = index_number(row[0]);
        index_candidate_ = value.has_value();
        if (value) index_values_.push_back(*value);
      }
      if (data_.label_column) {
        std::string label = unquote(cell(row, *data_.label_column));
        if (label.empty()) throw DataError(where(source_, line, *data_.label_column) + "empty label");
        data_.labels.push_back(std::move(label));
      }
      ++rows;
      if (release_ && reader_.consumed() - released >= kPieceBytes) {
        release_(text_offset_ + released, reader_.consumed() - released);
        released = reader_.consumed();
      }
      if (second_pending) {
        row = second_;
        line = second_line_;
        second_pending = false;
        continue;
      }
      if (!reader_.next(row)) break;
      line = reader_.line_number();
    }
    if (release_) release_(text_offset_ + released, text_.size() - released);
    if (rows < needed_rows()) {
      throw DataError(source_ + ": " + std::to_string(rows) + " data rows, at least " + std::to_string(needed_rows()) +
                      " needed");
    }
    // Blank lines leave rows unused; many of them, and the rest are given back.
    features = features.narrow(0, 0, rows);
    if (rows < most_rows / 2) features = features.clone();
    return features;
  }

  // Once every row is read: pandas' index column left out, a last column of class codes flagged,
  // the features named.
  void settle_columns(torch::Tensor features) {
    std::sort(index_values_.begin(), index_values_.end());
    if (index_candidate_ && std::adjacent_find(index_values_.begin(), index_values_.end()) == index_values_.end()) {
      data_.index_column = 0;
      data_.feature_columns.erase(data_.feature_columns.begin());
      if (data_.feature_columns.empty() && !options_.features_optional) throw no_features();
      features = features.narrow(1, 1, features.size(1) - 1).contiguous();
    }
    data_.features = features;
    // No label asked for, and the last feature holds a few distinct whole numbers: class codes?
    const int64_t last = data_.feature_columns.empty() ? -1 : data_.feature_columns.back();
    if (!options_.label && !data_.label_column && last == width_ - 1 && data_.feature_columns.size() > 1) {
      const torch::Tensor values = features.select(1, features.size(1) - 1);
      const bool whole = (values.floor() == values).all().item<bool>() && values.abs().max().item<double>() <= 9.0e15;
      if (whole) {
        const auto distinct = std::get<0>(torch::_unique(values)).numel();
        if (distinct >= 2 && distinct <= 10 && 2 * distinct <= features.size(0)) data_.looks_like_labels = last;
      }
    }
    for (const int64_t c : data_.feature_columns) {
      data_.feature_names.push_back(has_header_ ? unquote(cell(first_, c)) : "column " + std::to_string(c));
    }
  }

  std::string_view text_;
  const std::string& source_;
  const CsvOptions& options_;
  const TextFacts& facts_;
  std::size_t text_offset_;  // of text_ in what release_ counts
  const Release& release_;
  char delimiter_;
  Rows reader_;
  std::vector<std::string_view> first_, second_, data_row_;
  int64_t first_line_ = 0, second_line_ = 0, data_line_ = 0, width_ = 0;
  bool has_second_ = false, has_header_ = false;
  bool index_candidate_ = false;  // column 0 may be pandas' index: whole numbers so far
  std::vector<int64_t> index_values_;
  Dataset data_;
};

// The text after its scan: rows split and read a line at a time straight into the features, so
// that what is held is the values (and labels), never a view of every cell.
Dataset parse_rows(std::string_view text, const std::string& source, const CsvOptions& options, const TextFacts& facts,
                   std::size_t text_offset, const Release& release) {
  if (options.delimiter != 0 && options.delimiter != ',' && options.delimiter != ';' && options.delimiter != '\t') {
    throw OptionError("parse_csv", "delimiter", "must be ',', ';', '\\t' or 0 (detect)");
  }
  if (options.no_label && options.label) {
    throw OptionError("parse_csv", "label", "is given together with no_label");
  }
  return RowParser(text, source, options, facts, text_offset, release).parse();
}

Dataset parse_text(std::string_view whole, const std::string& source, const CsvOptions& options,
                   const Release& release) {
  if (whole.empty()) throw DataError(source + ": the file is empty");
  // A byte-order mark (Excel's "CSV UTF-8") is not part of the first cell.
  const std::size_t body = whole.substr(0, 3) == "\xEF\xBB\xBF" ? 3 : 0;
  const TextFacts facts = scan_text(whole, body, source, release);
  return parse_rows(whole.substr(body), source, options, facts, body, release);
}

}  // namespace

Dataset parse_csv(std::string_view text, const std::string& source, const CsvOptions& options) {
  return parse_text(text, source, options, {});
}

namespace detail {

// Parsing holds the values and the labels (checked once the lines are counted: at most 8 bytes a
// byte of text, as a value takes two bytes at least), and the text itself when it cannot be mapped.
constexpr double kBytesPerByte = 8.0;

// A stream's text (a pipe or a device has no size: it is read as far as the memory it may fill;
// /dev/zero is refused at its first byte, /dev/urandom in its first block); `first` sees the
// first piece before anything else does.
std::string read_stream_text(const InputFile& file, const std::function<void(std::string_view)>& first) {
  const double room = available_memory().bytes / (kBytesPerByte + 1.0);
  bool seen = false;
  return file.read_all(room, [&](std::string_view piece, long long lines_before) {
    if (!seen && first) first(piece);
    seen = true;
    require_no_nul(piece, lines_before, file.name());
  });
}

Dataset read_csv_from(const InputFile& file, const CsvOptions& options, std::string held) {
  Dataset data;
  if (file.regular()) {
    const MappedFile text(file, /*writable=*/false);
    data = parse_text(text.view(), file.name(), options,
                      [&text](std::size_t offset, std::size_t bytes) { text.release(offset, bytes); });
  } else {
    data = parse_text(held, file.name(), options, {});
  }
  std::error_code ec;
  if (!file.from_stdin()) data.path = std::filesystem::absolute(file.name(), ec).lexically_normal().string();
  return data;
}

}  // namespace detail

Dataset read_csv(const std::string& given, const CsvOptions& options) {
  const detail::InputFile file(given, "a CSV file");
  std::string held = file.regular() ? std::string() : detail::read_stream_text(file, {});
  return detail::read_csv_from(file, options, std::move(held));
}

Dataset read_data(const std::string& given, const CsvOptions& options) {
  const detail::InputFile file(given, "a data file (CSV or .npy)");
  if (file.regular()) {
    if (is_npy_magic(file.head(kNpyMagic.size()))) return detail::read_npy_from(file, options);
    return detail::read_csv_from(file, options, {});
  }
  std::string held = detail::read_stream_text(file, [&file](std::string_view first) {
    if (is_npy_magic(first)) {
      throw DataError(file.name() + ": a .npy file from a pipe or device; labrun maps .npy files, so save it " +
                      "to a regular file first");
    }
  });
  return detail::read_csv_from(file, options, std::move(held));
}

void read_labels(Dataset& data, const std::string& path, const std::optional<ColumnRef>& column) {
  if (!data.labels.empty()) {
    throw DataError(data.source + " has labels of its own (column " +
                    (data.label_column ? std::to_string(*data.label_column) : std::string("?")) + "), and " + path +
                    " would replace them: give one or the other (--label none reads none from the data)");
  }
  const detail::InputFile file(path, "a labels file (CSV or .npy)");
  std::vector<std::string> labels;
  std::string sha256;
  if (file.regular() && is_npy_magic(file.head(kNpyMagic.size()))) {
    if (column) throw DataError(path + ": a .npy file of labels has no columns to choose from");
    labels = detail::read_npy_labels_from(file, sha256);
  } else {
    const auto not_npy = [&file](std::string_view first) {
      if (is_npy_magic(first)) {
        throw DataError(file.name() + ": a .npy file from a pipe or device; labrun maps .npy files, so save it " +
                        "to a regular file first");
      }
    };
    // The label column read_csv finds (the last, when it holds text), or the one named; else the
    // last numeric column, whose whole numbers name the classes.
    CsvOptions options;
    options.label = column;
    options.features_optional = true;
    std::string held = file.regular() ? std::string() : detail::read_stream_text(file, not_npy);
    Dataset read = detail::read_csv_from(file, options, std::move(held));
    sha256 = read.sha256;
    if (read.label_column) {
      labels = std::move(read.labels);
      // A column of names under a name: no header can be told from the cells (every one is
      // text), but one label more than the data's rows is one.
      if (!read.has_header && static_cast<int64_t>(labels.size()) == data.rows() + 1) labels.erase(labels.begin());
    } else if (read.columns() == 0) {
      throw DataError(path + ": no column of labels");
    } else {
      const torch::Tensor last = read.features.select(1, read.columns() - 1).to(torch::kFloat64).contiguous();
      const double* v = last.data_ptr<double>();
      for (int64_t i = 0; i < last.size(0); ++i) {
        if (v[i] != std::floor(v[i]) || std::abs(v[i]) > 9007199254740992.0) {
          throw DataError(path + ": row " + std::to_string(i) + " of its last column is " + std::to_string(v[i]) +
                          ", not a whole number: labels name classes (text, or whole numbers)");
        }
        labels.push_back(std::to_string(static_cast<int64_t>(v[i])));
      }
    }
  }
  if (static_cast<int64_t>(labels.size()) != data.rows()) {
    throw DataError(path + " holds " + std::to_string(labels.size()) + " labels, and " + data.source + " " +
                    std::to_string(data.rows()) + " rows: one label a row, in order");
  }
  data.labels = std::move(labels);
  data.labels_source = path;
  std::error_code ec;
  if (!file.from_stdin()) data.labels_path = std::filesystem::absolute(path, ec).lexically_normal().string();
  data.labels_sha256 = std::move(sha256);
}

std::string_view embedded_iris_text() {
  return {reinterpret_cast<const char*>(labrun_embedded_iris), labrun_embedded_iris_size};
}

Dataset load_embedded_iris(const CsvOptions& options) {
  return parse_csv(embedded_iris_text(), "embedded:iris.data", options);
}

torch::Tensor centre_columns(const torch::Tensor& A) { return A - A.mean(0); }

}  // namespace labrun
