// Hostile input beyond one-line refusals (issue 16): what is at -o, signals while writing, thread
// variables, divergence in the last update, columns that must never be dropped silently, numbers
// at the edge of double's range. The one-line refusals are in cli_test.cpp's CliBadInput table.

#include "cli_runner.hpp"
#include "test_files.hpp"

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace {

using labrun::test::kIris;
using labrun::test::labrun;
using labrun::test::labrun_with;
using labrun::test::Outcome;
using labrun::test::quote;
using labrun::test::read_file;
using labrun::test::shell;
using labrun::test::temp_dir;
using labrun::test::write_file;
using nlohmann::json;
namespace fs = std::filesystem;

// Files whose names start with ".NAME.tmp.": labrun's temporary files for NAME.
std::vector<std::string> temporaries(const std::string& dir, const std::string& name) {
  std::vector<std::string> found;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string file = entry.path().filename().string();
    if (file.rfind("." + name + ".tmp.", 0) == 0) found.push_back(file);
  }
  return found;
}

bool is_one_error_line(const std::string& err) {
  return err.rfind("labrun: error: ", 0) == 0 && err.find('\n') == err.size() - 1;
}

// --- What is at -o (kind 1) ---------------------------------------------------------------

TEST(CliOutputTarget, ACharacterDeviceIsWrittenThroughNotReplaced) {
  const std::string dir = temp_dir();
  const Outcome full = labrun({"factorise", "--epochs", "1", "-o", "/dev/full"}, dir);
  EXPECT_EQ(full.exit_code, 1);
  EXPECT_NE(full.err.find("No space left on device"), std::string::npos) << full.err;
  EXPECT_TRUE(fs::is_character_file("/dev/full"));
  const Outcome null = labrun({"factorise", "--epochs", "1", "-o", "/dev/null"}, dir);
  EXPECT_EQ(null.exit_code, 0) << null.err;
  EXPECT_TRUE(fs::is_character_file("/dev/null"));
}

TEST(CliOutputTarget, AFifoGetsTheWholeDocument) {
  const std::string dir = temp_dir();
  const std::string fifo = dir + "/fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::string received;
  std::thread reader([&] { received = read_file(fifo); });
  const Outcome run = labrun({"factorise", "--seed", "0", "--epochs", "3", "-o", fifo}, dir);
  reader.join();
  EXPECT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(json::parse(received)["config"]["epochs"], 3);
  EXPECT_TRUE(fs::is_fifo(fifo));
}

TEST(CliOutputTarget, ASymlinkStaysALinkAndItsTargetIsReplaced) {
  const std::string dir = temp_dir();
  write_file(dir + "/target.json", "old");
  fs::create_symlink("target.json", dir + "/link.json");
  const Outcome run = labrun({"factorise", "--seed", "0", "--epochs", "2", "-o", dir + "/link.json"}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_TRUE(fs::is_symlink(dir + "/link.json"));
  EXPECT_EQ(json::parse(read_file(dir + "/target.json"))["config"]["epochs"], 2);
  EXPECT_TRUE(temporaries(dir, "target.json").empty());

  // A link to nothing: the file is created where it points, and the link stays.
  fs::create_symlink("new.json", dir + "/dangling.json");
  ASSERT_EQ(labrun({"factorise", "--seed", "0", "--epochs", "2", "-o", dir + "/dangling.json"}, dir).exit_code, 0);
  EXPECT_TRUE(fs::is_symlink(dir + "/dangling.json"));
  EXPECT_TRUE(fs::is_regular_file(dir + "/new.json"));
}

TEST(CliOutputTarget, AReplacedFileKeepsItsModeAndItsHardLinks) {
  const std::string dir = temp_dir();
  const std::string file = dir + "/out.json";
  write_file(file, "old");
  ASSERT_EQ(::chmod(file.c_str(), 0640), 0);
  ASSERT_EQ(labrun({"factorise", "--seed", "0", "--epochs", "1", "-o", file}, dir).exit_code, 0);
  struct stat info {};
  ASSERT_EQ(::stat(file.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 07777, 0640u);

  // A second name for the same file: written through, so both names see the new document.
  fs::create_hard_link(file, dir + "/other-name.json");
  ASSERT_EQ(labrun({"factorise", "--seed", "0", "--epochs", "4", "-o", file}, dir).exit_code, 0);
  EXPECT_EQ(json::parse(read_file(dir + "/other-name.json"))["config"]["epochs"], 4);
  EXPECT_EQ(fs::hard_link_count(file), 2u);
}

// Runs labrun as the unprivileged user 65534 (nobody), when the test runs as root with setpriv.
bool can_drop_privileges() { return ::geteuid() == 0 && ::access("/usr/bin/setpriv", X_OK) == 0; }
const std::string kAsNobody = "setpriv --reuid=65534 --regid=65534 --clear-groups ";

TEST(CliOutputTarget, AnotherUsersFilesAreRefusedOrKeepTheirOwner) {
  if (!can_drop_privileges()) GTEST_SKIP() << "needs root and setpriv to act as another user";
  const std::string dir = temp_dir();
  ASSERT_EQ(::chmod(dir.c_str(), 01777), 0);  // like /tmp: anyone may create files here
  const std::string read_only = dir + "/read-only.json", shared = dir + "/shared.json";
  write_file(read_only, "root's");
  write_file(shared, "root's");
  ASSERT_EQ(::chmod(read_only.c_str(), 0644), 0);
  ASSERT_EQ(::chmod(shared.c_str(), 0666), 0);

  // Not writable by this user: refused, as `>` refuses it (renaming over it would succeed).
  const Outcome refused = shell(kAsNobody + "$LABRUN factorise --epochs 1 -o " + quote(read_only), dir);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("Permission denied"), std::string::npos) << refused.err;
  EXPECT_EQ(read_file(read_only), "root's");

  // Writable, but a new file could not be given root's ownership: written through, owner kept.
  const Outcome written = shell(kAsNobody + "$LABRUN factorise --epochs 1 --seed 0 -o " + quote(shared), dir);
  EXPECT_EQ(written.exit_code, 0) << written.err;
  struct stat info {};
  ASSERT_EQ(::stat(shared.c_str(), &info), 0);
  EXPECT_EQ(info.st_uid, 0u);
  EXPECT_EQ(info.st_mode & 07777, 0666u);
  EXPECT_EQ(json::parse(read_file(shared))["config"]["seed"], 0);
  EXPECT_TRUE(temporaries(dir, "shared.json").empty());
}

TEST(CliOutputTarget, ABlockDeviceIsRefused) {
  const std::string dir = temp_dir();
  const std::string device = dir + "/disk";
  if (::mknod(device.c_str(), S_IFBLK | 0600, makedev(7, 0)) != 0) GTEST_SKIP() << "cannot create a block device";
  const Outcome run = labrun({"factorise", "--epochs", "1", "-o", device}, dir);
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("is a block device"), std::string::npos) << run.err;
  EXPECT_TRUE(is_one_error_line(run.err)) << run.err;
  EXPECT_TRUE(fs::is_block_file(device));
}

