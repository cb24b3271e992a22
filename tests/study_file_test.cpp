// The study file module (labrun/study_file.hpp) driven directly, without a process: resume's
// checks and cut, the lock, process lines, merge in any order, what is refused and left as it was.
// tests/study_cli_test.cpp drives the same through `labrun sweep` and `labrun merge`.

#include "labrun/study_file.hpp"

#include "test_files.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace labrun {
namespace {

using test::read_file;
using test::temp_dir;
using test::write_file;

// 2 lr x 2 epochs x 5 repeats of a small MLP: 10 runs, quick to train.
MlpSweep small_sweep() {
  MlpSweep sweep;
  sweep.base.seed = 11;
  sweep.base.repeats = 5;
  sweep.base.chunk = 2;
  sweep.lr = {0.05, 0.5};
  sweep.epochs = {3, 8};
  sweep.hidden = {6};  // one value: not an axis
  return sweep;
}

struct Study {
  Dataset data = load_embedded_iris();
  Sweep sweep = small_sweep();
  StudyPlan plan = plan_sweep(data, sweep);
  std::vector<std::string> runs;  // run lines, by number

  Study() {
    SweepHooks hooks;
    hooks.on_run = [this](RunRecord&& run) { runs.push_back(run_line(plan, run)); };
    run_sweep(data, sweep, plan, {{0, plan.runs()}}, hooks);
  }

  HeaderPlan shard(int64_t index, int64_t count) const { return {plan, index, count, shard_span(plan, index, count)}; }

  json header(int64_t index = 1, int64_t count = 1) const {
    const RunSpan span = shard_span(plan, index, count);
    json config = sweep_config(sweep);
    config["seed"] = plan.seed;
    config["seed_given"] = true;
    json h{{"type", "study"},
           {"schema_version", kSchemaVersion},
           {"command", "sweep mlp"},
           {"provenance", {{"command_line", {"labrun", "sweep", "mlp"}}}},
           {"config", config},
           {"data", describe(data)},
           {"environment", json::object()},
           {"plan", plan_json(plan)},
           {"shard", {{"index", index}, {"count", count}, {"first_run", span.begin}, {"end_run", span.end}}}};
    return h;
  }

  // A shard's file as one process writes it: header, its process line, its runs, the closing lines.
  std::string file(int64_t index = 1, int64_t count = 1, const std::string& kernel = "Haswell") const {
    const RunSpan span = shard_span(plan, index, count);
    std::string text = header(index, count).dump() + "\n" + process_line(process(kernel), span.begin);
    StudySummary summary(plan);
    for (int64_t r = span.begin; r < span.end; ++r) {
      text += runs[static_cast<std::size_t>(r)];
      summary.add(parse_run(plan, json::parse(runs[static_cast<std::size_t>(r)])));
    }
    return text + closing_lines(plan, summary.cells(), summary.count());
  }

  static json process(const std::string& kernel) {
    return json{{"labrun_version", "0.1.0"},
                {"build_commit", "abc"},
                {"blas", "OpenBLAS"},
                {"blas_kernel", kernel},
                {"host", "node1"},
                {"pid", 42},
                {"started_utc", "2026-12-06T00:00:00Z"}};
  }
};

const Study& study() {
  static const Study s;
  return s;
}

// The lines of `text` that are not process lines.
std::string without_processes(const std::string& text) {
  std::istringstream in(text);
  std::string out;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("{\"type\":\"process\"", 0) != 0) out += line + "\n";
  }
  return out;
}

TEST(StudyFile, AOneValueListIsNotAnAxisButEveryRunsValue) {
  const Study& s = study();
  ASSERT_EQ(s.plan.axes.size(), 2u);  // lr and epochs; hidden {6} is the base's value
  EXPECT_EQ(s.plan.key(1), "lr=0.5");
  EXPECT_EQ(setting_options(std::get<MlpSweep>(s.sweep), s.plan, 1).hidden, 6);
  EXPECT_EQ(sweep_config(s.sweep).at("hidden"), 6);
  const Sweep factorise = FactoriseSweep{};
  EXPECT_EQ(plan_sweep(s.data, factorise).part, "factorise");
}

