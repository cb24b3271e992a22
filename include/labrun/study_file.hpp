#pragma once
// A study file (labrun::io): a sweep's JSON Lines, the user's data, read and written here only
// (docs/studies.md "What a study file is guaranteed"). Its lines, in this order:
//   header   line 1, type "study": schema_version, command, provenance, config, data,
//            environment, plan, shard; what every part of one study must share
//   process  a process that wrote the runs after it (labrun version, BLAS kernel, host, time),
//            with first_run, the first run it wrote: one per process that wrote runs
//   run      one run's figures at each of the plan's epochs, in order of number, once each
//   summary  a cell's summary, once every run of the shard is there; then
//   end      the number of runs
// A file is checked whole as it is read: runs against the plan (RunRecord), numbers in order,
// a torn last line told apart from damage. The writer holds a lock (StudyLock) for as long as
// it writes; resuming keeps the runs there and cuts a torn line or the closing lines; a merge
// reads each shard once and writes the runs one process would have written.

#include "labrun/dataset.hpp"
#include "labrun/json.hpp"
#include "labrun/sweep.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <istream>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace labrun {

// At most this many runs in one study: beyond, a shard of it (the summary holds 8 bytes a figure
// of every run of the plan).
inline constexpr int64_t kMaxRuns = int64_t{1} << 30;
// The most shards a study is cut into: the same limit for --shard, resume and merge.
inline constexpr int64_t kMaxShards = int64_t{1} << 20;

// Line 1 of a file is not a study's header: the file is someone else's, and is left as it is.
class NotAStudy : public DataError {
 public:
  using DataError::DataError;
};

// The files and the request disagree: a file holds another study, shards of two studies, a shard
// twice or missing. What the user asked for cannot be done with these files (the CLI's exit 2).
class StudyMismatch : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// --- the lines -------------------------------------------------------------

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

// The process line of a process that writes runs from `first_run` on: `record` (its version,
// kernel, host, ...) with type "process" and first_run.
std::string process_line(const json& record, int64_t first_run);

// --- reading ---------------------------------------------------------------

// One line of a study file parsed, or nullopt when it is not a JSON value labrun could have
// written: not JSON, a number beyond double's range, or nested deeper than any study line (64
// levels; checked before parsing, as the parser recurses and 80,000 levels overflow the stack).
std::optional<json> parse_study_line(std::string_view line);

// What a file holds of a study: its header, its processes and runs; where the runs end (a torn
// last line, the closing lines, or process lines with no run after them are cut there when
// resuming).
struct StudyFile {
  json header;
  std::vector<json> processes;  // the process lines followed by runs, in order
  std::size_t runs_end = 0;     // bytes
  bool torn = false;            // its last line was cut short (a crash while writing)
  bool torn_run = false;        // and that line was a run's (not a summary or end line)
  // Line 1 was the only line and was cut short: header_text holds it (a study cut inside its
  // header, or a file that is no study). Only with allow_torn_header; otherwise NotAStudy.
  bool torn_header = false;
  std::string header_text;
  int64_t runs = 0;
  int64_t last_run = -1;
};

// Reads a study's JSON Lines from a stream already open, one line at a time (a line is at most
// 64 MiB): the header into `on_header`, then each run into `on_run` (whose std::invalid_argument
// becomes a DataError naming the line). `first_line`, when given, is line 1 already read from the
// stream, so that a shard is opened and read once. A process line goes to `on_process` just before
// the first run after it. Throws NotAStudy when line 1 is not a study's header, DataError for
// damage anywhere else.
StudyFile read_study(std::istream& in, const std::string& path, const std::string* first_line,
                     const std::function<void(const json& header)>& on_header,
                     const std::function<void(const json& run)>& on_run, bool allow_torn_header = false,
                     const std::function<void(const json& process)>& on_process = {});
StudyFile read_study(const std::string& path, const std::function<void(const json& header)>& on_header,
                     const std::function<void(const json& run)>& on_run, bool allow_torn_header = false);

