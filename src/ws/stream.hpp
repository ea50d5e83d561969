#pragma once
// The WebSocket state of one server connection: the upgrade request until it
// is answered, then the frame reader and the closing handshake. The
// connection (src/net/connection_ws.cpp) drives it; server frames are built
// by the functions below. Runs on its connection's shard thread.

#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "core/utf8.hpp"
#include "frame_reader.hpp"
#include "upgrade.hpp"

namespace lifeline::ws {

struct Stream {
  Stream(const UpgradeRules& rules, std::uint64_t max_message)
      : upgrade(std::make_unique<Upgrade>(rules)), reader(max_message) {}

  std::unique_ptr<Upgrade> upgrade;  // until the upgrade is accepted (kept after a refusal): no frames before
  FrameReader reader;
  bool answered = false;    // the HTTP response (101 or a refusal) has been sent
  bool close_sent = false;  // our close frame has gone out
};

/// The largest header of a server frame (unmasked: 2 + 8 bytes).
inline constexpr std::size_t kMaxServerHeader = 10;

/// Writes a server frame's header (FIN set, unmasked) for `length` bytes of
/// `op` into `out`; returns its size.
std::size_t frame_header(Opcode op, std::uint64_t length, std::array<std::uint8_t, kMaxServerHeader>& out);

/// A close frame's payload: the code, then up to 123 bytes of `reason`, cut at
/// a UTF-8 character boundary.
std::string close_payload(std::uint16_t code, std::string_view reason);

/// True if `s` is valid UTF-8 (a close reason must be, RFC 6455 section 5.5.1).
inline bool valid_utf8(std::span<const std::uint8_t> s) {
  return detail::valid_utf8(std::string_view(reinterpret_cast<const char*>(s.data()), s.size()));
}

}  // namespace lifeline::ws
