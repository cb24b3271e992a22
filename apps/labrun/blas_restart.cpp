#include "blas_restart.hpp"

#include "config.hpp"
#include "environment.hpp"

#include "labrun/blas_kernel.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>

namespace labrun::cli {
namespace {

std::optional<BlasKernelInfo> g_kernel;  // what use_best_blas_kernel decided

}  // namespace

const std::optional<BlasKernelInfo>& blas_kernel_used() { return g_kernel; }

void use_best_blas_kernel(double work_flops, const CommonOptions& inputs) {
  BlasSituation situation = blas_situation(work_flops);
  situation.once_only_input = once_only_input(inputs);
  const BlasDecision decision = decide_blas_kernel(situation);
  g_kernel = blas_kernel_info(situation, decision);
  char** argv = remembered_argv();
  // The work starts here (every refusal that needs no work is behind): the notes so far are said
  // now, before it, not after it (a restart says them in the new process).
  if (!decision.restart || argv == nullptr) return print_notes();

  const std::string from = situation.assume_loaded.value_or(situation.loaded);
  ::setenv("OPENBLAS_CORETYPE", decision.kernel.c_str(), 1);
  ::setenv("LABRUN_BLAS_RESTARTED", from.c_str(), 1);
  std::cout.flush();
  std::cerr.flush();
  ::execv("/proc/self/exe", argv);
  // Still here: the restart failed. Go on with the kernel loaded, and say so.
  const int error = errno;
  ::unsetenv("OPENBLAS_CORETYPE");
  ::unsetenv("LABRUN_BLAS_RESTARTED");
  g_kernel->decision =
      decision.reason + ", but the restart failed (" + std::strerror(error) + "): going on with " + situation.loaded;
  std::cerr << "labrun: warning: " << g_kernel->decision << "\n";
  print_notes();
}

}  // namespace labrun::cli
