// Authentication tokens: issue, verify (with an injected clock), the text of
// secret and token files, and every way a token can be wrong. Reading the files
// themselves is lifeline::net's: tests/library/test_token_files.cpp.

#include <gtest/gtest.h>

#include <stdexcept>

#include "lifeline/protocol.hpp"
#include "lifeline/token.hpp"

namespace lifeline::auth {
namespace {

using std::chrono::seconds;
using std::chrono::system_clock;

const std::string kSecret = "0123456789abcdef0123456789abcdef";
const std::string kOther = "fedcba9876543210fedcba9876543210";
const system_clock::time_point kExpiry{seconds(1'900'000'000)};
// Made by tests/lib/pki.py make_token() from the documented format, not by this code.
const std::string kVector = "ll1.c2Vuc29yLTcKMTkwMDAwMDAwMApyb2xlPWVkZ2U.cZKra46I4N2D2TJ4zG-KuoadOnoM7lSgBJ_EZ6NBSHA";

TokenClaims sensor() { return {"sensor-7", kExpiry, {{"role", "edge"}}}; }

TEST(Token, MatchesTheDocumentedFormat) { EXPECT_EQ(issue_token(sensor(), kSecret), kVector); }

TEST(Token, VerifiesAndReturnsItsClaims) {
  const TokenVerifier v({kSecret});
  const auto verdict = v.verify(kVector, "sensor-7", kExpiry - seconds(1));
  ASSERT_TRUE(verdict.ok) << verdict.error;
  EXPECT_EQ(verdict.claims.id, "sensor-7");
  EXPECT_EQ(verdict.claims.expires, kExpiry);
  EXPECT_EQ(verdict.claims.labels, (std::vector<proto::Label>{{"role", "edge"}}));
}

TEST(Token, EmptyIdTakesTheTokensId) {
  const auto verdict = TokenVerifier({kSecret}).verify(kVector, "", kExpiry - seconds(1));
  ASSERT_TRUE(verdict.ok);
  EXPECT_EQ(verdict.claims.id, "sensor-7");
}

TEST(Token, ExpiresExactlyAtItsExpiry) {
  const TokenVerifier v({kSecret});
  EXPECT_TRUE(v.verify(kVector, "sensor-7", kExpiry - std::chrono::milliseconds(1)).ok);
  const auto late = v.verify(kVector, "sensor-7", kExpiry);
  EXPECT_FALSE(late.ok);
  EXPECT_EQ(late.error, "token for 'sensor-7' expired at 2030-03-17T17:46:40Z");
}

TEST(Token, IsBoundToItsId) {
  const auto verdict = TokenVerifier({kSecret}).verify(kVector, "sensor-8", kExpiry - seconds(1));
  EXPECT_FALSE(verdict.ok);
  EXPECT_EQ(verdict.error, "token is for id 'sensor-7', not 'sensor-8'");
}

TEST(Token, AnyChangedCharacterIsRefused) {
  const TokenVerifier v({kSecret});
  for (std::size_t i = 0; i < kVector.size(); ++i) {
    for (const char c : {'A', 'b', '_', '.', '='}) {
      std::string t = kVector;
      if (t[i] == c) {
        continue;
      }
      t[i] = c;
      EXPECT_FALSE(v.verify(t, "", kExpiry - seconds(1)).ok) << "changed position " << i << " to " << c;
    }
  }
}

TEST(Token, OtherSecretIsRefusedAndRotationAcceptsBoth) {
  const auto other = issue_token(sensor(), kOther);
  const auto refused = TokenVerifier({kSecret}).verify(other, "", kExpiry - seconds(1));
  EXPECT_FALSE(refused.ok);
  EXPECT_NE(refused.error.find("signature is invalid"), std::string::npos) << refused.error;
  const TokenVerifier both({kOther, kSecret});
  EXPECT_TRUE(both.verify(other, "", kExpiry - seconds(1)).ok);
  EXPECT_TRUE(both.verify(kVector, "", kExpiry - seconds(1)).ok);
}

TEST(Token, ClaimsFromAnotherTokenKeepNoSignature) {
  const auto bob = issue_token({"bob", kExpiry, {}}, kOther);
  const auto mixed = bob.substr(0, bob.rfind('.')) + kVector.substr(kVector.rfind('.'));
  EXPECT_FALSE(TokenVerifier({kSecret, kOther}).verify(mixed, "", kExpiry - seconds(1)).ok);
}

TEST(Token, MalformedTokensAreRefusedWithACause) {
  const TokenVerifier v({kSecret});
  EXPECT_NE(v.verify("", "x", kExpiry).error.find("none was sent"), std::string::npos);
  const std::vector<std::string> bad_tokens = {"ll1.",
                                               "ll1..",
                                               "ll2.abc.def",
                                               "ll1.abc",
                                               "ll1.abc.de=",
                                               "x",
                                               "ll1.abc." + std::string(44, 'A'),
                                               "ll1.abc." + std::string(42, 'A')};
  for (const auto& bad : bad_tokens) {
    const auto verdict = v.verify(bad, "x", kExpiry);
    EXPECT_FALSE(verdict.ok) << bad;
    EXPECT_FALSE(verdict.error.empty()) << bad;
  }
}

TEST(Token, IssueRefusesWhatCannotBeCarried) {
  EXPECT_THROW(issue_token({"bad id", kExpiry, {}}, kSecret), std::invalid_argument);
  EXPECT_THROW(issue_token({"ok", kExpiry, {{"a=b", "v"}}}, kSecret), std::invalid_argument);
  EXPECT_THROW(issue_token({"ok", kExpiry, {{"k", "two\nlines"}}}, kSecret), std::invalid_argument);
  EXPECT_THROW(issue_token({"ok", kExpiry, {{"", "v"}}}, kSecret), std::invalid_argument);
  EXPECT_THROW(issue_token({"ok", kExpiry, {}}, "short"), std::invalid_argument);
  EXPECT_THROW(TokenVerifier({}), std::invalid_argument);
  EXPECT_THROW(TokenVerifier({"short"}), std::invalid_argument);
}

TEST(Secrets, OnePerLineWithCommentsAndBlanks) {
  const auto s = parse_secrets("# rotation: new first\n  " + kOther + "  \r\n\n" + kSecret + "\n", "test");
  EXPECT_EQ(s, (std::vector<std::string>{kOther, kSecret}));
}

TEST(Secrets, ErrorsNameTheOriginAndLine) {
  try {
    parse_secrets(kSecret + "\n\ntoo-short\n", "secret file 'f'");
    FAIL() << "a short secret was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()),
              "secret file 'f' line 3: secret is 9 bytes, at least 32 are needed (try: openssl rand -hex 32)");
  }
  EXPECT_THROW(parse_secrets("# nothing\n\n", "f"), std::invalid_argument);
}

TEST(TokenFile, FirstLineTrimmedAndErrorsNameTheOrigin) {
  EXPECT_EQ(parse_token_text("  " + kVector + " \r\nignored second line\n", "f"), kVector);
  try {
    parse_token_text("\n", "token file 'f'");
    FAIL() << "an empty token was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()), "token file 'f' must hold one token of 1..2048 bytes on its first line");
  }
  EXPECT_THROW(parse_token_text(std::string(kMaxTokenBytes + 1, 'x'), "f"), std::invalid_argument);
}

TEST(HelloToken, RoundTripsAndIsOptional) {
  proto::Hello h;
  h.id = "sensor-7";
  h.token = kVector;
  std::string frame;
  proto::encode(h, frame);
  proto::ParseError err;
  const auto payload = proto::Bytes(reinterpret_cast<const std::uint8_t*>(frame.data()) + proto::kHeaderSize,
                                    frame.size() - proto::kHeaderSize);
  const auto parsed = proto::parse_hello(payload, err);
  ASSERT_TRUE(parsed) << err.message;
  EXPECT_EQ(parsed->token, kVector);

  h.token.clear();
  frame.clear();
  proto::encode(h, frame);
  const auto without =
      proto::parse_hello(proto::Bytes(reinterpret_cast<const std::uint8_t*>(frame.data()) + proto::kHeaderSize,
                                      frame.size() - proto::kHeaderSize),
                         err);
  ASSERT_TRUE(without);
  EXPECT_TRUE(without->token.empty());

  // Present but empty, or followed by more bytes: malformed.
  for (const auto& tail : {std::string("\0\0", 2), std::string("\0\1x!", 4)}) {
    const std::string bad = frame.substr(proto::kHeaderSize) + tail;
    EXPECT_FALSE(proto::parse_hello(proto::Bytes(reinterpret_cast<const std::uint8_t*>(bad.data()), bad.size()), err));
    EXPECT_EQ(err.code, proto::ErrorCode::malformed);
  }
}

}  // namespace
}  // namespace lifeline::auth
