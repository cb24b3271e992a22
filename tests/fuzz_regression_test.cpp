// Replays the fuzzer's seed corpus and every input it ever crashed on (tests/fuzz/regressions)
// through the fuzz target itself, in the ordinary test run.

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

int replay(const std::filesystem::path& dir) {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    if (!entry.is_regular_file() || entry.path().filename() == "README.md") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    SCOPED_TRACE(entry.path().string());
    EXPECT_EQ(LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()), 0);
    ++count;
  }
  return count;
}

TEST(FuzzRegression, SeedCorpusParsesOrFailsCleanly) { EXPECT_GE(replay(LABRUN_SOURCE_DIR "/tests/fuzz/corpus"), 10); }

TEST(FuzzRegression, EveryPastCrashParsesOrFailsCleanly) {
  EXPECT_GE(replay(LABRUN_SOURCE_DIR "/tests/fuzz/regressions"), 3);
}

}  // namespace
