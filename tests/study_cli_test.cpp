// labrun sweep and labrun merge, driven as a user would: the study's JSON Lines, shards as
// separate processes merged into what one process writes, resuming after a crash, the errors.

#include "cli_runner.hpp"
#include "test_files.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include <sys/statvfs.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

namespace labrun::test {
namespace {

using json = nlohmann::json;

// The lines of a study's text but its process lines: those say which process (pid, host, time)
// computed the runs after them, and differ between any two processes by design; the records
// compared are the rest. Process lines have tests of their own (ResumeAndMergeSayWhenKernelsDiffer).
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("{\"type\":\"process\"", 0) != 0) lines.push_back(line);
  }
  return lines;
}

// Every line, process lines too.
std::vector<std::string> lines_of_all(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Everything but the header (line 1): the records, the summary and the end line.
std::vector<std::string> body(const std::string& path) {
  std::vector<std::string> lines = lines_of(read_file(path));
  if (!lines.empty()) lines.erase(lines.begin());
  return lines;
}

// A small study: 2 lr x 3 epochs x 2 hidden x 7 repeats.
std::vector<std::string> study(const std::string& lr = "0.05,0.5", const std::string& repeats = "7") {
  return {"sweep", "mlp",       "--lr",  lr,       "--epochs", "5,30,15", "--hidden",
          "4,12",  "--repeats", repeats, "--seed", "9",        "--chunk", "3"};
}
const std::vector<std::string> kStudy = study();

std::vector<std::string> with(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

TEST(Study, RecordsThenASummaryPerSettingAndEpochs) {
  const std::string dir = temp_dir();
  const Outcome run = labrun(with(kStudy, {"-o", dir + "/study.jsonl", "--progress", "always"}), dir);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.err.find("28/28 runs (100%)"), std::string::npos) << run.err;  // as on a terminal
  // The grid's size is said before it starts.
  EXPECT_NE(run.err.find(
                "4 settings (2 lr x 2 hidden) x 7 repeats = 28 runs, each trained 30 epochs and evaluated at 3 counts"),
            std::string::npos)
      << run.err;
  const std::vector<std::string> lines = lines_of(read_file(dir + "/study.jsonl"));
  ASSERT_EQ(lines.size(), 1u + 28u + 12u + 1u);  // header, runs, 4 settings x 3 epochs, end
  const json header = json::parse(lines[0]);
  EXPECT_EQ(header["type"], "study");
  EXPECT_EQ(header["plan"]["epochs"], json({5, 15, 30}));
  EXPECT_EQ(header["plan"]["runs"], 28);
  const json run0 = json::parse(lines[1]);
  EXPECT_EQ(run0["type"], "run");
  EXPECT_EQ(run0["key"], "lr=0.05 hidden=4");
  EXPECT_EQ(run0["checkpoints"].size(), 3u);
  // Run 7 * 3 + 2: lr 0.5, hidden 12, repeat 2 is `labrun mlp --lr 0.5 --hidden 12 --epochs 15`'s
  // repeat 2 at its 15-epoch checkpoint, bit for bit (same binary, same kernel).
  const json run23 = json::parse(lines[1 + 23]);
  EXPECT_EQ(run23["key"], "lr=0.5 hidden=12");
  EXPECT_EQ(run23["repeat"], 2);
  const Outcome single =
      labrun({"mlp", "--lr", "0.5", "--hidden", "12", "--epochs", "15", "--repeats", "7", "--seed", "9"}, dir);
  ASSERT_EQ(single.exit_code, 0) << single.err;
  const json alone = json::parse(single.out)["results"]["runs"][2];
  EXPECT_EQ(run23["checkpoints"][1]["epochs"], 15);
  EXPECT_EQ(run23["checkpoints"][1]["loss"], alone["final_loss"]);
  EXPECT_EQ(run23["checkpoints"][1]["val_accuracy"], alone["val_accuracy"]);
  const json summary = json::parse(lines[1 + 28]);
  EXPECT_EQ(summary["type"], "summary");
  EXPECT_EQ(summary["runs"], 7);
  for (const char* stat : {"mean", "std", "min", "q1", "median", "q3", "max"}) {
    EXPECT_TRUE(summary["val_accuracy"][stat].is_number()) << stat;
  }
  EXPECT_EQ(summary["val_accuracy"]["ci95"].size(), 2u);
  EXPECT_EQ(json::parse(lines.back())["type"], "end");
}

TEST(Study, ThreeShardsInThreeProcessesMergeIntoOneProcesssRecords) {
  const std::string dir = temp_dir();
  ASSERT_EQ(labrun(with(kStudy, {"-o", dir + "/one.jsonl"}), dir).exit_code, 0);
  // Three processes at once, as a job array would run them.
  std::string script;
  for (int i = 1; i <= 3; ++i) {
    std::string args;
    for (const std::string& a : kStudy) args += " " + quote(a);
    script += "\"$LABRUN\"" + args + " --shard " + std::to_string(i) + "/3 -o " +
              quote(dir + "/s" + std::to_string(i)) + " & ";
  }
  const Outcome shards = shell(script + "wait", dir);
  ASSERT_EQ(shards.exit_code, 0) << shards.err;
  // Given out of order: merge puts them in order.
  const Outcome merged = labrun({"merge", dir + "/s3", dir + "/s1", dir + "/s2", "-o", dir + "/merged.jsonl"}, dir);
  ASSERT_EQ(merged.exit_code, 0) << merged.err;
  EXPECT_EQ(body(dir + "/merged.jsonl"), body(dir + "/one.jsonl"));
  const json header = json::parse(lines_of(read_file(dir + "/merged.jsonl"))[0]);
  EXPECT_EQ(header["shard"]["count"], 1);
  EXPECT_EQ(header["merged_from"].size(), 3u);

  // What does not belong together is refused, saying why; nothing is written.
  const auto refused = [&](const std::vector<std::string>& args, const std::string& says) {
    const Outcome bad = labrun(with({"merge"}, with(args, {"-o", dir + "/bad.jsonl"})), dir);
    EXPECT_EQ(bad.exit_code, 2) << bad.err;
    EXPECT_NE(bad.err.find(says), std::string::npos) << bad.err;
    EXPECT_FALSE(std::ifstream(dir + "/bad.jsonl").good());
  };
  refused({dir + "/s1", dir + "/s3"}, "shard 2/3 is missing");
  refused({dir + "/s1", dir + "/s1", dir + "/s3"}, "are the same file");
  std::filesystem::copy_file(dir + "/s1", dir + "/s1copy");
  refused({dir + "/s1", dir + "/s1copy", dir + "/s3"}, "are both shard 1/3");
  ASSERT_EQ(labrun(with(study("0.05,0.6"), {"--shard", "2/3", "-o", dir + "/other"}), dir).exit_code, 0);
  refused({dir + "/s1", dir + "/other", dir + "/s3"}, "their plan.axes differ");
  // A shard cut short (a crash): its runs are not all there.
  const std::string s2 = read_file(dir + "/s2");
  write_file(dir + "/short", s2.substr(0, s2.size() / 2));
  const Outcome cut = labrun({"merge", dir + "/s1", dir + "/short", dir + "/s3"}, dir);
  EXPECT_EQ(cut.exit_code, 1);
  EXPECT_NE(cut.err.find("--resume"), std::string::npos) << cut.err;
}

TEST(Study, AResumedStudyKeepsItsRunsAndDropsATornLine) {
  const std::string dir = temp_dir();
  ASSERT_EQ(labrun(with(kStudy, {"-o", dir + "/whole.jsonl"}), dir).exit_code, 0);
  const std::string whole = read_file(dir + "/whole.jsonl");
  // A crash mid-line: the header, some runs, half a record.
  const std::size_t cut = whole.find("\"run\":13");
  write_file(dir + "/crashed.jsonl", whole.substr(0, cut + 20));
  const Outcome resumed = labrun(with(kStudy, {"-o", dir + "/crashed.jsonl", "--resume"}), dir);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("cut short"), std::string::npos) << resumed.err;
  EXPECT_NE(resumed.err.find("13 runs were there"), std::string::npos) << resumed.err;
  EXPECT_EQ(lines_of(read_file(dir + "/crashed.jsonl")), lines_of(whole));  // the header too: it was kept
  // Two processes wrote it, each said before its runs.
  const std::string finished = read_file(dir + "/crashed.jsonl");
  const std::size_t run13 = finished.find("{\"type\":\"run\",\"run\":13,");
  const std::size_t before = finished.rfind('\n', run13 - 2) + 1;
  const std::string process13 = "{\"type\":\"process\",\"first_run\":13,";
  EXPECT_EQ(finished.substr(before, process13.size()), process13);
  EXPECT_EQ(std::count(finished.begin(), finished.end(), '\n') - 1, std::count(whole.begin(), whole.end(), '\n'));
  // A finished study resumed: nothing to train, the same file.
  ASSERT_EQ(labrun(with(kStudy, {"-o", dir + "/crashed.jsonl", "--resume"}), dir).exit_code, 0);
  EXPECT_EQ(read_file(dir + "/crashed.jsonl"), finished);
  // Another study's file is not resumed, nor a study's file overwritten.
  const Outcome other = labrun(with(study("0.05,0.5", "8"), {"-o", dir + "/crashed.jsonl", "--resume"}), dir);
  EXPECT_EQ(other.exit_code, 2);
  EXPECT_NE(other.err.find("holds another study (its plan.repeats differs"), std::string::npos) << other.err;
  // One line: the plan is said only once nothing refuses it.
  EXPECT_EQ(std::count(other.err.begin(), other.err.end(), '\n'), 1) << other.err;
  const Outcome again = labrun(with(kStudy, {"-o", dir + "/crashed.jsonl"}), dir);
  EXPECT_EQ(again.exit_code, 2);
  EXPECT_NE(again.err.find("--resume"), std::string::npos) << again.err;
  EXPECT_EQ(read_file(dir + "/crashed.jsonl"), finished);
  // Damage in the middle is not a torn last line.
  std::string damaged = whole;
  damaged.replace(whole.find("\"run\":5"), 5, "#####");
  write_file(dir + "/damaged.jsonl", damaged);
  const Outcome broken = labrun(with(kStudy, {"-o", dir + "/damaged.jsonl", "--resume"}), dir);
  EXPECT_EQ(broken.exit_code, 1);
  EXPECT_NE(broken.err.find("damaged"), std::string::npos) << broken.err;
}

