#pragma once
// Numeric tables read from CSV text or NumPy .npy files: the feature matrix and an optional text
// label column.
//
//   features: rows x columns, float64 (float32 from a float32 .npy file), in the file's row order
//   labels:   one string per row (empty when the table has no label column)
//
// Columns are counted from 0 (as the exercise's pandas code does: df.iloc[:, [0, 1, 2, 3]], df[4]);
// lines are counted from 1, as an editor shows them.

#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace labrun {

// Bad data or a file that cannot be read. what() names the source, and where it applies the line
// and column: "data.csv: line 17, column 2: non-numeric cell 'abc'".
class DataError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A column named by its index (from 0) or by its header name.
struct ColumnRef {
  std::optional<int64_t> index;
  std::string name;                                 // used when index is nullopt
  ColumnRef(int64_t i) : index(i) {}                // NOLINT: a plain index reads naturally
  ColumnRef(int i) : index(i) {}                    // NOLINT: so that 0 is an index, not a null name
  ColumnRef(std::string n) : name(std::move(n)) {}  // NOLINT
  ColumnRef(const char* n) : name(n) {}             // NOLINT
};

struct CsvOptions {
  // Feature columns to read; empty: every numeric column except the label column (and a pandas
  // index column).
  std::vector<ColumnRef> features;
  // Label column; nullopt: the last column when it holds text, otherwise none.
  std::optional<ColumnRef> label;
  // The cell separator: ',', ';' or '\t'; 0: detected from the first lines (the one of the three
  // that splits them into the same number of cells, more than one; a comma when none does).
  char delimiter = 0;
  // true: read no label column at all (label must then be nullopt).
  bool no_label = false;
  // Fewer data rows than this is an error.
  int64_t min_rows = 1;
  // A file with no numeric column is read (its features 0 columns wide): a labels file of names.
  bool features_optional = false;
};

struct Dataset {
  torch::Tensor features;           // rows x columns, float64 (or a float32 .npy file's float32)
  std::vector<std::string> labels;  // one per row, or empty
  // Where the labels came from when not from a column of this file (read_labels): the labels
  // file as given, its absolute path (empty for standard input) and its SHA-256; empty otherwise.
  std::string labels_source, labels_path, labels_sha256;
  std::vector<int64_t> feature_columns;    // the file columns the features came from
  std::vector<std::string> feature_names;  // header names, or "column N" without a header
  std::optional<int64_t> label_column;
  std::vector<int64_t> ignored_columns;  // columns of text, neither features nor the label
  // pandas' index column (an empty first header cell above distinct whole numbers, as
  // DataFrame.to_csv() writes it), left out of the features.
  std::optional<int64_t> index_column;
  // A numeric last column that looks like class labels (a few distinct whole numbers) and was
  // read as a feature, because no label column was named (none, or labels from a file of their
  // own): worth a note.
  std::optional<int64_t> looks_like_labels;
  char delimiter = ',';        // '\0' for a .npy file
  std::string format = "csv";  // or "npy"
  std::string source;          // a path as given, or "embedded:iris.data"
  std::string path;            // the file's absolute path; empty for the embedded data
  std::string sha256;          // of the bytes read, as 64 hexadecimal digits
  bool has_header = false;
  // Set when the features are a file mapped into memory (a C-order .npy file read whole): drops
  // rows [begin, end)'s pages from the process's memory, to be read from the file again when next
  // used, so that a pass over a matrix larger than the memory left can hold one block of it at a
  // time. Changes written to those rows are lost (the mapping is private). Empty otherwise.
  std::function<void(int64_t begin, int64_t end)> release_rows;

  int64_t rows() const { return features.size(0); }
  int64_t columns() const { return features.size(1); }
};

