#pragma once
// Help that fits the terminal, and suggestions for what was mistyped.

#include <CLI/CLI.hpp>

#include <memory>
#include <string>
#include <vector>

namespace labrun::cli {

// The width help is wrapped to: the terminal's columns when stdout is one, else $COLUMNS, else
// 80; kept within 60 to 160.
int help_width();

// CLI11's formatter with every description, footer and subcommand line wrapped to `width`.
std::shared_ptr<CLI::Formatter> wrapping_formatter(int width);

// `text` broken into lines of at most `width` characters at spaces (a longer word stays whole);
// existing line breaks are kept.
std::string wrap(const std::string& text, std::size_t width);

// For the arguments of `command` it did not expect: the options of `command` whose names are
// close (an edit or two away, or a longer name ending the same way, as --mlp-lr for --lr),
// "--rank" or "--factorise-lr or --mlp-lr"; for a word, its subcommands two edits away or less
// ("factorise" for "factorize"); "" when none is close.
std::string did_you_mean(const CLI::App& command, const std::vector<std::string>& unexpected);

}  // namespace labrun::cli