TEST(Study, AStudyKilledMidwayIsFinishedByResume) {
  const std::string dir = temp_dir();
  const std::vector<std::string> args = study("0.05,0.5", "400");
  ASSERT_EQ(labrun(with(args, {"-o", dir + "/whole.jsonl"}), dir).exit_code, 0);
  // SIGKILL (nothing to catch) once some runs are out: what a crash or a lost node leaves.
  std::string command = "\"$LABRUN\"";
  for (const std::string& a : args) command += " " + quote(a);
  const Outcome killed =
      shell(command + " -o " + quote(dir + "/killed.jsonl") +
                " & pid=$!; while kill -0 $pid 2>/dev/null && [ \"$(wc -l < " + quote(dir + "/killed.jsonl") +
                " 2>/dev/null || echo 0)\" -lt 50 ]; do sleep 0.01; done; kill -KILL $pid; wait $pid",
            dir);
  EXPECT_EQ(killed.exit_code, 128 + 9) << killed.err;
  const std::string partial = read_file(dir + "/killed.jsonl");
  ASSERT_LT(partial.size(), read_file(dir + "/whole.jsonl").size());
  const Outcome resumed = labrun(with(args, {"-o", dir + "/killed.jsonl", "--resume"}), dir);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_EQ(body(dir + "/killed.jsonl"), body(dir + "/whole.jsonl"));
}

