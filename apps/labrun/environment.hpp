#pragma once
// What labrun takes from its process besides the options: the arguments' encoding, the thread
// variables libtorch reads, and the signals that would end it half-way through a file.

#include <string>
#include <vector>

namespace labrun::cli {

// Keeps argv (for a restart on a better BLAS kernel, and the document's provenance) and the time;
// main calls it first.
void remember_command_line(int argc, char** argv);
char** remembered_argv();                 // nullptr before remember_command_line
std::vector<std::string> command_line();  // argv[0] to argv[argc - 1]
const std::string& started_utc();         // "2026-11-29T16:55:12Z", when it was remembered
std::string working_directory();          // "" when it cannot be read

// Checks, before any work: every argument is UTF-8 (labrun::DataError otherwise: arguments reach
// the JSON), and OMP_NUM_THREADS and MKL_NUM_THREADS, when set, are whole numbers from 1 to
// thread_limit() (UsageError otherwise: libtorch would print a C++ stack trace, or create
// thousands of threads). Ignores SIGXFSZ, so that a file-size limit (ulimit -f) is a write error
// with a message, not a killed process with a temporary file left behind.
void check_process_inputs(int argc, char** argv);

// The most threads labrun accepts for libtorch's pool: 4 a CPU. More only wait on each other
// (512 turned a 0.5 s run into 9 s), and libtorch's pool hangs when it cannot create them.
int thread_limit();

}  // namespace labrun::cli
