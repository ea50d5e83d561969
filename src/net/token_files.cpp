// The file-reading half of include/lifeline/token.hpp. It lives in lifeline::net
// because lifeline::core does no I/O; the parsing it wraps stays in core
// (src/core/token.cpp), where unit tests and the fuzzer reach it without files.

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "lifeline/token.hpp"

namespace lifeline::auth {
namespace {

// The whole file; `what` names it in the error.
std::string read_text_file(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::invalid_argument("cannot read " + what + " '" + path + "'");
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::vector<std::string> load_secrets(const std::string& path) {
  return parse_secrets(read_text_file(path, "secret file"), "secret file '" + path + "'");
}

std::string read_token_file(const std::string& path) {
  return parse_token_text(read_text_file(path, "token file"), "token file '" + path + "'");
}

}  // namespace lifeline::auth
