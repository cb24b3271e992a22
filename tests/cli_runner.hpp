#pragma once
// The labrun binary run as a user runs it: arguments (and environment) in; exit code, stdout and
// stderr out.

#include "test_files.hpp"

#include <sys/wait.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace labrun::test {

struct Outcome {
  int exit_code = -1;
  std::string out;
  std::string err;
};

inline std::string quote(const std::string& arg) {
  std::string q = "'";
  for (const char c : arg) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Runs labrun with `environment` ("NAME=value" each) added to the test's own.
// Runs a shell command line with stdout and stderr caught in dir and stdin empty.
inline Outcome run_command(const std::string& command_line, const std::string& dir) {
  const std::string command =
      command_line + " >" + quote(dir + "/stdout") + " 2>" + quote(dir + "/stderr") + " </dev/null";
  const int status = std::system(command.c_str());
  Outcome run;
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  run.out = read_file(dir + "/stdout");
  run.err = read_file(dir + "/stderr");
  return run;
}

inline Outcome labrun_with(const std::vector<std::string>& environment, const std::vector<std::string>& args,
                           const std::string& dir) {
  std::string command = environment.empty() ? "" : "env ";
  for (const auto& variable : environment) command += quote(variable) + " ";
  command += quote(LABRUN_BINARY);
  for (const auto& arg : args) command += " " + quote(arg);
  return run_command(command, dir);
}

// Runs a shell script with labrun's binary as $LABRUN (for pipes, redirections and ulimit).
inline Outcome shell(const std::string& script, const std::string& dir) {
  return run_command("LABRUN=" + quote(LABRUN_BINARY) + " sh -c " + quote(script), dir);
}

inline Outcome labrun(const std::vector<std::string>& args, const std::string& dir) {
  return labrun_with({}, args, dir);
}

inline const std::string kIris = LABRUN_SOURCE_DIR "/data/iris.data";

}  // namespace labrun::test
