#pragma once
// Runs labrun on the OpenBLAS kernel the CPU supports: when OpenBLAS chose a narrower one and the
// run's BLAS work pays for a second start, labrun starts itself again with OPENBLAS_CORETYPE set
// (see labrun/blas_kernel.hpp for the decision and docs/numerics.md for what it changes).

#include "common.hpp"

#include "labrun/blas_kernel.hpp"

#include <optional>
#include <string>

namespace labrun::cli {

// Decides for a run of `work_flops` of BLAS work and, when the decision says so, replaces this
// process with labrun on the better kernel (same arguments, same environment plus
// OPENBLAS_CORETYPE and the LABRUN_BLAS_RESTARTED guard). Returns when it does not restart, or
// when the restart failed (said in the decision the JSON reports). Call it before anything is
// written.
// A second start reads the inputs again: when one cannot be (`--data -`, a pipe, a FIFO, a device,
// the same for --config), labrun does not restart and the decision says which input kept it.
void use_best_blas_kernel(double work_flops, const CommonOptions& inputs);

// What use_best_blas_kernel decided (with a failed restart's reason), for the JSON's environment;
// nullopt before it is called.
const std::optional<BlasKernelInfo>& blas_kernel_used();

}  // namespace labrun::cli