// The keys two parts of one study must share; the first that differs ("plan.repeats": the member
// of plan or config), or "".
std::string differing_key(const json& a, const json& b);

// A study's plan and shard, from its header, every field checked: a file is input, and a header
// written by hand or damaged says so in one line (DataError) rather than as an internal error. A
// header of another major schema version is refused, naming both versions.
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

// --- writing: one process at a time, resumed where it stopped ----------------

// The config recorded on `path`'s first line: the whole config of a study's header, the seed (and
// seed_given) of a header cut short after them, or nullopt when the file holds none.
std::optional<json> recorded_config(const std::string& path);

// Whether `torn` (a header cut short) is the start of this study's `header` text, but for the
// values that differ between two processes of one study ("provenance", "environment").
bool is_prefix_of_header(std::string_view torn, std::string_view header);

// An exclusive flock(2) on a study file (a regular file, or one about to be made), held while the
// object lives; none for stdout ("" or "-"), pipes and devices. A second writer is refused at once
// (DataError), naming the process that holds the lock (from /proc/locks). Advisory and local: it
// does not keep apart two hosts writing one file over NFS.
class StudyLock {
 public:
  explicit StudyLock(const std::string& path);
  ~StudyLock();
  StudyLock(const StudyLock&) = delete;
  StudyLock& operator=(const StudyLock&) = delete;

 private:
  int fd_ = -1;
};

// What a study file held when a process came to write it.
struct Prepared {
  bool fresh = true;               // nothing of the study is there: write the header first
  int64_t kept = 0;                // runs kept
  std::vector<json> processes;     // the processes that wrote them
  std::vector<std::string> notes;  // what the user should know (a dropped torn line, runs kept)
};

// Makes `path` ready for the runs of `header`'s shard `span` of `plan` to be appended, adding the
// runs it holds to `summary`. Without `resume`, a file holding anything is refused (StudyMismatch).
// With it: a missing or empty file is started afresh; a file of this study (the same
// differing_key values and shard) keeps its runs, each checked against the plan and numbered from
// the shard's first without a gap, and is cut after the last (a torn last line, the closing
// lines); a header of this study cut short is started afresh. Anything else is refused and left
// as it was: NotAStudy or StudyMismatch for another file or study, DataError for damage. Call it
// holding the file's StudyLock. Pipes and devices hold nothing to resume.
Prepared prepare_study_file(const std::string& path, const json& header, const HeaderPlan& shard, bool resume,
                            StudySummary& summary);

// The note for a study whose runs come from processes that computed them differently (another
// BLAS kernel, labrun version or build): "" when all of `processes` agree with each other.
std::string process_differences(const std::vector<json>& processes);

// --- merging ---------------------------------------------------------------

// The command that (re)makes shard `index` of a study, from the command line a shard's header
// recorded: its --shard set to index/count, its -o made the shard's own (the recorded shard's
// number in the file name replaced by index, else shard-<index>.jsonl; `output` when given: the
// file to finish), and --resume added. Empty when the header recorded no command line.
std::string shard_command(const json& header, int64_t index, int64_t count, const std::string& output = "");

struct Merged {
  HeaderPlan study;                // the whole study's plan (one shard)
  std::vector<CellSummary> cells;  // its summary
  std::vector<std::string> notes;  // processes that computed differently
};

// Merges the shards at `paths` (any order; each opened and read once, so that FIFOs and pipes
// work) into one study, written piece by piece to `write`: the header, the runs (with the process
// lines) in order, the summary and the end line. Every header is checked before any run is
// written: one study, each shard once, none missing (StudyMismatch, with the command that makes
// a missing shard). A shard that is damaged or unfinished is a DataError saying how to finish it;
// `write` has then been given part of the study, so the caller writes it where it can be dropped.
Merged merge_studies(const std::vector<std::string>& paths, const std::function<void(const std::string&)>& write);

}  // namespace labrun