TEST(StudyFile, ResumeKeepsTheRunsAndCutsATornLineAndTheClosingLines) {
  const Study& s = study();
  const std::string dir = temp_dir();
  const std::string whole = s.file();
  // A crash mid-line: the header, the process line, runs 0-5 and half of run 6.
  const std::size_t cut = whole.find("\"run\":6,");
  write_file(dir + "/crashed.jsonl", whole.substr(0, cut + 30));
  StudySummary summary(s.plan);
  Prepared prepared = prepare_study_file(dir + "/crashed.jsonl", s.header(), s.shard(1, 1), /*resume=*/true, summary);
  EXPECT_FALSE(prepared.fresh);
  EXPECT_EQ(prepared.kept, 6);
  EXPECT_EQ(summary.count(), 6);
  ASSERT_EQ(prepared.processes.size(), 1u);
  EXPECT_EQ(prepared.processes[0].at("blas_kernel"), "Haswell");
  ASSERT_EQ(prepared.notes.size(), 2u);
  EXPECT_NE(prepared.notes[0].find("cut short"), std::string::npos);
  EXPECT_EQ(read_file(dir + "/crashed.jsonl"), whole.substr(0, whole.find("{\"type\":\"run\",\"run\":6,")));

  // A crash inside the summary lines: no run is lost, and the note says so.
  write_file(dir + "/summary.jsonl", whole.substr(0, whole.find("{\"type\":\"summary\"") + 40));
  StudySummary closing(s.plan);
  prepared = prepare_study_file(dir + "/summary.jsonl", s.header(), s.shard(1, 1), true, closing);
  EXPECT_EQ(prepared.kept, s.plan.runs());
  EXPECT_NE(prepared.notes[0].find("it was not a run: no run is lost"), std::string::npos) << prepared.notes[0];
  // A finished study: its summary and end lines are cut, every run kept.
  write_file(dir + "/done.jsonl", whole);
  StudySummary all(s.plan);
  prepared = prepare_study_file(dir + "/done.jsonl", s.header(), s.shard(1, 1), true, all);
  EXPECT_EQ(prepared.kept, s.plan.runs());
  EXPECT_EQ(read_file(dir + "/done.jsonl"), whole.substr(0, whole.find("{\"type\":\"summary\"")));

  // A process killed before its first run leaves its process line alone at the end: cut too.
  const std::string kept = read_file(dir + "/done.jsonl");
  write_file(dir + "/idle.jsonl", kept + process_line(Study::process("SkylakeX"), s.plan.runs()));
  StudySummary again(s.plan);
  prepared = prepare_study_file(dir + "/idle.jsonl", s.header(), s.shard(1, 1), true, again);
  EXPECT_EQ(prepared.processes.size(), 1u);
  EXPECT_EQ(read_file(dir + "/idle.jsonl"), kept);

  // Nothing there, or an empty file: a fresh study.
  StudySummary none(s.plan);
  EXPECT_TRUE(prepare_study_file(dir + "/new.jsonl", s.header(), s.shard(1, 1), true, none).fresh);
  write_file(dir + "/empty.jsonl", "");
  EXPECT_TRUE(prepare_study_file(dir + "/empty.jsonl", s.header(), s.shard(1, 1), true, none).fresh);
}

