// libFuzzer target for the CSV reader: any bytes in, a Dataset or a DataError out, nothing else.
// The first byte picks the reader's options, so that column selection is fuzzed too.

#include "labrun/dataset.hpp"

#include <torch/torch.h>

#include <cstdint>
#include <cstdlib>
#include <string_view>

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
    const labrun::Dataset parsed = labrun::parse_csv(text, "fuzz.csv", options);
    // What a caller relies on: every value finite, one label per row when there is a label column.
    if (!torch::isfinite(parsed.features).all().item<bool>()) std::abort();
    if (parsed.label_column && static_cast<int64_t>(parsed.labels.size()) != parsed.rows()) std::abort();
    if (parsed.rows() < options.min_rows || parsed.columns() < 1) std::abort();
  } catch (const labrun::DataError&) {
    // Bad data, reported: the expected outcome for most inputs.
  }
  return 0;
}
