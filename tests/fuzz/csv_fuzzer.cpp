// libFuzzer target for the data and config readers: any bytes in, a Dataset or a DataError out,
// nothing else; the same bytes as a config file give entries or a ConfigError, and every value read
// is written back by config_value and read again unchanged.
// The first byte picks the reader's options, so that column selection is fuzzed too. Bytes that
// start as a .npy file does go through read_data from a file in memory (the .npy reader maps a
// file: its header parser, shape and size checks and value scan); all others through parse_csv.

#include "labrun/config_file.hpp"
#include "labrun/dataset.hpp"
#include "labrun/options.hpp"

#include <torch/torch.h>

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

// read_data of `bytes` as a regular file (a memfd, named through /proc/self/fd).
labrun::Dataset read_as_file(std::string_view bytes, const labrun::CsvOptions& options) {
  const int fd = ::memfd_create("fuzz.npy", MFD_CLOEXEC);
  if (fd < 0) std::abort();
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  for (std::size_t at = 0; at < bytes.size();) {
    const ssize_t n = ::write(fd, bytes.data() + at, bytes.size() - at);
    if (n <= 0) std::abort();
    at += static_cast<std::size_t>(n);
  }
  return labrun::read_data("/proc/self/fd/" + std::to_string(fd), options);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  labrun::CsvOptions options;
  if (size > 0) {
    const uint8_t pick = data[0];
    if (pick & 1) options.features = {pick % 3, (pick / 3) % 5};
    if (pick & 2) options.label = (pick / 7) % 4;
    if ((pick & 6) == 4) options.no_label = true;
    options.min_rows = pick & 8 ? 2 : 1;
    ++data;
    --size;
  }
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const bool npy = text.substr(0, 6) == std::string_view("\x93NUMPY", 6);
    const labrun::Dataset parsed = npy ? read_as_file(text, options) : labrun::parse_csv(text, "fuzz.csv", options);
    // What a caller relies on: every value finite, one label per row when there is a label column.
    if (!torch::isfinite(parsed.features).all().item<bool>()) std::abort();
    if (parsed.label_column && static_cast<int64_t>(parsed.labels.size()) != parsed.rows()) std::abort();
    if (parsed.rows() < options.min_rows || parsed.columns() < 1) std::abort();
  } catch (const labrun::DataError&) {
    // Bad data, reported: the expected outcome for most inputs.
  } catch (const labrun::OptionError& e) {
    // An option that cannot apply to this input: only a label column of a .npy file.
    if (e.option() != "label") std::abort();
  }
  try {
    for (const labrun::ConfigEntry& entry : labrun::parse_config(text, "fuzz.toml")) {
      if (entry.key.empty() || entry.line < 1) std::abort();
      for (const std::string& value : entry.values) {
        const auto again = labrun::parse_config("[s]\nk = " + labrun::config_value(value) + "\n", "again.toml");
        if (again.size() != 1 || again[0].values != std::vector<std::string>{value}) std::abort();
      }
    }
  } catch (const labrun::ConfigError&) {
    // Not a config file, reported.
  }
  return 0;
}