TEST(StudyFile, WhatIsNotThisStudyIsRefusedAndLeftAsItWas) {
  const Study& s = study();
  const std::string dir = temp_dir();
  const auto refused = [&](const std::string& name, const std::string& text, const HeaderPlan& shard, bool resume,
                           const std::string& says) {
    write_file(dir + "/" + name, text);
    StudySummary summary(s.plan);
    try {
      prepare_study_file(dir + "/" + name, s.header(shard.index, shard.count), shard, resume, summary);
      ADD_FAILURE() << name << " was not refused";
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << name << ": " << e.what();
    }
    EXPECT_EQ(read_file(dir + "/" + name), text) << name;
  };
  const std::string whole = s.file();
  refused("notes.txt", "notes\n", s.shard(1, 1), true, "not a labrun study's header");
  refused("torn-notes.txt", "notes", s.shard(1, 1), true, "not this study's header");
  refused("study.jsonl", whole, s.shard(1, 1), false, "--resume continues the study");
  refused("shard.jsonl", s.file(1, 2), s.shard(2, 2), true, "its shard differs");
  std::string other = whole;
  other.replace(other.find("\"seed\":11"), 9, "\"seed\":12");
  refused("other.jsonl", other, s.shard(1, 1), true, "holds another study");
  // A gap, another seed, a figure out of range: damage, left as it was.
  const std::size_t run3 = whole.find("{\"type\":\"run\",\"run\":3,");
  refused("gap.jsonl", whole.substr(0, run3) + whole.substr(whole.find("{\"type\":\"run\",\"run\":4,")), s.shard(1, 1),
          true, "run 3 of shard 1/1 was expected next");
  std::string seed = whole;
  seed.replace(seed.find("\"seed\":11", run3), 9, "\"seed\":13");
  refused("seed.jsonl", seed, s.shard(1, 1), true, "its seed 13 is not the plan's 11");
  std::string accuracy = whole;
  const std::size_t at = accuracy.find("\"val_accuracy\":", run3) + 15;
  accuracy.replace(at, accuracy.find(',', at) - at, "7.5");
  refused("accuracy.jsonl", accuracy, s.shard(1, 1), true, "out of range");
  // What would crash or escape a JSON parser is damage, named by its line: 100,000 levels of
  // nesting (the parser recurses), a number beyond double, a type that is not a string, two
  // process lines with no run between.
  const std::size_t run2 = whole.find("{\"type\":\"run\",\"run\":2,");
  std::string deep = whole;
  deep.insert(deep.find("\"checkpoints\"", run2), "\"x\":" + std::string(100000, '[') + std::string(100000, ']') + ",");
  refused("deep.jsonl", deep, s.shard(1, 1), true, "line 5 is not a JSON object");
  EXPECT_THROW(merge_studies({dir + "/deep.jsonl"}, [](const std::string&) {}), DataError);
  std::string huge = whole;
  const std::size_t loss = huge.find("\"loss\":", run2) + 7;
  huge.replace(loss, huge.find('}', loss) - loss, "1e400");
  refused("huge.jsonl", huge, s.shard(1, 1), true, "line 5 is not a JSON object");
  std::string typed = whole;
  typed.replace(run2, 14, "{\"type\":5,    ");
  refused("typed.jsonl", typed, s.shard(1, 1), true, "has type 5, not process, run, summary or end");
  std::string twice = whole;
  const std::size_t process = twice.find("{\"type\":\"process\"");
  twice.insert(process, twice.substr(process, twice.find('\n', process) + 1 - process));
  refused("twice.jsonl", twice, s.shard(1, 1), true, "after another with no run between");
  // This study's header cut short: afresh, said.
  write_file(dir + "/torn.jsonl", whole.substr(0, 200));
  StudySummary summary(s.plan);
  const Prepared torn = prepare_study_file(dir + "/torn.jsonl", s.header(), s.shard(1, 1), true, summary);
  EXPECT_TRUE(torn.fresh);
  EXPECT_EQ(read_file(dir + "/torn.jsonl"), "");
}

TEST(StudyFile, OneWriterAtATime) {
  const std::string dir = temp_dir();
  const std::string path = dir + "/study.jsonl";
  {
    const StudyLock first(path);
    try {
      const StudyLock second(path);
      ADD_FAILURE() << "a second lock was taken";
    } catch (const DataError& e) {
      EXPECT_NE(std::string(e.what()).find("is being written by another labrun"), std::string::npos) << e.what();
    }
  }
  const StudyLock after(path);                            // released with the first
  const StudyLock stdout_lock("-"), device("/dev/null");  // nothing to lock
}

