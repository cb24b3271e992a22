#pragma once
// Memory a run may use, so that work that cannot fit is refused before it starts, saying what it
// would need, instead of failing (or crashing inside libtorch) half-way.

#include <cstdint>
#include <stdexcept>
#include <string>

namespace labrun {

// A run that needs more memory than the process can have. what(): one sentence with both figures.
class ResourceError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// What a piece of work costs, estimated from its shapes before it starts: floating-point operations
// on the BLAS (which decide whether a better BLAS kernel pays for a restart, labrun/blas_kernel.hpp)
// and peak memory in bytes, on the high side (which require_memory compares with what is available).
struct Cost {
  double flops = 0.0;
  double bytes = 0.0;
};

struct MemoryBudget {
  double bytes = 0.0;      // what this process may still allocate
  std::string limited_by;  // "available memory", "the cgroup's memory.max", "ulimit -v", "ulimit -d"
};

// The least of: nine tenths of the kernel's MemAvailable (a tenth is left to the rest of the
// machine), the cgroup's memory limit less its usage (cgroup v2 or v1), RLIMIT_AS less the address
// space in use (ulimit -v), RLIMIT_DATA less the data segment (ulimit -d). Read from /proc and /sys
// at each call.
MemoryBudget available_memory();

// Throws ResourceError when `bytes` (an estimate of what `what` needs) exceeds available_memory():
// "<what> needs about 3.2 GiB of memory, and 1.1 GiB is available (ulimit -v)<advice>".
void require_memory(double bytes, const std::string& what, const std::string& advice = "");

// OpenBLAS (Debian's libtorch's BLAS) maps a buffer of 128 MiB + 4 KiB at the first matrix product
// of each thread that calls it, and when the address-space limit (ulimit -v, as cluster schedulers
// set it) refuses the map it retries for ever at full CPU instead of failing.
constexpr double kBlasBufferBytes = 128.0 * 1024 * 1024 + 4096;

// Throws ResourceError, before any work, when RLIMIT_AS less the address space in use leaves less
// than `threads` BLAS buffers and a margin for libtorch's own allocations: "ulimit -v 800000 KB
// leaves 95 MiB ...: raise it to at least 880000 KB". Nothing when the limit is unlimited.
void require_blas_address_space(int threads);

// 1536 -> "1.5 KiB": bytes in binary units, three significant digits.
std::string format_bytes(double bytes);

}  // namespace labrun