TEST(CliOutputTarget, AStdoutThatCannotBeWrittenIsAnError) {
  const std::string dir = temp_dir();
  const Outcome full = shell("exec $LABRUN factorise --epochs 1 >/dev/full 2>" + quote(dir + "/err"), dir);
  EXPECT_EQ(full.exit_code, 1);
  EXPECT_EQ(read_file(dir + "/err"), "labrun: error: cannot write to stdout: No space left on device\n");
  const Outcome closed = shell("exec $LABRUN factorise --epochs 1 >&- 2>" + quote(dir + "/err"), dir);
  EXPECT_EQ(closed.exit_code, 1);
  EXPECT_EQ(read_file(dir + "/err"), "labrun: error: cannot write to stdout: Bad file descriptor\n");
}

// --- Signals and limits while writing (kind 11) ----------------------------------------------

// Starts labrun writing a large document to dir/out.json, kills it with `signal` as soon as its
// temporary file appears, and checks what is left: the old file and no temporary file.
void kill_while_writing(int signal) {
  const std::string dir = temp_dir();
  const std::string out = dir + "/out.json";
  write_file(out, "old");
  for (int attempt = 0; attempt < 5; ++attempt) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::freopen("/dev/null", "w", stderr);
      ::execl(LABRUN_BINARY, LABRUN_BINARY, "mlp", "--seed", "0", "--epochs", "0", "--repeats", "40000", "-o",
              out.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    bool killed = false;
    int status = 0;
    while (::waitpid(pid, &status, WNOHANG) == 0) {
      if (!temporaries(dir, "out.json").empty()) {
        ::kill(pid, signal);
        killed = true;
        ASSERT_EQ(::waitpid(pid, &status, 0), pid);
        break;
      }
    }
    if (!killed) {  // it finished before its temporary file was seen: try again
      write_file(out, "old");
      continue;
    }
    ASSERT_TRUE(WIFSIGNALED(status)) << "exit status " << status;
    EXPECT_EQ(WTERMSIG(status), signal);
    EXPECT_TRUE(temporaries(dir, "out.json").empty());
    EXPECT_EQ(read_file(out), "old");
    return;
  }
  GTEST_SKIP() << "the temporary file was never seen before labrun finished";
}

TEST(CliSignals, ADataFileTruncatedWhileStreamedIsOneLineAndExitOne) {
  // A streamed matrix is read from its mapped file every epoch; cut the file to nothing once the
  // epochs run (the progress line shows them), and the next read past its end raises SIGBUS.
  const std::string dir = temp_dir();
  const std::string path = dir + "/m.npy";
  std::vector<double> values(4000 * 10);
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<double>(i % 97) / 7.0;
  write_file(path, labrun::test::npy("<f8", false, "(4000, 10)", labrun::test::bytes_of(values)));
  const std::string err = dir + "/err";
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::freopen("/dev/null", "w", stdout);
    ::freopen(err.c_str(), "w", stderr);
    ::execl(LABRUN_BINARY, LABRUN_BINARY, "factorise", "--data", path.c_str(), "--streaming", "always", "--epochs",
            "100000000", "--reduction", "mean", "--progress", "always", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  bool cut = false;
  const auto started = std::chrono::steady_clock::now();
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() - started > std::chrono::seconds(120)) {  // 10^8 epochs: a hang
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      FAIL() << "still running 120 s after it started; cut: " << cut;
    }
    if (!cut && read_file(err).find("epochs") != std::string::npos) {
      ASSERT_EQ(::truncate(path.c_str(), 0), 0);
      cut = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(cut) << read_file(err);
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 1);
  EXPECT_NE(read_file(err).find("labrun: error: bus error reading a mapped input file: was the --data file truncated"),
            std::string::npos)
      << read_file(err);
}

