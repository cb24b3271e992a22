#pragma once
// Writing labrun's output whole or not at all, and never over something that is not a file
// (labrun::io).

#include <filesystem>
#include <memory>
#include <string>

struct stat;

namespace labrun {

// Writes `text` to stdout when `path` is empty or "-"; otherwise, by what is at `path`:
//   nothing, or a symbolic link to nothing: a new file (0666 less the umask) where the links end;
//   a regular file (also behind symbolic links, which stay links): atomically replaced by a
//     temporary file beside it, flushed and renamed over it, with its mode and owner kept, so
//     that a reader never sees a torn file and a failed run leaves it as it was. A file with more
//     than one hard link, or whose owner this user cannot give the new file, is written through
//     instead (its links and owner kept, not atomic). A file this user may not write is refused.
//   a character device or a FIFO (/dev/null, /dev/stdout, a named pipe): written through, as the
//     shell's `>` would (a FIFO waits for its reader);
//   a directory, a block device or a socket: refused.
// A signal that ends the process while the temporary file exists removes it first. Throws
// labrun::DataError on failure, naming the path and the reason.
void write_output(const std::string& text, const std::string& path);

class TemporaryFile;

// The same, written as it is made: write() any number of times, then commit(). Until commit(), a
// replaced file is as it was; an Output destroyed without commit() leaves nothing (the temporary
// file is removed). With Mode::append a regular file (or nothing) is written in place, after what
// it holds: a study's JSON Lines, which a crash leaves as far as they got, for --resume.
class Output {
 public:
  enum class Mode { replace, append };
  explicit Output(const std::string& path, Mode mode = Mode::replace);
  ~Output();
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;

  void write(const std::string& text);
  void commit();

 private:
  bool start_temporary(const std::filesystem::path& target, const struct stat* existing);
  void open_through(const std::string& path, bool regular);

  std::string shown_;
  int fd_ = -1;
  bool regular_ = false;   // fsync at the end
  bool truncate_ = false;  // written through a regular file: cut at what was written
  std::size_t written_ = 0;
  std::filesystem::path target_;
  std::unique_ptr<TemporaryFile> temporary_;
};

}  // namespace labrun
