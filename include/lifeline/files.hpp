#pragma once
/// Reading the small text files lifeline is configured with: config files,
/// secret and token files. One rule for all of them, so every one reports a
/// file it cannot use the same way: the path, what the file was for, and the
/// operating system's reason ("Is a directory", "No such file or directory",
/// "Permission denied"). Thread-safe: no shared state.

#include <cstddef>
#include <string>

namespace lifeline {

/// The whole of the regular file at `path` (at most `max_bytes`). Throws
/// std::invalid_argument "cannot read <what> '<path>': <reason>" when it
/// cannot be opened or read, is not a regular file (a directory, a FIFO), or
/// is larger than max_bytes.
std::string read_text_file(const std::string& path, const std::string& what, std::size_t max_bytes = 1U << 20U);

}  // namespace lifeline
