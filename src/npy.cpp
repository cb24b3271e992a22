// NumPy's .npy format (numpy.lib.format, versions 1.0, 2.0 and 3.0), read by mapping the file:
//
//   "\x93NUMPY" major minor   header length (uint16 LE in 1.0, uint32 LE in 2.0 and 3.0)
//   header: a Python dict literal, {'descr': '<f8', 'fortran_order': False, 'shape': (150, 4), }
//   data:   rows x columns values, row by row (C order) or column by column (Fortran order)
//
// labrun reads 2-D arrays of little-endian float64 ('<f8') or float32 ('<f4'), and keeps the file's
// type. An array in C order with every column a feature becomes the features without a copy: the
// tensor is the mapping itself (private, so an accidental write could never reach the file), and
// the pages read are dropped again as a pass over the rows moves on (Dataset::release_rows), so a
// matrix larger than the memory left beside it can be streamed. Otherwise the features are copied
// once, row by row.

#include "npy.hpp"

#include "labrun/dataset.hpp"
#include "labrun/options.hpp"
#include "labrun/resources.hpp"
#include "labrun/sha256.hpp"

#include <torch/torch.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <string>
#include <string_view>

namespace labrun {
namespace {

struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  std::vector<int64_t> shape;
  std::size_t data_offset = 0;
};

// The header's dict, read as numpy reads it (numpy.lib.format: ast.literal_eval of the text, then
// exactly the keys 'descr', 'fortran_order' and 'shape', a bool and a tuple of ints) or refused:
// a key given twice (Python keeps the last, which another reader may not), an escape in a string,
// a value that is not a plain literal. Python's blanks (space, tab, newline, carriage return) may
// stand between tokens; a trailing comma may end the dict and the tuple.
class HeaderDict {
 public:
  HeaderDict(std::string_view text, const std::string& path) : text_(text), path_(path) {}

  NpyHeader parse() {
    NpyHeader header;
    bool seen_descr = false, seen_order = false, seen_shape = false;
    expect('{');
    for (;;) {
      if (peek() == '}') break;
      const std::string key = string_literal("a key");
      expect(':');
      bool* seen = key == "descr"           ? &seen_descr
                   : key == "fortran_order" ? &seen_order
                   : key == "shape"         ? &seen_shape
                                            : nullptr;
      if (seen == nullptr) fail("has the key '" + key + "'; numpy's headers hold only descr, fortran_order and shape");
      if (*seen) fail("gives '" + key + "' twice; refused, as readers differ on which one counts");
      *seen = true;
      if (key == "descr") header.descr = string_literal("descr, a type string such as '<f8',");
      if (key == "fortran_order") header.fortran_order = boolean();
      if (key == "shape") header.shape = tuple();
      if (peek() != ',') break;
      ++at_;
    }
    expect('}');
    if (peek() != '\0') fail("has text after its dict");
    if (!seen_descr || !seen_order || !seen_shape) {
      fail(std::string("has no '") + (!seen_descr ? "descr" : !seen_order ? "fortran_order" : "shape") + "'");
    }
    return header;
  }

 private:
  std::string_view text_;
  const std::string& path_;
  std::size_t at_ = 0;

