#include "environment.hpp"

#include "common.hpp"

#include "labrun/utf8.hpp"

#include <fmt/format.h>

#include <signal.h>
#include <unistd.h>
#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <string>
#include <string_view>
#include <thread>

namespace labrun::cli {
namespace {

void check_thread_variable(const char* name) {
  const char* value = std::getenv(name);
  if (value == nullptr) return;
  // OpenMP's form: one count, or a list of them for nested levels ("4,2"); libtorch takes the first.
  const std::string_view text(value);
  bool valid = !text.empty();
  for (std::size_t start = 0; valid && start <= text.size();) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    const std::string_view count = text.substr(start, comma - start);
    const bool digits =
        !count.empty() && count.size() <= 9 && count.find_first_not_of("0123456789") == std::string::npos;
    const long threads = digits ? std::strtol(std::string(count).c_str(), nullptr, 10) : 0;
    valid = threads >= 1 && threads <= thread_limit();
    start = comma + 1;
  }
  if (!valid) {
    throw UsageError(
        fmt::format("{}='{}' must be a whole number from 1 to {} (4 x the CPUs here), or a list of them "
                    "(\"4,2\"), or unset",
                    name, printable(text, 60), thread_limit()));
  }
}

}  // namespace

namespace {
int g_argc = 0;
char** g_argv = nullptr;
std::string g_started;
}  // namespace

void remember_command_line(int argc, char** argv) {
  g_argc = argc;
  g_argv = argv;
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  ::gmtime_r(&now, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  g_started = text;
}

char** remembered_argv() { return g_argv; }

std::vector<std::string> command_line() { return {g_argv, g_argv + g_argc}; }

const std::string& started_utc() { return g_started; }

std::string working_directory() {
  std::error_code ec;
  const std::string dir = std::filesystem::current_path(ec).string();
  return ec || invalid_utf8_offset(dir) ? std::string() : dir;
}

int thread_limit() { return 4 * static_cast<int>(std::max(1u, std::thread::hardware_concurrency())); }

namespace {

// A mapped input (a --data file is mapped, and a streamed matrix is read from the mapping every
// epoch) that another process truncates raises SIGBUS at the next read past its new end: one
// line and the data error's exit code, not a core dump. Only async-signal-safe calls here.
extern "C" void mapped_file_cut_short(int) {
  static const char message[] =
      "labrun: error: bus error reading a mapped input file: was the --data file truncated while labrun read it?\n";
  [[maybe_unused]] const ssize_t written = ::write(STDERR_FILENO, message, sizeof message - 1);
  ::_exit(kExitDataError);
}

}  // namespace

void check_process_inputs(int argc, char** argv) {
  std::signal(SIGXFSZ, SIG_IGN);
  struct sigaction bus {};
  bus.sa_handler = mapped_file_cut_short;
  sigemptyset(&bus.sa_mask);
  ::sigaction(SIGBUS, &bus, nullptr);
  for (int i = 1; i < argc; ++i) {
    if (const auto bad = invalid_utf8_offset(argv[i])) {
      throw DataError(fmt::format("argument {} ('{}') is not UTF-8 at byte {}: labrun's output is UTF-8 JSON", i,
                                  printable(argv[i], 60), *bad + 1));
    }
  }
  check_thread_variable("OMP_NUM_THREADS");
  check_thread_variable("MKL_NUM_THREADS");
}

}  // namespace labrun::cli
