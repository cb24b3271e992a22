// labrun: the PyTorch autograd lab in C++. main wires the subcommands and maps every error to one
// line on stderr and a documented exit code.

#include "all_cmd.hpp"
#include "blas_restart.hpp"
#include "common.hpp"
#include "compare_cmd.hpp"
#include "config.hpp"
#include "environment.hpp"
#include "factorise_cmd.hpp"
#include "help.hpp"
#include "merge_cmd.hpp"
#include "mlp_cmd.hpp"
#include "summary_cmd.hpp"
#include "sweep_cmd.hpp"

#include "labrun/resources.hpp"
#include "labrun/runtime.hpp"

#include <c10/util/Exception.h>
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <sys/stat.h>

#include <cstdlib>
#include <functional>
#include <iostream>
#include <memory>
#include <new>
#include <string>
#include <vector>

namespace {

constexpr const char* kExitCodes =
    "Exit codes: 0 ok; 1 bad data, I/O error or not enough memory; 2 bad command line; 3 training diverged (JSON still "
    "written); 4 internal error.";

// The first line of a message: libtorch's errors carry a C++ stack trace after it.
std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

// One line, whatever the message holds: control characters (a path may contain a newline) are
// written as \n, \t, \xNN.
int fail(int code, const std::string& message) {
  std::string line;
  for (const char c : message) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u != 0x7f) {
      line += c;
    } else {
      line += c == '\n' ? "\\n" : c == '\t' ? "\\t" : fmt::format("\\x{:02x}", u);
    }
  }
  std::cerr << "labrun: error: " << line << "\n";
  return code;
}

void print_version() {
  const labrun::RuntimeInfo info = labrun::runtime_info();
  const labrun::BlasKernelInfo& kernel = info.blas_kernel;
  fmt::print("labrun {}\nlibtorch {}\nBLAS {} ({})\nthreads {}\n", info.labrun_version, info.libtorch_version,
             info.blas, info.blas_library.empty() ? "no BLAS library loaded" : info.blas_library, info.threads);
  fmt::print("BLAS kernel {} ({}); the CPU runs {} ({}); corrected: {}\n",
             kernel.loaded.empty() ? "n/a" : kernel.loaded, labrun::to_string(kernel.loaded_level),
             kernel.cpu_kernel.empty() ? "n/a" : kernel.cpu_kernel, labrun::to_string(kernel.cpu_level),
             kernel.corrected ? "yes, from " + kernel.corrected_from : std::string("no"));
  fmt::print("BLAS kernel decision: {}\n", kernel.decision);
}

// -o onto the --config file would replace the options with the results, as -o onto --data would
// replace the data: refused before anything runs.
void refuse_output_onto_config(const CLI::App& app) {
  const CLI::Option* config = app.get_config_ptr();
  if (config == nullptr || config->count() == 0) return;
  const std::string config_path = config->as<std::string>();
  struct stat config_file {};
  if (::stat(config_path.c_str(), &config_file) != 0 || !S_ISREG(config_file.st_mode)) return;
  std::vector<const CLI::App*> commands = {&app};
  for (std::size_t i = 0; i < commands.size(); ++i) {
    for (const CLI::App* sub : commands[i]->get_subcommands({})) {
      if (sub->parsed()) commands.push_back(sub);
    }
  }
  for (const CLI::App* command : commands) {
    const CLI::Option* output = command->get_option_no_throw("--output");
    if (output == nullptr || output->count() == 0) continue;
    const std::string path = output->as<std::string>();
    struct stat target {};
    if (path != "-" && ::stat(path.c_str(), &target) == 0 && target.st_dev == config_file.st_dev &&
        target.st_ino == config_file.st_ino) {
      throw labrun::cli::UsageError("-o " + path + " is the --config file " + config_path +
                                    ": writing the results there would replace the options; choose another output");
    }
  }
}

// A subcommand: its CLI11 app, how it runs, and, for those with --print-config, the options it
// writes and their checks.
struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
  const labrun::cli::CommonOptions* common = nullptr;
  const labrun::cli::Checks* checks = nullptr;
};

// "factorise", "sweep mlp".
std::string full_name(const CLI::App& command) {
  const CLI::App* parent = command.get_parent();
  return parent != nullptr && parent->get_parent() != nullptr ? parent->get_name() + " " + command.get_name()
                                                              : command.get_name();
}

