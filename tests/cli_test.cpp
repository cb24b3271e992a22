// The labrun binary driven as a user drives it: arguments in; stdout, stderr and exit code out.

#include "cli_runner.hpp"
#include "test_files.hpp"

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

namespace {

using labrun::test::bytes_of;
using labrun::test::kIris;
using labrun::test::labrun;
using labrun::test::labrun_with;
using labrun::test::npy;
using labrun::test::Outcome;
using labrun::test::read_file;
using labrun::test::temp_dir;
using labrun::test::write_file;
using nlohmann::json;

// lab2_reference.py's figures for seed 0 (OpenBLAS's SkylakeX kernel) and their cross-kernel
// bounds, derived in tests/tolerance.hpp: the GD loss over 1000 epochs (factorise_test.cpp's
// iris_loss_tolerance), the SVD's loss (decomposition_test.cpp), the MLP's float32 loss after 100
// epochs (mlp_test.cpp's cross_entropy_tolerance: 2e-2 to 7.2e-2 for the seed-3 runs).
constexpr double kGdLoss = 15.232185510227303;
constexpr double kGdLossRelative = 2.2e-10;
constexpr double kSvdLoss = 15.228833347803327;
constexpr double kSvdLossRelative = 8.7e-13;
constexpr double kMlpLossRelative = 0.1;

TEST(Cli, FactoriseWritesTheDocumentedJson) {
  const std::string dir = temp_dir();
  const Outcome run = labrun({"factorise", "--seed", "0"}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.err, "");
  const json doc = json::parse(run.out);
  EXPECT_EQ(doc["schema_version"], "2.5.0");
  EXPECT_EQ(doc["command"], "factorise");
  for (const char* key : {"rank", "epochs", "lr", "seed", "reduction", "loss_form", "loss_every", "threads"}) {
    EXPECT_TRUE(doc["config"].contains(key)) << key;
  }
  EXPECT_EQ(doc["config"]["seed"], 0);
  EXPECT_EQ(doc["config"]["rank"], 2);
  EXPECT_EQ(doc["data"]["source"], "embedded:iris.data");
  EXPECT_EQ(doc["data"]["rows"], 150);
  EXPECT_EQ(doc["data"]["columns"], 4);
  for (const char* key : {"labrun_version", "libtorch_version", "blas", "threads"}) {
    EXPECT_TRUE(doc["environment"].contains(key)) << key;
  }
  const json& gd = doc["results"]["gd"];
  // lab2_reference.py --seed 0, within the cross-kernel bounds derived in tests/tolerance.hpp (and
  // applied in factorise_test.cpp and decomposition_test.cpp): 2.2e-10 and 8.7e-13 relative.
  EXPECT_NEAR(gd["loss"].get<double>(), kGdLoss, kGdLossRelative * kGdLoss);
  EXPECT_GT(gd["seconds"].get<double>(), 0.0);
  EXPECT_EQ(gd["epochs_run"], 1000);
  EXPECT_EQ(gd["diverged"], false);
  EXPECT_FALSE(gd.contains("loss_curve"));
  const json& svd = doc["results"]["svd"];
  EXPECT_NEAR(svd["loss"].get<double>(), kSvdLoss, kSvdLossRelative * kSvdLoss);
  EXPECT_EQ(svd["singular_values"].size(), 4u);
  EXPECT_EQ(svd["explained_variance_ratio"].size(), 4u);
  const json& gap = doc["results"]["gap"];
  // The gap of the two figures, whose errors add: relative to the gap, 1e-9 / 3.4e-3 = 3e-7.
  EXPECT_NEAR(gap["absolute"].get<double>(), gd["loss"].get<double>() - svd["loss"].get<double>(), 0.0);
  EXPECT_NEAR(gap["absolute"].get<double>(), kGdLoss - kSvdLoss,
              kGdLossRelative * kGdLoss + kSvdLossRelative * kSvdLoss);
  EXPECT_NEAR(gap["relative"].get<double>(), (kGdLoss - kSvdLoss) / kSvdLoss, 1e-9);
}

TEST(Cli, Float32FactorisationReportsItsDtypeAndStillFindsTheOptimum) {
  const std::string dir = temp_dir();
  const Outcome run = labrun({"factorise", "--seed", "0", "--dtype", "float32"}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const json doc = json::parse(run.out);
  EXPECT_EQ(doc["config"]["dtype"], "float32");
  const double svd = doc["results"]["svd"]["loss"].get<double>();
  EXPECT_NEAR(svd, 15.228833, 1e-4);
  EXPECT_LT((doc["results"]["gd"]["loss"].get<double>() - svd) / svd, 1e-3);
}

TEST(Cli, PicksAndReportsASeedWhenNoneIsGiven) {
  const std::string dir = temp_dir();
  const Outcome run = labrun({"factorise", "--epochs", "10"}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const json doc = json::parse(run.out);
  EXPECT_EQ(doc["config"]["seed_given"], false);
  const auto seed = doc["config"]["seed"].get<uint64_t>();
  // The reported seed reproduces the run.
  const Outcome again = labrun({"factorise", "--epochs", "10", "--seed", std::to_string(seed)}, dir);
  EXPECT_EQ(json::parse(again.out)["results"]["gd"]["loss"], doc["results"]["gd"]["loss"]);
}

TEST(Cli, SameSeedTwiceGivesTheSameResults) {
  const std::string dir = temp_dir();
  json a = json::parse(labrun({"factorise", "--seed", "9", "--loss-every", "50"}, dir).out);
  json b = json::parse(labrun({"factorise", "--seed", "9", "--loss-every", "50"}, dir).out);
  for (json* doc : {&a, &b}) {  // all but the clock
    (*doc)["results"]["gd"].erase("seconds");
    (*doc)["results"]["gd"].erase("seconds_per_epoch");
    (*doc)["provenance"].erase("started_utc");
  }
  EXPECT_EQ(a, b);
  EXPECT_EQ(a["results"]["gd"]["loss_curve"]["epoch"].size(), 21u);  // 0, 50, ..., 950 and 999
}

TEST(Cli, OutputFileIsWrittenWholeAndStdoutStaysEmpty) {
  const std::string dir = temp_dir();
  const std::string file = dir + "/out.json";
  const Outcome run = labrun({"factorise", "--seed", "0", "--epochs", "5", "-o", file}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "");
  EXPECT_EQ(json::parse(read_file(file))["results"]["gd"]["epochs_run"], 5);
  // No temporary file is left beside it.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir), {}), 3);  // out.json, stdout, stderr
}

TEST(Cli, AFailedRunLeavesAnExistingOutputFileAlone) {
  const std::string dir = temp_dir();
  const std::string file = dir + "/out.json";
  write_file(file, "previous");
  const Outcome run = labrun({"factorise", "--rank", "7", "-o", file}, dir);
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_EQ(read_file(file), "previous");
}

TEST(Cli, CrlfDataGivesTheSameNumbersAsLf) {
  const std::string dir = temp_dir();
  std::string crlf;
  for (const char c : read_file(kIris)) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
  write_file(dir + "/crlf.csv", crlf);
  const json lf = json::parse(labrun({"factorise", "--seed", "3", "--data", kIris}, dir).out);
  const json cr = json::parse(labrun({"factorise", "--seed", "3", "--data", dir + "/crlf.csv"}, dir).out);
  EXPECT_EQ(lf["results"]["gd"]["loss"], cr["results"]["gd"]["loss"]);
  EXPECT_EQ(lf["results"]["svd"], cr["results"]["svd"]);
}

// Iris's features saved as numpy.save would (float64, Fortran order: a copy into row order) give
// `factorise` the CSV's numbers exactly: the same doubles, read another way.
TEST(Cli, NpyDataGivesTheSameNumbersAsItsCsv) {
  const std::string dir = temp_dir();
  std::vector<std::vector<double>> rows;
  std::istringstream lines(read_file(kIris));
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    std::vector<double> row;
    std::istringstream cells(line);
    for (std::string cell; row.size() < 4 && std::getline(cells, cell, ',');) row.push_back(std::stod(cell));
    rows.push_back(row);
  }
  std::vector<double> by_column;
  for (std::size_t c = 0; c < 4; ++c) {
    for (const auto& row : rows) by_column.push_back(row[c]);
  }
  write_file(dir + "/iris.npy", npy("<f8", true, "(" + std::to_string(rows.size()) + ", 4)", bytes_of(by_column)));
  const json csv = json::parse(labrun({"factorise", "--seed", "3", "--data", kIris}, dir).out);
  const Outcome run = labrun({"factorise", "--seed", "3", "--data", dir + "/iris.npy"}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const json doc = json::parse(run.out);
  EXPECT_EQ(doc["results"]["gd"]["loss"], csv["results"]["gd"]["loss"]);
  EXPECT_EQ(doc["results"]["svd"], csv["results"]["svd"]);
  EXPECT_EQ(doc["data"]["format"], "npy");
  EXPECT_TRUE(doc["data"]["delimiter"].is_null());
  EXPECT_EQ(csv["data"]["format"], "csv");
  // No label column in a .npy file: the MLP cannot train on it (the data's fault: exit 1), and
  // --label, an option that cannot apply, is a usage error that names it (exit 2).
  const Outcome mlp = labrun({"mlp", "--data", dir + "/iris.npy"}, dir);
  EXPECT_EQ(mlp.exit_code, 1) << mlp.err;
  const Outcome label = labrun({"factorise", "--data", dir + "/iris.npy", "--label", "4"}, dir);
  EXPECT_EQ(label.exit_code, 2);
  EXPECT_NE(label.err.find("labrun: error: --label names a column, and "), std::string::npos) << label.err;
  EXPECT_NE(label.err.find("no label column; give the labels in a file of their own (--labels FILE)"),
            std::string::npos)
      << label.err;
}

// A .npy file holds no labels: --labels gives them from a file of their own, and the MLP then
// trains the models it trains on the CSV (the same values, the same classes by appearance).
TEST(Cli, NpyDataTrainsTheMlpWithALabelsFile) {
  const std::string dir = temp_dir();
  const auto with = [](std::vector<std::string> args, const std::vector<std::string>& more) {
    args.insert(args.end(), more.begin(), more.end());
    return args;
  };
  std::vector<double> values;
  std::vector<int64_t> codes;
  std::string names = "species\n";
  std::istringstream lines(read_file(kIris));
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    std::istringstream cells(line);
    std::string cell;
    for (int c = 0; c < 4 && std::getline(cells, cell, ','); ++c) values.push_back(std::stod(cell));
    std::getline(cells, cell);
    names += cell + "\n";
    codes.push_back(cell == "Iris-setosa" ? 0 : cell == "Iris-versicolor" ? 1 : 2);
  }
  const std::string rows = std::to_string(codes.size());
  write_file(dir + "/iris.npy", npy("<f8", false, "(" + rows + ", 4)", bytes_of(values)));
  write_file(dir + "/y.npy", npy("<i8", false, "(" + rows + ",)", bytes_of(codes)));
  write_file(dir + "/y.csv", names);
  const std::vector<std::string> mlp = {"mlp", "--seed", "4", "--repeats", "3", "--epochs", "50"};
  const json csv = json::parse(labrun(with(mlp, {"--data", kIris}), dir).out);
  for (const std::string& labels : {dir + "/y.npy", dir + "/y.csv"}) {
    const Outcome run = labrun(with(mlp, {"--data", dir + "/iris.npy", "--labels", labels}), dir);
    ASSERT_EQ(run.exit_code, 0) << run.err;
    const json doc = json::parse(run.out);
    for (std::size_t r = 0; r < 3; ++r) {
      EXPECT_EQ(doc["results"]["runs"][r]["val_correct"], csv["results"]["runs"][r]["val_correct"]) << labels;
      EXPECT_EQ(doc["results"]["runs"][r]["final_loss"], csv["results"]["runs"][r]["final_loss"]) << labels;
    }
    EXPECT_EQ(doc["data"]["labels_file"]["source"], labels);
    EXPECT_EQ(doc["data"]["labels_file"]["sha256"].get<std::string>().size(), 64u);
  }
  EXPECT_TRUE(csv["data"]["labels_file"].is_null());
  // From a pipe, read once; the count must be the rows'; one source of labels; never written over.
  const Outcome piped = labrun::test::shell(
      "cd " + labrun::test::quote(dir) + " && mkfifo fifo && (cat " + labrun::test::quote(dir + "/y.csv") +
          " > fifo &) && \"$LABRUN\" mlp --seed 4 --repeats 1 --epochs 5 --data " +
          labrun::test::quote(dir + "/iris.npy") + " --labels fifo",
      dir);
  EXPECT_EQ(piped.exit_code, 0) << piped.err;
  write_file(dir + "/short.csv", "a\nb\n");
  const Outcome short_labels = labrun({"mlp", "--data", dir + "/iris.npy", "--labels", dir + "/short.csv"}, dir);
  EXPECT_EQ(short_labels.exit_code, 1);
  EXPECT_NE(short_labels.err.find("holds 2 labels, and " + dir + "/iris.npy 150 rows"), std::string::npos)
      << short_labels.err;
  EXPECT_EQ(labrun({"mlp", "--labels", dir + "/y.npy", "--label", "4"}, dir).exit_code, 2);
  const Outcome onto =
      labrun({"mlp", "--data", dir + "/iris.npy", "--labels", dir + "/y.npy", "-o", dir + "/y.npy"}, dir);
  EXPECT_EQ(onto.exit_code, 2);
  EXPECT_EQ(read_file(dir + "/y.npy"), npy("<i8", false, "(" + rows + ",)", bytes_of(codes)));
}

// Runs labrun with stdout and stderr to files in dir; its exit code and peak resident memory
// (wait4's ru_maxrss, KiB), which std::system cannot tell apart from other children's.
std::pair<int, long> run_measuring_memory(const std::vector<std::string>& args, const std::string& dir) {
  std::vector<std::string> words = {LABRUN_BINARY};
  words.insert(words.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& word : words) argv.push_back(word.data());
  argv.push_back(nullptr);
  const std::string out = dir + "/stdout", err = dir + "/stderr";
  const pid_t pid = ::fork();
  if (pid == 0) {  // only async-signal-safe calls until exec
    const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (o < 0 || e < 0 || ::dup2(o, 1) < 0 || ::dup2(e, 2) < 0) ::_exit(126);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  int status = 0;
  struct rusage usage {};
  if (pid < 0 || ::wait4(pid, &status, 0, &usage) != pid) return {-1, 0};
  return {WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), usage.ru_maxrss};
}

TEST(Cli, AStreamedMatrixCostsNoMemoryForItsRows) {
#ifdef LABRUN_SANITIZE
  GTEST_SKIP() << "AddressSanitizer keeps freed memory in quarantine: the peak follows the work, not what is held";
#endif
  // Two float32 .npy matrices of 1000 columns, 40 MB and 120 MB: streamed, the second needs no
  // more memory than the first but for its longer factors (20,000 x 4 more, 0.3 MB), where holding
  // it would cost 80 MB more (and the in-memory study 5 times that). Bound: a quarter of the 80 MB.
  const std::string dir = temp_dir();
  std::vector<long> peaks;
  for (const int64_t rows : {10000, 30000}) {
    std::vector<float> values(static_cast<std::size_t>(rows) * 1000);
    for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>((i * 7919) % 1009) / 1009.0f + 1.0f;
    const std::string path = dir + "/" + std::to_string(rows) + ".npy";
    write_file(path, npy("<f4", false, "(" + std::to_string(rows) + ", 1000)", bytes_of(values)));
    const auto [code, peak] = run_measuring_memory(
        {"factorise", "--data", path, "--rank", "4", "--loss-form", "gram", "--dtype", "float32", "--epochs", "2",
         "--reduction", "mean", "--streaming", "always", "--seed", "1", "-o", dir + "/out.json"},
        dir);
    ASSERT_EQ(code, 0) << read_file(dir + "/stderr");
    const json doc = json::parse(read_file(dir + "/out.json"));
    EXPECT_EQ(doc["results"]["streamed"], true);
    EXPECT_EQ(doc["config"]["streaming"], "always");
    EXPECT_TRUE(doc["results"]["gd"]["loss"].is_number());
    peaks.push_back(peak);
    std::filesystem::remove(path);
  }
  EXPECT_LT(peaks[1] - peaks[0], 20 * 1024) << "peak RSS " << peaks[0] << " KiB, then " << peaks[1] << " KiB";
}

// all writes the MLP's runs as they finish, as mlp does: its peak memory does not grow with the
// repeats (50,000 kept would add ~110 MB to a ~180 MB process; measured 1,000,000 at 218 MB).
TEST(Cli, AllKeepsNoRunInMemory) {
#ifdef LABRUN_SANITIZE
  GTEST_SKIP() << "ASan's quarantine keeps freed memory: the peak follows the work";
#endif
  const std::string dir = temp_dir();
  std::vector<long> peaks;
  for (const std::string repeats : {"1000", "50000"}) {
    const auto [code, peak] = run_measuring_memory(
        {"all", "--seed", "1", "--repeats", repeats, "--mlp-epochs", "1", "-o", dir + "/all.json"}, dir);
    ASSERT_EQ(code, 0) << read_file(dir + "/stderr");
    peaks.push_back(peak);
  }
  EXPECT_LT(static_cast<double>(peaks[1]), 1.5 * static_cast<double>(peaks[0])) << peaks[0] << " KiB, " << peaks[1];
  EXPECT_EQ(json::parse(read_file(dir + "/all.json"))["results"]["mlp"]["runs"].size(), 50000u);
}

TEST(Cli, ACsvFileIsNotHeldWhileItsValuesAreRead) {
#ifdef LABRUN_SANITIZE
  GTEST_SKIP() << "AddressSanitizer keeps freed memory in quarantine: the peak follows the work, not what is held";
#endif
  // 20,000 and 60,000 rows of 100 values, 8 bytes of text each ("0.12345,"): the second's text
  // is 32 MB longer, its values (float64) 32 MB larger. A reader that held the text (and a view
  // of every cell, 16 bytes each) would grow by 32 MB (+ 64 MB) more than the values; this one
  // reads a mapped file a piece at a time. Bound: the values' growth and half the text's.
  const std::string dir = temp_dir();
  std::vector<long> peaks;
  for (const int rows : {20000, 60000}) {
    std::string text;
    text.reserve(static_cast<std::size_t>(rows) * 900);
    char cell[16];
    for (int r = 0; r < rows; ++r) {
      for (int c = 0; c < 100; ++c) {
        std::snprintf(cell, sizeof cell, "%s%.5f", c ? "," : "", static_cast<double>((r * 131 + c * 7) % 997) / 997.0);
        text += cell;
      }
      text += '\n';
    }
    const std::string path = dir + "/" + std::to_string(rows) + ".csv";
    write_file(path, text);
    const auto [code, peak] = run_measuring_memory(
        {"factorise", "--data", path, "--rank", "2", "--epochs", "1", "--streaming", "always", "-o", dir + "/out.json"},
        dir);
    ASSERT_EQ(code, 0) << read_file(dir + "/stderr");
    EXPECT_EQ(json::parse(read_file(dir + "/out.json"))["data"]["rows"], rows);
    peaks.push_back(peak);
    std::filesystem::remove(path);
  }
  const long values_kib = 40000L * 100 * 8 / 1024, text_kib = 40000L * 800 / 1024;
  EXPECT_LT(peaks[1] - peaks[0], values_kib + text_kib / 2)
      << "peak RSS " << peaks[0] << " KiB, then " << peaks[1] << " KiB";
}

TEST(Cli, StreamingAWideMatrixIsAUsageError) {
  const std::string dir = temp_dir();
  write_file(dir + "/wide.csv", "1,2,3\n4,5,7\n");
  const Outcome run = labrun({"factorise", "--data", dir + "/wide.csv", "--rank", "1", "--streaming", "always"}, dir);
  EXPECT_EQ(run.exit_code, 2) << run.err;
  EXPECT_NE(run.err.find("--streaming always needs at least as many rows as columns"), std::string::npos) << run.err;
  EXPECT_EQ(run.out, "");
  const Outcome bad = labrun({"factorise", "--streaming", "sometimes"}, dir);
  EXPECT_EQ(bad.exit_code, 2) << bad.err;
  // Iris streams when asked, to the in-memory numbers' rounding: the cross-kernel bounds above plus
  // streaming_test.cpp's, drift(1000, 150, u) = 8.1e-12 on the factors (2.1e-10 on this loss) and
  // 100 (sqrt(150) + 4) 6 u = 1.1e-12 on the SVD's loss.
  const Outcome iris = labrun({"pca", "--seed", "0", "--streaming", "always"}, dir);
  ASSERT_EQ(iris.exit_code, 0) << iris.err;
  const json doc = json::parse(iris.out);
  EXPECT_EQ(doc["results"]["streamed"], true);
  EXPECT_NEAR(doc["results"]["gd"]["loss"].get<double>(), kGdLoss, kGdLoss * (kGdLossRelative + 2.1e-10));
  EXPECT_NEAR(doc["results"]["svd"]["loss"].get<double>(), kSvdLoss, kSvdLoss * (kSvdLossRelative + 1.1e-12));
}

TEST(Cli, DivergenceWritesJsonWithNullsAndExitsThree) {
  const std::string dir = temp_dir();
  const Outcome run = labrun({"factorise", "--seed", "0", "--lr", "1"}, dir);
  EXPECT_EQ(run.exit_code, 3);
  EXPECT_NE(run.err.find("diverged at epoch"), std::string::npos) << run.err;
  const json doc = json::parse(run.out);  // NaN would not parse
  EXPECT_EQ(doc["results"]["gd"]["diverged"], true);
  EXPECT_TRUE(doc["results"]["gd"]["loss"].is_null());
  EXPECT_TRUE(doc["results"]["gd"]["diverged_at_epoch"].is_number_integer());
}

// A 178 x 13 wine-like CSV (semicolons, an index column, a text label): the UCI wine data's
// column means and standard deviations, values drawn from a fixed generator. One column (proline,
// hundreds) holds nearly all the variance.
std::string wine_like_csv() {
  const double means[13] = {13.0, 2.34, 2.37, 19.5, 99.7, 2.29, 2.03, 0.36, 1.59, 5.06, 0.96, 2.61, 746.9};
  const double sds[13] = {0.81, 1.12, 0.27, 3.34, 14.3, 0.63, 1.0, 0.12, 0.57, 2.32, 0.23, 0.71, 314.9};
  std::string text =
      "id;alcohol;malic_acid;ash;alcalinity;magnesium;phenols;flavanoids;nonflavanoid;"
      "proanthocyanins;colour;hue;od280;proline;class\n";
  uint64_t state = 12345;
  const auto uniform = [&state] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return static_cast<double>(state >> 11) / 9007199254740992.0;
  };
  for (int row = 0; row < 178; ++row) {
    text += std::to_string(row);
    for (int c = 0; c < 13; ++c) {
      const double z = (uniform() + uniform() + uniform() + uniform() - 2.0) * 1.7320508;  // mean 0, sd 1
      char value[32];
      std::snprintf(value, sizeof value, ";%.2f", means[c] + sds[c] * z);
      text += value;
    }
    text += std::string(";") + "abc"[row % 3] + "\n";
  }
  return text;
}

TEST(Cli, FactoriseAdvisesAnLrThatConverges) {
  const std::string dir = temp_dir();
  write_file(dir + "/wine.csv", wine_like_csv());
  const std::vector<std::string> wine = {"factorise", "--data", dir + "/wine.csv", "--seed", "1"};
  // The exercise's lr diverges: the warning names the lr that settles, and the scaling.
  const Outcome diverged = labrun(wine, dir);
  ASSERT_EQ(diverged.exit_code, 3) << diverged.err;
  EXPECT_NE(diverged.err.find("or --normalise std: one column holds 9"), std::string::npos) << diverged.err;
  const std::size_t at = diverged.err.find("; --lr ");
  ASSERT_NE(at, std::string::npos) << diverged.err;
  const std::string lr = diverged.err.substr(at + 7, diverged.err.find(' ', at + 7) - at - 7);
  EXPECT_LT(std::stod(lr), 1e-4) << lr;
  // Both answers converge to the truncated SVD's loss, without a warning.
  for (const std::vector<std::string>& answer :
       {std::vector<std::string>{"--lr", lr}, std::vector<std::string>{"--normalise", "std"}}) {
    std::vector<std::string> args = wine;
    args.insert(args.end(), answer.begin(), answer.end());
    const Outcome run = labrun(args, dir);
    ASSERT_EQ(run.exit_code, 0) << answer[0] << " " << answer[1] << ": " << run.err;
    EXPECT_EQ(run.err.find("warning"), std::string::npos) << run.err;
    const json doc = json::parse(run.out);
    const double gd = doc["results"]["gd"]["loss"].get<double>(), svd = doc["results"]["svd"]["loss"].get<double>();
    EXPECT_LT(gd - svd, 1e-6 * svd) << answer[0] << " " << answer[1];
  }
  const Outcome scaled = labrun({"pca", "--data", dir + "/wine.csv", "--seed", "1", "--normalise", "std"}, dir);
  ASSERT_EQ(scaled.exit_code, 0) << scaled.err;
  EXPECT_EQ(json::parse(scaled.out)["config"]["normalise"], "std");
  EXPECT_EQ(json::parse(scaled.out)["config"]["preprocessing"],
            "mean-centred columns divided by their standard deviations");
  // A step far too small ends far from the optimum: said, and the run still succeeds.
  std::vector<std::string> tiny = wine;
  tiny.insert(tiny.end(), {"--lr", "1e-7"});
  const Outcome slow = labrun(tiny, dir);
  EXPECT_EQ(slow.exit_code, 0) << slow.err;
  EXPECT_NE(slow.err.find("training had not converged; more --epochs, or --lr up to"), std::string::npos) << slow.err;
  // What cannot be scaled is refused before training.
  std::vector<std::string> streamed = wine;
  streamed.insert(streamed.end(), {"--normalise", "std", "--streaming", "always"});
  const Outcome unscaled = labrun(streamed, dir);
  EXPECT_EQ(unscaled.exit_code, 2);
  EXPECT_NE(unscaled.err.find("labrun: error: --streaming always reads the matrix a block of rows at a time"),
            std::string::npos)
      << unscaled.err;
  write_file(dir + "/constant.csv", "a,b,c\n1,5,2\n2,5,4\n3,5,7\n4,5,1\n");
  const Outcome constant =
      labrun({"factorise", "--data", dir + "/constant.csv", "--rank", "1", "--normalise", "var"}, dir);
  EXPECT_EQ(constant.exit_code, 1) << constant.err;
  EXPECT_NE(constant.err.find("column 1 is constant"), std::string::npos) << constant.err;
  // In all, the part's option has the part's prefix (the MLP's --normalise keeps its name).
  const Outcome all = labrun({"all", "--data", dir + "/wine.csv", "--seed", "1", "--repeats", "2", "--mlp-epochs", "5",
                              "--factorise-normalise", "std"},
                             dir);
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_EQ(json::parse(all.out)["config"]["factorise"]["normalise"], "std");
}

TEST(Cli, VersionNamesLibtorchBlasAndThreads) {
  const std::string dir = temp_dir();
  const Outcome run = labrun({"--version"}, dir);
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_NE(run.out.find("labrun 0."), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("libtorch 1"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("BLAS "), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("threads "), std::string::npos) << run.out;
}

TEST(Cli, VersionAndJsonReportTheBlasKernel) {
  const std::string dir = temp_dir();
  const Outcome version = labrun({"--version"}, dir);
  EXPECT_NE(version.out.find("BLAS kernel decision: "), std::string::npos) << version.out;
  const json doc = json::parse(labrun({"factorise", "--seed", "0", "--epochs", "1"}, dir).out);
  const json& kernel = doc["environment"]["blas_kernel"];
  for (const char* key :
       {"loaded", "loaded_simd", "cpu_simd", "cpu_kernel", "corrected", "corrected_from", "decision"}) {
    EXPECT_TRUE(kernel.contains(key)) << key;
  }
  if (kernel["loaded"].is_string()) {  // OpenBLAS: its own description names the same kernel
    EXPECT_NE(doc["environment"]["blas"].get<std::string>().find(kernel["loaded"].get<std::string>()),
              std::string::npos);
  }
  EXPECT_FALSE(kernel["decision"].get<std::string>().empty());
}

// The restart end to end, on any machine: LABRUN_BLAS_ASSUME_LOADED makes labrun decide as if
// OpenBLAS had loaded its Prescott fall-back (as Debian's 0.3.21 does on CPUs it does not know).
// Skipped where the environment already names a kernel, which labrun then respects.
TEST(Cli, RestartsOnTheCpusKernelAndSaysSo) {
  if (std::getenv("OPENBLAS_CORETYPE") || std::getenv("OPENBLAS_L2_SIZE")) {
    GTEST_SKIP() << "OPENBLAS_CORETYPE or OPENBLAS_L2_SIZE is set here: labrun respects it and never restarts";
  }
  const std::string dir = temp_dir();
  const json plain = json::parse(labrun({"factorise", "--seed", "0", "--epochs", "1"}, dir).out);
  if (!plain["environment"]["blas_kernel"]["loaded"].is_string() ||
      !plain["environment"]["blas_kernel"]["cpu_kernel"].is_string()) {
    GTEST_SKIP() << "the BLAS is not OpenBLAS, or the CPU's level is unknown: nothing to restart on";
  }
  const std::string cpu_kernel = plain["environment"]["blas_kernel"]["cpu_kernel"];
  if (cpu_kernel == "Prescott") GTEST_SKIP() << "this CPU's best kernel is Prescott itself";

  const Outcome restarted = labrun_with({"LABRUN_BLAS_ASSUME_LOADED=Prescott", "LABRUN_BLAS_CORRECTION=always"},
                                        {"factorise", "--seed", "0"}, dir);
  ASSERT_EQ(restarted.exit_code, 0) << restarted.err;
  EXPECT_EQ(restarted.err, "");
  const json doc = json::parse(restarted.out);
  const json& kernel = doc["environment"]["blas_kernel"];
  EXPECT_EQ(kernel["loaded"], cpu_kernel) << kernel.dump();
  EXPECT_EQ(kernel["corrected"], true) << kernel.dump();
  EXPECT_EQ(kernel["corrected_from"], "Prescott");
  // Another kernel, so not bitwise: within the cross-kernel bound of docs/numerics.md (1e-10).
  EXPECT_NEAR(doc["results"]["gd"]["loss"].get<double>(), kGdLoss, kGdLossRelative * kGdLoss);

  // Below the work that pays for a restart (Iris: ~7 MFLOP), automatic mode keeps the loaded kernel.
  const json small = json::parse(
      labrun_with({"LABRUN_BLAS_ASSUME_LOADED=Prescott"}, {"factorise", "--seed", "0", "--epochs", "1"}, dir).out);
  EXPECT_EQ(small["environment"]["blas_kernel"]["corrected"], false);
  EXPECT_NE(small["environment"]["blas_kernel"]["decision"].get<std::string>().find("GFLOP"), std::string::npos);
  // And off is off.
  const json off = json::parse(labrun_with({"LABRUN_BLAS_ASSUME_LOADED=Prescott", "LABRUN_BLAS_CORRECTION=off"},
                                           {"factorise", "--seed", "0", "--epochs", "1"}, dir)
                                   .out);
  EXPECT_EQ(off["environment"]["blas_kernel"]["corrected"], false);
  EXPECT_EQ(off["environment"]["blas_kernel"]["decision"], "LABRUN_BLAS_CORRECTION=off");
}

TEST(Cli, ABadCorrectionSettingIsAUsageError) {
  const std::string dir = temp_dir();
  for (const char* value : {"yes", "", "OFF"}) {
    const Outcome run =
        labrun_with({std::string("LABRUN_BLAS_CORRECTION=") + value}, {"factorise", "--seed", "0"}, dir);
    if (std::string(value).empty()) {  // empty is the default, auto
      EXPECT_EQ(run.exit_code, 0) << run.err;
      continue;
    }
    EXPECT_EQ(run.exit_code, 2) << value;
    EXPECT_EQ(run.out, "");
    EXPECT_EQ(run.err,
              std::string("labrun: error: LABRUN_BLAS_CORRECTION='") + value + "' must be auto, off or always\n");
  }
}

TEST(Cli, ThreadsOptionIsRecorded) {
  const std::string dir = temp_dir();
  const json doc = json::parse(labrun({"factorise", "--epochs", "1", "--threads", "2"}, dir).out);
  EXPECT_EQ(doc["config"]["threads"], 2);
  EXPECT_EQ(doc["environment"]["threads"], 2);
}

TEST(Cli, HelpListsOptionsAndExitCodes) {
  const std::string dir = temp_dir();
  const Outcome run = labrun({"factorise", "--help"}, dir);
  EXPECT_EQ(run.exit_code, 0);
  for (const char* text :
       {"--rank", "--epochs", "--lr", "--seed", "--reduction", "--data", "--loss-every", "--output", "Exit codes"}) {
    EXPECT_NE(run.out.find(text), std::string::npos) << text;
  }
}

// Issue 15: --print-config writes the options (and the seed it would draw) as a config file;
// --config reads it back into the same run; options on the command line win over the file's.
TEST(Cli, PrintedConfigReadBackGivesTheSameRun) {
  const std::string dir = temp_dir();
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"factorise", "--rank", "3", "--epochs", "50", "--loss-form", "gram"},
        std::vector<std::string>{"mlp", "--repeats", "3", "--engine", "sequential", "--reshuffle", "--epochs", "20"},
        std::vector<std::string>{"all", "--repeats", "2", "--mlp-epochs", "10", "--factorise-epochs", "10"}}) {
    std::vector<std::string> print = args;
    print.push_back("--print-config");
    const Outcome printed = labrun(print, dir);
    ASSERT_EQ(printed.exit_code, 0) << printed.err;
    EXPECT_EQ(printed.out.rfind("[" + args.front() + "]\n", 0), 0u) << printed.out;
    EXPECT_NE(printed.out.find("\nseed="), std::string::npos) << "the seed the run would draw: " << printed.out;
    write_file(dir + "/run.toml", printed.out);
    const Outcome again = labrun({args.front(), "--config", dir + "/run.toml"}, dir);
    ASSERT_EQ(again.exit_code, 0) << again.err;
    const json doc = json::parse(again.out);
    // The config of the run read back is the config printed: every option and the seed.
    const std::string seed = printed.out.substr(printed.out.find("\nseed=") + 6);
    EXPECT_EQ(doc["config"]["seed"], std::stoull(seed.substr(0, seed.find('\n'))));
    std::vector<std::string> direct = args;
    direct.insert(direct.end(), {"--seed", std::to_string(doc["config"]["seed"].get<uint64_t>())});
    const json expected = json::parse(labrun(direct, dir).out);
    json a = doc["config"], b = expected["config"];
    a.erase("seed_given");
    b.erase("seed_given");
    EXPECT_EQ(a, b) << args.front();
    if (args.front() == "mlp") {
      EXPECT_EQ(doc["results"]["runs"], expected["results"]["runs"]);
    }
  }
  // The command line wins over the file.
  write_file(dir + "/ranks.toml", "[factorise]\nrank=3\nepochs=5\n");
  const Outcome override = labrun({"factorise", "--config", dir + "/ranks.toml", "--rank", "1"}, dir);
  ASSERT_EQ(override.exit_code, 0) << override.err;
  EXPECT_EQ(json::parse(override.out)["config"]["rank"], 1);
  EXPECT_EQ(json::parse(override.out)["config"]["epochs"], 5);
}

