#pragma once
// The HTTP request that opens a WebSocket session (RFC 6455 section 4.2),
// parsed with Boost.Beast's buffer-only request parser: no I/O, fed the bytes
// the connection reads. It answers 101 Switching Protocols or a refusal that
// says what was wrong. Lives only until the upgrade is decided.
//
// Not thread-safe: one per connection, on its shard's thread.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace lifeline::ws {

struct UpgradeRules {
  std::string path = "/lifeline";
  /// Origins a browser may connect from ("https://app.example.com"), or "*".
  /// A request without an Origin header (not a browser) is always accepted.
  std::vector<std::string> allowed_origins;
  std::size_t max_request_bytes = 8192;
};

class Upgrade {
 public:
  enum class Status : std::uint8_t { need_more, accepted, refused };

  explicit Upgrade(const UpgradeRules& rules);
  Upgrade(const Upgrade&) = delete;
  Upgrade& operator=(const Upgrade&) = delete;

  /// Reads request bytes. `used` says how many were part of the request:
  /// after `accepted`, the rest are the client's first frames.
  Status feed(std::span<const std::uint8_t> in, std::size_t& used);

  /// After accepted or refused: the HTTP response to send.
  const std::string& response() const { return response_; }
  /// After refused: what was wrong, for the log.
  const std::string& problem() const { return problem_; }

  /// The response to a request still unanswered when the session must end
  /// for its own reason: `status` (408 too slow, 503 shutting down or full)
  /// with `text` as the body.
  static std::string refusal(int status, std::string_view text);
  /// Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 section 4.2.2).
  static std::string accept_key(std::string_view key);

 private:
  struct Parser;
  Status refuse(int status, std::string problem, const std::string& extra_headers = {});
  Status decide(const Parser& parser);

  const UpgradeRules& rules_;
  std::string pending_;   // request bytes the parser has not taken yet
  std::size_t seen_ = 0;  // request bytes received in all
  std::string response_;
  std::string problem_;
};

}  // namespace lifeline::ws