// Each process says which kernel computed its runs; resume and merge say when they differ (a
// shard run on another machine is made here by editing its process line: tests never set
// OPENBLAS_CORETYPE).
TEST(Study, ResumeAndMergeSayWhenKernelsDiffer) {
  const std::string dir = temp_dir();
  const auto on_another_kernel = [](const std::string& text) {
    std::string out;
    for (const std::string& line : lines_of_all(text)) {
      nlohmann::ordered_json record = nlohmann::ordered_json::parse(line);  // keys in their order
      if (record["type"] == "process") record["blas_kernel"] = "Prescott";
      out += (record["type"] == "process" ? record.dump() : line) + "\n";
    }
    return out;
  };
  for (int i = 1; i <= 2; ++i) {
    ASSERT_EQ(labrun(with(kStudy, {"--shard", std::to_string(i) + "/2", "-o", dir + "/s" + std::to_string(i)}), dir)
                  .exit_code,
              0);
  }
  const Outcome same = labrun({"merge", dir + "/s1", dir + "/s2", "-o", dir + "/same.jsonl"}, dir);
  ASSERT_EQ(same.exit_code, 0) << same.err;
  EXPECT_EQ(same.err.find("different"), std::string::npos) << same.err;
  write_file(dir + "/s2", on_another_kernel(read_file(dir + "/s2")));
  const Outcome differ = labrun({"merge", dir + "/s1", dir + "/s2", "-o", dir + "/differ.jsonl"}, dir);
  ASSERT_EQ(differ.exit_code, 0) << differ.err;
  EXPECT_NE(differ.err.find("different BLAS kernels"), std::string::npos) << differ.err;
  EXPECT_NE(differ.err.find("Prescott (from run 14)"), std::string::npos) << differ.err;
  EXPECT_EQ(lines_of(read_file(dir + "/differ.jsonl")).size(), lines_of(read_file(dir + "/same.jsonl")).size());

  // A study begun on another kernel, resumed here.
  ASSERT_EQ(labrun(with(kStudy, {"-o", dir + "/whole.jsonl"}), dir).exit_code, 0);
  const std::string whole = read_file(dir + "/whole.jsonl");
  write_file(dir + "/begun.jsonl", on_another_kernel(whole.substr(0, whole.find("{\"type\":\"run\",\"run\":9,"))));
  const Outcome resumed = labrun(with(kStudy, {"-o", dir + "/begun.jsonl", "--resume"}), dir);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("written by 2 processes with different BLAS kernels"), std::string::npos) << resumed.err;
  EXPECT_TRUE(lines_of(read_file(dir + "/begun.jsonl")) == lines_of(whole));
}

// --resume never cuts what is not this study: a file of notes (whole line or not), another study's
// header cut short. This study's header cut short (a full disk while writing it) holds no run: the
// study starts afresh, and is the uninterrupted one.
TEST(Study, ResumeLeavesWhatIsNotThisStudyAsItWas) {
  const std::string dir = temp_dir();
  const std::vector<std::string> args = study("0.05,0.5", "3");
  ASSERT_EQ(labrun(with(args, {"-o", dir + "/whole.jsonl"}), dir).exit_code, 0);
  const std::string whole = read_file(dir + "/whole.jsonl");
  const std::string header = whole.substr(0, whole.find('\n') + 1);
  const std::string other = labrun(with(study("0.05,0.5", "4"), {}), dir).out;
  for (const auto& [name, content] : std::vector<std::pair<std::string, std::string>>{
           {"notes.txt", "notes\n"},
           {"notes_no_newline.txt", "notes"},
           {"json.txt", "{\"a\": 1}\n{\"b\": 2}\n"},
           {"other_torn.jsonl", other.substr(0, 1500)},
           {"header_then_notes.jsonl", header.substr(0, 300) + "\nnotes\n"}}) {
    SCOPED_TRACE(name);
    write_file(dir + "/" + name, content);
    const Outcome run = labrun(with(args, {"-o", dir + "/" + name, "--resume"}), dir);
    EXPECT_EQ(run.exit_code, 2) << run.err;
    EXPECT_NE(run.err.find("it is left as it was"), std::string::npos) << run.err;
    EXPECT_EQ(read_file(dir + "/" + name), content);
  }
  for (const std::size_t cut : {std::size_t{1}, std::size_t{40}, std::size_t{700}, header.size() - 2}) {
    SCOPED_TRACE("header cut at byte " + std::to_string(cut));
    write_file(dir + "/torn.jsonl", header.substr(0, cut));
    const Outcome run = labrun(with(args, {"-o", dir + "/torn.jsonl", "--resume"}), dir);
    ASSERT_EQ(run.exit_code, 0) << run.err;
    EXPECT_NE(run.err.find("header cut short"), std::string::npos) << run.err;
    EXPECT_EQ(body(dir + "/torn.jsonl"), body(dir + "/whole.jsonl"));
  }
}