TEST(CliSignals, SigtermWhileWritingLeavesNoTemporaryFile) { kill_while_writing(SIGTERM); }
TEST(CliSignals, SigintWhileWritingLeavesNoTemporaryFile) { kill_while_writing(SIGINT); }
TEST(CliSignals, SighupWhileWritingLeavesNoTemporaryFile) { kill_while_writing(SIGHUP); }

TEST(CliSignals, AFileSizeLimitIsAWriteErrorNotAKill) {
  const std::string dir = temp_dir();
  const Outcome run =
      shell("ulimit -f 1 && exec $LABRUN factorise --seed 0 --loss-every 1 -o " + quote(dir + "/out.json"), dir);
  EXPECT_EQ(run.exit_code, 1);
  EXPECT_NE(run.err.find("File too large"), std::string::npos) << run.err;
  EXPECT_TRUE(temporaries(dir, "out.json").empty());
  EXPECT_FALSE(fs::exists(dir + "/out.json"));
}

// --- The environment (kinds 2, 4, 13) ---------------------------------------------------------

TEST(CliEnvironment, InvalidThreadVariablesAreRefusedWithoutAStackTrace) {
  const std::string dir = temp_dir();
  for (const std::string variable :
       {"OMP_NUM_THREADS=0", "OMP_NUM_THREADS=abc", "OMP_NUM_THREADS=-2", "OMP_NUM_THREADS=100000", "MKL_NUM_THREADS=0",
        "OMP_NUM_THREADS=", "OMP_NUM_THREADS=2,", "OMP_NUM_THREADS=2,0"}) {
    const Outcome run = labrun_with({variable}, {"factorise", "--epochs", "1"}, dir);
    EXPECT_EQ(run.exit_code, 2) << variable << ": " << run.err;
    EXPECT_EQ(run.out, "");
    // libgomp itself may print "libgomp: Invalid value ..." before labrun starts; labrun adds one line.
    EXPECT_NE(run.err.find("labrun: error: " + variable.substr(0, variable.find('=')) + "='"), std::string::npos)
        << run.err;
    EXPECT_EQ(run.err.find("Exception raised from"), std::string::npos) << run.err;
    EXPECT_EQ(run.err.find("frame #"), std::string::npos) << run.err;
  }
  const Outcome fine = labrun_with({"OMP_NUM_THREADS=1"}, {"factorise", "--epochs", "1"}, dir);
  EXPECT_EQ(fine.exit_code, 0) << fine.err;
  EXPECT_EQ(json::parse(fine.out)["config"]["threads"], 1);
  // OpenMP's list form for nested levels: libtorch takes the first.
  const Outcome nested = labrun_with({"OMP_NUM_THREADS=2,1"}, {"factorise", "--epochs", "1"}, dir);
  EXPECT_EQ(nested.exit_code, 0) << nested.err;
  EXPECT_EQ(nested.err, "");
}

