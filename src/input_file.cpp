#include "input_file.hpp"

#include "labrun/dataset.hpp"
#include "labrun/resources.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace labrun::detail {

InputFile::InputFile(const std::string& given, const char* what)
    : name_(given == "-" ? "stdin" : given), from_stdin_(given == "-") {
  fd_ = from_stdin_ ? ::fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 0) : ::open(given.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) {
    const int error = errno;
    if (error == ENOENT) throw DataError(name_ + ": no such file");
    throw DataError(name_ + ": cannot open: " + std::strerror(error));
  }
  struct stat info {};
  if (::fstat(fd_, &info) != 0) {
    const int error = errno;
    ::close(fd_);
    throw DataError(name_ + ": cannot read what kind of file it is: " + std::strerror(error));
  }
  if (S_ISDIR(info.st_mode)) {
    ::close(fd_);
    throw DataError(name_ + ": is a directory, not " + what);
  }
  regular_ = S_ISREG(info.st_mode);
  size_ = regular_ ? static_cast<std::size_t>(info.st_size) : 0;
}

InputFile::~InputFile() {
  if (fd_ >= 0) ::close(fd_);
}

std::string InputFile::head(std::size_t count) const {
  std::string bytes(std::min(count, size_), '\0');
  std::size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = ::pread(fd_, bytes.data() + got, bytes.size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw DataError(name_ + ": read error: " + std::strerror(errno));
    if (n == 0) break;
    got += static_cast<std::size_t>(n);
  }
  bytes.resize(got);
  return bytes;
}

std::size_t InputFile::read_piece(char* buffer, std::size_t capacity) const {
  for (;;) {
    const ssize_t n = ::read(fd_, buffer, capacity);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno != EINTR) throw DataError(name_ + ": read error: " + std::strerror(errno));
  }
}

void InputFile::too_large(std::size_t held, double room) const {
  throw ResourceError(name_ + ": more than " + format_bytes(static_cast<double>(held)) +
                      " read and more to come; labrun holds the data in memory, with room for " + format_bytes(room) +
                      " of text");
}

MappedFile::MappedFile(const InputFile& file, bool writable) : size_(file.size()) {
  if (size_ == 0) return;
  address_ = ::mmap(nullptr, size_, writable ? PROT_READ | PROT_WRITE : PROT_READ, MAP_PRIVATE, file.fd(), 0);
  if (address_ == MAP_FAILED) throw DataError(file.name() + ": cannot map it into memory: " + std::strerror(errno));
}

MappedFile::~MappedFile() {
  if (address_ != MAP_FAILED) ::munmap(address_, size_);
}

void MappedFile::release(std::size_t offset, std::size_t bytes) const {
  if (address_ == MAP_FAILED) return;
  static const auto page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t begin = offset / page * page;
  const std::size_t end = std::min(size_, (offset + bytes + page - 1) / page * page);
  if (end > begin) ::madvise(data() + begin, end - begin, MADV_DONTNEED);
}

}  // namespace labrun::detail