// Issue 15: bare `labrun` prints the help; help lines fit the terminal ($COLUMNS when stdout is
// not one; 80 by default).
TEST(Cli, BareLabrunPrintsTheHelpWrappedToTheTerminal) {
  const std::string dir = temp_dir();
  const Outcome bare = labrun({}, dir);
  EXPECT_EQ(bare.exit_code, 0) << bare.err;
  EXPECT_NE(bare.out.find("factorise"), std::string::npos) << bare.out;
  EXPECT_NE(bare.out.find("Exit codes"), std::string::npos) << bare.out;
  for (const auto& [columns, args] : std::vector<std::pair<int, std::vector<std::string>>>{
           {80, {"all", "--help"}}, {100, {"mlp", "--help"}}, {60, {}}, {80, {"factorise", "--help"}}}) {
    const Outcome help = labrun_with({"COLUMNS=" + std::to_string(columns)}, args, dir);
    EXPECT_EQ(help.exit_code, 0);
    std::istringstream lines(help.out);
    std::string line;
    while (std::getline(lines, line)) {
      // A line may run over only where one word (an option with its type) is longer than the room.
      if (line.find(' ', line.find_first_not_of(' ')) == std::string::npos) continue;
      EXPECT_LE(line.size(), static_cast<std::size_t>(columns)) << line;
    }
  }
}

