#pragma once
// Writing labrun's output whole or not at all, and never over something that is not a file.

#include <string>

namespace labrun::cli {

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

}  // namespace labrun::cli