// Two processes writing one study file would double its runs: the second is refused at once,
// naming the first, and the file is the first's alone.
TEST(Study, OneProcessWritesAStudyFileAtATime) {
  const std::string dir = temp_dir();
  const std::string path = dir + "/study.jsonl";
  const std::vector<std::string> args = study("0.05,0.5", "10000");
  const pid_t first = ::fork();
  ASSERT_GE(first, 0);
  if (first == 0) {
    ::freopen("/dev/null", "w", stderr);
    std::vector<std::string> all = with(args, {"-o", path});
    std::vector<char*> argv = {const_cast<char*>(LABRUN_BINARY)};
    for (std::string& a : all) argv.push_back(a.data());
    argv.push_back(nullptr);
    ::execv(LABRUN_BINARY, argv.data());
    ::_exit(127);
  }
  // Once its header is out, a second writer (--resume, as a retried cluster job would) is refused.
  const auto started = std::chrono::steady_clock::now();
  while (read_file(path).find('\n') == std::string::npos &&
         std::chrono::steady_clock::now() - started < std::chrono::seconds(60)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const Outcome second = labrun(with(args, {"-o", path, "--resume"}), dir);
  ::kill(first, SIGKILL);
  int status = 0;
  ::waitpid(first, &status, 0);
  EXPECT_EQ(second.exit_code, 1) << second.err;
  EXPECT_NE(second.err.find("is being written by another labrun (process " + std::to_string(first) + ")"),
            std::string::npos)
      << second.err;
  EXPECT_EQ(std::count(second.err.begin(), second.err.end(), '\n'), 1) << second.err;  // the error alone
  // The first process gone, resume finishes the study as one process would have.
  const Outcome resumed = labrun(with(args, {"-o", path, "--resume"}), dir);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  ASSERT_EQ(labrun(with(args, {"-o", dir + "/whole.jsonl"}), dir).exit_code, 0);
  EXPECT_EQ(body(path), body(dir + "/whole.jsonl"));
}

// A study of another major format version is refused by merge and resume, naming both versions;
// a minor version is the same format. One limit on the shard count, for --shard and for headers.
TEST(Study, AnotherFormatAndTooManyShardsAreRefusedAlike) {
  const std::string dir = temp_dir();
  const std::vector<std::string> args = study("0.05,0.5", "3");
  ASSERT_EQ(labrun(with(args, {"-o", dir + "/whole.jsonl"}), dir).exit_code, 0);
  const std::string whole = read_file(dir + "/whole.jsonl");
  const auto with_version = [&](const std::string& version) {
    std::string text = whole;
    const std::string key = "\"schema_version\":\"";
    const std::size_t at = text.find(key) + key.size();
    return text.replace(at, text.find('"', at) - at, version);
  };
  write_file(dir + "/v99.jsonl", with_version("99.0.0"));
  const Outcome merged = labrun({"merge", dir + "/v99.jsonl"}, dir);
  EXPECT_EQ(merged.exit_code, 1) << merged.err;
  EXPECT_NE(merged.err.find("study format 99.0.0, and this labrun reads format 2."), std::string::npos) << merged.err;
  EXPECT_EQ(merged.out, "");
  const Outcome resumed = labrun(with(args, {"-o", dir + "/v99.jsonl", "--resume"}), dir);
  EXPECT_EQ(resumed.exit_code, 1) << resumed.err;
  EXPECT_NE(resumed.err.find("study format 99.0.0"), std::string::npos) << resumed.err;
  EXPECT_EQ(read_file(dir + "/v99.jsonl"), with_version("99.0.0"));
  write_file(dir + "/minor.jsonl", with_version("2.99.0"));
  EXPECT_EQ(labrun({"merge", dir + "/minor.jsonl"}, dir).exit_code, 0);

  const Outcome shards = labrun(with(args, {"--shard", "1/2000000"}), dir);
  EXPECT_EQ(shards.exit_code, 2);
  EXPECT_NE(shards.err.find("at most 1048576 shards"), std::string::npos) << shards.err;
  const Outcome none = labrun(with(args, {"--shard", "1/0"}), dir);
  EXPECT_EQ(none.exit_code, 2);
  EXPECT_EQ(none.err, "labrun: error: --shard 1/0: N, the number of shards, must be >= 1\n");
  EXPECT_EQ(labrun(with(args, {"--shard", "1/1048576", "-o", dir + "/last.jsonl"}), dir).exit_code, 0);
  std::string beyond = read_file(dir + "/last.jsonl");
  const std::string count = "\"count\":1048576";
  ASSERT_NE(beyond.find(count), std::string::npos);
  beyond.replace(beyond.find(count), count.size(), "\"count\":2000000");
  write_file(dir + "/beyond.jsonl", beyond);
  const Outcome merge_beyond = labrun({"merge", dir + "/beyond.jsonl"}, dir);
  EXPECT_EQ(merge_beyond.exit_code, 1) << merge_beyond.err;
  EXPECT_NE(merge_beyond.err.find("N at most 1048576"), std::string::npos) << merge_beyond.err;
}

// A study started without --seed is resumed with the seed its header recorded (with or without an
// equal --seed), and ends as the study of that seed.
TEST(Study, AStudyWithoutSeedIsResumedWithItsRecordedSeed) {
  const std::string dir = temp_dir();
  std::vector<std::string> unseeded = study("0.05,0.5", "5");
  const auto seed_at = std::find(unseeded.begin(), unseeded.end(), "--seed");
  unseeded.erase(seed_at, seed_at + 2);
  ASSERT_EQ(labrun(with(unseeded, {"-o", dir + "/study.jsonl"}), dir).exit_code, 0);
  const std::string text = read_file(dir + "/study.jsonl");
  const nlohmann::json header = nlohmann::json::parse(text.substr(0, text.find('\n')));
  ASSERT_FALSE(header["config"]["seed_given"].get<bool>());
  const std::string seed = std::to_string(header["config"]["seed"].get<uint64_t>());
  // Cut after 10 runs, as a crash would leave it.
  std::size_t end = 0;
  for (int line = 0; line < 11; ++line) end = text.find('\n', end) + 1;
  write_file(dir + "/study.jsonl", text.substr(0, end));
  const Outcome resumed = labrun(with(unseeded, {"-o", dir + "/study.jsonl", "--resume"}), dir);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("resumed with the seed its study recorded, " + seed), std::string::npos) << resumed.err;
  EXPECT_EQ(lines_of(read_file(dir + "/study.jsonl")), lines_of(text));
  write_file(dir + "/study.jsonl", text.substr(0, end));
  const Outcome equal = labrun(with(unseeded, {"-o", dir + "/study.jsonl", "--resume", "--seed", seed}), dir);
  ASSERT_EQ(equal.exit_code, 0) << equal.err;
  EXPECT_EQ(body(dir + "/study.jsonl"), lines_of(text.substr(text.find('\n') + 1)));
  const Outcome other = labrun(with(unseeded, {"-o", dir + "/study.jsonl", "--resume", "--seed", "1"}), dir);
  EXPECT_EQ(other.exit_code, 2) << other.err;
  // Its header cut short after the seed it recorded: this study's, started afresh with that seed.
  const std::string first_line = text.substr(0, text.find('\n'));
  const std::size_t after_seed = first_line.find("\"seed_given\":") + 20;
  for (const std::size_t cut : {after_seed, first_line.size() - 3}) {
    write_file(dir + "/study.jsonl", first_line.substr(0, cut));
    const Outcome torn = labrun(with(unseeded, {"-o", dir + "/study.jsonl", "--resume"}), dir);
    ASSERT_EQ(torn.exit_code, 0) << "cut at " << cut << ": " << torn.err;
    EXPECT_EQ(body(dir + "/study.jsonl"), lines_of(text.substr(text.find('\n') + 1)));
  }
}

