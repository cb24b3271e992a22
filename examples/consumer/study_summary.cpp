// Prints the summary table of a study file (labrun sweep's JSON Lines) through the installed
// labrun::io, as `labrun summary FILE` does.
#include <labrun/study_file.hpp>

#include <cstdio>
#include <exception>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: study_summary STUDY.jsonl\n");
    return 2;
  }
  try {
    const labrun::ReadStudy study = labrun::read_whole_study(argv[1]);
    std::fputs(labrun::summary_table(study.header.plan, study.runs.cells()).c_str(), stdout);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "study_summary: %s\n", e.what());
    return 1;
  }
  return 0;
}
