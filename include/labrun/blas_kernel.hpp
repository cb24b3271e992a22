#pragma once
// Which OpenBLAS kernel this process runs on, which one the CPU could run, and whether labrun should
// restart itself on the better one.
//
// OpenBLAS built with DYNAMIC_ARCH (Debian's is) picks a kernel once, when it loads, from CPUID, or
// takes the one named by OPENBLAS_CORETYPE. Debian 12's OpenBLAS 0.3.21 gives its SSE3 kernel
// (Prescott) to every Intel family-6 model it does not list (fixed upstream in 0.3.25): on such a
// CPU, GEMMs run 3-4x slower than the CPU allows. It has no call to change the kernel afterwards,
// so the only remedy is to start again with OPENBLAS_CORETYPE set. The decision is a pure function
// (decide_blas_kernel) so that it can be tested on any machine; blas_situation() fills its inputs
// from this process (__builtin_cpu_supports, openblas_get_corename, the environment).

#include <optional>
#include <string>
#include <string_view>

namespace labrun {

// The widest vector instructions a kernel uses, or a CPU and its OS let a program use.
enum class SimdLevel { unknown, sse3, sse4_2, avx, avx2, avx512 };

std::string_view to_string(SimdLevel level);

// The instruction sets a program may use here: what CPUID reports, the AVX and AVX-512 ones only
// where the OS saves their registers on a context switch (__builtin_cpu_supports checks XGETBV).
struct CpuFeatures {
  bool sse3 = false, ssse3 = false, sse4_1 = false, sse4_2 = false;
  bool avx = false, avx2 = false, fma = false;
  bool avx512f = false, avx512dq = false, avx512cd = false, avx512bw = false, avx512vl = false;
};

// This CPU's features (all false off x86-64).
CpuFeatures cpu_features();

// The widest level a program may use: AVX-512 needs F, CD, BW, DQ and VL (what OpenBLAS's SkylakeX
// kernels use); AVX2 needs FMA too.
SimdLevel cpu_level(const CpuFeatures& cpu);

// The level of an OpenBLAS kernel by the name openblas_get_corename() gives; unknown for a name
// labrun does not know (a newer OpenBLAS's), which labrun then leaves alone.
SimdLevel kernel_level(std::string_view openblas_core);

// The OpenBLAS kernel labrun asks for at a level: Prescott, Nehalem, Sandybridge, Haswell, SkylakeX
// (names every OpenBLAS since 0.3.0 accepts in OPENBLAS_CORETYPE); "" for unknown.
std::string_view kernel_for(SimdLevel level);

// LABRUN_BLAS_CORRECTION: auto (restart when the work pays for it), off, always (restart whatever
// the work).
enum class BlasCorrection { automatic, off, always };

// Parses LABRUN_BLAS_CORRECTION's value ("" is automatic); nullopt for anything else.
std::optional<BlasCorrection> parse_blas_correction(std::string_view text);

// A restart costs one more start of the process (about 0.45 s: loading libtorch). On the Prescott
// fall-back, dgemm runs at ~24 GFLOP/s against ~85 on the SkylakeX kernel (1 thread, issue 11), so
// W GFLOP take W (1/24 - 1/85) = 0.030 W s longer: 15 GFLOP break even, 20 save ~0.6 s.
inline constexpr double kRestartMinFlops = 20e9;

// Everything the decision depends on.
struct BlasSituation {
  bool openblas = false;                     // openblas_get_corename() is in the process
  std::string loaded;                        // openblas_get_corename()
  std::optional<std::string> assume_loaded;  // LABRUN_BLAS_ASSUME_LOADED: decide as if this were loaded
  CpuFeatures cpu;
  std::optional<std::string> coretype;  // OPENBLAS_CORETYPE, when set
  std::optional<std::string> l2_size;   // OPENBLAS_L2_SIZE, when set
  BlasCorrection correction = BlasCorrection::automatic;
  std::optional<std::string> restarted_from;  // LABRUN_BLAS_RESTARTED: the kernel OpenBLAS had chosen
  double work_flops = 0.0;                    // the BLAS work the run is expected to do
  std::string once_only_input;                // an input a second start could not read again ("--data -"); "" when none
};

struct BlasDecision {
  bool restart = false;        // start again with OPENBLAS_CORETYPE = kernel
  std::string kernel;          // the kernel to ask for, when restart
  bool corrected = false;      // this process is the restarted one, on a better kernel
  std::string corrected_from;  // the kernel OpenBLAS had chosen, when corrected
  std::string reason;          // one sentence, for the JSON and --version
};

BlasDecision decide_blas_kernel(const BlasSituation& situation);

// This process's situation for a run that will do `work_flops` of BLAS work. Reads
// LABRUN_BLAS_ASSUME_LOADED too: a testing aid that makes the decision take that name for the loaded
// kernel (so that the restart can be tested on a CPU where OpenBLAS already chooses well); the
// reported kernel stays the real one. Throws OptionError (option "LABRUN_BLAS_CORRECTION") for a bad one.
BlasSituation blas_situation(double work_flops);

// What goes into the JSON's environment.blas_kernel and --version.
struct BlasKernelInfo {
  std::string loaded;  // "" when the BLAS is not OpenBLAS
  SimdLevel loaded_level = SimdLevel::unknown;
  SimdLevel cpu_level = SimdLevel::unknown;
  std::string cpu_kernel;  // kernel_for(cpu_level)
  bool corrected = false;
  std::string corrected_from;
  std::string decision;
};

BlasKernelInfo blas_kernel_info(const BlasSituation& situation, const BlasDecision& decision);

}  // namespace labrun
