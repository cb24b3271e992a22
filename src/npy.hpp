#pragma once
// The .npy reader's pieces that read_data shares (src/npy.cpp).

#include "input_file.hpp"

#include "labrun/dataset.hpp"

#include <string_view>

namespace labrun {

inline constexpr std::string_view kNpyMagic("\x93NUMPY", 6);

// Whether `bytes` start as a NumPy .npy file does.
inline bool is_npy_magic(std::string_view bytes) { return bytes.substr(0, kNpyMagic.size()) == kNpyMagic; }

namespace detail {
// read_npy on an input already open (it must be a regular file: it is mapped).
Dataset read_npy_from(const InputFile& file, const CsvOptions& options);
// A .npy file of labels (read_labels): each a whole number as text; `sha256` gets the file's digest.
std::vector<std::string> read_npy_labels_from(const InputFile& file, std::string& sha256);
}  // namespace detail

}  // namespace labrun