TEST(CliEnvironment, WorkBeyondAnAddressSpaceLimitIsRefusedBeforeItStarts) {
#ifdef LABRUN_SANITIZE
  GTEST_SKIP() << "AddressSanitizer's shadow memory needs more address space than the limit";
#endif
  const std::string dir = temp_dir();
  // The issue's crash: 8 GB of address space, stdout and stderr on pipes, and (since all writes
  // its runs as they come, so 10^7 repeats fit) models of a million hidden units.
  const Outcome run =
      shell("ulimit -v 8000000 && $LABRUN all --seed 0 --mlp-epochs 1 --hidden 1000000 --repeats 2000 2>&1 | cat", dir);
  EXPECT_EQ(run.out.rfind("labrun: error: ", 0), 0u) << run.out;
  EXPECT_NE(run.out.find("needs about"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("(ulimit -v)"), std::string::npos) << run.out;
  // And what fits still runs under the same limit.
  const Outcome fits = shell("ulimit -v 8000000 && exec $LABRUN mlp --seed 0 --repeats 20 --epochs 2", dir);
  EXPECT_EQ(fits.exit_code, 0) << fits.err;
}

// An address-space limit just above what libtorch maps at start left no room for OpenBLAS's 128 MiB
// buffer, which OpenBLAS then retried for ever (20 minutes at full CPU, SIGKILL needed). Across
// the limits around it, every run ends within the timeout: it starts and runs, or it is refused
// with one line naming the limit to set, or (below what libtorch needs to load, before labrun's
// main) it is killed by libtorch's std::bad_alloc; never a spin.
TEST(CliEnvironment, AnAddressSpaceLimitNeverMakesLabrunSpin) {
#ifdef LABRUN_SANITIZE
  GTEST_SKIP() << "AddressSanitizer's shadow memory needs more address space than the limit";
#endif
  const std::string dir = temp_dir();
  int refused = 0, ran = 0;
  for (int limit = 700000; limit <= 1100000; limit += 25000) {
    SCOPED_TRACE("ulimit -v " + std::to_string(limit));
    // timeout's 124 is a spin: the default factorise takes well under a second.
    const Outcome run = shell("ulimit -v " + std::to_string(limit) +
                                  " && exec timeout -s KILL 60 $LABRUN factorise --seed 0 --epochs 100 --threads 1",
                              dir);
    if (run.exit_code == 0) {
      ++ran;
    } else if (run.exit_code == 1) {
      ++refused;
      EXPECT_EQ(run.err.rfind("labrun: error: ulimit -v " + std::to_string(limit) + " KB leaves ", 0), 0u) << run.err;
      EXPECT_NE(run.err.find("raise the limit to at least "), std::string::npos) << run.err;
      EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << run.err;
    } else {
      EXPECT_EQ(run.exit_code, 128 + SIGABRT) << run.err;  // never 128 + SIGKILL: the timeout's
      EXPECT_NE(run.err.find("bad_alloc"), std::string::npos) << run.err;
      EXPECT_EQ(run.err.find("labrun: "), std::string::npos) << "inside labrun's main: " << run.err;
    }
  }
  EXPECT_GT(refused, 0);
  EXPECT_GT(ran, 0);
}

// The limit labrun names is one at which it runs.
TEST(CliEnvironment, TheAddressSpaceLimitLabrunAsksForIsEnough) {
#ifdef LABRUN_SANITIZE
  GTEST_SKIP() << "AddressSanitizer's shadow memory needs more address space than the limit";
#endif
  const std::string dir = temp_dir();
  for (const int threads : {1, 2}) {
    const std::string command =
        "exec timeout -s KILL 60 $LABRUN factorise --seed 0 --epochs 100 --threads " + std::to_string(threads);
    // Find a refused limit, then run at the one the message asks for.
    std::string asked;
    for (int limit = 740000; limit <= 1100000 && asked.empty(); limit += 20000) {
      const Outcome run = shell("ulimit -v " + std::to_string(limit) + " && " + command, dir);
      const std::size_t at = run.err.find("at least ");
      if (run.exit_code == 1 && at != std::string::npos)
        asked = run.err.substr(at + 9, run.err.find(' ', at + 9) - at - 9);
    }
    ASSERT_FALSE(asked.empty()) << threads << " threads: no limit between 740000 and 1100000 KB was refused";
    const Outcome run = shell("ulimit -v " + asked + " && " + command, dir);
    EXPECT_EQ(run.exit_code, 0) << "ulimit -v " << asked << ": " << run.err;
  }
}

// A signal during long training (BLAS products, the lane kernels) ends the process at once, as the
// signal does by default, leaving no temporary file beside the output.
TEST(CliSignals, SigtermDuringTrainingEndsAtOnceAndLeavesNothing) {
  for (const std::vector<std::string>& work :
       {std::vector<std::string>{"factorise", "--epochs", "1000000000"},
        std::vector<std::string>{"mlp", "--epochs", "100000000", "--repeats", "64"}}) {
    const std::string dir = temp_dir();
    const std::string out = dir + "/out.json";
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::freopen("/dev/null", "w", stderr);
      std::vector<const char*> argv = {LABRUN_BINARY};
      for (const std::string& a : work) argv.push_back(a.c_str());
      for (const char* a : {"--seed", "0", "-o", out.c_str()}) argv.push_back(a);
      argv.push_back(nullptr);
      ::execv(LABRUN_BINARY, const_cast<char* const*>(argv.data()));
      ::_exit(127);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));  // libtorch loaded, training
    const auto sent = std::chrono::steady_clock::now();
    ASSERT_EQ(::kill(pid, SIGTERM), 0);
    int status = 0;
    while (::waitpid(pid, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() - sent > std::chrono::seconds(20)) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        FAIL() << work[0] << ": still running 20 s after SIGTERM";
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_TRUE(WIFSIGNALED(status)) << work[0] << ": status " << status;
    EXPECT_EQ(WTERMSIG(status), SIGTERM);
    EXPECT_TRUE(std::filesystem::is_empty(dir)) << work[0] << ": files left in " << dir;
  }
}

