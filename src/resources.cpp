#include "labrun/resources.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>

namespace labrun {
namespace {

constexpr double kUnlimited = std::numeric_limits<double>::infinity();

// "Name:   1234 kB" from /proc/self/status or /proc/meminfo, in bytes; nullopt-like NaN if absent.
double kib_field(const char* file, const std::string& name) {
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, name.size() + 1, name + ":") == 0) {
      return std::strtod(line.c_str() + name.size() + 1, nullptr) * 1024.0;
    }
  }
  return std::nan("");
}

// A cgroup file holding one number ("max" or unreadable: unlimited).
double cgroup_number(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text) || text == "max") return kUnlimited;
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  // cgroup v1 writes "no limit" as a number near 2^63.
  return (end == text.c_str() || value >= 0x1p62) ? kUnlimited : value;
}

// The cgroup limit less the usage, for this process's cgroup (v2), or the v1 memory controller's.
double cgroup_room() {
  std::ifstream in("/proc/self/cgroup");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("0::", 0) == 0) {  // cgroup v2: "0::/path"
      const std::string dir = "/sys/fs/cgroup" + line.substr(3);
      const double limit = cgroup_number(dir + "/memory.max");
      if (limit == kUnlimited) return kUnlimited;
      const double used = cgroup_number(dir + "/memory.current");
      return used == kUnlimited ? limit : limit - used;
    }
  }
  const double limit = cgroup_number("/sys/fs/cgroup/memory/memory.limit_in_bytes");
  if (limit == kUnlimited) return kUnlimited;
  const double used = cgroup_number("/sys/fs/cgroup/memory/memory.usage_in_bytes");
  return used == kUnlimited ? limit : limit - used;
}

double rlimit_room(int resource, const char* status_field) {
  struct rlimit limit {};
  if (::getrlimit(resource, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return kUnlimited;
  const double used = kib_field("/proc/self/status", status_field);
  return static_cast<double>(limit.rlim_cur) - (std::isnan(used) ? 0.0 : used);
}

}  // namespace

MemoryBudget available_memory() {
  MemoryBudget budget{kUnlimited, ""};
  const auto consider = [&](double room, const char* name) {
    if (std::isnan(room)) return;
    if (room < budget.bytes) budget = {std::max(room, 0.0), name};
  };
  // A tenth of what the machine has available is left to the rest of it: labrun's estimates are
  // on the high side, but other processes grow too.
  consider(0.9 * kib_field("/proc/meminfo", "MemAvailable"), "available memory, less a tenth left to the machine");
  consider(cgroup_room(), "the cgroup's memory limit");
  consider(rlimit_room(RLIMIT_AS, "VmSize"), "ulimit -v");
  consider(rlimit_room(RLIMIT_DATA, "VmData"), "ulimit -d");
  return budget;
}

void require_blas_address_space(int threads) {
  struct rlimit limit {};
  if (::getrlimit(RLIMIT_AS, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return;
  const double used = kib_field("/proc/self/status", "VmSize");
  if (std::isnan(used)) return;
  // Beside the buffers: thread stacks, libtorch's allocator and the work's tensors (measured:
  // `labrun factorise` needs 130 MiB beyond what it has mapped when main starts).
  constexpr double kMargin = 48.0 * 1024 * 1024;
  const double needed = used + kBlasBufferBytes * std::max(threads, 1) + kMargin;
  const auto cap = static_cast<double>(limit.rlim_cur);
  if (needed <= cap) return;
  char text[512];
  std::snprintf(text, sizeof text,
                "ulimit -v %.0f KB leaves %s of address space beside the %s that labrun and libtorch have mapped; "
                "OpenBLAS maps a 128 MiB buffer per thread (%d here) at its first matrix product and, where the "
                "limit refuses it, retries for ever: raise the limit to at least %.0f KB, or use fewer --threads",
                cap / 1024.0, format_bytes(std::max(cap - used, 0.0)).c_str(), format_bytes(used).c_str(),
                std::max(threads, 1), std::ceil(needed / 1024.0 / 1000.0) * 1000.0);
  throw ResourceError(text);
}

std::string format_bytes(double bytes) {
  static const char* const kUnits[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  std::size_t unit = 0;
  while (bytes >= 1024.0 && unit + 1 < std::size(kUnits)) {
    bytes /= 1024.0;
    ++unit;
  }
  char text[64];
  if (unit == 0) {
    std::snprintf(text, sizeof text, "%.0f bytes", bytes);
  } else {
    std::snprintf(text, sizeof text, bytes < 10 ? "%.2f %s" : bytes < 100 ? "%.1f %s" : "%.0f %s", bytes, kUnits[unit]);
  }
  return text;
}

void require_memory(double bytes, const std::string& what, const std::string& advice) {
  const MemoryBudget budget = available_memory();
  if (!(bytes > budget.bytes)) return;
  throw ResourceError(what + " needs about " + format_bytes(bytes) + " of memory, and " + format_bytes(budget.bytes) +
                      " is available (" + budget.limited_by + ")" + advice);
}

}  // namespace labrun