// merge opens each shard once (named FIFOs and process substitutions are read as files are), and
// writes nothing on stdout unless the whole study is merged.
TEST(Study, MergeReadsEachShardOnceAndWritesAllOrNothing) {
  const std::string dir = temp_dir();
  const std::vector<std::string> args = study("0.05,0.5", "4");
  ASSERT_EQ(labrun(with(args, {"-o", dir + "/one.jsonl"}), dir).exit_code, 0);
  for (const char* shard : {"1/2", "2/2"}) {
    const std::string name = std::string("s") + shard[0] + ".jsonl";
    ASSERT_EQ(labrun(with(args, {"--shard", shard, "-o", dir + "/" + name}), dir).exit_code, 0);
  }
  const std::string d = quote(dir);
  const Outcome fifos = shell("cd " + d + " && mkfifo f1 f2 && (cat s1.jsonl > f1 &) && (cat s2.jsonl > f2 &) && " +
                                  "exec timeout -s KILL 60 $LABRUN merge f1 f2",
                              dir);
  ASSERT_EQ(fifos.exit_code, 0) << fifos.err;
  EXPECT_EQ(lines_of(fifos.out.substr(fifos.out.find('\n') + 1)), body(dir + "/one.jsonl"));
  const Outcome substituted =
      run_command("bash -c " + quote("cd " + d + " && exec timeout -s KILL 60 " + quote(LABRUN_BINARY) +
                                     " merge <(cat s1.jsonl) <(cat s2.jsonl)"),
                  dir);
  ASSERT_EQ(substituted.exit_code, 0) << substituted.err;
  EXPECT_EQ(lines_of(substituted.out.substr(substituted.out.find('\n') + 1)), body(dir + "/one.jsonl"));
  // The second shard cut short: exit 1, and not a byte of the first shard's runs on stdout.
  const std::string s2 = read_file(dir + "/s2.jsonl");
  write_file(dir + "/cut.jsonl", s2.substr(0, s2.size() / 2));
  const Outcome failed = labrun({"merge", dir + "/s1.jsonl", dir + "/cut.jsonl"}, dir);
  EXPECT_EQ(failed.exit_code, 1) << failed.err;
  EXPECT_EQ(failed.out, "");
  EXPECT_NE(failed.err.find("finish it with the same command and --resume"), std::string::npos) << failed.err;
  const Outcome piped =
      shell("$LABRUN merge " + quote(dir + "/s1.jsonl") + " " + quote(dir + "/cut.jsonl") + " | wc -c", dir);
  EXPECT_EQ(piped.out, "0\n");
}

// The free-space check is for files: a sweep into a pipe (a process substitution, /dev/fd/N on
// procfs, which reports no free space) or a device runs.
TEST(Study, ASweepIntoAPipeOrDeviceIsNotRefusedForDiskSpace) {
  const std::string dir = temp_dir();
  std::string command = "exec $LABRUN";
  for (const std::string& a : study("0.05,0.5", "3")) command += " " + quote(a);
  const Outcome piped = run_command(
      "LABRUN=" + quote(LABRUN_BINARY) + " bash -c " + quote(command + " -o >(cat > " + quote(dir + "/out") + ")"),
      dir);
  EXPECT_EQ(piped.exit_code, 0) << piped.err;
  const Outcome device = shell(command + " -o /dev/null", dir);
  EXPECT_EQ(device.exit_code, 0) << device.err;
}

// Every run line is checked against the plan, by resume and merge alike: its seed, its setting's
// values, its place in the shard, its figures in range; a gap is not filled out of order.
TEST(Study, RunLinesAreCheckedAgainstThePlan) {
  const std::string dir = temp_dir();
  const std::vector<std::string> args = study("0.05,0.5", "3");
  const std::vector<std::string> shard1 = with(args, {"--shard", "1/2"});
  ASSERT_EQ(labrun(with(shard1, {"-o", dir + "/s1.jsonl"}), dir).exit_code, 0);
  ASSERT_EQ(labrun(with(args, {"--shard", "2/2", "-o", dir + "/s2.jsonl"}), dir).exit_code, 0);
  const std::vector<std::string> lines = lines_of(read_file(dir + "/s1.jsonl"));
  const std::vector<std::string> other = lines_of(read_file(dir + "/s2.jsonl"));
  // Line 3 (the second run) edited; the runs kept up to it, the closing lines dropped (a crash).
  const auto damaged = [&](const std::string& from, const std::string& to) {
    std::string text = lines[0] + "\n" + lines[1] + "\n";
    std::string run = lines[2];
    const std::size_t at = run.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return text + run.replace(at, from.size(), to) + "\n";
  };
  const std::string seed_key = "\"seed\":9";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"accuracy", damaged("\"val_accuracy\":", "\"val_accuracy\":7.5,\"x\":")},
      {"seed", damaged(seed_key, "\"seed\":10")},
      {"key", damaged("\"key\":\"", "\"key\":\"x")},
      {"another shard", lines[0] + "\n" + lines[1] + "\n" + other[1] + "\n"},
      {"a gap", lines[0] + "\n" + lines[1] + "\n" + lines[3] + "\n"},
  };
  for (const auto& [name, text] : cases) {
    SCOPED_TRACE(name);
    write_file(dir + "/bad.jsonl", text);
    const Outcome resumed = labrun(with(shard1, {"-o", dir + "/bad.jsonl", "--resume"}), dir);
    EXPECT_EQ(resumed.exit_code, 1) << resumed.err;
    EXPECT_NE(resumed.err.find("bad.jsonl: line 3"), std::string::npos) << resumed.err;
    EXPECT_EQ(read_file(dir + "/bad.jsonl"), text);
    const Outcome merged = labrun({"merge", dir + "/bad.jsonl", dir + "/s2.jsonl"}, dir);
    EXPECT_EQ(merged.exit_code, 1) << merged.err;
    EXPECT_EQ(merged.out, "");
  }
}

// merge names a missing or unfinished shard with the command that makes or finishes it, from the
// command line its study's headers recorded; that command does.
TEST(Study, MergeSaysHowToMakeAMissingShard) {
  const std::string dir = temp_dir();
  const std::vector<std::string> args = study("0.05,0.5", "3");
  for (const char* shard : {"1/3", "3/3"}) {
    const std::string name = std::string("study.") + shard[0] + ".jsonl";
    ASSERT_EQ(labrun(with(args, {"--shard", shard, "-o", dir + "/" + name}), dir).exit_code, 0);
  }
  const Outcome missing = labrun({"merge", dir + "/study.1.jsonl", dir + "/study.3.jsonl"}, dir);
  EXPECT_EQ(missing.exit_code, 2);
  const std::string says = "shard 2/3 is missing; make it with: ";
  const std::size_t at = missing.err.find(says);
  ASSERT_NE(at, std::string::npos) << missing.err;
  std::string rerun = missing.err.substr(at + says.size());
  rerun = rerun.substr(0, rerun.find('\n'));
  EXPECT_NE(rerun.find("--shard 2/3 -o " + dir + "/study.2.jsonl --resume"), std::string::npos) << rerun;
  const Outcome made = run_command(rerun, dir);
  ASSERT_EQ(made.exit_code, 0) << rerun << ": " << made.err;
  ASSERT_EQ(labrun(with(args, {"-o", dir + "/one.jsonl"}), dir).exit_code, 0);
  const Outcome merged = labrun({"merge", dir + "/study.1.jsonl", dir + "/study.2.jsonl", dir + "/study.3.jsonl"}, dir);
  ASSERT_EQ(merged.exit_code, 0) << merged.err;
  EXPECT_EQ(lines_of(merged.out.substr(merged.out.find('\n') + 1)), body(dir + "/one.jsonl"));
}