// Data whose scale the training type cannot hold at full precision (below its smallest normal
// number) is refused, naming the column, as data beyond its largest number is.
TEST(CliData, SubnormalDataIsRefusedNamingTheColumn) {
  const std::string dir = temp_dir();
  std::string csv = "a,b\n";
  for (int i = 0; i < 20; ++i) csv += std::to_string(i % 7) + "e-310," + std::to_string(i % 5 + 1) + "\n";
  write_file(dir + "/tiny.csv", csv);
  std::string labelled = "a,b,class\n";
  for (int i = 0; i < 20; ++i)
    labelled += std::to_string(i % 7) + "e-310," + std::to_string(i % 5 + 1) + (i % 2 ? ",x\n" : ",y\n");
  write_file(dir + "/labelled.csv", labelled);
  for (const std::vector<std::string>& command :
       {std::vector<std::string>{"factorise", "--rank", "1"}, std::vector<std::string>{"pca", "--rank", "1"},
        std::vector<std::string>{"factorise", "--rank", "1", "--streaming", "always"},
        std::vector<std::string>{"mlp", "--repeats", "1", "--train-size", "10", "--data", dir + "/labelled.csv"}}) {
    SCOPED_TRACE(command[0] + (command.size() > 3 ? " " + command[3] : ""));
    std::vector<std::string> args = command;
    if (command[0] != "mlp") args.insert(args.end(), {"--data", dir + "/tiny.csv"});
    args.insert(args.end(), {"--seed", "0"});
    const Outcome run = labrun(args, dir);
    EXPECT_EQ(run.exit_code, 1) << run.err;
    EXPECT_NE(run.err.find(".csv: column 0 (a) (largest magnitude"), std::string::npos) << run.err;
    EXPECT_NE(run.err.find("smallest normal number"), std::string::npos) << run.err;
    EXPECT_EQ(run.out, "");
  }
  // In float32, the limit is float32's: 1e-39 is refused there and trained in float64.
  std::string small = "a,b\n";
  for (int i = 0; i < 20; ++i) small += std::to_string(i % 7) + "e-39," + std::to_string(i % 5 + 1) + "\n";
  write_file(dir + "/small.csv", small);
  EXPECT_EQ(labrun({"factorise", "--rank", "1", "--data", dir + "/small.csv", "--dtype", "float32", "--seed", "0"}, dir)
                .exit_code,
            1);
  EXPECT_NE(
      labrun({"factorise", "--rank", "1", "--data", dir + "/small.csv", "--seed", "0", "--epochs", "1"}, dir).exit_code,
      1);
  // A constant column is no scale, however small: what centring leaves of it is rounding.
  std::string constant = "a,b\n";
  for (int i = 0; i < 20; ++i) constant += "1e-25," + std::to_string(i % 5 + 1) + "\n";
  write_file(dir + "/constant.csv", constant);
  const Outcome kept = labrun({"factorise", "--rank", "1", "--data", dir + "/constant.csv", "--dtype", "float32",
                               "--seed", "0", "--epochs", "1"},
                              dir);
  EXPECT_EQ(kept.exit_code, 0) << kept.err;
}

// --- Divergence in the last update (kind 3) ----------------------------------------------------

// Issue 26, kind 12: a split whose validation classes never appear in training is said before the
// training (no model can predict them); a learning rate that is 0 in float32 is refused, and one
// whose steps float32 loses is said.
TEST(CliWarnings, UnseenValidationClassesAndALearningRateOfZero) {
  const std::string dir = temp_dir();
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"mlp", "--no-shuffle", "--seed", "0", "--repeats", "2"},
        {"all", "--no-shuffle", "--seed", "0", "--repeats", "2", "--factorise-epochs", "1"}}) {
    const Outcome sorted = labrun(args, dir);
    EXPECT_EQ(sorted.exit_code, 0) << sorted.err;
    EXPECT_NE(sorted.err.find("the validation rows hold class Iris-virginica that the training rows never do"),
              std::string::npos)
        << sorted.err;
  }
  const Outcome shuffled = labrun({"mlp", "--seed", "0", "--repeats", "2"}, dir);
  EXPECT_EQ(shuffled.err.find("never do"), std::string::npos) << shuffled.err;
  for (const std::vector<std::string>& args : {std::vector<std::string>{"mlp", "--lr", "1e-320"},
                                               {"sweep", "mlp", "--lr", "1e-46,0.1", "--seed", "1"},
                                               {"sweep", "mlp", "--lr", "1e-320", "--seed", "1"}}) {
    const Outcome zero = labrun(args, dir);
    EXPECT_EQ(zero.exit_code, 2) << zero.err;
    EXPECT_EQ(zero.out, "");
    EXPECT_TRUE(zero.err.find("is 0 in float32") != std::string::npos ||
                zero.err.find("below double's range") != std::string::npos)
        << zero.err;
  }
  // A learning rate whose steps float32 loses beside the weights: said before training, with how
  // much is lost; none at the exercise's lr (above, `shuffled`).
  EXPECT_EQ(shuffled.err.find("are lost"), std::string::npos) << shuffled.err;
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"mlp", "--lr", "1e-12", "--seed", "0", "--repeats", "2"},
        {"all", "--mlp-lr", "1e-12", "--seed", "0", "--repeats", "2", "--factorise-epochs", "1"}}) {
    const Outcome tiny = labrun(args, dir);
    EXPECT_EQ(tiny.exit_code, 0) << tiny.err;
    // 98% here; the share's last digit may move with the BLAS kernel's rounding of the gradients.
    EXPECT_NE(tiny.err.find("at --"), std::string::npos) << tiny.err;
    EXPECT_NE(tiny.err.find("lr 1e-12, 9"), std::string::npos) << tiny.err;
    EXPECT_NE(tiny.err.find("% of the first update's steps are below float32's precision"), std::string::npos)
        << tiny.err;
  }
}

// Issue 26, kind 10: messages that say what was typed, in its order, and count in English.
TEST(CliWarnings, MessagesSayWhatWasTyped) {
  const std::string dir = temp_dir();
  const Outcome typo = labrun({"factorise", "--rnak", "2"}, dir);
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_NE(typo.err.find("these arguments were not expected: --rnak 2; did you mean --rank?"), std::string::npos)
      << typo.err;
  const Outcome huge = labrun({"factorise", "--rank", "99999999999999999999"}, dir);
  EXPECT_EQ(huge.exit_code, 2);
  EXPECT_NE(huge.err.find("99999999999999999999 is beyond a 64-bit whole number"), std::string::npos) << huge.err;
  EXPECT_EQ(huge.err.find("9223372036854775807"), std::string::npos) << huge.err;
  const Outcome one = labrun({"sweep", "mlp", "--repeats", "2", "--seed", "1", "--epochs", "1"}, dir);
  EXPECT_EQ(one.exit_code, 0) << one.err;
  EXPECT_NE(one.err.find(": 1 setting x 2 repeats = 2 runs, each trained 1 epoch, 1 summary;"), std::string::npos)
      << one.err;
}

