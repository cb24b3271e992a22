#include "labrun/runtime.hpp"

#include "labrun/version.hpp"

#include <torch/torch.h>
#include <torch/version.h>

#include <dlfcn.h>
#include <link.h>

#include <cstdlib>
#include <cstring>
#include <string>

namespace labrun {
namespace {

// The first loaded shared object whose file name holds "blas" (libblas.so.3 resolves through
// Debian's alternatives to OpenBLAS, BLIS, MKL or the reference BLAS).
std::string loaded_blas_path() {
  std::string found;
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* out) {
        const char* name = info->dlpi_name;
        const char* base = name ? std::strrchr(name, '/') : nullptr;
        base = base ? base + 1 : name;
        if (base && std::strstr(base, "blas")) {
          // Through Debian's alternatives symlinks to the library's real path.
          char* real = realpath(name, nullptr);
          *static_cast<std::string*>(out) = real ? real : name;
          std::free(real);
          return 1;
        }
        return 0;
      },
      &found);
  return found;
}

std::string blas_description(const std::string& path) {
  // OpenBLAS describes itself, build options and the kernel it chose included.
  using ConfigFn = char* (*)();
  if (auto* config = reinterpret_cast<ConfigFn>(dlsym(RTLD_DEFAULT, "openblas_get_config"))) {
    std::string text = config();
    while (!text.empty() && text.back() == ' ') text.pop_back();
    return text;
  }
  if (path.empty()) return "none found";
  if (path.find("/blas/") != std::string::npos) return "reference BLAS (netlib)";
  if (path.find("blis") != std::string::npos) return "BLIS";
  if (path.find("mkl") != std::string::npos) return "Intel MKL";
  return "unknown";
}

}  // namespace

RuntimeInfo runtime_info() {
  RuntimeInfo info;
  info.labrun_version = LABRUN_VERSION;
  info.build_commit = build_commit();
  info.libtorch_version = TORCH_VERSION;
  info.blas_library = loaded_blas_path();
  info.blas = blas_description(info.blas_library);
  info.threads = torch::get_num_threads();
  const BlasSituation situation = blas_situation(0.0);
  info.blas_kernel = blas_kernel_info(situation, decide_blas_kernel(situation));
  return info;
}

}  // namespace labrun