TEST(Study, MergeRefusesWhatIsNotAStudy) {
  const std::string dir = temp_dir();
  write_file(dir + "/text.jsonl", "hello\n");
  write_file(dir + "/latin1.jsonl", "\xe9t\xe9\n");
  write_file(dir + "/doc.json", "{\"schema_version\": \"2.1.0\", \"command\": \"mlp\"}\n");
  ASSERT_EQ(labrun(with(kStudy, {"--shard", "1/2", "-o", dir + "/s1"}), dir).exit_code, 0);
  // Headers written by hand or damaged: fields missing, a shard beyond its count, a grid beyond
  // any study (each a one-line data error, not an internal one).
  write_file(dir + "/bare.jsonl", "{\"type\": \"study\"}\n");
  const std::string s1 = read_file(dir + "/s1");
  const std::string header = s1.substr(0, s1.find('\n'));
  json wide = json::parse(header);
  wide["shard"]["index"] = 5;
  write_file(dir + "/wide.jsonl", wide.dump() + "\n");
  json huge = json::parse(header);
  huge["plan"]["repeats"] = int64_t{1} << 40;
  write_file(dir + "/huge.jsonl", huge.dump() + "\n");
  struct Case {
    std::vector<std::string> args;
    int code;
    std::string says;
  };
  const std::vector<Case> cases = {
      {{"merge", "/dev/null"}, 1, "empty or unreadable"},
      {{"merge", dir}, 2, "shards"},
      {{"merge", dir + "/missing.jsonl"}, 2, "missing.jsonl"},
      {{"merge", dir + "/text.jsonl"}, 1, "not JSON"},
      {{"merge", dir + "/latin1.jsonl"}, 1, "not JSON"},
      {{"merge", dir + "/doc.json"}, 1, "not a labrun study"},
      {{"merge", dir + "/s1"}, 2, "shard 2/2 is missing"},
      {{"merge", dir + "/s1", "-o", dir + "/s1"}, 2, "is the shard"},
      {{"merge", dir + "/bare.jsonl"}, 1, "header is not a labrun study's: no schema_version"},
      {{"merge", dir + "/wide.jsonl"}, 1, "shard 5/2"},
      {{"merge", dir + "/huge.jsonl"}, 1, "more than labrun takes"},
      {{"merge"}, 2, "shards"},
  };
  for (const Case& c : cases) {
    const Outcome run = labrun(c.args, dir);
    std::string shown;
    for (const std::string& a : c.args) shown += a + " ";
    EXPECT_EQ(run.exit_code, c.code) << shown << "\n" << run.err;
    EXPECT_TRUE(run.out.empty()) << shown;
    EXPECT_NE(run.err.find(c.says), std::string::npos) << shown << "\n" << run.err;
    EXPECT_EQ(run.err.find('\n'), run.err.size() - 1) << shown << ": one line\n" << run.err;
  }
}

TEST(Study, GridsThatCannotRunAreRefusedBeforeTheyStart) {
  const std::string dir = temp_dir();
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<Case> cases = {
      {{"sweep", "mlp", "--lr", "0.1,0.1"}, "--lr lists 0.1 twice"},
      {{"sweep", "mlp", "--lr", "0.1,-1"}, "--lr -1"},
      {{"sweep", "mlp", "--lr", "0.1,nan"}, "--lr nan"},
      {{"sweep", "mlp", "--train-size", "50,150"}, "--train-size 150"},
      {{"sweep", "factorise", "--rank", "2,5"}, "--rank 5 must be < min(rows, columns) = 4"},
      {{"sweep", "factorise", "--loss-form", "gram,gram"}, "--loss-form lists gram twice"},
      {{"sweep", "mlp", "--bootstrap", "2000000"}, "--bootstrap 2000000 must be 0 (no bootstrap) to 1000000"},
      {{"sweep", "mlp", "--epochs", "10,-1"}, "--epochs -1"},
      {{"sweep", "mlp", "--hidden", "0,4"}, "--hidden 0"},
      {{"sweep", "mlp", "--lr", ""}, "empty"},
      {{"sweep", "mlp", "--lr", "0.1,"}, "item 2 is empty"},
      {{"sweep", "mlp", "--lr", "0.1,,1"}, "item 2 is empty"},
      {{"sweep", "mlp", "--hidden", "4,1.5"}, "'1.5' is not a whole number"},
      {{"sweep", "mlp", "--lr", "0.1,fast"}, "'fast' is not a number"},
      {{"sweep", "mlp", "--lr", "1e999"}, "'1e999' is beyond double's range"},
      {{"sweep", "mlp", "--lr", "1,2", "--format", "text"}, "--format"},
      {{"sweep", "mlp", "--normalise", "var,cube"}, "is not one of"},
      {{"sweep", "factorise", "--rank", "1,4"}, "--rank 4"},
      {{"sweep", "mlp", "--repeats", "0"}, "--repeats 0"},
      {{"sweep", "mlp", "--chunk", "0"}, "--chunk 0"},
      {{"sweep", "mlp", "--shard", "0/3", "--seed", "1"}, "numbered 1 to N"},
      {{"sweep", "mlp", "--shard", "4/3", "--seed", "1"}, "numbered 1 to N"},
      {{"sweep", "mlp", "--shard", "1/0", "--seed", "1"}, "N, the number of shards, must be >= 1"},
      {{"sweep", "mlp", "--shard", "3/2", "--seed", "1"}, "shards are numbered 1 to N, so i must be in 1..2"},
      {{"sweep", "mlp", "--shard", "a/b", "--seed", "1"}, "must be i/N"},
      {{"sweep", "mlp", "--shard", "1/3"}, "needs --seed"},
      {{"sweep", "mlp", "--resume"}, "-o FILE"},
      {{"sweep", "mlp", "--lr", "0.1,0.2", "--hidden", "1,2,3,4,5,6,7,8,9,10", "--train-size",
        "10,20,30,40,50,60,70,80,90,100", "--repeats", "9000000"},
       "at most"},
      {{"sweep"}, "subcommand"},
  };
  for (const Case& c : cases) {
    const Outcome run = labrun(c.args, dir);
    std::string shown;
    for (const std::string& a : c.args) shown += a + " ";
    EXPECT_EQ(run.exit_code, 2) << shown << "\n" << run.err;
    EXPECT_TRUE(run.out.empty()) << shown;
    EXPECT_NE(run.err.find(c.says), std::string::npos) << shown << "\n" << run.err;
  }
  // A grid whose summary cannot fit in memory says what it would need (exit 1).
  const Outcome huge = labrun_with({},
                                   {"sweep", "mlp", "--epochs", "1,2,3,4,5,6,7,8,9,10", "--lr",
                                    "0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1.0", "--repeats", "100000000"},
                                   dir);
  EXPECT_EQ(huge.exit_code, 1) << huge.err;
  EXPECT_NE(huge.err.find("needs about"), std::string::npos) << huge.err;
  // Output beyond the disk's free space: as many runs as 100-byte records fit (each record is over
  // 200 bytes), in two settings.
  struct statvfs disk_space {};
  ASSERT_EQ(::statvfs(dir.c_str(), &disk_space), 0);
  const double fit = static_cast<double>(disk_space.f_bavail) * static_cast<double>(disk_space.f_frsize) / 100.0;
  if (fit > 1e9) GTEST_SKIP() << "the disk holds more records than a study may have runs";
  const Outcome disk = labrun(
      {"sweep", "mlp", "--lr", "0.1,0.2", "--repeats", std::to_string(int64_t(fit / 2)), "-o", dir + "/big.jsonl"},
      dir);
  EXPECT_EQ(disk.exit_code, 1) << disk.err;
  EXPECT_NE(disk.err.find("is free there"), std::string::npos) << disk.err;
  EXPECT_FALSE(std::ifstream(dir + "/big.jsonl").good());
}