TEST(CliDivergence, AnOverflowInTheLastUpdateIsADivergence) {
  const std::string dir = temp_dir();
  const Outcome factorise = labrun({"factorise", "--seed", "0", "--epochs", "1", "--lr", "1e308"}, dir);
  EXPECT_EQ(factorise.exit_code, 3) << factorise.err;
  const json gd = json::parse(factorise.out)["results"]["gd"];
  EXPECT_TRUE(gd["loss"].is_null());
  EXPECT_EQ(gd["diverged"], true);
  EXPECT_EQ(gd["diverged_at_epoch"], 1);

  // pca and all then skip the comparison instead of failing inside libtorch.
  const Outcome pca = labrun({"pca", "--seed", "0", "--epochs", "1", "--lr", "1e308"}, dir);
  EXPECT_EQ(pca.exit_code, 3) << pca.err;
  EXPECT_TRUE(json::parse(pca.out)["results"]["comparison"].is_null());
  const Outcome all = labrun({"all", "--seed", "0", "--factorise-epochs", "1", "--factorise-lr", "1e308"}, dir);
  EXPECT_EQ(all.exit_code, 3) << all.err;

  for (const char* engine : {"sequential", "batched"}) {
    const Outcome mlp =
        labrun({"mlp", "--seed", "0", "--epochs", "1", "--lr", "3e38", "--repeats", "2", "--engine", engine}, dir);
    EXPECT_EQ(mlp.exit_code, 3) << engine << ": " << mlp.err;
    EXPECT_NE(mlp.err.find("diverged in every repeat"), std::string::npos) << mlp.err;
    const json doc = json::parse(mlp.out);
    for (const json& run : doc["results"]["runs"]) EXPECT_EQ(run["diverged_at_epoch"], 1) << engine;
  }
}

// --- Columns and numbers (kinds 7, 12) ---------------------------------------------------------

TEST(CliColumns, AByteOrderMarkIsNotPartOfTheFirstColumn) {
  const std::string dir = temp_dir();
  write_file(dir + "/bom.csv", "\xEF\xBB\xBF" + read_file(kIris));
  const Outcome with_bom = labrun({"factorise", "--seed", "0", "--data", dir + "/bom.csv"}, dir);
  const Outcome plain = labrun({"factorise", "--seed", "0", "--data", kIris}, dir);
  ASSERT_EQ(with_bom.exit_code, 0) << with_bom.err;
  EXPECT_EQ(with_bom.err, "");
  const json a = json::parse(with_bom.out), b = json::parse(plain.out);
  EXPECT_EQ(a["data"]["feature_columns"], json({0, 1, 2, 3}));
  EXPECT_EQ(a["results"]["gd"]["loss"], b["results"]["gd"]["loss"]);
}

TEST(CliColumns, AColumnOfTextIsLeftOutAndSaidSo) {
  const std::string dir = temp_dir();
  write_file(dir + "/named.csv", "name,x,y,z,kind\np,1,2,3,a\nq,2,3,5,b\nr,2,5,1,a\ns,4,1,1,b\n");
  const Outcome run = labrun({"mlp", "--seed", "0", "--data", dir + "/named.csv", "--train-size", "2"}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.err.find("labrun: note: " + dir + "/named.csv: column 0 holds text and is left out"), std::string::npos)
      << run.err;
  const json data = json::parse(run.out)["data"];
  EXPECT_EQ(data["ignored_columns"], json({0}));
  EXPECT_EQ(data["feature_columns"], json({1, 2, 3}));
  EXPECT_EQ(data["label_column"], 4);
}

// Issue 15: a pandas user's files: --data - reads stdin; pandas' index column and a column of
// class codes are said on stderr; names work wherever indices do.
TEST(CliColumns, PandasFilesFromStdinWithNamesAndNotes) {
  const std::string dir = temp_dir();
  std::string indexed = ",sl,sw,pl,pw,species\n";
  std::istringstream iris(read_file(kIris));
  std::string line;
  for (int row = 0; std::getline(iris, line) && !line.empty(); ++row) {
    std::replace(line.begin(), line.end(), ',', ';');
    indexed += std::to_string(row) + ";" + line + "\n";
  }
  std::replace(indexed.begin(), indexed.begin() + static_cast<std::ptrdiff_t>(indexed.find('\n')), ',', ';');
  write_file(dir + "/indexed.csv", indexed);
  const Outcome run =
      shell("exec $LABRUN factorise --seed 0 --data - --label species < " + quote(dir + "/indexed.csv"), dir);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_NE(run.err.find("labrun: note: stdin: column 0 is pandas' index"), std::string::npos) << run.err;
  const json doc = json::parse(run.out);
  EXPECT_EQ(doc["data"]["source"], "stdin");
  EXPECT_TRUE(doc["data"]["path"].is_null());
  EXPECT_EQ(doc["data"]["delimiter"], ";");
  EXPECT_EQ(doc["data"]["index_column"], 0);
  EXPECT_EQ(doc["data"]["feature_names"], json({"sl", "sw", "pl", "pw"}));
  // The same numbers as the plain Iris file: the index is not a feature.
  const json plain = json::parse(labrun({"factorise", "--seed", "0"}, dir).out);
  EXPECT_EQ(doc["results"]["gd"]["loss"], plain["results"]["gd"]["loss"]);
  // stdin cannot be read twice: no BLAS restart for it, and it says so when it would matter.
  EXPECT_TRUE(doc["environment"]["blas_kernel"]["decision"].is_string());
}

