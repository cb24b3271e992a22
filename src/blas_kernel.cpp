#include "labrun/blas_kernel.hpp"

#include "labrun/options.hpp"

#include <dlfcn.h>

#include <strings.h>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace labrun {
namespace {

std::optional<std::string> environment(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

std::string format_gflop(double flops) {
  const double gflop = flops / 1e9;
  char text[32];
  std::snprintf(text, sizeof text, gflop < 10 ? "%.2g" : "%.0f", gflop);
  return text;
}

}  // namespace

std::string_view to_string(SimdLevel level) {
  switch (level) {
    case SimdLevel::sse3:
      return "sse3";
    case SimdLevel::sse4_2:
      return "sse4.2";
    case SimdLevel::avx:
      return "avx";
    case SimdLevel::avx2:
      return "avx2";
    case SimdLevel::avx512:
      return "avx512";
    case SimdLevel::unknown:
      break;
  }
  return "unknown";
}

CpuFeatures cpu_features() {
  CpuFeatures f;
#if defined(__x86_64__) || defined(__i386__)
  // GCC's and Clang's CPUID probe, which counts AVX and AVX-512 only where the OS saves their
  // registers (XGETBV).
  __builtin_cpu_init();
  f.sse3 = __builtin_cpu_supports("sse3");
  f.ssse3 = __builtin_cpu_supports("ssse3");
  f.sse4_1 = __builtin_cpu_supports("sse4.1");
  f.sse4_2 = __builtin_cpu_supports("sse4.2");
  f.avx = __builtin_cpu_supports("avx");
  f.avx2 = __builtin_cpu_supports("avx2");
  f.fma = __builtin_cpu_supports("fma");
  f.avx512f = __builtin_cpu_supports("avx512f");
  f.avx512dq = __builtin_cpu_supports("avx512dq");
  f.avx512cd = __builtin_cpu_supports("avx512cd");
  f.avx512bw = __builtin_cpu_supports("avx512bw");
  f.avx512vl = __builtin_cpu_supports("avx512vl");
#endif
  return f;
}

SimdLevel cpu_level(const CpuFeatures& c) {
  const bool avx2 = c.avx && c.avx2 && c.fma;
  if (avx2 && c.avx512f && c.avx512cd && c.avx512bw && c.avx512dq && c.avx512vl) return SimdLevel::avx512;
  if (avx2) return SimdLevel::avx2;
  if (c.avx) return SimdLevel::avx;
  if (c.sse4_2 && c.sse4_1 && c.ssse3 && c.sse3) return SimdLevel::sse4_2;
  if (c.sse3) return SimdLevel::sse3;
  return SimdLevel::unknown;
}

SimdLevel kernel_level(std::string_view core) {
  // OpenBLAS 0.3.x's x86-64 core names (driver/others/dynamic.c), by the instructions their kernels use.
  struct Entry {
    const char* name;
    SimdLevel level;
  };
  static constexpr std::array<Entry, 27> kCores{{
      {"Katmai", SimdLevel::sse3},       {"Coppermine", SimdLevel::sse3},
      {"Northwood", SimdLevel::sse3},    {"Prescott", SimdLevel::sse3},
      {"Banias", SimdLevel::sse3},       {"Atom", SimdLevel::sse3},
      {"Core2", SimdLevel::sse3},        {"Penryn", SimdLevel::sse3},
      {"Dunnington", SimdLevel::sse3},   {"Athlon", SimdLevel::sse3},
      {"Opteron", SimdLevel::sse3},      {"Opteron_SSE3", SimdLevel::sse3},
      {"Barcelona", SimdLevel::sse3},    {"Nano", SimdLevel::sse3},
      {"Bobcat", SimdLevel::sse3},       {"Nehalem", SimdLevel::sse4_2},
      {"Sandybridge", SimdLevel::avx},   {"Bulldozer", SimdLevel::avx},
      {"Piledriver", SimdLevel::avx},    {"Steamroller", SimdLevel::avx},
      {"Haswell", SimdLevel::avx2},      {"Excavator", SimdLevel::avx2},
      {"Zen", SimdLevel::avx2},          {"SkylakeX", SimdLevel::avx512},
      {"Cooperlake", SimdLevel::avx512}, {"SapphireRapids", SimdLevel::avx512},
      {"Dhyana", SimdLevel::avx2},
  }};
  const std::string name(core);
  for (const Entry& entry : kCores) {
    if (strcasecmp(entry.name, name.c_str()) == 0) return entry.level;
  }
  return SimdLevel::unknown;
}

std::string_view kernel_for(SimdLevel level) {
  switch (level) {
    case SimdLevel::sse3:
      return "Prescott";
    case SimdLevel::sse4_2:
      return "Nehalem";
    case SimdLevel::avx:
      return "Sandybridge";
    case SimdLevel::avx2:
      return "Haswell";
    case SimdLevel::avx512:
      return "SkylakeX";
    case SimdLevel::unknown:
      break;
  }
  return "";
}

std::optional<BlasCorrection> parse_blas_correction(std::string_view text) {
  if (text.empty() || text == "auto") return BlasCorrection::automatic;
  if (text == "off") return BlasCorrection::off;
  if (text == "always") return BlasCorrection::always;
  return std::nullopt;
}

BlasDecision decide_blas_kernel(const BlasSituation& s) {
  BlasDecision d;
  if (!s.openblas) {
    d.reason = "the BLAS is not OpenBLAS: left as it is";
    return d;
  }
  if (s.restarted_from && !s.coretype) {
    d.reason = "LABRUN_BLAS_RESTARTED is set without OPENBLAS_CORETYPE: not restarting again";
    return d;
  }
  if (s.restarted_from) {
    // This process is the restarted one: never restart again, whatever it finds.
    d.corrected_from = *s.restarted_from;
    d.corrected = kernel_level(s.loaded) > kernel_level(*s.restarted_from);
    d.reason = d.corrected
                   ? "labrun restarted on OpenBLAS's " + s.loaded + " kernel; OpenBLAS had chosen " + *s.restarted_from
                   : "labrun restarted to leave OpenBLAS's " + *s.restarted_from + " kernel, but got " + s.loaded;
    return d;
  }
  if (s.coretype) {
    d.reason = "OPENBLAS_CORETYPE=" + *s.coretype + " is set in the environment: respected";
    return d;
  }
  if (s.l2_size) {
    d.reason = "OPENBLAS_L2_SIZE=" + *s.l2_size + " is set in the environment: OpenBLAS's choice respected";
    return d;
  }
  if (s.correction == BlasCorrection::off) {
    d.reason = "LABRUN_BLAS_CORRECTION=off";
    return d;
  }
  const std::string name = s.assume_loaded ? *s.assume_loaded + " (LABRUN_BLAS_ASSUME_LOADED)" : s.loaded;
  const SimdLevel loaded = kernel_level(s.assume_loaded ? *s.assume_loaded : s.loaded);
  const SimdLevel cpu = cpu_level(s.cpu);
  if (loaded == SimdLevel::unknown) {
    d.reason = "OpenBLAS's kernel " + name + " is not one labrun knows: left as it is";
    return d;
  }
  if (cpu == SimdLevel::unknown) {
    d.reason = "the CPU's vector instructions could not be read: left as it is";
    return d;
  }
  if (loaded >= cpu) {
    d.reason = "OpenBLAS's " + name + " kernel already uses the widest vectors this CPU and OS allow (" +
               std::string(to_string(cpu)) + ")";
    return d;
  }
  const std::string target(kernel_for(cpu));
  const std::string below = "OpenBLAS chose " + name + " (" + std::string(to_string(loaded)) + ") on a CPU that runs " +
                            target + " (" + std::string(to_string(cpu)) + ")";
  if (!s.once_only_input.empty()) {
    d.reason = below + "; not restarted, as " + s.once_only_input + " cannot be read a second time";
    return d;
  }
  if (s.correction == BlasCorrection::automatic && !(s.work_flops >= kRestartMinFlops)) {
    d.reason = below + "; not restarted for " + format_gflop(s.work_flops) +
               " GFLOP of BLAS work (a restart pays from " + format_gflop(kRestartMinFlops) + ")";
    return d;
  }
  d.restart = true;
  d.kernel = target;
  d.reason = below + ": restarting on " + target;
  return d;
}

BlasSituation blas_situation(double work_flops) {
  BlasSituation s;
  using CoreNameFn = char* (*)();
  if (auto* corename = reinterpret_cast<CoreNameFn>(dlsym(RTLD_DEFAULT, "openblas_get_corename"))) {
    s.openblas = true;
    const char* name = corename();
    s.loaded = name ? name : "";
  }
  s.cpu = cpu_features();
  s.coretype = environment("OPENBLAS_CORETYPE");
  s.l2_size = environment("OPENBLAS_L2_SIZE");
  s.restarted_from = environment("LABRUN_BLAS_RESTARTED");
  s.assume_loaded = environment("LABRUN_BLAS_ASSUME_LOADED");
  const std::string correction = environment("LABRUN_BLAS_CORRECTION").value_or("");
  const auto parsed = parse_blas_correction(correction);
  if (!parsed) {
    throw OptionError("blas_situation", "LABRUN_BLAS_CORRECTION", "'" + correction + "' must be auto, off or always");
  }
  s.correction = *parsed;
  s.work_flops = work_flops;
  return s;
}

BlasKernelInfo blas_kernel_info(const BlasSituation& s, const BlasDecision& d) {
  BlasKernelInfo info;
  info.loaded = s.loaded;
  info.loaded_level = kernel_level(s.loaded);
  info.cpu_level = cpu_level(s.cpu);
  info.cpu_kernel = kernel_for(info.cpu_level);
  info.corrected = d.corrected;
  info.corrected_from = d.corrected_from;
  info.decision = d.reason;
  return info;
}

}  // namespace labrun
