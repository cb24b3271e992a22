#include "labrun/output_file.hpp"

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
#include <memory>
#include <string>

namespace labrun {
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

}  // namespace

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

namespace {

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

Output::Output(const std::string& path, Mode mode) : shown_(path) {
  if (path.empty() || path == "-") {
    fd_ = STDOUT_FILENO;
    shown_ = "stdout";
    return;
  }
  struct stat target {};
  const bool exists = ::stat(path.c_str(), &target) == 0;
  if (!exists && errno != ENOENT) fail(path, "", errno);
  if (exists && S_ISDIR(target.st_mode)) fail(path, "is a directory", 0);
  if (exists && S_ISBLK(target.st_mode)) fail(path, "is a block device; labrun writes no disks", 0);
  if (exists && S_ISSOCK(target.st_mode)) fail(path, "is a socket", 0);
  if (exists && !S_ISREG(target.st_mode)) {
    open_through(path, /*regular=*/false);  // a character device or a FIFO, as `>` would
    return;
  }
  if (mode == Mode::append) {
    // In place: what is there stays, what is written goes after it (a study resumed after a crash).
    fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_NOCTTY | O_CLOEXEC, 0666);
    if (fd_ < 0) fail(path, "", errno);
    regular_ = true;
    return;
  }
  if (!exists) {
    // Nothing there, or a symbolic link to nothing: a new file where the links end.
    start_temporary(follow_links(path, path), nullptr);
    return;
  }
  // A regular file, maybe behind symbolic links: writable by this user, as `>` requires.
  if (::access(path.c_str(), W_OK) != 0) fail(path, "", errno);
  if (target.st_nlink > 1 || !start_temporary(follow_links(path, path), &target)) {
    open_through(path, /*regular=*/true);
  }
}

Output::~Output() {
  if (fd_ >= 0 && fd_ != STDOUT_FILENO && !temporary_) ::close(fd_);
}

bool Output::start_temporary(const std::filesystem::path& target, const struct stat* existing) {
  auto file = std::make_unique<TemporaryFile>(target, shown_);
  mode_t mode = 0;
  if (existing != nullptr) {
    if ((existing->st_uid != ::geteuid() || existing->st_gid != ::getegid()) &&
        ::fchown(file->fd(), existing->st_uid, existing->st_gid) != 0) {
      return false;  // its owner cannot be kept: written through instead
    }
    mode = existing->st_mode & 07777;
  } else {
    // As a plain open() would create it: 0666 less the umask.
    const mode_t mask = ::umask(0);
    ::umask(mask);
    mode = 0666 & ~mask;
  }
  ::fchmod(file->fd(), mode);
  fd_ = file->fd();
  target_ = target;
  temporary_ = std::move(file);
  return true;
}

void Output::open_through(const std::string& path, bool regular) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_NOCTTY | O_CLOEXEC);
  if (fd_ < 0) fail(path, "", errno);
  regular_ = regular;
  truncate_ = regular;
}

void Output::write(const std::string& text) {
  if (!write_all(fd_, text)) {
    if (fd_ == STDOUT_FILENO) throw DataError(std::string("cannot write to stdout: ") + std::strerror(errno));
    fail(shown_, "", errno);
  }
  written_ += text.size();
}

void Output::commit() {
  if (fd_ == STDOUT_FILENO) return;
  bool done = !truncate_ || ::ftruncate(fd_, static_cast<off_t>(written_)) == 0;
  if (done && (regular_ || temporary_)) done = ::fsync(fd_) == 0;
  const int error = errno;
  if (temporary_) {
    if (!temporary_->close() || !done) fail(shown_, "", done ? errno : error);
    if (::rename(temporary_->name().c_str(), target_.c_str()) != 0) fail(shown_, "", errno);
    temporary_->keep();
    temporary_.reset();
  } else {
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0 || !done) fail(shown_, "", done ? errno : error);
  }
}

void write_output(const std::string& text, const std::string& path) {
  Output output(path);
  output.write(text);
  output.commit();
}

}  // namespace labrun