TEST(CliColumns, ANumberTooSmallForDoubleReadsAsZero) {
  const std::string dir = temp_dir();
  write_file(dir + "/tiny.csv", "1e-400,1,2\n2,-3e-330,3\n3,2,4\n4,5,1\n");
  write_file(dir + "/zero.csv", "0,1,2\n2,0,3\n3,2,4\n4,5,1\n");
  const Outcome tiny = labrun({"factorise", "--seed", "0", "--rank", "1", "--data", dir + "/tiny.csv"}, dir);
  const Outcome zero = labrun({"factorise", "--seed", "0", "--rank", "1", "--data", dir + "/zero.csv"}, dir);
  ASSERT_EQ(tiny.exit_code, 0) << tiny.err;
  EXPECT_EQ(json::parse(tiny.out)["results"]["gd"]["loss"], json::parse(zero.out)["results"]["gd"]["loss"]);
  // Too large is still refused: it is infinite.
  write_file(dir + "/huge.csv", "1e400,1,2\n2,3,3\n3,2,4\n");
  const Outcome huge = labrun({"factorise", "--rank", "1", "--data", dir + "/huge.csv"}, dir);
  EXPECT_EQ(huge.exit_code, 1);
  EXPECT_NE(huge.err.find("non-finite value '1e400'"), std::string::npos) << huge.err;
}

// Issue 26's second round (a hostile review of --normalise and --labels): each refusal before
// anything is written, one line, the answer in it.
TEST(CliHostile, ScalingsAndLabelsRefusedBeforeAnythingIsWritten) {
  const std::string dir = temp_dir();
  // A scaling a column cannot take is refused by the sweep's plan, before any setting runs.
  write_file(dir + "/constant.csv", "a,b,c\n1,5,2\n2,5,4\n3,5,7\n4,5,1\n5,5,3\n");
  const Outcome sweep = labrun({"sweep", "factorise", "--data", dir + "/constant.csv", "--rank", "1", "--normalise",
                                "none,std", "--seed", "1", "-o", dir + "/study.jsonl"},
                               dir);
  EXPECT_EQ(sweep.exit_code, 2) << sweep.err;
  EXPECT_NE(sweep.err.find("--normalise std cannot scale"), std::string::npos) << sweep.err;
  EXPECT_FALSE(std::filesystem::exists(dir + "/study.jsonl"));
  // Squares below double's range are refused, not reported as a zero loss and made-up angles.
  write_file(dir + "/tiny.csv",
             "1e-300,2e-300,3e-300\n2e-300,1e-300,5e-300\n4e-300,3e-300,1e-300\n5e-300,2e-300,2e-300\n");
  const Outcome tiny = labrun({"pca", "--data", dir + "/tiny.csv", "--rank", "1", "--seed", "0"}, dir);
  EXPECT_EQ(tiny.exit_code, 1) << tiny.err;
  EXPECT_NE(tiny.err.find("the squares of the centred data underflow float64"), std::string::npos) << tiny.err;
  const Outcome scaled =
      labrun({"pca", "--data", dir + "/tiny.csv", "--rank", "1", "--seed", "0", "--normalise", "std"}, dir);
  EXPECT_EQ(scaled.exit_code, 0) << scaled.err;
  // Both inputs on standard input: one of them must be a file.
  const Outcome both = labrun({"mlp", "--data", "-", "--labels", "/dev/stdin"}, dir);
  EXPECT_EQ(both.exit_code, 2) << both.err;
  EXPECT_NE(both.err.find("both read standard input"), std::string::npos) << both.err;
  // A .npy of labels through a pipe: said as such, not as binary CSV.
  const Outcome piped =
      shell("cd " + quote(dir) + " && mkfifo fifo && (cat " + quote(LABRUN_SOURCE_DIR "/data/iris.data") +
                " > /dev/null; printf '\\223NUMPY' > fifo &) && \"$LABRUN\" mlp --labels fifo",
            dir);
  EXPECT_EQ(piped.exit_code, 1) << piped.err;
  EXPECT_NE(piped.err.find("a .npy file from a pipe or device"), std::string::npos) << piped.err;
  // A class column among the features beside --labels would leak the class: said.
  std::string coded;
  std::istringstream iris(read_file(kIris));
  std::string labels;
  for (std::string line; std::getline(iris, line);) {
    if (line.empty()) continue;
    const std::size_t last = line.rfind(',');
    const std::string name = line.substr(last + 1);
    const std::string code = name == "Iris-setosa" ? "0" : name == "Iris-versicolor" ? "1" : "2";
    coded += line.substr(0, last + 1) + code + "\n";
    labels += code + "\n";
  }
  write_file(dir + "/coded.csv", coded);
  write_file(dir + "/labels.csv", labels);
  const Outcome leak = labrun(
      {"mlp", "--data", dir + "/coded.csv", "--labels", dir + "/labels.csv", "--repeats", "1", "--epochs", "1"}, dir);
  EXPECT_EQ(leak.exit_code, 0) << leak.err;
  EXPECT_NE(leak.err.find("column 4 holds only a few distinct whole numbers and is read as a feature; if it holds the "
                          "classes --labels gives, leave it out with --features"),
            std::string::npos)
      << leak.err;
}

