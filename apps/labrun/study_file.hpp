#pragma once
// A study's JSON Lines as the CLI reads and writes them: the header's plan, the run lines checked
// against it, the summary and end lines, and the summary table (docs/studies.md). Used by sweep,
// merge and compare.

#include "common.hpp"
#include "serialise.hpp"

#include "labrun/sweep.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <istream>
#include <string>
#include <vector>

namespace labrun::cli {

// At most this many runs in one study: beyond, a shard of it (the summary holds 8 bytes a figure
// of every run of the plan).
inline constexpr int64_t kMaxRuns = int64_t{1} << 30;
// The most shards a study is cut into: --shard checks it, and merge and resume check a header
// against it (docs/studies.md).
inline constexpr int64_t kMaxShards = int64_t{1} << 20;

json axis_value(const AxisValue& value);
json setting_values(const StudyPlan& plan, int64_t setting);
json plan_json(const StudyPlan& plan);
std::string run_line(const StudyPlan& plan, const RunRecord& run);

// A run line, checked against the plan: its setting and repeat in the grid, its number their
// place, its key, values and seed the plan's (an MLP run draws from the study's seed, a
// factorisation from seed + repeat), a checkpoint for each of the plan's epochs in order, and
// figures in range (accuracies in [0, 1], losses >= 0, null where the run diverged). Anything else
// is std::invalid_argument saying what: resume and merge accept the same lines.
RunRecord parse_run(const StudyPlan& plan, const json& line);

// A cell's summary record (type "summary").
json summary_record(const StudyPlan& plan, const CellSummary& cell);
// The summary lines and the end line.
std::string closing_lines(const StudyPlan& plan, const std::vector<CellSummary>& cells, int64_t runs);
// The study's summary as a table, for --summary and --format text.
std::string summary_table(const StudyPlan& plan, const std::vector<CellSummary>& cells);

// What a file holds of a study: its header and its runs; where the runs end (a torn last line or
// the summary lines after them are cut there when resuming).
struct StudyFile {
  json header;
  std::size_t runs_end = 0;  // bytes
  bool torn = false;         // its last line was cut short (a crash while writing)
  // Line 1 was the only line and was cut short: header_text holds it (a study cut inside its
  // header, or a file that is no study). Only with allow_torn_header; otherwise an error.
  bool torn_header = false;
  std::string header_text;
  int64_t runs = 0;
  int64_t last_run = -1;
};

// Reads a study's JSON Lines, one line at a time: the header, then each run into `on_run`.
// Line 1 is not a study's header: the file is not a labrun study.
class NotAStudy : public DataError {
 public:
  using DataError::DataError;
};

// Reads a study's JSON Lines from a stream already open; `first_line`, when given, is line 1
// already read from it (whole, with its newline), so that a shard is opened and read once.
StudyFile read_study(std::istream& in, const std::string& path, const std::string* first_line,
                     const std::function<void(const json& header)>& on_header,
                     const std::function<void(const json& run)>& on_run, bool allow_torn_header = false);
StudyFile read_study(const std::string& path, const std::function<void(const json& header)>& on_header,
                     const std::function<void(const json& run)>& on_run, bool allow_torn_header = false);

// -o onto an input (the same file by device and inode: links too) would replace what is read:
// a UsageError naming both, before anything is read or written.
void refuse_output_onto_input(const std::string& output, const std::string& input, const std::string& what);

// The keys two parts of one study must share; the first that differs, or "".
std::string differing_key(const json& a, const json& b);

// A study's plan and shard, from its header, every field checked: a file is input, and a header
// written by hand or damaged says so in one line (DataError) rather than as an internal error.
struct HeaderPlan {
  StudyPlan plan;
  int64_t index = 1, count = 1;
  RunSpan span;
};

HeaderPlan plan_from_header(const std::string& path, const json& header);

// A whole study file read once, for summary and compare: its header's plan, every run line checked
// against it and held (8 bytes a figure, refused first when that cannot fit), and what the file
// holds (runs, a torn last line).
struct ReadStudy {
  HeaderPlan header;
  StudySummary runs;
  StudyFile file;
};
ReadStudy read_whole_study(const std::string& path);

}  // namespace labrun::cli
