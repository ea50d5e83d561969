// Reading secret and token files (lifeline::net, src/net/token_files.cpp): the
// file's text goes through the core parsers, and every error names the file.
// The parsing rules themselves are unit-tested in tests/unit/test_token.cpp.

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <stdexcept>
#include <string>

#include "lifeline/token.hpp"

namespace lifeline::auth {
namespace {

const std::string kSecret = "0123456789abcdef0123456789abcdef";
const std::string kVector = "ll1.c2Vuc29yLTcKMTkwMDAwMDAwMApyb2xlPWVkZ2U.cZKra46I4N2D2TJ4zG-KuoadOnoM7lSgBJ_EZ6NBSHA";

std::string what_of(auto&& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no exception)";
}

TEST(TokenFile, FirstLineTrimmedAndErrorsNameTheFile) {
  const std::string path = ::testing::TempDir() + "lifeline-token-file-test";
  std::ofstream(path) << "  " << kVector << " \r\nignored second line\n";
  EXPECT_EQ(read_token_file(path), kVector);
  std::ofstream(path) << "\n";
  EXPECT_EQ(what_of([&] { read_token_file(path); }),
            "token file '" + path + "' must hold one token of 1..2048 bytes on its first line");
  std::remove(path.c_str());
  EXPECT_EQ(what_of([&] { read_token_file(path); }),
            "cannot read token file '" + path + "': No such file or directory");
}

TEST(SecretFile, ReadsEverySecretAndErrorsNameTheFileAndLine) {
  const std::string path = ::testing::TempDir() + "lifeline-secret-file-test";
  std::ofstream(path) << "# current\n" << kSecret << "\n";
  EXPECT_EQ(load_secrets(path), std::vector<std::string>{kSecret});
  std::ofstream(path) << "short\n";
  EXPECT_EQ(what_of([&] { load_secrets(path); }),
            "secret file '" + path + "' line 1: secret is 5 bytes, at least 32 are needed (try: openssl rand -hex 32)");
  std::remove(path.c_str());
  EXPECT_EQ(what_of([&] { load_secrets(path); }), "cannot read secret file '" + path + "': No such file or directory");
}

}  // namespace
}  // namespace lifeline::auth
