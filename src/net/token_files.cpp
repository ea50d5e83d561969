// include/lifeline/files.hpp, and the file-reading half of include/lifeline/token.hpp. It lives in lifeline::net
// because lifeline::core does no I/O; the parsing it wraps stays in core
// (src/core/token.cpp), where unit tests and the fuzzer reach it without files.

#ifdef _WIN32
#include <filesystem>
#include <fstream>
#else
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "event_loop.hpp"
#include "lifeline/files.hpp"
#include "lifeline/token.hpp"

namespace lifeline {

std::string read_text_file(const std::string& path, const std::string& what, std::size_t max_bytes) {
  const auto fail = [&](const std::string& why) {
    return std::invalid_argument("cannot read " + what + " '" + path + "': " + why);
  };
#ifdef _WIN32
  namespace fs = std::filesystem;
  std::error_code ec;
  const auto status = fs::status(path, ec);
  if (ec) {
    throw fail(ec.message());
  }
  if (fs::is_directory(status)) {
    throw fail("is a directory");
  }
  if (!fs::is_regular_file(status)) {
    throw fail("not a regular file");
  }
  if (fs::file_size(path, ec) > max_bytes) {
    throw fail("larger than " + std::to_string(max_bytes) + " bytes");
  }
  std::ifstream in(path, std::ios::binary);
  std::string text(max_bytes, '\0');
  in.read(text.data(), static_cast<std::streamsize>(max_bytes));
  if (in.bad()) {
    throw fail("read error");
  }
  text.resize(static_cast<std::size_t>(in.gcount()));
  return text;
#else
  const detail::Fd file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!file) {
    throw fail(std::strerror(errno));
  }
  const int fd = file.get();
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    throw fail(std::strerror(errno));
  }
  if (S_ISDIR(st.st_mode)) {
    throw fail(std::strerror(EISDIR));  // open() succeeds on a directory; read() would say the same, less clearly
  }
  if (!S_ISREG(st.st_mode)) {
    throw fail("not a regular file");
  }
  if (static_cast<std::size_t>(st.st_size) > max_bytes) {
    throw fail("larger than " + std::to_string(max_bytes) + " bytes");
  }
  std::string text;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      throw fail(std::strerror(errno));
    }
    if (n == 0 || text.size() + static_cast<std::size_t>(n) > max_bytes) {
      break;
    }
    text.append(buf, static_cast<std::size_t>(n));
  }
  return text;
#endif
}

}  // namespace lifeline

namespace lifeline::auth {

std::vector<std::string> load_secrets(const std::string& path) {
  return parse_secrets(read_text_file(path, "secret file"), "secret file '" + path + "'");
}

std::string read_token_file(const std::string& path) {
  return parse_token_text(read_text_file(path, "token file"), "token file '" + path + "'");
}

}  // namespace lifeline::auth