  [[noreturn]] void fail(const std::string& what) const { throw DataError(path_ + ": the .npy header " + what); }
  char peek() {  // the next character after blanks, '\0' at the end
    while (at_ < text_.size() &&
           (text_[at_] == ' ' || text_[at_] == '\t' || text_[at_] == '\n' || text_[at_] == '\r')) {
      ++at_;
    }
    return at_ < text_.size() ? text_[at_] : '\0';
  }
  void expect(char c) {
    if (peek() != c)
      fail(std::string("is not a dict of literals (expected '") + c + "' at byte " + std::to_string(at_) + ")");
    ++at_;
  }
  std::string string_literal(const std::string& what) {
    const char quote = peek();
    if (quote != '\'' && quote != '"') fail("'s " + what + " is not a quoted string");
    const std::size_t end = text_.find(quote, at_ + 1);
    if (end == std::string_view::npos) fail("has a string with no closing quote");
    const std::string_view value = text_.substr(at_ + 1, end - at_ - 1);
    if (value.find('\\') != std::string_view::npos || value.find('\n') != std::string_view::npos) {
      fail("has an escape or a line break inside a string");
    }
    at_ = end + 1;
    return std::string(value);
  }
  bool boolean() {
    peek();
    for (const std::string_view word : {std::string_view("True"), std::string_view("False")}) {
      if (text_.substr(at_, word.size()) == word) {
        at_ += word.size();
        return word == "True";
      }
    }
    fail("'s fortran_order is not True or False");
  }
  std::vector<int64_t> tuple() {
    if (peek() != '(') fail("'s shape is not a tuple");
    ++at_;
    std::vector<int64_t> items;
    bool comma = false;  // (150) is a number in Python, not a tuple: a single item needs its comma
    while (peek() != ')') {
      const std::size_t start = at_;
      while (at_ < text_.size() && text_[at_] >= '0' && text_[at_] <= '9') ++at_;
      const std::string_view digits = text_.substr(start, at_ - start);
      if (digits.empty() || digits.size() > 18 || (digits.size() > 1 && digits.front() == '0')) {
        fail("'s shape holds '" + std::string(text_.substr(start, std::min<std::size_t>(20, text_.size() - start))) +
             "', not a size");
      }
      if (at_ < text_.size() && text_[at_] == 'L') ++at_;  // Python 2's long, as numpy still reads it
      items.push_back(std::stoll(std::string(digits)));
      comma = peek() == ',';
      if (!comma) break;
      ++at_;
    }
    if (peek() != ')') fail("'s shape is not a tuple of sizes");
    ++at_;
    if (items.size() == 1 && !comma) fail("'s shape is a number in parentheses, not a tuple (write (n,))");
    return items;
  }
};

NpyHeader parse_header(std::string_view file, const std::string& path) {
  const auto u8 = [&](std::size_t i) { return static_cast<unsigned char>(file[i]); };
  if (file.size() < 10 || !is_npy_magic(file)) {
    throw DataError(path + ": not a .npy file (no \\x93NUMPY magic at its start)");
  }
  const int major = u8(6);
  if (major < 1 || major > 3) {
    throw DataError(path + ": .npy format version " + std::to_string(major) + "." + std::to_string(u8(7)) +
                    " is not one labrun reads (1.0, 2.0, 3.0)");
  }
  const std::size_t length_bytes = major == 1 ? 2 : 4;
  if (file.size() < 8 + length_bytes) throw DataError(path + ": the .npy header is cut short");
  std::size_t length = 0;
  for (std::size_t i = 0; i < length_bytes; ++i) length |= static_cast<std::size_t>(u8(8 + i)) << (8 * i);
  const std::size_t data_offset = 8 + length_bytes + length;
  if (data_offset > file.size()) {
    throw DataError(path + ": the .npy header claims " + std::to_string(length) + " bytes, more than the file holds");
  }
  const std::string_view dict = file.substr(8 + length_bytes, length);
  if (dict.find('\0') != std::string_view::npos) throw DataError(path + ": the .npy header is not a dict");
  NpyHeader header = HeaderDict(dict, path).parse();
  header.data_offset = data_offset;
  return header;
}

// The file is read this many bytes at a time to check its values and hash it, each piece's pages
// dropped after, so reading a large file never holds all of it.
constexpr std::size_t kScanBytes = std::size_t{32} << 20;

// Checks values [first, first + count) of the array (in its file order).
template <typename T>
void check_finite(const T* values, int64_t first, int64_t count, int64_t rows, int64_t columns, bool fortran_order,
                  const std::string& path) {
  for (int64_t i = first; i < first + count; ++i) {
    if (!std::isfinite(values[i])) {
      const int64_t row = fortran_order ? i % rows : i / columns, column = fortran_order ? i / rows : i % columns;
      throw DataError(path + ": row " + std::to_string(row) + ", column " + std::to_string(column) +
                      " (from 0): non-finite value " + std::to_string(values[i]));
    }
  }
}

}  // namespace

Dataset read_npy(const std::string& path, const CsvOptions& options) {
  const detail::InputFile file(path, "a .npy file");
  return detail::read_npy_from(file, options);
}

