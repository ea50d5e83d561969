// Authentication tokens (include/lifeline/token.hpp). No file access here:
// load_secrets and read_token_file live in src/net/token_files.cpp.

#include "lifeline/token.hpp"

#include <array>
#include <charconv>
#include <ctime>
#include <stdexcept>

#include "hmac.hpp"

namespace lifeline::auth {
namespace {

constexpr std::string_view kPrefix = "ll1.";
constexpr std::size_t kMacBytes = 32;
constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

using Mac = detail::Mac;
static_assert(std::tuple_size_v<Mac> == kMacBytes);

std::string base64url(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (const char c : in) {
    acc = (acc << 8U) | static_cast<unsigned char>(c);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(acc >> static_cast<unsigned>(bits)) & 0x3FU]);
    }
  }
  if (bits > 0) {
    out.push_back(kAlphabet[(acc << static_cast<unsigned>(6 - bits)) & 0x3FU]);
  }
  return out;
}

// Strict: only the unpadded alphabet, and no stray low bits (one text per value).
bool unbase64url(std::string_view in, std::string& out) {
  std::uint32_t acc = 0;
  int bits = 0;
  for (const char c : in) {
    const auto v = kAlphabet.find(c);
    if (v == std::string_view::npos) {
      return false;
    }
    acc = (acc << 6U) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> static_cast<unsigned>(bits)) & 0xFFU));
    }
  }
  return bits < 6 && (acc & ((1U << static_cast<unsigned>(bits)) - 1U)) == 0;
}

Mac hmac(std::string_view secret, std::string_view data) { return detail::hmac_sha256(secret, data); }

// The lines of `text`, split at '\n' (the last one may be empty).
std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> lines;
  for (std::size_t start = 0;;) {
    const auto nl = text.find('\n', start);
    lines.push_back(text.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start));
    if (nl == std::string_view::npos) {
      return lines;
    }
    start = nl + 1;
  }
}

std::string_view trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) {
    return {};
  }
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}

void check_secret(std::string_view secret, const std::string& where) {
  if (auto problem = secret_problem(secret); !problem.empty()) {
    throw std::invalid_argument(where + ": " + problem);
  }
}

std::int64_t unix_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

std::string utc_text(std::chrono::system_clock::time_point t) {
  const std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Claims text -> claims; false if it is not what issue_token() writes.
bool parse_claims(std::string_view text, TokenClaims& out) {
  const auto lines = lines_of(text);
  if (lines.size() < 2 || lines.size() - 2 > proto::kMaxLabels || !proto::valid_id(lines[0])) {
    return false;
  }
  std::int64_t expiry = 0;
  const auto* end = lines[1].data() + lines[1].size();
  if (const auto [p, ec] = std::from_chars(lines[1].data(), end, expiry); ec != std::errc() || p != end) {
    return false;
  }
  out.id = std::string(lines[0]);
  out.expires = std::chrono::system_clock::time_point(std::chrono::seconds(expiry));
  for (std::size_t i = 2; i < lines.size(); ++i) {
    const auto eq = lines[i].find('=');
    if (eq == 0 || eq == std::string_view::npos) {
      return false;
    }
    out.labels.push_back({std::string(lines[i].substr(0, eq)), std::string(lines[i].substr(eq + 1))});
  }
  return true;
}

}  // namespace

std::string secret_problem(std::string_view secret) {
  if (secret.size() >= kMinSecretBytes) {
    return {};
  }
  return "secret is " + std::to_string(secret.size()) + " bytes, at least " + std::to_string(kMinSecretBytes) +
         " are needed (try: openssl rand -hex 32)";
}

std::vector<std::string> parse_secrets(std::string_view text, std::string_view origin) {
  std::vector<std::string> secrets;
  const auto lines = lines_of(text);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const auto line = trim(lines[i]);
    if (!line.empty() && line.front() != '#') {
      check_secret(line, std::string(origin) + " line " + std::to_string(i + 1));
      secrets.emplace_back(line);
    }
  }
  if (secrets.empty()) {
    throw std::invalid_argument(std::string(origin) + ": holds no secret (one per line; # starts a comment)");
  }
  return secrets;
}

