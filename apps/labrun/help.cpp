#include "help.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <sstream>

namespace labrun::cli {
namespace {

// Descriptions start after the option column; they wrap to what is left of the width.
constexpr std::size_t kOptionColumn = 34;

class WrappingFormatter : public CLI::Formatter {
 public:
  explicit WrappingFormatter(int width) : width_(static_cast<std::size_t>(width)) { column_width(kOptionColumn); }

  std::string make_option_desc(const CLI::Option* option) const override {
    return wrap(CLI::Formatter::make_option_desc(option), width_ - kOptionColumn);
  }
  std::string make_subcommand(const CLI::App* sub) const override {
    std::stringstream out;
    CLI::detail::format_help(out, sub->get_display_name(true), wrap(sub->get_description(), width_ - kOptionColumn),
                             kOptionColumn);
    return out.str();
  }
  std::string make_description(const CLI::App* app) const override {
    return wrap(CLI::Formatter::make_description(app), width_);
  }
  std::string make_footer(const CLI::App* app) const override { return wrap(CLI::Formatter::make_footer(app), width_); }

 private:
  std::size_t width_;
};

// Edits (insert, delete, replace, swap two neighbours) that turn a into b.
std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

}  // namespace

int help_width() {
  int columns = 0;
  struct winsize size {};
  if (::isatty(STDOUT_FILENO) && ::ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) == 0) columns = size.ws_col;
  if (columns == 0) {
    if (const char* env = std::getenv("COLUMNS")) columns = std::atoi(env);
  }
  if (columns <= 0) columns = 80;
  return std::clamp(columns, 60, 160);
}

std::shared_ptr<CLI::Formatter> wrapping_formatter(int width) { return std::make_shared<WrappingFormatter>(width); }

std::string wrap(const std::string& text, std::size_t width) {
  std::string out;
  std::istringstream lines(text);
  std::string line;
  bool first_line = true;
  while (std::getline(lines, line)) {
    if (!first_line) out += '\n';
    first_line = false;
    std::size_t used = 0;
    std::istringstream words(line);
    std::string word;
    while (words >> word) {
      if (used > 0 && used + 1 + word.size() > width) {
        out += '\n';
        used = 0;
      } else if (used > 0) {
        out += ' ';
        ++used;
      }
      out += word;
      used += word.size();
    }
  }
  if (!text.empty() && text.back() == '\n') out += '\n';
  return out;
}

std::string did_you_mean(const CLI::App& command, const std::vector<std::string>& unexpected) {
  std::vector<std::string> names;
  for (const CLI::Option* option : command.get_options()) {
    for (const std::string& name : option->get_lnames()) names.push_back("--" + name);
  }
  std::vector<std::string> close;
  for (const std::string& typed : unexpected) {
    if (typed.rfind("-", 0) != 0) {  // a subcommand's name, mistyped
      for (const CLI::App* sub : command.get_subcommands({})) {
        if (edit_distance(typed, sub->get_name()) <= 2) close.push_back(sub->get_name());
      }
      continue;
    }
    if (typed.rfind("--", 0) != 0 || typed.size() < 3) continue;
    const std::string bare = typed.substr(0, typed.find('='));
    for (const std::string& name : names) {
      const bool near = edit_distance(bare, name) <= std::max<std::size_t>(1, bare.size() / 4);
      // --lr under `all`: --factorise-lr and --mlp-lr
      const bool ends_alike = name.size() > bare.size() &&
                              name.compare(name.size() - bare.size() + 1, std::string::npos, "-" + bare.substr(2)) == 0;
      if ((near || ends_alike) && std::find(close.begin(), close.end(), name) == close.end()) close.push_back(name);
    }
  }
  std::string joined;
  for (std::size_t i = 0; i < close.size() && i < 3; ++i) joined += (i ? " or " : "") + close[i];
  return joined;
}

}  // namespace labrun::cli
