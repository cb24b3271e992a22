#include "output.hpp"

#include "labrun/dataset.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <vector>

namespace labrun::cli {
namespace {

[[noreturn]] void fail(const std::string& path, const std::string& what, int error) {
  throw DataError("cannot write " + path + ": " + what + std::strerror(error));
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

}  // namespace

void write_output(const std::string& text, const std::string& path) {
  if (path.empty() || path == "-") {
    if (!write_all(STDOUT_FILENO, text)) {
      throw DataError(std::string("cannot write to stdout: ") + std::strerror(errno));
    }
    return;
  }
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw DataError("cannot write " + path + ": is a directory");

  const std::filesystem::path target(path);
  const std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : ".";
  std::string pattern = (dir / ("." + target.filename().string() + ".tmp.XXXXXX")).string();
  std::vector<char> name(pattern.begin(), pattern.end());
  name.push_back('\0');
  const int fd = ::mkstemp(name.data());
  if (fd < 0) fail(path, "cannot create a temporary file in " + dir.string() + ": ", errno);
  const std::string temporary(name.data());

  // Permissions as a plain open() would give: 0666 less the umask.
  const mode_t mask = ::umask(0);
  ::umask(mask);
  ::fchmod(fd, 0666 & ~mask);

  const bool written = write_all(fd, text) && ::fsync(fd) == 0;
  const int write_error = errno;
  if (::close(fd) != 0 || !written) {
    ::unlink(temporary.c_str());
    fail(path, "", written ? errno : write_error);
  }
  if (::rename(temporary.c_str(), path.c_str()) != 0) {
    const int rename_error = errno;
    ::unlink(temporary.c_str());
    fail(path, "", rename_error);
  }
}

}  // namespace labrun::cli