TEST(Cli, PcaComparesTheLearnedFactorWithThePrincipalComponents) {
  const std::string dir = temp_dir();
  const Outcome run = labrun({"pca", "--seed", "0"}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const json doc = json::parse(run.out);
  EXPECT_EQ(doc["command"], "pca");
  EXPECT_EQ(doc["config"]["rank"], 2);
  const json& r = doc["results"];
  EXPECT_EQ(r["pca"]["scores"].size(), 150u);
  EXPECT_EQ(r["pca"]["scores"][0].size(), 2u);
  EXPECT_EQ(r["pca"]["axes"].size(), 2u);
  EXPECT_EQ(r["pca"]["singular_values"].size(), 4u);
  double ratio_sum = 0.0;
  for (const auto& ratio : r["pca"]["explained_variance_ratio"]) ratio_sum += ratio.get<double>();
  EXPECT_NEAR(ratio_sum, 1.0, 1e-12);
  EXPECT_EQ(r["pca"]["explained_variance"].size(), 4u);
  EXPECT_EQ(r["gd"]["U"].size(), 150u);
  EXPECT_EQ(r["gd"]["U"][0].size(), 2u);
  EXPECT_NEAR(r["gd"]["loss"].get<double>(), kGdLoss, kGdLossRelative * kGdLoss);
  ASSERT_EQ(r["row_classes"].size(), 150u);
  EXPECT_EQ(r["row_classes"][0], "Iris-setosa");
  EXPECT_EQ(r["comparison"]["principal_angles"].size(), 2u);
  for (const auto& angle : r["comparison"]["principal_angles"]) EXPECT_LT(angle.get<double>(), 0.01);
  EXPECT_LT(r["comparison"]["alignment_residual"].get<double>(), 0.01);
  EXPECT_EQ(r["comparison"]["linear_map"].size(), 2u);
}

TEST(Cli, PcaWithDivergedTrainingHasNoComparison) {
  const std::string dir = temp_dir();
  const Outcome run = labrun({"pca", "--seed", "0", "--lr", "1"}, dir);
  EXPECT_EQ(run.exit_code, 3);
  const json doc = json::parse(run.out);
  EXPECT_TRUE(doc["results"]["comparison"].is_null());
  EXPECT_EQ(doc["results"]["pca"]["scores"].size(), 150u);
}

TEST(Cli, MlpReportsEveryRunAndTheirSummary) {
  const std::string dir = temp_dir();
  const Outcome run = labrun({"mlp", "--seed", "3", "--repeats", "5", "--loss-every", "50"}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const json doc = json::parse(run.out);
  EXPECT_EQ(doc["command"], "mlp");
  for (const char* key :
       {"hidden", "epochs", "lr", "repeats", "train_size", "normalise", "shuffle", "engine", "seed"}) {
    EXPECT_TRUE(doc["config"].contains(key)) << key;
  }
  EXPECT_EQ(doc["config"]["engine"], "batched");
  const json& r = doc["results"];
  ASSERT_EQ(r["runs"].size(), 5u);
  // lab2_reference.py mlp --seed 3 --repeats 5, run 0: train 0.84, validation 0.80. At most one
  // training and one validation row of that run are near a tie under the cross-kernel bound
  // (Mlp.SequentialEqualsTheExerciseCodeWithItsShuffle checks it): each accuracy within one row.
  // The loss within the bound mlp_test derives.
  EXPECT_NEAR(r["runs"][0]["train_accuracy"].get<double>(), 0.84, 1.0 / 100 + 1e-6);
  EXPECT_NEAR(r["runs"][0]["val_accuracy"].get<double>(), 0.80, 1.0 / 50 + 1e-6);
  EXPECT_NEAR(r["runs"][0]["final_loss"].get<double>(), 0.4308023750782013, kMlpLossRelative * 0.4308023750782013);
  EXPECT_EQ(r["runs"][0]["loss_curve"]["epoch"].size(), 3u);  // 0, 50, 99
  for (const char* metric : {"train_accuracy", "val_accuracy"}) {
    for (const char* stat : {"mean", "std", "min", "max", "median"}) {
      EXPECT_TRUE(r["summary"][metric][stat].is_number()) << metric << "." << stat;
    }
    EXPECT_LE(r["summary"][metric]["min"].get<double>(), r["summary"][metric]["median"].get<double>());
    EXPECT_LE(r["summary"][metric]["median"].get<double>(), r["summary"][metric]["max"].get<double>());
  }
  double mean = 0.0;
  for (const json& one : r["runs"]) mean += one["train_accuracy"].get<double>() / 5;
  EXPECT_NEAR(r["summary"]["train_accuracy"]["mean"].get<double>(), mean, 1e-12);
  EXPECT_GT(r["seconds"].get<double>(), 0.0);
  EXPECT_EQ(r["classes"].size(), 3u);
}

// Issue 15: enough in the document to run it again: the command line, from where, when, the
// build, and which data (absolute path and SHA-256 of its bytes).
TEST(Cli, EveryDocumentSaysHowToRunItAgain) {
  const std::string dir = temp_dir();
  const Outcome run = labrun({"factorise", "--seed", "4", "--epochs", "3", "--data", kIris}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const json doc = json::parse(run.out);
  const json& provenance = doc["provenance"];
  EXPECT_EQ(provenance["command_line"],
            json({LABRUN_BINARY, "factorise", "--seed", "4", "--epochs", "3", "--data", kIris}));
  EXPECT_TRUE(provenance["working_directory"].is_string());
  EXPECT_EQ(provenance["started_utc"].get<std::string>().size(), 20u);  // 2026-11-29T16:55:12Z
  EXPECT_EQ(provenance["started_utc"].get<std::string>().back(), 'Z');
  EXPECT_EQ(doc["data"]["path"], kIris);
  EXPECT_EQ(doc["data"]["sha256"].get<std::string>().size(), 64u);
  EXPECT_FALSE(doc["environment"]["build_commit"].get<std::string>().empty());
  // The embedded data is the same bytes, so the same digest.
  const json embedded = json::parse(labrun({"factorise", "--seed", "4", "--epochs", "3"}, dir).out);
  EXPECT_EQ(embedded["data"]["sha256"], doc["data"]["sha256"]);
  EXPECT_TRUE(embedded["data"]["path"].is_null());
}

// Issue 15: text and JSON from one run; the text says what it leaves out; a matrix is one row a line.
TEST(Cli, TextBesideJsonAndMatricesOneRowPerLine) {
  const std::string dir = temp_dir();
  const Outcome run = labrun({"mlp", "--seed", "0", "--repeats", "25", "--summary", "-o", dir + "/mlp.json"}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  EXPECT_EQ(run.out, "");
  EXPECT_EQ(json::parse(read_file(dir + "/mlp.json"))["results"]["runs"].size(), 25u);
  EXPECT_NE(run.err.find("repeat    train      val"), std::string::npos) << run.err;
  EXPECT_NE(run.err.find("... and 5 more runs, not shown here: --format json has every run"), std::string::npos)
      << run.err;

  const Outcome pca = labrun({"pca", "--seed", "0"}, dir);
  ASSERT_EQ(pca.exit_code, 0) << pca.err;
  EXPECT_LT(std::count(pca.out.begin(), pca.out.end(), '\n'), 500) << "one number a line?";
  const json doc = json::parse(pca.out);
  const std::string first_row = doc["results"]["gd"]["U"][0].dump();  // "[0.01699...,-0.8242...]"
  EXPECT_NE(pca.out.find("\n        [" + doc["results"]["gd"]["U"][0][0].dump() + ", " +
                         doc["results"]["gd"]["U"][0][1].dump() + "],\n"),
            std::string::npos)
      << first_row;
}

// Issue 15: an accuracy is the exact fraction of its rows (77 of 100 is 0.77, not float32's
// 0.7699999809265137), with the count beside it, for both engines.
TEST(Cli, AccuraciesAreExactFractionsWithTheirCounts) {
  const std::string dir = temp_dir();
  for (const char* engine : {"batched", "sequential"}) {
    const Outcome run = labrun({"mlp", "--seed", "3", "--repeats", "5", "--engine", engine}, dir);
    ASSERT_EQ(run.exit_code, 0) << run.err;
    const json doc = json::parse(run.out);
    const json& r = doc["results"];
    for (const json& one : r["runs"]) {
      EXPECT_EQ(one["train_accuracy"].get<double>(),
                one["train_correct"].get<double>() / r["train_rows"].get<double>());
      EXPECT_EQ(one["val_accuracy"].get<double>(), one["val_correct"].get<double>() / r["val_rows"].get<double>());
      EXPECT_EQ(one["diverged"], false);
      // k of 100 or 50 rows prints as "0.77", never float32's "0.7699999809265137".
      EXPECT_LE(one["train_accuracy"].dump().size(), 4u) << one["train_accuracy"].dump();
      EXPECT_LE(one["val_accuracy"].dump().size(), 4u) << one["val_accuracy"].dump();
    }
  }
}

// Issue 15: on data of rank <= r the SVD's loss is rounding noise, and so would the ratio be.
TEST(Cli, NoRelativeGapWhenTheOptimumIsZero) {
  const std::string dir = temp_dir();
  write_file(dir + "/rank1.csv", "1,2,3\n2,4,6\n3,6,9\n-1,-2,-3\n5,10,15\n");
  const Outcome run = labrun({"factorise", "--seed", "0", "--rank", "1", "--data", dir + "/rank1.csv"}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  const json gap = json::parse(run.out)["results"]["gap"];
  EXPECT_TRUE(gap["relative"].is_null()) << gap;
  EXPECT_TRUE(gap["absolute"].is_number());
}

TEST(Cli, MlpEnginesAgreeAndReshuffleChangesTheSplit) {
  const std::string dir = temp_dir();
  const json batched = json::parse(labrun({"mlp", "--seed", "4", "--repeats", "6", "--engine", "batched"}, dir).out);
  const json sequential =
      json::parse(labrun({"mlp", "--seed", "4", "--repeats", "6", "--engine", "sequential"}, dir).out);
  // The engines sum in other orders: losses within the bound mlp_test derives. Accuracies may
  // differ by rows near a tie, which only the logits tell: Mlp.BatchedEqualsSequential checks them.
  for (std::size_t i = 0; i < 6; ++i) {
    const double loss = sequential["results"]["runs"][i]["final_loss"].get<double>();
    EXPECT_NEAR(batched["results"]["runs"][i]["final_loss"].get<double>(), loss, kMlpLossRelative * loss);
  }
  const json reshuffled = json::parse(labrun({"mlp", "--seed", "4", "--repeats", "6", "--reshuffle"}, dir).out);
  EXPECT_EQ(reshuffled["config"]["shuffle"], "per-repeat");
  EXPECT_EQ(reshuffled["results"]["runs"][0], batched["results"]["runs"][0]);  // the first split is the same
  EXPECT_NE(reshuffled["results"]["runs"], batched["results"]["runs"]);
}

TEST(Cli, TextFormatPrintsTablesInsteadOfJson) {
  const std::string dir = temp_dir();
  const Outcome factorise = labrun({"factorise", "--seed", "0", "--format", "text"}, dir);
  ASSERT_EQ(factorise.exit_code, 0) << factorise.err;
  EXPECT_NE(factorise.out.find("gradient descent        15.232186"), std::string::npos) << factorise.out;
  EXPECT_NE(factorise.out.find("truncated SVD           15.228833"), std::string::npos) << factorise.out;
  EXPECT_EQ(factorise.out.find('{'), std::string::npos);
  const Outcome pca = labrun({"pca", "--seed", "0", "--format", "text"}, dir);
  EXPECT_NE(pca.out.find("principal angles (rad): 5.54e-06, 0.00997"), std::string::npos) << pca.out;
  const Outcome mlp = labrun({"mlp", "--seed", "3", "--format", "text", "--engine", "sequential"}, dir);
  // The same run as JSON, on this machine's kernel: the same numbers to the last bit.
  const json same = json::parse(labrun({"mlp", "--seed", "3", "--engine", "sequential"}, dir).out);
  char row[64];
  std::snprintf(row, sizeof row, "     0    0.840    0.800     %.4f",
                same["results"]["runs"][0]["final_loss"].get<double>());
  EXPECT_NE(mlp.out.find(row), std::string::npos) << mlp.out;
  EXPECT_NE(mlp.out.find("val_accuracy"), std::string::npos) << mlp.out;
}

TEST(Cli, AllRunsEveryPartFromOneSeed) {
  const std::string dir = temp_dir();
  const Outcome run = labrun({"all", "--seed", "6", "--repeats", "3", "--loss-every", "0"}, dir);
  ASSERT_EQ(run.exit_code, 0) << run.err;
  json all = json::parse(run.out);
  EXPECT_EQ(all["command"], "all");
  EXPECT_EQ(all["config"]["seed"], 6);
  EXPECT_EQ(all["config"]["factorise"]["rank"], 2);
  EXPECT_EQ(all["config"]["mlp"]["repeats"], 3);
  // The factorisation draws first from the seeded stream, so parts 1.1 to 1.3 equal `labrun pca`,
  // once (schema 2: no part twice), and parts 1.1-1.2 equal `labrun factorise`.
  json factorise = json::parse(labrun({"factorise", "--seed", "6"}, dir).out)["results"];
  json pca = json::parse(labrun({"pca", "--seed", "6"}, dir).out)["results"];
  for (json* results : {&all["results"]["factorise"], &factorise, &pca}) {
    (*results)["gd"].erase("seconds");
    (*results)["gd"].erase("seconds_per_epoch");
  }
  EXPECT_EQ(all["results"]["factorise"], pca);
  EXPECT_FALSE(all["results"].contains("pca"));
  for (const char* key : {"gd", "svd", "gap"}) EXPECT_EQ(pca[key], factorise[key]) << key;
  EXPECT_EQ(all["results"]["mlp"]["runs"].size(), 3u);
  EXPECT_TRUE(all["results"]["mlp"]["summary"]["val_accuracy"]["mean"].is_number());
}

// Bad input: the exit code, one line on stderr naming the problem, nothing on stdout.
struct BadInput {
  std::string name;
  std::vector<std::string> args;
  std::string file_text;  // written to bad.csv in the test's directory when not empty
  int exit_code;
  std::string message;
};

void PrintTo(const BadInput& c, std::ostream* os) { *os << c.name; }

class CliBadInput : public ::testing::TestWithParam<BadInput> {};

TEST_P(CliBadInput, GivesOneLineAndItsExitCode) {
  const BadInput& c = GetParam();
  const std::string dir = temp_dir();
  std::vector<std::string> args;
  for (std::string arg : c.args) {
    if (arg == "BAD") arg = dir + "/bad.csv";
    if (arg.rfind("DIR", 0) == 0) arg = dir + arg.substr(3);
    args.push_back(arg);
  }
  if (!c.file_text.empty()) write_file(dir + "/bad.csv", c.file_text == "EMPTY" ? "" : c.file_text);
  const Outcome run = labrun(args, dir);
  EXPECT_EQ(run.exit_code, c.exit_code) << run.err;
  EXPECT_EQ(run.out, "");
  ASSERT_FALSE(run.err.empty());
  EXPECT_EQ(run.err.find('\n'), run.err.size() - 1) << "more than one line:\n" << run.err;
  EXPECT_EQ(run.err.rfind("labrun: error: ", 0), 0u) << run.err;
  EXPECT_NE(run.err.find(c.message), std::string::npos) << run.err;
}

INSTANTIATE_TEST_SUITE_P(
    AllCommands, CliBadInput,
    ::testing::Values(
        BadInput{"UnknownSubcommand", {"factorize"}, "", 2, "factorize; did you mean factorise? (see labrun --help)"},
        BadInput{"UnknownOption", {"factorise", "--bogus"}, "", 2, "--bogus (see labrun factorise --help)"},
        // Issue 15: what the user may have meant, and the subcommand's own help.
        BadInput{"MisspeltOption",
                 {"factorise", "--rnak", "3"},
                 "",
                 2,
                 "; did you mean --rank? (see labrun factorise --help)"},
        BadInput{"APartsOptionUnderAll",
                 {"all", "--lr", "0.1"},
                 "",
                 2,
                 "; did you mean --factorise-lr or --mlp-lr? (see labrun all --help)"},
        BadInput{"MisspeltMlpOption", {"mlp", "--repeat", "3"}, "", 2, "did you mean --repeats?"},
        BadInput{"ConfigWithAnUnknownKey",
                 {"mlp", "--config", "BAD"},
                 "[mlp]\nrepeat=3\n",
                 2,
                 "--config: no option 'mlp.repeat' (a config file holds a section per subcommand, as --print-config "
                 "writes it); did you mean --repeats?"},
        BadInput{
            "ConfigWithABadValue", {"mlp", "--config", "BAD"}, "[mlp]\nrepeats=0\n", 2, "--repeats 0 must be >= 1"},
        BadInput{"ConfigWithoutASection", {"factorise", "--config", "BAD"}, "rank=3\n", 2, "no option 'rank'"},
        BadInput{"ConfigMissing", {"factorise", "--config", "DIR/none.toml"}, "", 2, "--config: File does not exist"},
        BadInput{"RankZero", {"factorise", "--rank", "0"}, "", 2, "--rank 0 must be >= 1"},
        BadInput{"RankTooLarge", {"factorise", "--rank", "4"}, "", 2, "--rank 4 must be < min(rows, columns) = 4"},
        BadInput{"RankNotANumber", {"factorise", "--rank", "two"}, "", 2, "--rank"},
        BadInput{"NegativeEpochs", {"factorise", "--epochs", "-1"}, "", 2, "--epochs -1 must be >= 0"},
        BadInput{"ZeroLr", {"factorise", "--lr", "0"}, "", 2, "--lr 0 must be a finite number > 0"},
        BadInput{"NanLr", {"factorise", "--lr", "nan"}, "", 2, "--lr"},
        BadInput{"BadReduction", {"factorise", "--reduction", "max"}, "", 2, "--reduction"},
        BadInput{"BadLossForm", {"factorise", "--loss-form", "cubic"}, "", 2, "--loss-form"},
        BadInput{"NegativeLossEvery", {"factorise", "--loss-every", "-2"}, "", 2, "--loss-every -2"},
        BadInput{"ZeroThreads", {"factorise", "--threads", "0"}, "", 2, "--threads 0 must be >= 1"},
        BadInput{"NegativeSeed", {"factorise", "--seed", "-1"}, "", 2, "--seed"},
        BadInput{"UnknownLabelName",
                 {"factorise", "--label", "x"},
                 "",
                 1,
                 "no label column named 'x' (the file has no header row"},
        BadInput{"UnknownFeatureName",
                 {"factorise", "--data", "BAD", "--features", "a,z"},
                 "a,b,c\n1,2,3\n4,5,7\n2,2,2\n",
                 1,
                 "no feature column named 'z' (the header names a, b, c)"},
        BadInput{"BadDelimiter", {"factorise", "--delimiter", "|"}, "", 2, "--delimiter"},
        BadInput{
            "MissingFile", {"factorise", "--data", "/nonexistent/x.csv"}, "", 1, "/nonexistent/x.csv: no such file"},
        BadInput{"Directory", {"factorise", "--data", "DIR"}, "", 1, "is a directory"},
        BadInput{"EmptyFile", {"factorise", "--data", "BAD"}, "EMPTY", 1, "the file is empty"},
        BadInput{"NonNumericCell",
                 {"factorise", "--data", "BAD"},
                 "1,2,3,4\n5,6,x7,8\n1,1,1,2\n",
                 1,
                 "line 2, column 2: non-numeric cell 'x7'"},
        BadInput{"RaggedRow", {"factorise", "--data", "BAD"}, "1,2,3\n4,5\n", 1, "line 2 has 2 cells, expected 3"},
        BadInput{"NanValue", {"factorise", "--data", "BAD"}, "1,2,3\n4,nan,6\n", 1, "line 2, column 1: non-finite"},
        BadInput{"Binary",
                 {"factorise", "--data", "BAD"},
                 std::string("\x7f"
                             "ELF\x02\x01\0\0",
                             8),
                 1,
                 "NUL byte"},
        BadInput{"TooFewRows", {"factorise", "--data", "BAD"}, "1,2,3\n", 1, "1 data rows, at least 2 needed"},
        BadInput{"FeatureOutOfRange", {"factorise", "--features", "0,9"}, "", 1, "feature column 9 is out of range"},
        BadInput{"NegativeFeature", {"factorise", "--features", "-1"}, "", 2, "--features"},
        BadInput{"UnwritableOutput",
                 {"factorise", "--epochs", "1", "-o", "/nonexistent/dir/out.json"},
                 "",
                 1,
                 "cannot write /nonexistent/dir/out.json"},
        BadInput{"OutputIsDirectory", {"factorise", "--epochs", "1", "-o", "DIR"}, "", 1, "is a directory"},
        BadInput{"PcaRankTooLarge", {"pca", "--rank", "4"}, "", 2, "--rank 4 must be < min(rows, columns) = 4"},
        BadInput{"PcaBadData", {"pca", "--data", "BAD"}, "1,2,3\n4,x,6\n", 1, "line 2, column 1"},
        BadInput{"MlpZeroRepeats", {"mlp", "--repeats", "0"}, "", 2, "--repeats 0 must be >= 1"},
        BadInput{"MlpZeroHidden", {"mlp", "--hidden", "0"}, "", 2, "--hidden 0 must be >= 1"},
        BadInput{"MlpNegativeEpochs", {"mlp", "--epochs", "-3"}, "", 2, "--epochs -3 must be >= 0"},
        BadInput{"MlpBadLr", {"mlp", "--lr", "-1"}, "", 2, "--lr -1 must be a finite number > 0"},
        BadInput{"MlpNoTrainingRows", {"mlp", "--train-size", "0"}, "", 2, "--train-size 0 must leave rows"},
        BadInput{"MlpNoValidationRows", {"mlp", "--train-size", "150"}, "", 2, "--train-size 150 must leave rows"},
        BadInput{"MlpTrainSizeBeyond64Bits",
                 {"mlp", "--train-size", "99999999999999999999"},
                 "",
                 2,
                 "99999999999999999999 is beyond a 64-bit whole number"},
        BadInput{"MlpShuffleConflict", {"mlp", "--reshuffle", "--no-shuffle"}, "", 2, "exclude each other"},
        BadInput{"MlpBadEngine", {"mlp", "--engine", "gpu"}, "", 2, "--engine"},
        BadInput{"MlpBadNormalise", {"mlp", "--normalise", "minmax"}, "", 2, "--normalise"},
        BadInput{"MlpNoLabel", {"mlp", "--label", "none"}, "", 1, "needs labels, and the data has none"},
        BadInput{
            "MlpOneClass", {"mlp", "--data", "BAD", "--train-size", "2"}, "1,2,a\n3,4,a\n5,5,a\n", 1, "holds 1 class"},
        BadInput{"BadDtype", {"factorise", "--dtype", "float16"}, "", 2, "--dtype"},
        BadInput{"BadFormat", {"factorise", "--format", "yaml"}, "", 2, "--format"},
        BadInput{"AllBadFactoriseLr", {"all", "--factorise-lr", "0"}, "", 2, "--factorise-lr 0 must be"},
        BadInput{"AllBadMlpEpochs", {"all", "--mlp-epochs", "-1"}, "", 2, "--mlp-epochs -1 must be >= 0"},
        BadInput{"AllZeroRepeats", {"all", "--repeats", "0"}, "", 2, "--repeats 0 must be >= 1"},
        BadInput{"AllRankTooLarge", {"all", "--rank", "5"}, "", 2, "--rank 5 must be <"},
        // The library's OptionError names a field; `all` says it with the part's option.
        BadInput{"AllTrainSizeTooLarge",
                 {"all", "--train-size", "150"},
                 "",
                 2,
                 "--train-size 150 must leave rows to train on and to validate: 1 <= it < 150, the rows of "
                 "embedded:iris.data"},
        BadInput{"AllMlpLrZeroInFloat32", {"all", "--mlp-lr", "1e-50"}, "", 2, "--mlp-lr 1e-50 is 0 in float32"},
        BadInput{"AllStreamingScaled",
                 {"all", "--streaming", "always", "--factorise-normalise", "std"},
                 "",
                 2,
                 "--streaming always reads the matrix a block of rows at a time, and columns scaled (std) are held in "
                 "memory: give auto or never, or no scaling"},
        // An empty value is refused, never read as 0 or the default (issue 16, kind 9).
        BadInput{"EmptyEpochs", {"factorise", "--epochs", ""}, "", 2, "--epochs: the value is empty"},
        BadInput{"EmptyData", {"factorise", "--data", ""}, "", 2, "--data: the value is empty"},
        BadInput{"EmptyOutput", {"factorise", "-o", ""}, "", 2, "--output: the value is empty"},
        BadInput{"EmptyMlpLr", {"all", "--mlp-lr", ""}, "", 2, "--mlp-lr: the value is empty"},
        // A seed beyond 2^64 - 1 is refused, not clamped (issue 16, kind 8); so is anything but
        // digits. Beyond 2^53 - 1 too, as JSON readers would not read it exactly (issue 15).
        BadInput{"SeedBeyond64Bits",
                 {"factorise", "--seed", "18446744073709551616"},
                 "",
                 2,
                 "the seed '18446744073709551616' must be a whole number from 0 to 9007199254740991"},
        BadInput{"SeedBeyondJsonIntegers",
                 {"factorise", "--seed", "9007199254740992"},
                 "",
                 2,
                 "must be a whole number from 0 to 9007199254740991 (2^53 - 1"},
        BadInput{"SeedNotWhole", {"factorise", "--seed", "1e3"}, "", 2, "the seed '1e3' must be a whole number"},
        // More threads than 4 per CPU are refused before libtorch tries to start them (kind 5).
        BadInput{"TooManyThreads", {"factorise", "--threads", "100000"}, "", 2, "--threads 100000 must be <= "},
        // `all` takes the parts' own declarations: their checks and choices come with them.
        BadInput{"AllBadMlpLossEvery", {"all", "--mlp-loss-every", "-2"}, "", 2, "--mlp-loss-every -2 must be >= 0"},
        BadInput{"AllBadLossEvery", {"all", "--loss-every", "-1"}, "", 2, "--loss-every -1 must be >= 0"},
        BadInput{
            "AllBadDtype", {"all", "--dtype", "float16"}, "", 2, "--dtype: 'float16' is not one of float64|float32"},
        BadInput{"AllShuffleConflict", {"all", "--reshuffle", "--no-shuffle"}, "", 2, "exclude each other"},
        // A choice is its name: the enum's number is refused.
        BadInput{"EngineByNumber", {"mlp", "--engine", "0"}, "", 2, "'0' is not one of sequential|batched"},
        BadInput{"MlpNonNumeric", {"mlp", "--data", "BAD"}, "1,2,a\n3,?,b\n", 1, "non-numeric cell '?'"},
        // Issue 16, the second round. Text that is not UTF-8 is refused before any work (kind 2):
        // in the file, in a label, in an argument (a path reaches the JSON too).
        BadInput{"LatinOneHeader",
                 {"factorise", "--data", "BAD", "--rank", "1"},
                 "l\xe4ngd,b,c\n1,2,3\n4,5,7\n",
                 1,
                 "line 1, byte 2 (0xe4) is not UTF-8"},
        BadInput{"LatinOneLabel",
                 {"mlp", "--data", "BAD", "--train-size", "2"},
                 "1,2,a\n3,4,caf\xe9\n5,5,a\n",
                 1,
                 "line 2, byte 8 (0xe9) is not UTF-8"},
        BadInput{"OverlongUtf8", {"factorise", "--data", "BAD"}, "\xc0\xaf,1\n1,2\n", 1, "(0xc0) is not UTF-8"},
        BadInput{
            "NonUtf8Argument", {"factorise", "--data", "\xff.csv"}, "", 1, "argument 3 ('\\xff.csv') is not UTF-8"},
        BadInput{"NonUtf8OutputPath", {"factorise", "-o", "out\xc3"}, "", 1, "is not UTF-8"},
        // A column of numbers whose first cell is text is an error, not a dropped feature (kind 7).
        BadInput{"FirstCellNotANumber",
                 {"factorise", "--data", "BAD", "--rank", "1"},
                 "?,1,2\n1,2,3\n2,3,5\n",
                 1,
                 "line 1, column 0: '?' is not a number, but line 2 holds one"},
        // Data beyond the training dtype is a data error, not a divergence (kind 10).
        BadInput{"MlpBeyondFloat32",
                 {"mlp", "--data", "BAD", "--train-size", "2"},
                 "1e39,1,a\n2,3,b\n4,1,a\n2,2,b\n",
                 1,
                 "column 0 (largest magnitude 1e+39) does not fit in float32"},
        BadInput{"Float32FactoriseBeyondRange",
                 {"factorise", "--data", "BAD", "--rank", "1", "--dtype", "float32"},
                 "1e39,1,2\n2,3,4\n4,1,1\n",
                 1,
                 "does not fit in float32"},
        BadInput{"SquaresOverflowFloat64",
                 {"factorise", "--data", "BAD", "--rank", "1"},
                 "1e200,1,2\n-1e200,3,4\n4,1,1\n",
                 1,
                 "the sum of squares of the centred data overflows float64"},
        BadInput{"MlpLrBeyondFloat32", {"mlp", "--lr", "1e39"}, "", 2, "--lr 1e+39 must be <= 3.4e38"},
        BadInput{"Float32LrBeyondRange",
                 {"factorise", "--dtype", "float32", "--lr", "1e300"},
                 "",
                 2,
                 "--lr 1e+300 must be <= 3.4e38"},
        // Constant data has no unique principal subspace to compare with (kind 14).
        BadInput{"PcaOfConstantData",
                 {"pca", "--data", "BAD", "--rank", "1"},
                 "0,0,0\n0,0,0\n0,0,0\n0,0,0\n",
                 1,
                 "principal subspace is not unique"},
        BadInput{"PcaOfTiedSingularValues",
                 {"pca", "--data", "BAD", "--rank", "1"},
                 "1,0\n-1,0\n0,1\n0,-1\n",
                 1,
                 "singular values 1 and 2 (1.41421 and 1.41421) are equal to rounding"},
        // Work that cannot fit in memory is refused before it starts, with what it needs (kinds 4, 6).
        BadInput{"HugeHidden", {"mlp", "--hidden", "1099511627776"}, "", 1, "needs about"},
        BadInput{"HugeRepeats", {"all", "--mlp-epochs", "1", "--repeats", "10000000000"}, "", 1, "10000000000 repeats"},
        BadInput{"HugeLossCurve", {"factorise", "--epochs", "100000000000", "--loss-every", "1"}, "", 1, "needs about"},
        BadInput{"EndlessZeros", {"factorise", "--data", "/dev/zero"}, "", 1, "/dev/zero: line 1 holds a NUL byte"},
        BadInput{"EndlessRandom", {"mlp", "--data", "/dev/urandom"}, "", 1, "holds a NUL byte"},
        // Issue 26, kind 10: the answer in the error, not a symptom of it.
        BadInput{"WrongDelimiter",
                 {"factorise", "--data", "BAD", "--delimiter", ","},
                 "a;b;c\n1;2;3\n4;5;7\n",
                 1,
                 "--delimiter ',' splits no line into cells; its lines are split by ';': --delimiter ';'"},
        BadInput{"WrongDelimiterTab",
                 {"factorise", "--data", "BAD", "--delimiter", ";"},
                 "a\tb\tc\n1\t2\t3\n4\t5\t7\n",
                 1,
                 "its lines are split by tab: --delimiter tab"},
        BadInput{"MlpOnIntegerLabels",
                 {"mlp", "--data", "BAD", "--train-size", "5"},
                 "1,2,0\n2,1,1\n3,3,0\n4,1,1\n5,2,0\n6,3,1\n7,1,0\n8,2,1\n",
                 1,
                 "column 2 holds a few distinct whole numbers: if they are the classes, say --label 2"},
        BadInput{"MlpOnNpyWithoutLabels",
                 {"mlp", "--data", "BAD", "--train-size", "2"},
                 npy("<f8", false, "(3, 2)", bytes_of(std::vector<double>{1, 2, 3, 4, 5, 7})),
                 1,
                 "--labels FILE"},
        // -o writes through a device rather than replacing it (kind 1).
        BadInput{
            "OutputToDevFull", {"factorise", "--epochs", "1", "-o", "/dev/full"}, "", 1, "No space left on device"},
        BadInput{"OutputIsTheDataFile",
                 {"factorise", "--data", "BAD", "-o", "BAD"},
                 "1,2,3\n4,5,7\n2,2,2\n",
                 2,
                 "is the --data file"},
        BadInput{"NewlineInPath", {"factorise", "--data", "a\nb.csv"}, "", 1, "a\\nb.csv: no such file"},
        BadInput{"OutputPathTooLong",
                 {"factorise", "--epochs", "1", "-o", std::string(5000, 'x')},
                 "",
                 1,
                 "File name too long"},
        BadInput{"OutputIntoMissingDirectory",
                 {"factorise", "--epochs", "1", "-o", "DIR/no/such/out.json"},
                 "",
                 1,
                 "cannot create a temporary file"}),
    [](const ::testing::TestParamInfo<BadInput>& param) { return param.param.name; });

}  // namespace

namespace labrun::test {
namespace {

// Help that reads as it should: no literal tab or bare commas in a choice list, a study's -o as
// the JSON Lines it writes and no --format it refuses, every subcommand naming --config.
TEST(CliHelp, SaysWhatEachCommandTakes) {
  const std::string dir = temp_dir();
  for (const std::vector<std::string>& command :
       {std::vector<std::string>{"factorise"}, {"pca"}, {"mlp"}, {"all"}, {"sweep", "mlp"}, {"sweep", "factorise"}}) {
    std::vector<std::string> args = command;
    args.emplace_back("--help");
    const Outcome help = labrun(args, dir);
    ASSERT_EQ(help.exit_code, 0);
    SCOPED_TRACE(command.back());
    EXPECT_EQ(help.out.find('\t'), std::string::npos);
    EXPECT_NE(help.out.find("--delimiter auto|,|;|tab"), std::string::npos);
    const std::string name = command.size() > 1 ? command[0] + " " + command[1] : command[0];
    EXPECT_NE(help.out.find("labrun --config FILE " + name), std::string::npos);
    if (command[0] == "sweep") {
      EXPECT_EQ(help.out.find("--format"), std::string::npos);
      EXPECT_EQ(help.out.find("atomically"), std::string::npos);
      EXPECT_NE(help.out.find("JSON Lines to FILE, in"), std::string::npos);
    }
  }
}

// -o onto the --config file is refused, as -o onto --data is: the options stay.
TEST(CliConfig, OutputOntoTheConfigFileIsRefused) {
  const std::string dir = temp_dir();
  const Outcome printed = labrun({"factorise", "--seed", "1", "--print-config"}, dir);
  ASSERT_EQ(printed.exit_code, 0);
  write_file(dir + "/run.toml", printed.out);
  const Outcome run = labrun({"--config", dir + "/run.toml", "factorise", "-o", dir + "/run.toml"}, dir);
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_NE(run.err.find("is the --config file"), std::string::npos) << run.err;
  EXPECT_EQ(read_file(dir + "/run.toml"), printed.out);
  ::symlink((dir + "/run.toml").c_str(), (dir + "/link.toml").c_str());
  EXPECT_EQ(labrun({"--config", dir + "/run.toml", "factorise", "-o", dir + "/link.toml"}, dir).exit_code, 2);
  EXPECT_EQ(read_file(dir + "/run.toml"), printed.out);
}

// A config file is never silently ignored (issue 26, kind 1): a file with no section for the
// subcommand run, or a --config with no subcommand, is refused before anything runs.
TEST(CliConfig, AFileWithNoSectionForTheCommandIsRefused) {
  const std::string dir = temp_dir();
  write_file(dir + "/f.toml", "[factorise]\nrank=1\nseed=5\n");
  const Outcome pca = labrun({"--config", dir + "/f.toml", "pca", "-o", dir + "/out.json"}, dir);
  EXPECT_EQ(pca.exit_code, 2);
  EXPECT_EQ(pca.out, "");
  EXPECT_NE(pca.err.find("holds no [pca] section (it holds [factorise])"), std::string::npos) << pca.err;
  EXPECT_FALSE(std::filesystem::exists(dir + "/out.json"));
  write_file(dir + "/m.toml", "[mlp]\nseed=5\n");
  const Outcome all = labrun({"all", "--config", dir + "/m.toml"}, dir);
  EXPECT_EQ(all.exit_code, 2);
  EXPECT_NE(all.err.find("holds no [all] section (it holds [mlp])"), std::string::npos) << all.err;
  const Outcome bare = labrun({"--config", dir + "/m.toml"}, dir);
  EXPECT_EQ(bare.exit_code, 2);
  EXPECT_EQ(bare.out, "");
  EXPECT_NE(bare.err.find("say which subcommand to run with it, e.g. labrun --config " + dir + "/m.toml mlp"),
            std::string::npos)
      << bare.err;
  write_file(dir + "/empty.toml", "# nothing yet\n");
  EXPECT_EQ(labrun({"--config", dir + "/empty.toml", "factorise"}, dir).exit_code, 2);
  // A file with the command's section and others runs the command's.
  write_file(dir + "/both.toml", "[factorise]\nrank=1\nepochs=3\nseed=5\n[mlp]\nseed=6\n");
  const Outcome both = labrun({"--config", dir + "/both.toml", "factorise"}, dir);
  ASSERT_EQ(both.exit_code, 0) << both.err;
  EXPECT_EQ(json::parse(both.out)["config"]["seed"], 5);
  EXPECT_EQ(json::parse(both.out)["config"]["rank"], 1);
}

// Lists (kind 2): --print-config writes a sweep's lists the TOML way, and both the TOML list and
// the command line's comma form read back into the same study.
TEST(CliConfig, TomlListsAndCommaListsGiveTheSameStudy) {
  const std::string dir = temp_dir();
  const Outcome printed = labrun(
      {"sweep", "mlp", "--lr", "0.01,0.1", "--epochs", "3,4", "--repeats", "2", "--seed", "1", "--print-config"}, dir);
  ASSERT_EQ(printed.exit_code, 0) << printed.err;
  EXPECT_NE(printed.out.find("\nlr=[0.01, 0.1]\n"), std::string::npos) << printed.out;
  EXPECT_NE(printed.out.find("\nepochs=[3, 4]\n"), std::string::npos) << printed.out;
  write_file(dir + "/list.toml", printed.out);
  write_file(dir + "/comma.toml", "[sweep.mlp]\nlr = \"0.01,0.1\"\nepochs=\"3,4\"\nrepeats=2\nseed=1\n");
  write_file(dir + "/lines.toml",
             "[sweep.mlp]\nlr = [\n  0.01,  # small\n  0.1,\n]\nepochs=[3,4]\nrepeats=2\nseed=1\n");
  const auto runs = [&](const std::string& config) {
    const Outcome run = labrun({"--config", dir + "/" + config, "sweep", "mlp"}, dir);
    EXPECT_EQ(run.exit_code, 0) << config << ": " << run.err;
    std::string records;
    std::istringstream lines(run.out);
    for (std::string line; std::getline(lines, line);) {
      if (line.find("\"type\":\"run\"") != std::string::npos) records += line + "\n";
    }
    return records;
  };
  const std::string expected = runs("list.toml");
  EXPECT_EQ(std::count(expected.begin(), expected.end(), '\n'), 4);
  EXPECT_EQ(runs("comma.toml"), expected);
  EXPECT_EQ(runs("lines.toml"), expected);
}

// Paths (kinds 3 and 6): a relative path in a config file is read from the file's folder; a
// printed config writes paths absolute and quoted so that a '#', a quote or a newline in them
// reads back; a byte-order mark is skipped.
TEST(CliConfig, PathsReadFromTheConfigsFolderAndRoundTrip) {
  const std::string dir = temp_dir();
  std::filesystem::create_directories(dir + "/conf");
  std::filesystem::copy_file(kIris, dir + "/conf/wine.csv");
  write_file(dir + "/conf/run.toml", "\xef\xbb\xbf[factorise]\ndata = \"wine.csv\"\nepochs = 2\nseed = 3\n");
  const Outcome relative = labrun({"--config", dir + "/conf/run.toml", "factorise"}, dir);
  ASSERT_EQ(relative.exit_code, 0) << relative.err;
  EXPECT_EQ(json::parse(relative.out)["data"]["source"], dir + "/conf/wine.csv");

  const std::string awkward = dir + "/a#b/say \"hi\"\nnext 'line'.csv";
  std::filesystem::create_directories(dir + "/a#b");
  std::filesystem::copy_file(kIris, awkward);
  const Outcome printed =
      labrun({"factorise", "--data", awkward, "--epochs", "2", "--seed", "3", "--print-config"}, dir);
  ASSERT_EQ(printed.exit_code, 0) << printed.err;
  write_file(dir + "/elsewhere.toml", printed.out);
  const Outcome again = labrun({"--config", dir + "/elsewhere.toml", "factorise"}, "/");
  ASSERT_EQ(again.exit_code, 0) << printed.out << again.err;
  const json doc = json::parse(again.out);
  EXPECT_EQ(doc["data"]["source"], awkward);
  EXPECT_EQ(doc["results"]["gd"]["loss"], json::parse(relative.out)["results"]["gd"]["loss"]);
}

// Reading (kinds 4 and 5): a config is read with a bound, a read that fails is an error, and its
// text is checked for UTF-8 as the command line is: one line, exit 2, nothing run.
TEST(CliConfig, ConfigsThatCannotBeReadAreRefused) {
  const std::string dir = temp_dir();
  write_file(dir + "/latin1.toml", "[factorise]\ndata=\"caf\xe9.csv\"\n");
  write_file(dir + "/huge.toml", "[factorise]\n" + std::string(std::size_t{2} << 20, '#') + "\n");
  for (const auto& [config, message] : std::vector<std::pair<std::string, std::string>>{
           {"/dev/zero", "--config /dev/zero: line 1 holds a NUL byte: not a config file"},
           {dir + "/latin1.toml", "line 2 is not UTF-8 (byte 22): a config file is UTF-8 text"},
           {dir + "/huge.toml", "larger than 1024 KiB"},
           {dir, "--config: File is actually a directory"}}) {
    const Outcome run = labrun({"--config", config, "factorise"}, dir);
    EXPECT_EQ(run.exit_code, 2) << config;
    EXPECT_EQ(run.out, "");
    EXPECT_NE(run.err.find(message), std::string::npos) << run.err;
    EXPECT_EQ(std::count(run.err.begin(), run.err.end(), '\n'), 1) << run.err;
  }
  // Under a memory limit the read fails or passes, but never runs the defaults unsaid. Not under
  // AddressSanitizer, whose shadow memory alone is larger than any address-space limit.
#ifndef LABRUN_SANITIZE
  const Outcome limited = labrun::test::shell("ulimit -v 2000000; \"$LABRUN\" --config /dev/zero factorise", dir);
  EXPECT_EQ(limited.exit_code, 2) << limited.err;
#endif
}

// A restart on a better BLAS kernel reads the inputs again (issue 23, kind 5): with the config or
// the data from a pipe, labrun does not restart and says which input kept it.
TEST(CliConfig, InputsThatCannotBeReadTwiceKeepTheFirstStart) {
  const std::string dir = temp_dir();
  const json plain = json::parse(labrun({"factorise", "--seed", "0", "--epochs", "1"}, dir).out);
  const json& kernel = plain["environment"]["blas_kernel"];
  if (!kernel["loaded"].is_string() || !kernel["cpu_kernel"].is_string() || kernel["cpu_kernel"] == "Prescott") {
    GTEST_SKIP() << "the BLAS is not OpenBLAS, or this CPU has no kernel above Prescott: nothing to restart on";
  }
  const std::string restart =
      "env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE LABRUN_BLAS_ASSUME_LOADED=Prescott LABRUN_BLAS_CORRECTION=always ";
  write_file(dir + "/run.toml", "[factorise]\nseed=5\nepochs=3\n");
  for (const auto& [script, input] : std::vector<std::pair<std::string, std::string>>{
           {restart + "\"$LABRUN\" --config /dev/stdin factorise < run.toml", ""},
           {"cat run.toml | " + restart + "\"$LABRUN\" --config /dev/stdin factorise", "--config /dev/stdin (a pipe"},
           {"mkfifo cfg.fifo; cat run.toml > cfg.fifo & " + restart + "\"$LABRUN\" --config cfg.fifo factorise",
            "--config cfg.fifo (a pipe or FIFO)"},
           {"cat " + kIris + " | " + restart + "\"$LABRUN\" factorise --seed 5 --epochs 3 --data /dev/stdin",
            "--data /dev/stdin (a pipe"},
           {"cat " + kIris + " | " + restart + "\"$LABRUN\" factorise --seed 5 --epochs 3 --data -",
            "--data - (standard input)"}}) {
    SCOPED_TRACE(script);
    std::filesystem::remove(dir + "/cfg.fifo");
    const Outcome run = labrun::test::shell("cd " + labrun::test::quote(dir) + " && " + script, dir);
    ASSERT_EQ(run.exit_code, 0) << run.err;
    const json doc = json::parse(run.out);
    EXPECT_EQ(doc["config"]["seed"], 5);
    EXPECT_EQ(doc["config"]["epochs"], 3);
    const std::string decision = doc["environment"]["blas_kernel"]["decision"];
    if (input.empty()) {  // a regular file behind /dev/stdin is read again from its start
      EXPECT_EQ(doc["environment"]["blas_kernel"]["corrected"], true) << decision;
    } else {
      EXPECT_EQ(doc["environment"]["blas_kernel"]["corrected"], false) << decision;
      EXPECT_NE(decision.find("not restarted, as " + input), std::string::npos) << decision;
    }
  }
}

}  // namespace
}  // namespace labrun::test
