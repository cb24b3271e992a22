#include "output.hpp"

#include "labrun/dataset.hpp"

#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>

namespace labrun::cli {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what, int error) {
  throw DataError("cannot write " + path + ": " + what + (error != 0 ? std::strerror(error) : ""));
}

bool write_all(int fd, const std::string& text) {
  const char* data = text.data();
  std::size_t left = text.size();
  while (left > 0) {
    const ssize_t done = ::write(fd, data, left);
    if (done < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += done;
    left -= static_cast<std::size_t>(done);
  }
  return true;
}

// The temporary file being written, for the signal handler to remove: a fixed buffer, as a
// handler may only call async-signal-safe functions (unlink, signal, raise).
char g_temporary[PATH_MAX + 1];
volatile std::sig_atomic_t g_has_temporary = 0;
constexpr int kFatalSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGALRM, SIGUSR1, SIGUSR2};

extern "C" void remove_temporary_and_die(int signal) {
  if (g_has_temporary) ::unlink(g_temporary);
  std::signal(signal, SIG_DFL);
  std::raise(signal);
}

// While one exists, a signal that would end the process removes the temporary file first, then
// ends the process as it would have (same signal, same exit status). SIGKILL cannot be caught.
class TemporaryFile {
 public:
  // Creates ".NAME.tmp.XXXXXX" beside `target`; throws DataError.
  TemporaryFile(const std::filesystem::path& target, const std::string& shown) {
    const std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : ".";
    const std::string pattern = (dir / ("." + target.filename().string() + ".tmp.XXXXXX")).string();
    if (pattern.size() > PATH_MAX) fail(shown, "", ENAMETOOLONG);
    for (const int s : kFatalSignals) {
      struct sigaction handler {};
      handler.sa_handler = remove_temporary_and_die;
      sigemptyset(&handler.sa_mask);
      ::sigaction(s, nullptr, &previous_[index(s)]);
      // A signal the process ignores (nohup, a parent's SIG_IGN) stays ignored.
      if (previous_[index(s)].sa_handler != SIG_IGN) ::sigaction(s, &handler, nullptr);
    }
    // The handler sees the pattern until mkstemp fills it in: an unlink of a name that does not exist.
    std::memcpy(g_temporary, pattern.c_str(), pattern.size() + 1);
    g_has_temporary = 1;
    fd_ = ::mkstemp(g_temporary);
    if (fd_ < 0) {
      const int error = errno;
      release();
      fail(shown, "cannot create a temporary file in " + dir.string() + ": ", error);
    }
    name_ = g_temporary;
  }
  TemporaryFile(const TemporaryFile&) = delete;
  TemporaryFile& operator=(const TemporaryFile&) = delete;
  ~TemporaryFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!name_.empty()) ::unlink(name_.c_str());
    release();
  }

  int fd() const { return fd_; }
  const std::string& name() const { return name_; }

  // Closes the file; true when that worked. Sets errno otherwise.
  bool close() {
    const int fd = fd_;
    fd_ = -1;
    return ::close(fd) == 0;
  }
  // The file has been renamed to its target: nothing left to remove.
  void keep() {
    g_has_temporary = 0;
    name_.clear();
  }

 private:
  static std::size_t index(int signal) {
    std::size_t i = 0;
    while (kFatalSignals[i] != signal) ++i;
    return i;
  }
  void release() {
    g_has_temporary = 0;
    for (const int s : kFatalSignals) ::sigaction(s, &previous_[index(s)], nullptr);
  }

  int fd_ = -1;
  std::string name_;
  struct sigaction previous_[std::size(kFatalSignals)]{};
};

// Writes a new file at `target` (a path with no symlink as its last part): a temporary file
// beside it, flushed and renamed over it. `existing` is the file there now, whose owner and mode
// the new one keeps; returns false (and writes nothing) when its owner cannot be kept.
bool replace_atomically(const std::string& text, const std::filesystem::path& target, const struct stat* existing,
                        const std::string& shown) {
  TemporaryFile file(target, shown);
  mode_t mode = 0;
  if (existing != nullptr) {
    if ((existing->st_uid != ::geteuid() || existing->st_gid != ::getegid()) &&
        ::fchown(file.fd(), existing->st_uid, existing->st_gid) != 0) {
      return false;
    }
    mode = existing->st_mode & 07777;
  } else {
    // As a plain open() would create it: 0666 less the umask.
    const mode_t mask = ::umask(0);
    ::umask(mask);
    mode = 0666 & ~mask;
  }
  ::fchmod(file.fd(), mode);

  const bool written = write_all(file.fd(), text) && ::fsync(file.fd()) == 0;
  const int write_error = errno;
  if (!file.close() || !written) fail(shown, "", written ? errno : write_error);
  if (::rename(file.name().c_str(), target.c_str()) != 0) fail(shown, "", errno);
  file.keep();
  return true;
}

// Writes into the file that is there: a device, a FIFO, or a regular file whose hard links or
// owner a new file would not keep. Not atomic: a failed write leaves the file as far as it got.
void write_through(const std::string& text, const std::string& path, bool regular) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) fail(path, "", errno);
  bool written = write_all(fd, text);
  if (written && regular) written = ::ftruncate(fd, static_cast<off_t>(text.size())) == 0 && ::fsync(fd) == 0;
  const int write_error = errno;
  if (::close(fd) != 0 || !written) fail(path, "", written ? errno : write_error);
}

// The path a chain of symbolic links ends at (which need not exist), at most 40 links deep.
std::filesystem::path follow_links(std::filesystem::path path, const std::string& shown) {
  for (int hops = 0; hops < 40; ++hops) {
    struct stat link {};
    if (::lstat(path.c_str(), &link) != 0 || !S_ISLNK(link.st_mode)) return path;
    std::error_code ec;
    const std::filesystem::path to = std::filesystem::read_symlink(path, ec);
    if (ec) fail(shown, "", ec.value());
    path = to.is_absolute() ? to : path.parent_path() / to;
  }
  fail(shown, "", ELOOP);
}

}  // namespace

void write_output(const std::string& text, const std::string& path) {
  if (path.empty() || path == "-") {
    if (!write_all(STDOUT_FILENO, text)) {
      throw DataError(std::string("cannot write to stdout: ") + std::strerror(errno));
    }
    return;
  }

  struct stat target {};
  if (::stat(path.c_str(), &target) != 0) {
    if (errno != ENOENT) fail(path, "", errno);
    // Nothing there, or a symbolic link to nothing: a new file where the links end.
    replace_atomically(text, follow_links(path, path), nullptr, path);
    return;
  }
  if (S_ISDIR(target.st_mode)) fail(path, "is a directory", 0);
  if (S_ISBLK(target.st_mode)) fail(path, "is a block device; labrun writes no disks", 0);
  if (S_ISSOCK(target.st_mode)) fail(path, "is a socket", 0);
  if (!S_ISREG(target.st_mode)) {
    write_through(text, path, /*regular=*/false);  // a character device or a FIFO, as `>` would
    return;
  }
  // A regular file, maybe behind symbolic links: writable by this user, as `>` requires.
  if (::access(path.c_str(), W_OK) != 0) fail(path, "", errno);
  const std::filesystem::path file = follow_links(path, path);
  if (target.st_nlink > 1 || !replace_atomically(text, file, &target, path)) {
    write_through(text, path, /*regular=*/true);
  }
}

}  // namespace labrun::cli