// The new-user walk (issue 26's done-when): what the messages and tables say where they misled.
TEST(CliHostile, WhatANewUserReadsIsTrueAndInOrder) {
  const std::string dir = temp_dir();
  // A note on the data comes before the work and its warnings, not after them.
  write_file(dir + "/index.csv", ",a,b,c\n0,1,2,x\n1,2,3,y\n2,4,1,x\n3,5,7,y\n4,1,1,x\n");
  const Outcome ordered = labrun({"factorise", "--data", dir + "/index.csv", "--rank", "1", "--lr", "100"}, dir);
  EXPECT_EQ(ordered.exit_code, 3) << ordered.err;
  EXPECT_LT(ordered.err.find("column 0 is pandas' index"), ordered.err.find("training diverged")) << ordered.err;
  // A scaled factorisation says so in its text, where its numbers are read.
  const Outcome scaled = labrun({"factorise", "--normalise", "std", "--seed", "0", "--format", "text"}, dir);
  EXPECT_NE(scaled.out.find("the factorisation's matrix: mean-centred columns divided by their standard deviations"),
            std::string::npos)
      << scaled.out;
  // A list where one value is taken: the sweeps take lists.
  const Outcome list = labrun({"mlp", "--lr", "0.1,0.2"}, dir);
  EXPECT_EQ(list.exit_code, 2);
  EXPECT_NE(list.err.find("one value is taken here; a list of values is an axis of labrun sweep"), std::string::npos)
      << list.err;
  // compare: a setting whose every run diverged has no figures (n/a, never -nan), and losses of
  // matrices scaled otherwise are said not to compare.
  ASSERT_EQ(labrun({"sweep", "mlp", "--lr", "0.1,30", "--repeats", "3", "--epochs", "50", "--seed", "1", "-o",
                    dir + "/diverged.jsonl"},
                   dir)
                .exit_code,
            0);
  const Outcome none = labrun({"compare", dir + "/diverged.jsonl", "--format", "text"}, dir);
  EXPECT_EQ(none.exit_code, 0) << none.err;
  EXPECT_EQ(none.out.find("nan"), std::string::npos) << none.out;
  EXPECT_NE(none.out.find("n/a"), std::string::npos) << none.out;
  ASSERT_EQ(labrun({"sweep", "factorise", "--normalise", "none,std", "--repeats", "3", "--epochs", "20", "--seed", "1",
                    "-o", dir + "/scaled.jsonl"},
                   dir)
                .exit_code,
            0);
  const Outcome across = labrun({"compare", dir + "/scaled.jsonl", "--format", "text"}, dir);
  EXPECT_NE(across.err.find("their loss does not compare across them"), std::string::npos) << across.err;
}

// Shards of one study made with the same labels from different folders merge: the labels'
// bytes are compared, not the path as typed.
TEST(CliHostile, ShardsWithOneLabelsFileFromTwoFoldersMerge) {
  const std::string dir = temp_dir();
  std::filesystem::create_directories(dir + "/sub");
  std::string labels;
  std::istringstream iris(read_file(kIris));
  for (std::string line; std::getline(iris, line);) {
    if (!line.empty()) labels += line.substr(line.rfind(',') + 1) + "\n";
  }
  write_file(dir + "/labels.csv", labels);
  write_file(dir + "/sub/labels.csv", labels);
  const std::vector<std::string> sweep = {"sweep",     "mlp", "--lr",   "0.1,1", "--epochs", "5",
                                          "--repeats", "3",   "--seed", "4",     "--label",  "none"};
  // Run from `cwd`, with the labels named relative to it.
  const auto shard = [&](const std::string& index, const std::string& labels_path, const std::string& cwd) {
    std::string command = "cd " + quote(cwd) + " && \"$LABRUN\"";
    for (const std::string& arg : sweep) command += " " + quote(arg);
    command += " --labels " + quote(labels_path) + " --shard " + index + "/2 -o " + quote(dir + "/s" + index);
    return shell(command, dir);
  };
  ASSERT_EQ(shard("1", "labels.csv", dir).exit_code, 0);
  ASSERT_EQ(shard("2", "./labels.csv", dir + "/sub").exit_code, 0);
  const Outcome merged = labrun({"merge", dir + "/s1", dir + "/s2", "-o", dir + "/study.jsonl"}, dir);
  EXPECT_EQ(merged.exit_code, 0) << merged.err;
  // Other bytes are another study.
  write_file(dir + "/sub/labels.csv", "Iris-virginica\n" + labels.substr(labels.find('\n') + 1));
  ASSERT_EQ(shard("2", "labels.csv", dir + "/sub").exit_code, 2);  // s2 holds the first labels' study
  std::filesystem::remove(dir + "/s2");
  ASSERT_EQ(shard("2", "labels.csv", dir + "/sub").exit_code, 0);
  const Outcome other = labrun({"merge", dir + "/s1", dir + "/s2", "-o", dir + "/other.jsonl"}, dir);
  EXPECT_EQ(other.exit_code, 2) << other.err;
  EXPECT_NE(other.err.find("their data.labels_file differ"), std::string::npos) << other.err;
}

}  // namespace
