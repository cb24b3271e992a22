#include "labrun/blas_kernel.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <string>

namespace labrun {
namespace {

CpuFeatures avx512_cpu() {
  CpuFeatures c;
  c.sse3 = c.ssse3 = c.sse4_1 = c.sse4_2 = c.avx = c.avx2 = c.fma = true;
  c.avx512f = c.avx512dq = c.avx512cd = c.avx512bw = c.avx512vl = true;
  return c;
}

// The situation of issue 11: Debian's OpenBLAS 0.3.21 on an Emerald Rapids Xeon, Prescott loaded.
BlasSituation prescott_on_avx512(double work_flops = 1e12) {
  BlasSituation s;
  s.openblas = true;
  s.loaded = "Prescott";
  s.cpu = avx512_cpu();
  s.work_flops = work_flops;
  return s;
}

TEST(BlasKernel, CpuLevelNeedsEveryInstructionSetOfTheLevel) {
  CpuFeatures c = avx512_cpu();
  EXPECT_EQ(cpu_level(c), SimdLevel::avx512);
  c.avx512bw = false;  // Knights Landing has F and CD but not BW, DQ, VL: SkylakeX kernels need them
  EXPECT_EQ(cpu_level(c), SimdLevel::avx2);
  c.fma = false;
  EXPECT_EQ(cpu_level(c), SimdLevel::avx);
  c.avx = false;  // e.g. an OS that does not save the YMM registers: __builtin_cpu_supports says no
  EXPECT_EQ(cpu_level(c), SimdLevel::sse4_2);
  c.sse4_2 = false;
  EXPECT_EQ(cpu_level(c), SimdLevel::sse3);
  EXPECT_EQ(cpu_level(CpuFeatures{}), SimdLevel::unknown);
}

TEST(BlasKernel, KernelNamesHaveTheirLevels) {
  EXPECT_EQ(kernel_level("Prescott"), SimdLevel::sse3);
  EXPECT_EQ(kernel_level("Core2"), SimdLevel::sse3);
  EXPECT_EQ(kernel_level("Nehalem"), SimdLevel::sse4_2);
  EXPECT_EQ(kernel_level("Sandybridge"), SimdLevel::avx);
  EXPECT_EQ(kernel_level("Haswell"), SimdLevel::avx2);
  EXPECT_EQ(kernel_level("Zen"), SimdLevel::avx2);
  EXPECT_EQ(kernel_level("SkylakeX"), SimdLevel::avx512);
  EXPECT_EQ(kernel_level("COOPERLAKE"), SimdLevel::avx512);  // OpenBLAS compares without case
  EXPECT_EQ(kernel_level("Zen5"), SimdLevel::unknown);
  EXPECT_EQ(kernel_level(""), SimdLevel::unknown);
  for (const SimdLevel level :
       {SimdLevel::sse3, SimdLevel::sse4_2, SimdLevel::avx, SimdLevel::avx2, SimdLevel::avx512}) {
    EXPECT_EQ(kernel_level(kernel_for(level)), level) << to_string(level);
  }
  EXPECT_EQ(kernel_for(SimdLevel::unknown), "");
}

TEST(BlasKernel, RestartsOnTheCpusKernelWhenOpenBlasChoseANarrowerOne) {
  const BlasDecision d = decide_blas_kernel(prescott_on_avx512());
  EXPECT_TRUE(d.restart);
  EXPECT_EQ(d.kernel, "SkylakeX");
  EXPECT_FALSE(d.corrected);
  EXPECT_NE(d.reason.find("Prescott"), std::string::npos) << d.reason;

  BlasSituation haswell_cpu = prescott_on_avx512();
  haswell_cpu.cpu.avx512f = false;
  EXPECT_EQ(decide_blas_kernel(haswell_cpu).kernel, "Haswell");
  BlasSituation sandybridge_on_avx2 = haswell_cpu;
  sandybridge_on_avx2.loaded = "Sandybridge";
  EXPECT_EQ(decide_blas_kernel(sandybridge_on_avx2).kernel, "Haswell");
}

TEST(BlasKernel, LeavesAKernelAtTheCpusLevelAlone) {
  for (const char* loaded : {"SkylakeX", "Cooperlake", "SapphireRapids"}) {
    BlasSituation s = prescott_on_avx512();
    s.loaded = loaded;
    const BlasDecision d = decide_blas_kernel(s);
    EXPECT_FALSE(d.restart) << loaded;
    EXPECT_NE(d.reason.find("already"), std::string::npos) << d.reason;
  }
  BlasSituation zen = prescott_on_avx512();
  zen.loaded = "Zen";
  zen.cpu.avx512f = false;  // Zen 1-3: AVX2, and OpenBLAS's Zen kernel is the right one
  EXPECT_FALSE(decide_blas_kernel(zen).restart);
}

TEST(BlasKernel, RespectsTheEnvironmentAndTheSwitch) {
  BlasSituation s = prescott_on_avx512();
  s.coretype = "Prescott";  // set on purpose, e.g. where the better kernel computes wrongly
  EXPECT_FALSE(decide_blas_kernel(s).restart);
  EXPECT_NE(decide_blas_kernel(s).reason.find("OPENBLAS_CORETYPE=Prescott"), std::string::npos);
  s = prescott_on_avx512();
  s.l2_size = "1048576";
  EXPECT_FALSE(decide_blas_kernel(s).restart);
  s = prescott_on_avx512();
  s.correction = BlasCorrection::off;
  EXPECT_FALSE(decide_blas_kernel(s).restart);
  EXPECT_EQ(parse_blas_correction(""), BlasCorrection::automatic);
  EXPECT_EQ(parse_blas_correction("auto"), BlasCorrection::automatic);
  EXPECT_EQ(parse_blas_correction("off"), BlasCorrection::off);
  EXPECT_EQ(parse_blas_correction("always"), BlasCorrection::always);
  EXPECT_EQ(parse_blas_correction("OFF"), std::nullopt);
  EXPECT_EQ(parse_blas_correction("0"), std::nullopt);
}

TEST(BlasKernel, RestartsOnlyWhenTheWorkPaysForIt) {
  EXPECT_FALSE(decide_blas_kernel(prescott_on_avx512(kRestartMinFlops / 2)).restart);  // Iris: ~7 MFLOP
  EXPECT_TRUE(decide_blas_kernel(prescott_on_avx512(kRestartMinFlops)).restart);
  BlasSituation always = prescott_on_avx512(0.0);
  always.correction = BlasCorrection::always;
  EXPECT_TRUE(decide_blas_kernel(always).restart);
  BlasSituation stdin_input = prescott_on_avx512();
  stdin_input.once_only_input = "--data - (standard input)";
  EXPECT_FALSE(decide_blas_kernel(stdin_input).restart);
  BlasSituation nan_work = prescott_on_avx512(std::numeric_limits<double>::quiet_NaN());
  EXPECT_FALSE(decide_blas_kernel(nan_work).restart);
}

TEST(BlasKernel, NeverGuessesAndNeverLoops) {
  BlasSituation unknown_kernel = prescott_on_avx512();
  unknown_kernel.loaded = "Zen5";  // a newer OpenBLAS's name: its choice is kept
  EXPECT_FALSE(decide_blas_kernel(unknown_kernel).restart);
  BlasSituation unknown_cpu = prescott_on_avx512();
  unknown_cpu.cpu = CpuFeatures{};  // not x86, or CPUID unreadable
  EXPECT_FALSE(decide_blas_kernel(unknown_cpu).restart);
  BlasSituation other_blas = prescott_on_avx512();
  other_blas.openblas = false;  // MKL, BLIS or the reference BLAS: left alone
  EXPECT_FALSE(decide_blas_kernel(other_blas).restart);

  // The restarted process: OPENBLAS_CORETYPE and the guard both set by labrun.
  BlasSituation restarted = prescott_on_avx512();
  restarted.coretype = "SkylakeX";
  restarted.loaded = "SkylakeX";
  restarted.restarted_from = "Prescott";
  BlasDecision d = decide_blas_kernel(restarted);
  EXPECT_FALSE(d.restart);
  EXPECT_TRUE(d.corrected);
  EXPECT_EQ(d.corrected_from, "Prescott");
  // OpenBLAS did not take the name: not corrected, and no second restart.
  restarted.loaded = "Prescott";
  d = decide_blas_kernel(restarted);
  EXPECT_FALSE(d.restart);
  EXPECT_FALSE(d.corrected);
  // The guard alone still stops a restart.
  BlasSituation guard_only = prescott_on_avx512();
  guard_only.restarted_from = "Prescott";
  EXPECT_FALSE(decide_blas_kernel(guard_only).restart);
}

TEST(BlasKernel, TheTestingAidDecidesAsIfThatKernelWereLoaded) {
  BlasSituation s = prescott_on_avx512();
  s.loaded = "SkylakeX";
  s.assume_loaded = "Prescott";
  EXPECT_TRUE(decide_blas_kernel(s).restart);
  const BlasKernelInfo info = blas_kernel_info(s, decide_blas_kernel(s));
  EXPECT_EQ(info.loaded, "SkylakeX");  // the report keeps the real one
}

TEST(BlasKernel, ThisProcessIsDescribed) {
  const CpuFeatures cpu = cpu_features();
#if defined(__x86_64__)
  // Every x86-64 CPU OpenBLAS's DYNAMIC_ARCH serves has SSE3.
  EXPECT_NE(cpu_level(cpu), SimdLevel::unknown);
#endif
  const BlasSituation s = blas_situation(0.0);
  if (s.openblas) {
    EXPECT_FALSE(s.loaded.empty());
  }
  EXPECT_FALSE(decide_blas_kernel(s).reason.empty());
}

}  // namespace
}  // namespace labrun
