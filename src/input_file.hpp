#pragma once
// An input file opened once, and a regular file's private mapping: what the CSV and .npy readers
// share. An input is opened once and everything about it (regular or a stream, its size, its
// first bytes) is learnt from that one descriptor: a named FIFO or a process substitution can be
// opened only once by a reader that wants the writer's bytes.

#include <sys/mman.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace labrun::detail {

// A path opened for reading ("-": a duplicate of standard input, named "stdin"). Throws DataError
// for a missing path, a directory (`what` names the kind of file expected: "a CSV file") or one
// that cannot be opened.
class InputFile {
 public:
  InputFile(const std::string& given, const char* what);
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  int fd() const { return fd_; }
  const std::string& name() const { return name_; }  // the path as given, or "stdin"
  bool from_stdin() const { return from_stdin_; }
  bool regular() const { return regular_; }
  std::size_t size() const { return size_; }  // a regular file's size, 0 for a stream

  // A regular file's first bytes (up to `count`), read without moving the descriptor's offset.
  std::string head(std::size_t count) const;

  // A stream's bytes, read to its end while they fit in `room` bytes (ResourceError past it);
  // check(piece, lines_before) sees each piece as it arrives (a NUL byte is refused at once).
  template <typename Check>
  std::string read_all(double room, Check&& check) const;

 private:
  std::string name_;
  int fd_ = -1;
  bool from_stdin_ = false;
  bool regular_ = false;
  std::size_t size_ = 0;
  std::size_t read_piece(char* buffer, std::size_t capacity) const;  // 0 at the end; DataError on errors
  [[noreturn]] void too_large(std::size_t held, double room) const;
};

// A regular file mapped privately, for as long as the object lives. The readers go through a file
// in pieces and drop each piece's pages behind them (release), so a file larger than the memory
// left beside it can be read.
class MappedFile {
 public:
  // Maps `size` bytes of the open file; `writable` makes the pages copy-on-write (a tensor over
  // them may be written, never reaching the file). Throws DataError when the map fails.
  MappedFile(const InputFile& file, bool writable);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  char* data() const { return static_cast<char*>(address_); }
  std::size_t size() const { return size_; }
  std::string_view view() const { return {data(), size_}; }

  // Drops every page that [offset, offset + bytes) touches from the process's memory; a later read
  // maps it from the file again (a page shared with a neighbouring piece costs one page read), and
  // what was written to a dropped page is lost.
  void release(std::size_t offset, std::size_t bytes) const;

 private:
  void* address_ = MAP_FAILED;
  std::size_t size_ = 0;
};

template <typename Check>
std::string InputFile::read_all(double room, Check&& check) const {
  std::string held;
  std::string buffer(std::size_t{1} << 16, '\0');
  long long lines = 0;
  while (const std::size_t got = read_piece(buffer.data(), buffer.size())) {
    const std::string_view piece(buffer.data(), got);
    check(piece, lines);
    for (const char c : piece) lines += c == '\n';
    held.append(piece);
    if (static_cast<double>(held.size()) > room) too_large(held.size(), room);
  }
  return held;
}

}  // namespace labrun::detail
