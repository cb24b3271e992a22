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

struct MemoryBudget {
  double bytes = 0.0;      // what this process may still allocate
  std::string limited_by;  // "available memory", "the cgroup's memory.max", "ulimit -v", "ulimit -d"
};

// The least of: the kernel's MemAvailable, the cgroup's memory limit less its usage (cgroup v2 or
// v1), RLIMIT_AS less the address space in use (ulimit -v), RLIMIT_DATA less the data segment
// (ulimit -d). Read from /proc and /sys at each call.
MemoryBudget available_memory();

// Throws ResourceError when `bytes` (an estimate of what `what` needs) exceeds available_memory():
// "<what> needs about 3.2 GiB of memory, and 1.1 GiB is available (ulimit -v)<advice>".
void require_memory(double bytes, const std::string& what, const std::string& advice = "");

// 1536 -> "1.5 KiB": bytes in binary units, three significant digits.
std::string format_bytes(double bytes);

}  // namespace labrun
