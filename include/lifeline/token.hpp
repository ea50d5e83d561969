#pragma once
/// Authentication tokens: an HMAC-SHA256 over a client id, an expiry and
/// optional labels, made with a server secret (`lifeline token issue`) and
/// checked by the server at HELLO (docs/protocol.md, "Authentication").
///
/// Format: `ll1.<base64url(claims)>.<base64url(mac)>`, where claims are the
/// lines `id`, `expiry (Unix seconds)`, then one `key=value` per label, and the
/// mac is HMAC-SHA256(secret, "ll1." + base64url(claims)).
///
/// Pure functions and value types: thread-safe on distinct objects; a
/// TokenVerifier is immutable after construction and safe to share.

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "lifeline/protocol.hpp"

namespace lifeline::auth {

/// Shortest secret accepted, bytes: 256 bits, as many as the MAC has.
inline constexpr std::size_t kMinSecretBytes = 32;
/// Longest token a HELLO may carry, bytes.
inline constexpr std::size_t kMaxTokenBytes = proto::kMaxTokenLength;

struct TokenClaims {
  std::string id;
  std::chrono::system_clock::time_point expires;
  /// Trusted labels: the server sets them on the session, over the client's own.
  std::vector<proto::Label> labels;
};

/// Secrets from the text of a secret file: one per line, blank lines and `#`
/// comments skipped, surrounding whitespace trimmed. The first signs new
/// tokens; every one verifies (two during a rotation). Throws
/// std::invalid_argument naming `origin` and the line when the text holds no
/// secret or a secret is shorter than kMinSecretBytes.
std::vector<std::string> parse_secrets(std::string_view text, std::string_view origin);
/// Empty if `secret` is usable, else why not.
std::string secret_problem(std::string_view secret);

/// The token on the first line of a token file's text (surrounding whitespace
/// trimmed). Throws std::invalid_argument naming `origin` when there is no
/// token of 1..kMaxTokenBytes bytes there.
std::string parse_token_text(std::string_view text, std::string_view origin);

// File reading. lifeline::core does no I/O, so these two are implemented in
// lifeline::net (src/net/token_files.cpp): link lifeline::net to call them.

/// parse_secrets() over a file. Throws std::invalid_argument naming the file
/// (and the line) when it cannot be read or its text is refused.
std::vector<std::string> load_secrets(const std::string& path);
/// parse_token_text() over a file, read anew on every call (a renewed token
/// needs no restart). Throws std::invalid_argument naming the file when it
/// cannot be read or holds no token.
std::string read_token_file(const std::string& path);

/// Makes a token. Throws std::invalid_argument for an invalid id, a secret
/// that is too short, or a label that cannot be carried (a key with '=' or a
/// newline, a value with a newline, sizes over the protocol's label limits).
std::string issue_token(const TokenClaims& claims, std::string_view secret);

struct Verdict {
  bool ok = false;
  TokenClaims claims;  ///< valid when ok
  std::string error;   ///< why not, when !ok: for the ERROR frame and the log
};

class TokenVerifier {
 public:
  /// Throws std::invalid_argument if `secrets` is empty or one is too short.
  explicit TokenVerifier(std::vector<std::string> secrets);

  /// Checks `token` for a client that asks for `id` (empty: the token's id is
  /// taken) at wall-clock time `now`. The MAC is compared in constant time
  /// against every secret, always all of them.
  Verdict verify(std::string_view token, std::string_view id, std::chrono::system_clock::time_point now) const;

 private:
  std::vector<std::string> secrets_;
};

}  // namespace lifeline::auth