// Parses CSV text (UTF-8, an optional byte-order mark, comma-separated, optional double quotes
// around text cells, LF or CRLF line ends, blank lines skipped, an optional header row detected
// when every cell of the first row is text and the second row is not). Without options.features
// the features are the columns whose first data cell is a number; other columns of text, but the
// label, go to ignored_columns. A number too small for double reads as 0, as pandas reads it.
// `source` names the text in error messages.
// Throws DataError on: empty text, a NUL byte, bytes that are not UTF-8, ragged rows, an empty or
// non-numeric cell in a feature column, a column whose first data cell is text but which holds
// numbers below it, NaN or Inf (or a number beyond double's range), a column index out of range,
// fewer than options.min_rows rows.
Dataset parse_csv(std::string_view text, const std::string& source, const CsvOptions& options = {});

// Reads a file (or a pipe or device; "-" is standard input, named "stdin") and parses it as
// parse_csv does: a regular file is mapped and read a piece at a time, never held whole. Throws
// DataError when the path is missing, a directory or unreadable, or holds a NUL byte (found as it
// is read), and ResourceError when its values and labels would not fit in memory (checked once its
// lines are counted, before they are parsed; a pipe's text as it grows).
Dataset read_csv(const std::string& path, const CsvOptions& options = {});

// Reads a data file as read_npy does when it starts as a NumPy .npy file ("\x93NUMPY"), and as
// read_csv does otherwise: the path is opened once, and its kind is told from the bytes read
// through that one descriptor, so a named FIFO or a process substitution reads as a file does
// (a .npy file from a pipe is refused: it must be mapped). Throws as those two do.
//
// A mapped file that another process truncates while it is read raises SIGBUS at the next read
// past its new end, as any mapping does: the labrun tool turns it into one line and exit 1; a
// library user whose files may shrink under it installs a SIGBUS handler of its own.
Dataset read_data(const std::string& path, const CsvOptions& options = {});

// Reads a NumPy .npy file (format 1.0 to 3.0) holding a 2-D array of little-endian float64 or
// float32, in C or Fortran order, by mapping it into memory; the features keep the file's type. A
// C-order array read whole becomes the features without a copy (the tensor is the private mapping,
// with release_rows set, and none of it is left in memory after the read's own pass); otherwise
// the chosen columns are copied once. options.features must be column numbers; there is no label
// column (options.label throws OptionError, naming "label"). Throws DataError on a file that is missing, not regular,
// empty, not .npy, of another type, byte order or number of dimensions, whose shape does not match
// its size, with a non-finite value (naming its row and column), or fewer than options.min_rows
// rows; ResourceError when the copy would not fit in memory.
Dataset read_npy(const std::string& path, const CsvOptions& options = {});

// Class labels from a file of their own, for data whose file holds none (a .npy file): one label a
// row of `data`, in order.
//   .npy  one dimension, (n,) or (n, 1), of little-endian integers ('<i1' to '<i8', '<u1' to
//         '<u8') or of whole numbers as float64 or float32; each label is its number ("0", "2").
//   CSV   the column `column` (default: the last column, or the label column read_csv finds), as
//         text: names, or whole numbers. A column of names one longer than data's rows starts
//         with its header (the cells cannot tell it: all are text).
// The file is opened once (a FIFO or a pipe reads as a file does; a .npy file must be regular).
// Sets data.labels, labels_source and labels_sha256. Throws DataError when data already has labels
// (a label column of its own), for a count other than data's rows (naming both), fractional or
// non-finite numbers, another .npy type or shape, and what read_csv refuses.
void read_labels(Dataset& data, const std::string& path, const std::optional<ColumnRef>& column = std::nullopt);

// The UCI Iris file (150 rows, 4 features, class label), embedded in the binary at build time.
std::string_view embedded_iris_text();
Dataset load_embedded_iris(const CsvOptions& options = {});

// Column-wise mean-centring: A - mean(A, dim 0), as the exercise prepares its matrix.
torch::Tensor centre_columns(const torch::Tensor& A);

}  // namespace labrun