TEST(StudyFile, ShardsMergeInAnyOrderIntoOneProcesssRuns) {
  const Study& s = study();
  const std::string dir = temp_dir();
  for (int i = 1; i <= 3; ++i) write_file(dir + "/s" + std::to_string(i), s.file(i, 3));
  std::string merged;
  const auto into = [&merged](const std::string& text) { merged += text; };
  const Merged m = merge_studies({dir + "/s3", dir + "/s1", dir + "/s2"}, into);
  const std::string one = s.file();
  // The runs, summary and end line of one process; a process line per shard.
  EXPECT_EQ(without_processes(merged.substr(merged.find('\n') + 1)), without_processes(one.substr(one.find('\n') + 1)));
  std::size_t processes = 0;
  for (std::size_t at = merged.find("\"type\":\"process\""); at != std::string::npos;
       at = merged.find("\"type\":\"process\"", at + 1)) {
    ++processes;
  }
  EXPECT_EQ(processes, 3u);
  EXPECT_EQ(m.study.count, 1);
  EXPECT_TRUE(m.notes.empty());
  const json header = json::parse(merged.substr(0, merged.find('\n')));
  EXPECT_EQ(header.at("shard").at("count"), 1);
  EXPECT_EQ(header.at("merged_from").size(), 3u);

  // Every header before any run: what does not belong together is refused before a byte is given.
  const auto refused = [&](const std::vector<std::string>& paths, const std::string& says) {
    std::string out;
    try {
      merge_studies(paths, [&out](const std::string& text) { out += text; });
      ADD_FAILURE() << says << ": not refused";
    } catch (const StudyMismatch& e) {
      EXPECT_NE(std::string(e.what()).find(says), std::string::npos) << e.what();
    }
    EXPECT_EQ(out, "");
  };
  refused({dir + "/s1", dir + "/s3"}, "shard 2/3 is missing; make it with: labrun sweep mlp --shard 2/3");
  refused({dir + "/s1", dir + "/s1", dir + "/s2", dir + "/s3"}, "are the same file: give each shard once");
  write_file(dir + "/copy", s.file(1, 3));
  refused({dir + "/s1", dir + "/copy", dir + "/s2", dir + "/s3"}, "are both shard 1/3");
  write_file(dir + "/half", s.file(1, 2));
  refused({dir + "/s1", dir + "/half"}, "not one study's shards");
  // Another major version of the format: refused, naming both.
  std::string future = s.file(2, 3);
  future.replace(future.find(kSchemaVersion), std::string(kSchemaVersion).size(), "99.0.0");
  write_file(dir + "/future", future);
  EXPECT_THROW(merge_studies({dir + "/s1", dir + "/future", dir + "/s3"}, into), DataError);
  // A shard cut short: named, with how to finish it.
  const std::string s2 = s.file(2, 3);
  write_file(dir + "/short", s2.substr(0, s2.find("{\"type\":\"summary\"") - 10));
  try {
    merge_studies({dir + "/s1", dir + "/short", dir + "/s3"}, [](const std::string&) {});
    ADD_FAILURE() << "a shard cut short was merged";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("--resume"), std::string::npos) << e.what();
  }
}

TEST(StudyFile, ProcessesAreRecordedAndTheirDifferencesSaid) {
  const Study& s = study();
  const std::string dir = temp_dir();
  write_file(dir + "/s1", s.file(1, 2, "Haswell"));
  write_file(dir + "/s2", s.file(2, 2, "Prescott"));
  const Merged m = merge_studies({dir + "/s1", dir + "/s2"}, [](const std::string&) {});
  ASSERT_EQ(m.notes.size(), 1u);
  EXPECT_NE(m.notes[0].find("different BLAS kernels: Haswell (from run 0), Prescott (from run 5)"), std::string::npos)
      << m.notes[0];
  json a = Study::process("Haswell"), b = a;
  a["first_run"] = 0;
  b["first_run"] = 7;
  EXPECT_EQ(process_differences({a, b}), "");
  b["labrun_version"] = "0.2.0";
  EXPECT_NE(process_differences({a, b}).find("labrun_version"), std::string::npos);
  // What a file says is shown, never obeyed: a terminal's escape sequence stays text.
  b = a;
  b["blas_kernel"] = "\x1b[31mred\nline";
  const std::string escaped = process_differences({a, b});
  EXPECT_NE(escaped.find("\\x1b[31mred\\x0aline"), std::string::npos) << escaped;
  EXPECT_EQ(escaped.find('\x1b'), std::string::npos);
  // A process line must say the run after it.
  const std::string whole = s.file();
  std::string wrong = whole;
  wrong.replace(wrong.find("\"first_run\":0", wrong.find('\n')), 13, "\"first_run\":4");
  write_file(dir + "/wrong", wrong);
  StudySummary summary(s.plan);
  EXPECT_THROW(prepare_study_file(dir + "/wrong", s.header(), s.shard(1, 1), true, summary), DataError);
}

}  // namespace
}  // namespace labrun