std::string parse_token_text(std::string_view text, std::string_view origin) {
  const auto token = trim(text.substr(0, text.find('\n')));
  if (token.empty() || token.size() > kMaxTokenBytes) {
    throw std::invalid_argument(std::string(origin) + " must hold one token of 1.." + std::to_string(kMaxTokenBytes) +
                                " bytes on its first line");
  }
  return std::string(token);
}

std::string issue_token(const TokenClaims& claims, std::string_view secret) {
  check_secret(secret, "issue_token");
  if (!proto::valid_id(claims.id)) {
    throw std::invalid_argument("token id '" + claims.id + "' is invalid (1..128 of [A-Za-z0-9._:@-])");
  }
  if (claims.labels.size() > proto::kMaxLabels) {
    throw std::invalid_argument("a token carries at most 32 labels");
  }
  std::string text = claims.id + "\n" + std::to_string(unix_seconds(claims.expires));
  for (const auto& l : claims.labels) {
    if (l.key.empty() || l.key.size() > proto::kMaxLabelKey || l.value.size() > proto::kMaxLabelValue ||
        l.key.find_first_of("=\n") != std::string::npos || l.value.find('\n') != std::string::npos) {
      throw std::invalid_argument("label '" + l.key +
                                  "' cannot go into a token (key 1..64 bytes without '=' or newline, "
                                  "value 0..256 bytes without newline)");
    }
    text += "\n" + l.key + "=" + l.value;
  }
  std::string token = std::string(kPrefix) + base64url(text);
  const auto mac = hmac(secret, token);
  token += "." + base64url(std::string_view(reinterpret_cast<const char*>(mac.data()), mac.size()));
  if (token.size() > kMaxTokenBytes) {
    throw std::invalid_argument("token would be " + std::to_string(token.size()) + " bytes, at most " +
                                std::to_string(kMaxTokenBytes) + " fit in a HELLO");
  }
  return token;
}

TokenVerifier::TokenVerifier(std::vector<std::string> secrets) : secrets_(std::move(secrets)) {
  if (secrets_.empty()) {
    throw std::invalid_argument("token verifier needs at least one secret");
  }
  for (std::size_t i = 0; i < secrets_.size(); ++i) {
    check_secret(secrets_[i], "secret " + std::to_string(i + 1));
  }
}

Verdict TokenVerifier::verify(std::string_view token, std::string_view id,
                              std::chrono::system_clock::time_point now) const {
  Verdict v;
  if (token.empty()) {
    v.error = "this server requires a token (lifeline token issue) and none was sent";
    return v;
  }
  const auto dot = token.rfind('.');
  std::string mac_bytes;
  if (!token.starts_with(kPrefix) || dot < kPrefix.size() || !unbase64url(token.substr(dot + 1), mac_bytes) ||
      mac_bytes.size() != kMacBytes) {
    v.error = "token is malformed (expected ll1.<claims>.<mac>)";
    return v;
  }
  // The MAC is checked before the claims are even decoded, and against every
  // secret whatever the outcome, so timing reveals neither which secret
  // matched nor how much of a forged MAC was right.
  const auto signed_part = token.substr(0, dot);
  int matches = 0;
  for (const auto& secret : secrets_) {
    const auto mac = hmac(secret, signed_part);
    matches +=
        detail::equal_in_constant_time(mac.data(), reinterpret_cast<const std::uint8_t*>(mac_bytes.data()), kMacBytes)
            ? 1
            : 0;
  }
  if (matches == 0) {
    v.error = "token signature is invalid (forged, altered, or made with another secret)";
    return v;
  }
  std::string text;
  if (!unbase64url(signed_part.substr(kPrefix.size()), text) || !parse_claims(text, v.claims)) {
    v.error = "token claims are malformed";
    return v;
  }
  if (now >= v.claims.expires) {
    v.error = "token for '" + v.claims.id + "' expired at " + utc_text(v.claims.expires);
    return v;
  }
  if (!id.empty() && id != v.claims.id) {
    v.error = "token is for id '" + v.claims.id + "', not '" + std::string(id) + "'";
    return v;
  }
  v.ok = true;
  return v;
}

}  // namespace lifeline::auth
