#include "document.hpp"

#include "blas_restart.hpp"
#include "environment.hpp"

#include "labrun/output_file.hpp"
#include "labrun/render.hpp"
#include "labrun/runtime.hpp"

#include <unistd.h>

#include <climits>
#include <iostream>

namespace labrun::cli {
namespace {

RuntimeInfo runtime_with_kernel() {
  RuntimeInfo info = runtime_info();
  if (blas_kernel_used()) info.blas_kernel = *blas_kernel_used();
  return info;
}

}  // namespace

json document(const std::string& command, json config, json data, json results) {
  json environment = runtime_with_kernel();
  // How to run it again: the command line, from where, when.
  const std::string cwd = working_directory();
  json provenance{{"command_line", command_line()},
                  {"working_directory", cwd.empty() ? json(nullptr) : json(cwd)},
                  {"started_utc", started_utc()}};
  return json{{"schema_version", kSchemaVersion}, {"command", command},      {"provenance", std::move(provenance)},
              {"config", std::move(config)},      {"data", std::move(data)}, {"environment", std::move(environment)},
              {"results", std::move(results)}};
}

json environment() { return runtime_with_kernel(); }

json process_record() {
  const RuntimeInfo info = runtime_with_kernel();
  char host[HOST_NAME_MAX + 1] = {};
  const bool named = ::gethostname(host, sizeof host - 1) == 0;
  return json{{"labrun_version", info.labrun_version},
              {"build_commit", info.build_commit},
              {"blas", info.blas},
              {"blas_kernel", info.blas_kernel.loaded.empty() ? json(nullptr) : json(info.blas_kernel.loaded)},
              {"host", named ? json(std::string(host)) : json(nullptr)},
              {"pid", static_cast<int64_t>(::getpid())},
              {"started_utc", started_utc()}};
}

void emit(const json& document, const CommonOptions& common) {
  write_output(render(document, common.format), common.output);
  if (common.summary) std::cerr << text_summary(document);
}

std::string render(const json& document, Format format) {
  return format == Format::text ? text_summary(document) : compact_dump(document) + "\n";
}

}  // namespace labrun::cli
