#pragma once
// What labrun runs on: versions, the BLAS library actually loaded, libtorch's thread count.

#include <string>

namespace labrun {

struct RuntimeInfo {
  std::string labrun_version;
  std::string libtorch_version;  // of the headers labrun was compiled against
  std::string blas;              // e.g. "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64"
  std::string blas_library;      // path of the BLAS shared object in this process, or "" if none
  int threads = 0;               // torch::get_num_threads()
};

RuntimeInfo runtime_info();

}  // namespace labrun