TEST(Study, MlpWritesItsDocumentAsTheRunsFinish) {
  const std::string dir = temp_dir();
  // Progress on request, on stderr; the document is the same with or without it.
  const Outcome shown = labrun(
      {"mlp", "--seed", "1", "--repeats", "3000", "--epochs", "2", "--progress", "always", "-o", dir + "/a.json"}, dir);
  ASSERT_EQ(shown.exit_code, 0) << shown.err;
  EXPECT_NE(shown.err.find("3000/3000 runs (100%)"), std::string::npos) << shown.err;
  const Outcome quiet =
      labrun({"mlp", "--seed", "1", "--repeats", "3000", "--epochs", "2", "-o", dir + "/b.json"}, dir);
  ASSERT_EQ(quiet.exit_code, 0) << quiet.err;
  EXPECT_EQ(quiet.err.find("runs ("), std::string::npos) << quiet.err;  // not a terminal: silent
  json a = json::parse(read_file(dir + "/a.json")), b = json::parse(read_file(dir + "/b.json"));
  ASSERT_EQ(a["results"]["runs"].size(), 3000u);
  EXPECT_EQ(a["results"]["runs"], b["results"]["runs"]);
  EXPECT_EQ(a["results"]["summary"], b["results"]["summary"]);
  EXPECT_EQ(a["results"]["summary"]["val_accuracy"]["n"], 3000);
  // The text summary counts every run though it lists a few.
  const Outcome text = labrun({"mlp", "--seed", "1", "--repeats", "3000", "--epochs", "2", "--format", "text"}, dir);
  EXPECT_NE(text.out.find("and 2980 more runs"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("(3000 runs"), std::string::npos) << text.out;
}

TEST(Study, EveryCommandShowsItsProgressOnRequest) {
  const std::string dir = temp_dir();
  const Outcome factorise = labrun({"factorise", "--seed", "0", "--progress", "always"}, dir);
  ASSERT_EQ(factorise.exit_code, 0) << factorise.err;
  EXPECT_NE(factorise.err.find("1000/1000 epochs (100%)"), std::string::npos) << factorise.err;
  const Outcome all = labrun({"all", "--seed", "0", "--progress", "always"}, dir);
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_NE(all.err.find("200/200 MLP runs (100%)"), std::string::npos) << all.err;
  // Not a terminal, not asked: nothing.
  const Outcome quiet = labrun({"factorise", "--seed", "0"}, dir);
  EXPECT_EQ(quiet.err.find("epochs ("), std::string::npos) << quiet.err;
}

// labrun summary: the table --summary prints, for a finished study, a shard and a study cut short;
// merge --summary prints the merged study's, which is one process's.
TEST(Study, SummaryOfAnyStudyFileFinishedOrNot) {
  const std::string dir = temp_dir();
  const Outcome one = labrun(with(kStudy, {"-o", dir + "/one.jsonl", "--summary"}), dir);
  ASSERT_EQ(one.exit_code, 0) << one.err;
  const std::string table = one.err.substr(one.err.find("setting "));
  const Outcome summary = labrun({"summary", dir + "/one.jsonl"}, dir);
  ASSERT_EQ(summary.exit_code, 0) << summary.err;
  EXPECT_EQ(lines_of(summary.out)[0], dir + "/one.jsonl: 28 of 28 runs");
  EXPECT_EQ(summary.out.substr(summary.out.find('\n') + 1), table);
  const json doc = json::parse(labrun({"summary", dir + "/one.jsonl", "--format", "json"}, dir).out);
  EXPECT_EQ(doc["finished"], true);
  EXPECT_EQ(doc["summaries"].size(), 12u);  // 4 settings x 3 epochs values
  EXPECT_EQ(doc["summaries"][0]["val_accuracy"]["n"], 7);

  ASSERT_EQ(labrun(with(kStudy, {"--shard", "2/3", "-o", dir + "/s2"}), dir).exit_code, 0);
  const Outcome shard = labrun({"summary", dir + "/s2"}, dir);
  EXPECT_EQ(shard.exit_code, 0) << shard.err;
  EXPECT_EQ(lines_of(shard.out)[0], dir + "/s2: 9 of 9 runs (shard 2/3)");
  EXPECT_EQ(shard.out.find("nan"), std::string::npos) << shard.out;  // cells without runs are left out

  const std::string whole = read_file(dir + "/one.jsonl");
  write_file(dir + "/cut.jsonl", whole.substr(0, whole.find("\"run\":10,") + 40));  // a crash mid-line
  const Outcome cut = labrun({"summary", dir + "/cut.jsonl"}, dir);
  EXPECT_EQ(cut.exit_code, 0) << cut.err;
  EXPECT_EQ(lines_of(cut.out)[0], dir + "/cut.jsonl: 10 of 28 runs, not finished");
  EXPECT_NE(cut.err.find("cut short"), std::string::npos) << cut.err;

  write_file(dir + "/notes.txt", "notes\n");
  for (const std::string& input : {dir + "/notes.txt", std::string("/dev/null")}) {
    const Outcome bad = labrun({"summary", input}, dir);
    EXPECT_EQ(bad.exit_code, 1) << input;
    EXPECT_EQ(bad.out, "");
    EXPECT_EQ(std::count(bad.err.begin(), bad.err.end(), '\n'), 1) << bad.err;
  }

  ASSERT_EQ(labrun(with(kStudy, {"--shard", "1/3", "-o", dir + "/s1"}), dir).exit_code, 0);
  ASSERT_EQ(labrun(with(kStudy, {"--shard", "3/3", "-o", dir + "/s3"}), dir).exit_code, 0);
  const Outcome merged =
      labrun({"merge", dir + "/s1", dir + "/s2", dir + "/s3", "-o", dir + "/merged.jsonl", "--summary"}, dir);
  ASSERT_EQ(merged.exit_code, 0) << merged.err;
  EXPECT_EQ(merged.err, table);
}

// labrun compare: pairs of settings; what cannot be compared is refused in one line, nothing written.
TEST(Study, CompareSettingsAndRefuseWhatCannotBe) {
  const std::string dir = temp_dir();
  ASSERT_EQ(labrun(with(kStudy, {"-o", dir + "/one.jsonl"}), dir).exit_code, 0);
  const Outcome all = labrun({"compare", dir + "/one.jsonl"}, dir);
  ASSERT_EQ(all.exit_code, 0) << all.err;
  const json doc = json::parse(all.out);
  EXPECT_EQ(doc["comparisons"].size(), 6u);  // 4 settings: every pair
  EXPECT_EQ(doc["epochs"], 30);              // the largest
  for (const json& c : doc["comparisons"]) {
    // Runs pair up across learning rates, not across hidden widths (other initial weights).
    const bool same_width = c["setting"].get<std::string>().substr(c["setting"].get<std::string>().find(' ')) ==
                            c["baseline"].get<std::string>().substr(c["baseline"].get<std::string>().find(' '));
    EXPECT_EQ(c["paired"], same_width) << c;
    EXPECT_LE(c["p_value"].get<double>(), c["p_holm"].get<double>());
    EXPECT_LE(c["difference_ci95"][0].get<double>(), c["difference_ci95"][1].get<double>());
  }
  const json base = json::parse(labrun({"compare", dir + "/one.jsonl", "--baseline", "lr=0.05 hidden=4", "--epochs",
                                        "5", "--metric", "loss", "--bootstrap", "0"},
                                       dir)
                                    .out);
  EXPECT_EQ(base["comparisons"].size(), 3u);
  EXPECT_EQ(base["higher_is_better"], false);
  EXPECT_TRUE(base["comparisons"][0]["difference_ci95"][0].is_null());  // no bootstrap: no interval

  ASSERT_EQ(labrun(with(kStudy, {"--shard", "1/2", "-o", dir + "/s1"}), dir).exit_code, 0);
  ASSERT_EQ(labrun({"sweep", "mlp", "--repeats", "5", "--seed", "1", "--epochs", "3", "-o", dir + "/single.jsonl"}, dir)
                .exit_code,
            0);
  for (const auto& [args, code, says] : std::vector<std::tuple<std::vector<std::string>, int, std::string>>{
           {{dir + "/one.jsonl", "--baseline", "lr=9"}, 2, "is not a setting of"},
           {{dir + "/one.jsonl", "--metric", "gap"}, 2, "--metric gap is not the study's"},
           {{dir + "/one.jsonl", "--epochs", "7"}, 2, "--epochs 7 is not a checkpoint"},
           {{dir + "/one.jsonl", "--bootstrap", "1000001"}, 2, "--bootstrap 1000001"},
           {{dir + "/s1"}, 1, "merge the shards first"},
           {{dir + "/single.jsonl"}, 1, "nothing to compare it with"},
           {{dir + "/one.jsonl", "--epochs", "-5"}, 2, "--epochs -5 is not a checkpoint"},
           {{"/dev/zero"}, 1, "line 1 is longer than 64 MiB"},  // a bounded read, not all the memory
           {{"/dev/null"}, 1, "empty"}}) {
    const Outcome bad = labrun(with({"compare", "-o", dir + "/out.json"}, args), dir);
    EXPECT_EQ(bad.exit_code, code) << bad.err;
    EXPECT_NE(bad.err.find(says), std::string::npos) << bad.err;
    EXPECT_EQ(std::count(bad.err.begin(), bad.err.end(), '\n'), 1) << bad.err;
    EXPECT_FALSE(std::ifstream(dir + "/out.json").good());
  }
  // -o onto the study (or a link to it) would replace it: refused, the study kept.
  const std::string study = read_file(dir + "/one.jsonl");
  ASSERT_EQ(::link((dir + "/one.jsonl").c_str(), (dir + "/hard.jsonl").c_str()), 0);
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"compare", dir + "/one.jsonl", "-o", dir + "/one.jsonl"},
        {"compare", dir + "/one.jsonl", "-o", dir + "/hard.jsonl"},
        {"summary", dir + "/one.jsonl", "-o", dir + "/one.jsonl"}}) {
    const Outcome onto = labrun(args, dir);
    EXPECT_EQ(onto.exit_code, 2) << onto.err;
    EXPECT_NE(onto.err.find("would replace it"), std::string::npos) << onto.err;
  }
  EXPECT_EQ(read_file(dir + "/one.jsonl"), study);
  // A config's study path is read from the config's folder, as its output is.
  std::filesystem::create_directories(dir + "/cfg");
  std::filesystem::copy_file(dir + "/one.jsonl", dir + "/cfg/near.jsonl");
  write_file(dir + "/cfg/c.toml", "[compare]\nstudy = \"near.jsonl\"\noutput = \"res.json\"\n");
  const Outcome configured = labrun({"--config", dir + "/cfg/c.toml", "compare"}, dir);
  EXPECT_EQ(configured.exit_code, 0) << configured.err;
  EXPECT_EQ(json::parse(read_file(dir + "/cfg/res.json"))["study"], dir + "/cfg/near.jsonl");
}

}  // namespace
}  // namespace labrun::test
