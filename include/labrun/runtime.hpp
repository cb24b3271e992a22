#pragma once
// What labrun runs on: versions, the BLAS library actually loaded, libtorch's thread count.

#include "labrun/blas_kernel.hpp"

#include <string>

namespace labrun {

// The git commit labrun was built from ("-dirty" with uncommitted changes; "unknown" outside git).
const char* build_commit();

struct RuntimeInfo {
  std::string labrun_version;
  std::string build_commit;      // build_commit()
  std::string libtorch_version;  // of the headers labrun was compiled against
  std::string blas;              // e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64"
  std::string blas_library;      // path of the BLAS shared object in this process, or "" if none
  int threads = 0;               // torch::get_num_threads()
  BlasKernelInfo blas_kernel;    // the OpenBLAS kernel loaded, the CPU's, and labrun's decision
};

// The process's runtime, with the BLAS kernel decision for a run of no BLAS work (what a caller
// that decided for its own run replaces). Throws std::invalid_argument for a bad
// LABRUN_BLAS_CORRECTION.
RuntimeInfo runtime_info();

}  // namespace labrun
