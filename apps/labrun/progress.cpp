#include "progress.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>

namespace labrun::cli {

const char* to_string(ProgressMode mode) {
  switch (mode) {
    case ProgressMode::always:
      return "always";
    case ProgressMode::never:
      return "never";
    case ProgressMode::auto_:
      break;
  }
  return "auto";
}

ProgressLine::ProgressLine(ProgressMode mode, std::string what)
    : enabled_(mode == ProgressMode::always || (mode == ProgressMode::auto_ && ::isatty(STDERR_FILENO) == 1)),
      what_(std::move(what)) {}

ProgressLine::~ProgressLine() { finish(); }

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0.0) return "?";
  const auto s = static_cast<long long>(std::llround(seconds));
  if (s >= 3600) return fmt::format("{} h {:02} min", s / 3600, (s % 3600) / 60);
  if (s >= 60) return fmt::format("{} min {:02} s", s / 60, s % 60);
  return fmt::format("{} s", s);
}

void ProgressLine::operator()(const Progress& p) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  const bool last = p.done >= p.total;
  if (!last && written_ && now - last_ < std::chrono::milliseconds(200)) return;
  last_ = now;
  const double rate = p.seconds > 0.0 ? static_cast<double>(p.done) / p.seconds : 0.0;
  const double left = rate > 0.0 ? static_cast<double>(p.total - p.done) / rate : NAN;
  const double percent = p.total > 0 ? 100.0 * static_cast<double>(p.done) / static_cast<double>(p.total) : 100.0;
  // \r and a cleared line on a terminal; one line per report elsewhere (a log file), as asked.
  const bool terminal = ::isatty(STDERR_FILENO) == 1;
  std::string line =
      fmt::format("labrun: {}/{} {} ({:.0f}%), {:.4g} {}/s, {}", p.done, p.total, what_, percent, rate, what_,
                  last ? format_duration(p.seconds) + " in all" : format_duration(left) + " left");
  std::fputs(terminal ? ("\r\033[K" + line).c_str() : (line + "\n").c_str(), stderr);
  std::fflush(stderr);
  written_ = terminal;
}

void ProgressLine::finish() {
  if (written_) std::fputs("\n", stderr);
  written_ = false;
}

}  // namespace labrun::cli
