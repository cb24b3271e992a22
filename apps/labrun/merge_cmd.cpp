#include "merge_cmd.hpp"

#include "common.hpp"
#include "labrun/output_file.hpp"

#include "labrun/study_file.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>

namespace labrun::cli {
namespace {

// Output's interface for a merge: to a regular file through Output (atomic); to stdout, a pipe or
// a device through an unnamed temporary file (tmpfile(3): gone with the process, whatever ends it),
// copied out at commit().
class Spool {
 public:
  explicit Spool(const std::string& path) : path_(path) {
    struct stat info {};
    const bool to_file = !path.empty() && path != "-" && (::stat(path.c_str(), &info) != 0 || S_ISREG(info.st_mode));
    if (to_file) {
      direct_ = std::make_unique<Output>(path);
      return;
    }
    // In $TMPDIR (tmpfile(3) would use /tmp whatever it says), unlinked at once: gone with the
    // process, however it ends.
    const char* tmpdir = std::getenv("TMPDIR");
    std::string name = std::string(tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp") + "/labrun-merge.XXXXXX";
    const int fd = ::mkstemp(name.data());
    if (fd < 0) {
      throw DataError("cannot make a temporary file for the merge in " + name.substr(0, name.rfind('/')) + ": " +
                      std::strerror(errno) + " (set TMPDIR to a folder with room)");
    }
    ::unlink(name.c_str());
    spool_.reset(::fdopen(fd, "w+b"));
    if (!spool_) {
      ::close(fd);
      throw DataError(std::string("cannot make a temporary file for the merge: ") + std::strerror(errno));
    }
  }
  void write(const std::string& text) {
    if (direct_) return direct_->write(text);
    if (std::fwrite(text.data(), 1, text.size(), spool_.get()) != text.size()) {
      throw DataError(std::string("cannot write the merge's temporary file: ") + std::strerror(errno) +
                      " (set TMPDIR to a folder with room)");
    }
  }
  void commit() {
    if (direct_) return direct_->commit();
    if (std::fflush(spool_.get()) != 0) {
      throw DataError(std::string("cannot write the merge's temporary file: ") + std::strerror(errno) +
                      " (set TMPDIR to a folder with room)");
    }
    if (std::fseek(spool_.get(), 0, SEEK_SET) != 0) {
      throw DataError(std::string("cannot read the merge's temporary file back: ") + std::strerror(errno));
    }
    Output out(path_);
    std::string piece(std::size_t{1} << 20, '\0');
    while (const std::size_t got = std::fread(piece.data(), 1, piece.size(), spool_.get())) {
      out.write(piece.substr(0, got));
    }
    if (std::ferror(spool_.get())) throw DataError("cannot read the merge's temporary file back");
    out.commit();
  }

 private:
  std::string path_;
  std::unique_ptr<Output> direct_;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> spool_{nullptr, &std::fclose};
};

}  // namespace

CLI::App* setup_merge(CLI::App& app, MergeCommand& command) {
  CLI::App* sub = app.add_subcommand(
      "merge",
      "Combine the shards of one study (labrun sweep ... --shard i/N) into the records and summary one "
      "process writes");
  sub->add_option("shards", command.inputs, "The shards' JSON Lines files, every one of 1/N to N/N")
      ->required()
      ->check(CLI::ExistingFile);
  sub->add_option("-o,--output", command.output, "Write to FILE, atomically (default: stdout)")->type_name("FILE");
  sub->add_flag("--summary", command.summary, "Also print the merged study's summary table on stderr");
  refuse_empty_values(*sub);
  return sub;
}

int run_merge(const MergeCommand& command) {
  // -o onto a shard would replace what is being read (or, for a FIFO, wait for itself).
  struct stat out {};
  if (!command.output.empty() && command.output != "-" && ::stat(command.output.c_str(), &out) == 0) {
    for (const std::string& path : command.inputs) {
      struct stat in {};
      if (::stat(path.c_str(), &in) == 0 && in.st_dev == out.st_dev && in.st_ino == out.st_ino) {
        throw UsageError("-o " + command.output + " is the shard " + path + ": write the merge to another file");
      }
    }
  }
  // Nothing reaches stdout, a pipe or a device unless the whole study does: the merge is spooled
  // to an unnamed temporary file and copied out once every shard has been read and checked. A
  // regular file is replaced atomically by Output itself.
  std::unique_ptr<Spool> output;
  Merged merged;
  try {
    merged = merge_studies(command.inputs, [&](const std::string& text) {
      if (!output) output = std::make_unique<Spool>(command.output);
      output->write(text);
    });
  } catch (const StudyMismatch& e) {
    throw UsageError(e.what());
  } catch (const NotAStudy& e) {
    throw DataError(e.what());
  }
  output->commit();
  for (const std::string& text : merged.notes) note(text);
  if (command.summary) std::cerr << summary_table(merged.study.plan, merged.cells);
  return kExitOk;
}

}  // namespace labrun::cli
