#include "summary_cmd.hpp"

#include "document.hpp"
#include "labrun/output_file.hpp"
#include "labrun/render.hpp"
#include "labrun/study_file.hpp"

#include "labrun/resources.hpp"
#include "labrun/sweep.hpp"

#include <fmt/format.h>

#include <optional>
#include <string>

namespace labrun::cli {

CLI::App* setup_summary(CLI::App& app, SummaryCommand& command) {
  CLI::App* sub = app.add_subcommand(
      "summary",
      "The summary of a study, finished or not (a shard, a study still running or cut short): the table "
      "that --summary prints, or its summary records as JSON");
  sub->add_option("study", command.input, "A study's JSON Lines (labrun sweep, or labrun merge)")
      ->required()
      ->check(CLI::ExistingFile);
  add_choice(*sub, "--format", command.format, {Format::text, Format::json},
             "text: the table; json: a document with the summary records");
  sub->add_option("-o,--output", command.output, "Write to FILE, atomically (default: stdout)")->type_name("FILE");
  refuse_empty_values(*sub);
  return sub;
}

int run_summary(const SummaryCommand& command) {
  refuse_output_onto_input(command.output, command.input, "the study");
  // A torn last line (a crash while writing) is left out and said.
  const ReadStudy study = read_whole_study(command.input);
  const HeaderPlan& header = study.header;
  const StudySummary& runs = study.runs;
  const StudyFile& file = study.file;
  const StudyPlan& plan = header.plan;
  const int64_t expected = header.span.end - header.span.begin;
  const std::string shard = header.count > 1 ? fmt::format(" (shard {}/{})", header.index, header.count) : "";
  if (file.torn) note(command.input + ": its last line was cut short (a crash while writing) and is left out");
  const std::vector<CellSummary> cells = runs.cells();
  std::string text;
  if (command.format == Format::text) {
    text = fmt::format("{}: {} of {} runs{}{}\n", command.input, file.runs, expected, shard,
                       file.runs < expected ? ", not finished" : "") +
           summary_table(plan, cells);
  } else {
    json records = json::array();
    for (const CellSummary& cell : cells) records.push_back(summary_record(plan, cell));
    text = compact_dump(json{{"schema_version", kSchemaVersion},
                             {"command", "summary"},
                             {"study", command.input},
                             {"shard", {{"index", header.index}, {"count", header.count}}},
                             {"runs", file.runs},
                             {"expected_runs", expected},
                             {"finished", file.runs == expected},
                             {"summaries", records}}) +
           "\n";
  }
  write_output(text, command.output);
  return kExitOk;
}

}  // namespace labrun::cli