int run(int argc, char** argv) {
  using namespace labrun::cli;
  remember_command_line(argc, argv);

  CLI::App app{
      "labrun: the PyTorch autograd lab (low-rank factorisation, PCA, a shared-bias MLP) on LibTorch.\n"
      "Writes JSON on stdout or to -o FILE.",
      "labrun"};
  app.footer(kExitCodes);
  app.formatter(wrapping_formatter(help_width()));  // before the subcommands, which copy it
  app.require_subcommand(0, 1);
  bool version = false;
  app.add_flag("--version", version, "Print labrun's and libtorch's versions, the BLAS and the thread count");

  // The subcommands, in the order --help lists them. Adding one: its options and run_* function in
  // a file of its own, and a line here.
  FactoriseCommand factorise, pca;
  MlpCommand mlp;
  AllCommand all;
  SweepCommand sweep_mlp, sweep_factorise;
  MergeCommand merge;
  CompareCommand compare;
  SummaryCommand summary;
  std::vector<Command> commands;
  commands.push_back({setup_factorise(app, factorise), [&] { return run_factorise(factorise, /*with_pca=*/false); },
                      &factorise.common, &factorise.checks});
  commands.push_back(
      {setup_pca(app, pca), [&] { return run_factorise(pca, /*with_pca=*/true); }, &pca.common, &pca.checks});
  commands.push_back({setup_mlp(app, mlp), [&] { return run_mlp(mlp); }, &mlp.common, &mlp.checks});
  commands.push_back({setup_all(app, all), [&] { return run_all(all); }, &all.common, &all.checks});
  const auto [sweep_mlp_command, sweep_factorise_command] = setup_sweep(app, sweep_mlp, sweep_factorise);
  commands.push_back({sweep_mlp_command, [&] { return run_sweep(sweep_mlp); }, &sweep_mlp.common, &sweep_mlp.checks});
  commands.push_back({sweep_factorise_command, [&] { return run_sweep(sweep_factorise); }, &sweep_factorise.common,
                      &sweep_factorise.checks});
  commands.push_back({setup_merge(app, merge), [&] { return run_merge(merge); }});
  commands.push_back({setup_compare(app, compare), [&] { return run_compare(compare); }});
  commands.push_back({setup_summary(app, summary), [&] { return run_summary(summary); }});
  // --config FILE belongs to labrun and reads the subcommand's [section]; a subcommand passes it up.
  app.set_config("--config", "", "Read a subcommand's options from FILE, as --print-config writes it")
      ->type_name("FILE")
      ->check(CLI::ExistingFile);
  app.allow_config_extras(CLI::config_extras_mode::error);
  const auto config_reader = std::make_shared<ConfigReader>(app);
  app.config_formatter(config_reader);
  for (const Command& c : commands) {
    CLI::App* command = c.app;
    const std::string name = full_name(*command);
    const bool printable = c.common != nullptr;
    command->footer("Options may also come from a file: labrun --config FILE " + name +
                    (printable ? " (write one with --print-config).\n" : " (its [" + name + "] section).\n") +
                    kExitCodes);
    command->fallthrough();
  }
  sweep_mlp_command->get_parent()->fallthrough();

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return kExitOk;
  } catch (const CLI::CallForAllHelp&) {
    std::cout << app.help("", CLI::AppFormatMode::All);
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    // Name the subcommand's own help, and what the user may have meant.
    const CLI::App* command = &app;
    for (const Command& c : commands) {
      const CLI::App* parent = c.app->get_parent();
      if (parent != &app && parent->parsed() && command == &app) command = parent;  // `labrun sweep` alone
      if (c.app->parsed()) command = c.app;
    }
    const std::string help = command == &app ? "labrun --help" : "labrun " + full_name(*command) + " --help";
    std::string message = e.what();
    std::vector<std::string> unexpected = app.remaining(/*recurse=*/true);
    // A key of the config file that no option has: "INI was not able to parse factorise.rnak".
    constexpr std::string_view kConfigKey = "INI was not able to parse ";
    if (message.rfind(kConfigKey, 0) == 0) {
      const std::string key = message.substr(kConfigKey.size());
      message = "--config: no option '" + key +
                "' (a config file holds a section per subcommand, as --print-config "
                "writes it)";
      unexpected = {"--" + key.substr(key.rfind('.') + 1)};
    }
    // "Could not convert: --lr = 0.1,0.2": a list (on the command line or in a config file) where
    // one value is taken; the sweeps take lists.
    constexpr std::string_view kConvert = "Could not convert: ";
    if (message.rfind(kConvert, 0) == 0 && message.find(',') != std::string::npos) {
      message = message.substr(kConvert.size()) + ": one value is taken here; a list of values is an axis of " +
                "labrun sweep mlp|factorise";
    }
    // CLI11 lists the unexpected arguments last first ("2 --rnak"): in the command line's order.
    if (message.rfind("The following argument", 0) == 0 && !unexpected.empty()) {
      std::vector<std::string> ordered = unexpected;
      const auto position = [&](const std::string& word) {
        for (int i = 1; i < argc; ++i) {
          if (word == argv[i]) return i;
        }
        return argc;
      };
      std::stable_sort(ordered.begin(), ordered.end(),
                       [&](const std::string& a, const std::string& b) { return position(a) < position(b); });
      std::string listed;
      for (const std::string& word : ordered) listed += (listed.empty() ? "" : " ") + word;
      message =
          (ordered.size() == 1 ? "this argument was not expected: " : "these arguments were not expected: ") + listed;
    }
    const std::string close = did_you_mean(*command, unexpected);
    return fail(kExitUsageError,
                message + (close.empty() ? "" : "; did you mean " + close + "?") + " (see " + help + ")");
  }

  try {
    check_process_inputs(argc, argv);
    refuse_output_onto_config(app);
    if (version) {
      print_version();
      return kExitOk;
    }
    config_reader->require_section_of_command();
    // --print-config: the options as a config file, with the seed the run would use.
    const auto print_config = [](const CLI::App* command, const CommonOptions& common, const Checks& checks) {
      checks.run();
      std::cout << config_text(*command, resolve_seed(common));
      return kExitOk;
    };
    for (const Command& c : commands) {
      if (c.app->parsed() && c.common != nullptr && c.common->print_config) {
        return print_config(c.app, *c.common, *c.checks);
      }
    }
    int code = -1;
    for (const Command& c : commands) {
      if (c.app->parsed()) code = c.run();
    }
    if (code < 0) {  // bare `labrun`: what it can do
      std::cout << app.help();
      return kExitOk;
    }
    print_notes();
    return code;
  } catch (const UsageError& e) {
    return fail(kExitUsageError, e.what());
  } catch (const labrun::DataError& e) {
    return fail(kExitDataError, e.what());
  } catch (const labrun::ResourceError& e) {
    return fail(kExitDataError, e.what());
  } catch (const labrun::OptionError& e) {
    // The environment's LABRUN_BLAS_CORRECTION (read where the BLAS kernel is decided, and by
    // --version), or a library option the command did not name itself.
    return fail(kExitUsageError, e.function() == "blas_situation" ? e.option() + "=" + e.rest() : e.what());
  } catch (const std::invalid_argument& e) {  // an invariant of the library's: a bug
    return fail(kExitInternalError, e.what());
  } catch (const c10::Error& e) {
    return fail(kExitInternalError, first_line(std::string("libtorch: ") + e.what_without_backtrace()));
  } catch (const std::bad_alloc&) {  // the documented code for not enough memory
    return fail(kExitDataError, "not enough memory for this work (an allocation failed)");
  } catch (const std::exception& e) {
    return fail(kExitInternalError, e.what());
  }
}

}  // namespace

int main(int argc, char** argv) {
  const int code = run(argc, argv);
  // Everything labrun writes has been written: JSON and files with write(2) and closed, help and
  // errors through iostreams, flushed here. What normal exit would still do is run libtorch's static
  // destructors, which unregister its thousands of operators one by one: tens of milliseconds of a
  // half-second process (perf). _Exit skips them. Sanitizer builds exit normally, so that
  // LeakSanitizer still checks at exit.
  std::cout.flush();
  std::cerr.flush();
#ifndef LABRUN_SANITIZE
  std::_Exit(code);
#else
  return code;
#endif
}
