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

#include "labrun/dataset.hpp"
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

constexpr std::string_view kMagic("\x93NUMPY", 6);

struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  std::vector<int64_t> shape;
  std::size_t data_offset = 0;
};

// The value of 'key' in the header's dict, as the text after its colon up to the next top-level
// comma or the closing brace (a tuple's commas are inside its parentheses).
std::string_view dict_value(std::string_view dict, std::string_view key, const std::string& path) {
  std::size_t at = std::string_view::npos;
  for (const char quote : {'\'', '"'}) {
    const std::string quoted = std::string(1, quote) + std::string(key) + quote;
    at = dict.find(quoted);
    if (at != std::string_view::npos) {
      at += quoted.size();
      break;
    }
  }
  if (at == std::string_view::npos) throw DataError(path + ": the .npy header has no '" + std::string(key) + "'");
  at = dict.find_first_not_of(" ", at);
  if (at == std::string_view::npos || dict[at] != ':') {
    throw DataError(path + ": the .npy header's '" + std::string(key) + "' has no value");
  }
  ++at;
  int depth = 0;
  std::size_t end = at;
  for (; end < dict.size(); ++end) {
    const char c = dict[end];
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (depth == 0 && (c == ',' || c == '}')) break;
  }
  std::string_view value = dict.substr(at, end - at);
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  return value;
}

NpyHeader parse_header(std::string_view file, const std::string& path) {
  const auto u8 = [&](std::size_t i) { return static_cast<unsigned char>(file[i]); };
  if (file.size() < 10 || file.substr(0, kMagic.size()) != kMagic) {
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
  NpyHeader header;
  header.data_offset = 8 + length_bytes + length;
  if (header.data_offset > file.size()) {
    throw DataError(path + ": the .npy header claims " + std::to_string(length) + " bytes, more than the file holds");
  }
  const std::string_view dict = file.substr(8 + length_bytes, length);
  if (dict.find('\0') != std::string_view::npos || dict.find('{') == std::string_view::npos) {
    throw DataError(path + ": the .npy header is not a dict");
  }
  std::string_view descr = dict_value(dict, "descr", path);
  if (descr.size() < 2 || (descr.front() != '\'' && descr.front() != '"') || descr.back() != descr.front()) {
    throw DataError(path + ": the .npy header's descr is not a type string");
  }
  header.descr = std::string(descr.substr(1, descr.size() - 2));
  const std::string_view order = dict_value(dict, "fortran_order", path);
  if (order != "True" && order != "False") throw DataError(path + ": the .npy header's fortran_order is not True or False");
  header.fortran_order = order == "True";
  std::string_view shape = dict_value(dict, "shape", path);
  if (shape.size() < 2 || shape.front() != '(' || shape.back() != ')') {
    throw DataError(path + ": the .npy header's shape is not a tuple");
  }
  shape = shape.substr(1, shape.size() - 2);
  while (!shape.empty()) {
    const std::size_t comma = shape.find(',');
    std::string_view item = shape.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == 'L')) item.remove_suffix(1);
    if (!item.empty()) {
      if (item.size() > 18 || item.find_first_not_of("0123456789") != std::string_view::npos) {
        throw DataError(path + ": the .npy header's shape holds '" + std::string(item) + "', not a size");
      }
      header.shape.push_back(std::stoll(std::string(item)));
    }
    if (comma == std::string_view::npos) break;
    shape.remove_prefix(comma + 1);
  }
  return header;
}

// A whole file, mapped privately.
struct Mapping {
  void* address = MAP_FAILED;
  std::size_t size = 0;
  ~Mapping() {
    if (address != MAP_FAILED) ::munmap(address, size);
  }
  // Drops the pages of [offset, offset + bytes) from the process's memory (whole pages around
  // it); a later read maps them from the file again. Changes written to them are lost.
  void release(std::size_t offset, std::size_t bytes) const {
    static const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    const std::size_t begin = offset / page * page;
    const std::size_t end = std::min(size, (offset + bytes + page - 1) / page * page);
    if (end > begin) ::madvise(static_cast<char*>(address) + begin, end - begin, MADV_DONTNEED);
  }
};

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

bool is_npy_file(const std::string& path) {
  if (path == "-") return false;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return false;
  struct stat info {};
  char magic[6] = {};
  const bool regular = ::fstat(fd, &info) == 0 && S_ISREG(info.st_mode);
  const bool match = regular && ::read(fd, magic, sizeof magic) == static_cast<ssize_t>(sizeof magic) &&
                     std::string_view(magic, sizeof magic) == kMagic;
  ::close(fd);
  return match;
}

Dataset read_npy(const std::string& path, const CsvOptions& options) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (!std::filesystem::exists(status)) throw DataError(path + ": no such file");
  if (!std::filesystem::is_regular_file(status)) {
    throw DataError(path + ": not a regular file: a .npy file is read by mapping it into memory");
  }
  if (options.label) {
    throw DataError(path + ": a .npy file holds one array of numbers and no label column: leave out --label");
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw DataError(path + ": cannot open: " + std::strerror(errno));
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    ::close(fd);
    throw DataError(path + ": cannot read its size: " + std::strerror(errno));
  }
  auto mapping = std::make_shared<Mapping>();
  mapping->size = static_cast<std::size_t>(info.st_size);
  if (mapping->size > 0) {
    mapping->address = ::mmap(nullptr, mapping->size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
  }
  const int map_errno = errno;
  ::close(fd);
  if (mapping->size == 0) throw DataError(path + ": empty file");
  if (mapping->address == MAP_FAILED) throw DataError(path + ": cannot map it into memory: " + std::strerror(map_errno));
  const std::string_view file(static_cast<const char*>(mapping->address), mapping->size);

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
  if (rows == 0 || width == 0) throw DataError(path + ": an empty matrix (" + std::to_string(rows) + " x " +
                                               std::to_string(width) + ")");
  if (static_cast<double>(rows) * static_cast<double>(width) * item !=
      static_cast<double>(data_bytes)) {
    throw DataError(path + ": the header's shape " + std::to_string(rows) + " x " + std::to_string(width) +
                    " needs " + format_bytes(static_cast<double>(rows) * static_cast<double>(width) * item) +
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
      throw DataError(path + ": a .npy file has no column names: give --features as column numbers, not '" +
                      ref.name + "'");
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

  void* values = static_cast<char*>(mapping->address) + header.data_offset;
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
  const std::vector<int64_t> strides = header.fortran_order ? std::vector<int64_t>{1, rows} : std::vector<int64_t>{width, 1};
  // The mapping lives as long as a tensor over it does.
  torch::Tensor mapped = torch::from_blob(values, {rows, width}, strides, [mapping](void*) {}, torch::TensorOptions(dtype));
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
  data.path = std::filesystem::absolute(path, ec).lexically_normal().string();
  data.sha256 = hash.hex();
  data.format = "npy";
  data.delimiter = '\0';
  return data;
}

}  // namespace labrun
