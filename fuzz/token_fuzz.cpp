// Fuzz target: token verification, as the server runs it on every HELLO's
// token. Any input must be answered (never a crash), and an accepted token
// must be exactly the one issue_token() makes from its claims: a token has one
// spelling, so no altered form of a valid token is also valid.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "lifeline/token.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace lifeline::auth;
  static const std::string kSecret = "0123456789abcdef0123456789abcdef";
  static const std::string kOld = "fedcba9876543210fedcba9876543210";
  static const TokenVerifier verifier({kSecret, kOld});
  const std::string_view token(reinterpret_cast<const char*>(data), size);
  const auto verdict = verifier.verify(token, "", std::chrono::system_clock::time_point{});
  if (!verdict.ok && verdict.error.empty()) {
    std::abort();  // every refusal names its cause
  }
  if (verdict.ok && issue_token(verdict.claims, kSecret) != token && issue_token(verdict.claims, kOld) != token) {
    std::abort();
  }
  return 0;
}
