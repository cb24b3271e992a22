#pragma once
// A study's progress on stderr: one line rewritten in place, on a terminal only unless asked.

#include "common.hpp"

#include "labrun/studies.hpp"

#include <chrono>
#include <string>

namespace labrun::cli {

class ProgressLine {
 public:
  // auto_: shown when stderr is a terminal. `what` names the units: "runs".
  ProgressLine(ProgressMode mode, std::string what);
  ~ProgressLine();
  ProgressLine(const ProgressLine&) = delete;
  ProgressLine& operator=(const ProgressLine&) = delete;

  // "labrun: 1200/1800 runs (67%), 350 runs/s, 2 s left", at most five times a second and always
  // at the end; the library's ProgressCallback.
  void operator()(const Progress& progress);
  // Ends the line (once anything was shown), so that what follows starts on its own.
  void finish();
  bool shown() const { return enabled_; }

 private:
  bool enabled_ = false;
  bool written_ = false;
  std::string what_;
  std::chrono::steady_clock::time_point last_{};
};

// "1 h 02 min", "3 min 05 s", "12 s".
std::string format_duration(double seconds);

}  // namespace labrun::cli