namespace detail {

Dataset read_npy_from(const InputFile& input, const CsvOptions& options) {
  const std::string& path = input.name();
  if (!input.regular()) throw DataError(path + ": not a regular file: a .npy file is read by mapping it into memory");
  if (options.label) {
    throw OptionError("read_data", "label",
                      "names a column, and " + path +
                          " is a .npy file: one array of numbers and no label column; give the labels in a file of "
                          "their own (--labels FILE)");
  }
  if (input.size() == 0) throw DataError(path + ": empty file");
  const auto mapping = std::make_shared<MappedFile>(input, /*writable=*/true);
  const std::string_view file = mapping->view();

  const NpyHeader header = parse_header(file, path);
  const bool f8 = header.descr == "<f8", f4 = header.descr == "<f4";
  if (!f8 && !f4) {
    const bool big = !header.descr.empty() && header.descr.front() == '>';
    throw DataError(path + ": values of type '" + header.descr + "'; labrun reads little-endian float64 ('<f8') or " +
                    "float32 ('<f4'): " + (big ? "save it with a.astype('<f8')" : "save it with a.astype('float64')"));
  }
  if (header.shape.size() != 2) {
    throw DataError(path + ": an array of " + std::to_string(header.shape.size()) +
                    " dimensions; labrun reads a matrix (2 dimensions): rows x columns" +
                    (header.shape.size() == 1 ? ", e.g. a.reshape(-1, 1)" : ""));
  }
  const int64_t rows = header.shape[0], width = header.shape[1];
  const double item = f8 ? 8.0 : 4.0;
  const std::size_t data_bytes = file.size() - header.data_offset;
  if (rows == 0 || width == 0)
    throw DataError(path + ": an empty matrix (" + std::to_string(rows) + " x " + std::to_string(width) + ")");
  if (static_cast<double>(rows) * static_cast<double>(width) * item != static_cast<double>(data_bytes)) {
    throw DataError(path + ": the header's shape " + std::to_string(rows) + " x " + std::to_string(width) + " needs " +
                    format_bytes(static_cast<double>(rows) * static_cast<double>(width) * item) +
                    " of values, the file holds " + format_bytes(static_cast<double>(data_bytes)) +
                    " (cut short, or more than one array)");
  }
  if (const int64_t needed = std::max<int64_t>(options.min_rows, 1); rows < needed) {
    throw DataError(path + ": " + std::to_string(rows) + " rows, at least " + std::to_string(needed) + " needed");
  }
  if (header.data_offset % (f8 ? 8 : 4) != 0) throw DataError(path + ": its values are not aligned to their size");

  Dataset data;
  for (const ColumnRef& ref : options.features) {
    if (!ref.index) {
      throw DataError(path + ": a .npy file has no column names: give --features as column numbers, not '" + ref.name +
                      "'");
    }
    if (*ref.index < 0 || *ref.index >= width) {
      throw DataError(path + ": feature column " + std::to_string(*ref.index) + " is beyond its " +
                      std::to_string(width) + " columns");
    }
    if (std::count(data.feature_columns.begin(), data.feature_columns.end(), *ref.index) > 0) {
      throw DataError(path + ": feature column " + std::to_string(*ref.index) + " is listed twice");
    }
    data.feature_columns.push_back(*ref.index);
  }
  const bool all_columns = data.feature_columns.empty();
  if (all_columns) {
    for (int64_t c = 0; c < width; ++c) data.feature_columns.push_back(c);
  }

  void* values = mapping->data() + header.data_offset;
  // One pass over the file in pieces: the digest of its bytes and a check of every value.
  Sha256 hash;
  hash.update(file.substr(0, header.data_offset));
  const auto item_bytes = static_cast<std::size_t>(item);
  const std::size_t piece = kScanBytes / item_bytes * item_bytes;
  for (std::size_t at = 0; at < data_bytes; at += piece) {
    const std::size_t bytes = std::min(piece, data_bytes - at);
    hash.update(file.substr(header.data_offset + at, bytes));
    const auto first = static_cast<int64_t>(at / item_bytes), count = static_cast<int64_t>(bytes / item_bytes);
    if (f8) {
      check_finite(static_cast<const double*>(values), first, count, rows, width, header.fortran_order, path);
    } else {
      check_finite(static_cast<const float*>(values), first, count, rows, width, header.fortran_order, path);
    }
    mapping->release(header.data_offset + at, bytes);
  }
  const auto dtype = f8 ? torch::kFloat64 : torch::kFloat32;
  const std::vector<int64_t> strides =
      header.fortran_order ? std::vector<int64_t>{1, rows} : std::vector<int64_t>{width, 1};
  // The mapping lives as long as a tensor over it does.
  torch::Tensor mapped = torch::from_blob(
      values, {rows, width}, strides, [mapping](void*) {}, torch::TensorOptions(dtype));
  if (!header.fortran_order && all_columns) {
    data.features = mapped;
    const std::size_t offset = header.data_offset, row_bytes = static_cast<std::size_t>(width) * item_bytes;
    data.release_rows = [mapping, offset, row_bytes](int64_t begin, int64_t end) {
      if (end > begin) {
        mapping->release(offset + static_cast<std::size_t>(begin) * row_bytes,
                         static_cast<std::size_t>(end - begin) * row_bytes);
      }
    };
  } else {
    // One copy, row by row: the features' layout everywhere else.
    const auto columns = static_cast<int64_t>(data.feature_columns.size());
    require_memory(static_cast<double>(rows) * static_cast<double>(columns) * item, "reading " + path);
    const torch::Tensor selected =
        all_columns ? mapped : mapped.index_select(1, torch::tensor(data.feature_columns, torch::kLong));
    data.features = selected.contiguous();
  }
  for (const int64_t c : data.feature_columns) data.feature_names.push_back("column " + std::to_string(c));
  data.source = path;
  std::error_code ec;
  if (!input.from_stdin()) data.path = std::filesystem::absolute(path, ec).lexically_normal().string();
  data.sha256 = hash.hex();
  data.format = "npy";
  data.delimiter = '\0';
  return data;
}

std::vector<std::string> read_npy_labels_from(const InputFile& input, std::string& sha256) {
  const std::string& path = input.name();
  if (!input.regular()) throw DataError(path + ": not a regular file: a .npy file is read by mapping it into memory");
  if (input.size() == 0) throw DataError(path + ": empty file");
  const MappedFile mapping(input, /*writable=*/false);
  const std::string_view file = mapping.view();
  const NpyHeader header = parse_header(file, path);
  const std::string& d = header.descr;
  // numpy writes one-byte types with '|', wider ones with '<' on a little-endian machine.
  const bool one_byte = d == "|i1" || d == "|u1" || d == "<i1" || d == "<u1";
  const bool integer = one_byte || d == "<i2" || d == "<i4" || d == "<i8" || d == "<u2" || d == "<u4" || d == "<u8";
  const bool real = d == "<f8" || d == "<f4";
  if (!integer && !real) {
    throw DataError(path + ": labels of type '" + d + "'; labrun reads labels as little-endian integers or whole " +
                    "numbers ('<i8', '<f8', ...): save them with y.astype('int64')");
  }
  const bool column = header.shape.size() == 2 && header.shape[1] == 1;
  if (header.shape.size() != 1 && !column) {
    throw DataError(path + ": labels must be one dimension, (n,) or (n, 1); its shape has " +
                    std::to_string(header.shape.size()) + " dimensions" +
                    (header.shape.size() == 2 ? " of " + std::to_string(header.shape[1]) + " columns" : ""));
  }
  const int64_t rows = header.shape[0];
  const std::size_t item = one_byte ? 1 : d[2] == '2' ? 2 : d[2] == '4' ? 4 : 8;
  if (static_cast<double>(rows) * static_cast<double>(item) != static_cast<double>(file.size() - header.data_offset)) {
    throw DataError(path + ": the header's shape holds " + std::to_string(rows) + " labels, and the file " +
                    format_bytes(static_cast<double>(file.size() - header.data_offset)) + " of values");
  }
  require_memory(static_cast<double>(rows) * 40.0, "the labels of " + path);
  Sha256 hash;
  hash.update(file);
  sha256 = hash.hex();
  const char* values = file.data() + header.data_offset;
  std::vector<std::string> labels;
  labels.reserve(static_cast<std::size_t>(rows));
  for (int64_t i = 0; i < rows; ++i) {
    const char* at = values + static_cast<std::size_t>(i) * item;
    const auto read = [at](auto value) {
      std::memcpy(&value, at, sizeof value);
      return value;
    };
    if (real) {
      const double v = d == "<f8" ? read(double{}) : static_cast<double>(read(float{}));
      if (!std::isfinite(v) || v != std::floor(v) || std::abs(v) > 9007199254740992.0) {
        throw DataError(path + ": label " + std::to_string(i) + " (from 0) is " + std::to_string(v) +
                        ", not a whole number: labels name classes");
      }
      labels.push_back(std::to_string(static_cast<int64_t>(v)));
    } else if (d[1] == 'u') {
      labels.push_back(std::to_string(item == 1   ? read(uint8_t{})
                                      : item == 2 ? read(uint16_t{})
                                      : item == 4 ? read(uint32_t{})
                                                  : read(uint64_t{})));
    } else {
      labels.push_back(std::to_string(item == 1   ? read(int8_t{})
                                      : item == 2 ? read(int16_t{})
                                      : item == 4 ? read(int32_t{})
                                                  : read(int64_t{})));
    }
  }
  return labels;
}

}  // namespace detail
}  // namespace labrun
