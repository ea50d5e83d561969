// The WebSocket part of a server connection (RFC 6455; docs/protocol.md
// section 11): the upgrade, frames in, binary messages out, and the closing
// handshake. TLS, when configured, is below all of this (wss).

#include <cstring>

#include "connection.hpp"
#include "server_context.hpp"
#include "shard.hpp"
#include "ws/stream.hpp"

namespace lifeline::detail {

bool Connection::ws_pending() const { return ws_ && !ws_->answered; }

Transport Connection::transport() const {
  if (ws_) {
    return tls_ ? Transport::wss : Transport::ws;
  }
  return tls_ ? Transport::tls : Transport::tcp;
}

void Connection::ws_input(std::span<std::uint8_t> bytes) {
  if (ws_->upgrade) {
    std::size_t used = 0;
    const auto status = ws_->upgrade->feed(bytes, used);
    if (status == ws::Upgrade::Status::need_more) {
      return;
    }
    ws_->answered = true;
    write(ws_->upgrade->response());
    if (status == ws::Upgrade::Status::refused) {
      fail(Reason::protocol, "WebSocket upgrade refused: " + ws_->upgrade->problem());
      return;
    }
    ws_->upgrade.reset();  // the parser's memory goes back now
    bytes = bytes.subspan(used);
  }
  // The reader hands each piece of a message up as it comes: no copy.
  struct Sink {
    Connection& c;
    bool delivered = false;
    bool payload(std::span<const std::uint8_t> piece) {
      delivered = true;
      c.handler_.on_bytes(piece);
      return c.state_ == State::open;
    }
    bool message_end() {
      c.handler_.on_message_end();
      return c.state_ == State::open;
    }
    bool control(ws::Opcode op, std::span<const std::uint8_t> payload) { return c.ws_control(op, payload); }
  } sink{*this};
  if (auto err = ws_->reader.feed(bytes, sink)) {
    ws_refuse(static_cast<std::uint16_t>(err->code), err->message);
    return;
  }
  // A read of control frames only (a WebSocket ping, say) is liveness too.
  if (!sink.delivered && state_ == State::open && !bytes.empty()) {
    handler_.on_bytes({});
  }
}

bool Connection::ws_control(ws::Opcode op, std::span<const std::uint8_t> payload) {
  const std::string_view text(reinterpret_cast<const char*>(payload.data()), payload.size());
  switch (op) {
    case ws::Opcode::ping: ws_write(ws::Opcode::pong, text); return true;
    case ws::Opcode::pong: return true;  // counted as liveness, nothing to answer
    default: break;
  }
  // A close frame: no code, or a valid code and a UTF-8 reason.
  std::uint16_t code = 1005;  // "no status", never sent back
  if (payload.size() == 1) {
    ws_refuse(1002, "close frame with a 1-byte payload");
    return false;
  }
  if (payload.size() >= 2) {
    code = static_cast<std::uint16_t>((payload[0] << 8U) | payload[1]);
    if (!ws::valid_close_code(code)) {
      ws_refuse(1002, "close code " + std::to_string(code) + " is not one a peer may send");
      return false;
    }
    if (!ws::valid_utf8(payload.subspan(2))) {
      ws_refuse(1007, "close reason is not UTF-8");
      return false;
    }
  }
  ws_close(code == 1005 ? 1000 : code, {});  // the closing handshake's answer
  std::string cause = "WebSocket closed by the peer";
  if (code != 1005) {
    cause += " (code " + std::to_string(code) + (payload.size() > 2 ? ": " + std::string(text.substr(2)) : "") + ")";
  }
  fail(Reason::closed, cause);
  return false;
}

int Connection::ws_write(ws::Opcode op, std::string_view payload) {
  if (ws_->upgrade) {
    return 0;  // not upgraded (yet, or refused): no frame can be sent
  }
  std::array<std::uint8_t, ws::kMaxServerHeader> header{};
  const auto n = ws::frame_header(op, payload.size(), header);
  // Header and payload in one write: a PONG stays one send() of 15 bytes.
  constexpr std::size_t kStack = 256;
  if (payload.size() <= kStack) {
    std::array<char, ws::kMaxServerHeader + kStack> buf{};
    std::memcpy(buf.data(), header.data(), n);
    std::memcpy(buf.data() + n, payload.data(), payload.size());
    return write(std::string_view(buf.data(), n + payload.size()));
  }
  std::string frame(reinterpret_cast<const char*>(header.data()), n);
  frame.append(payload);
  return write(frame);
}

void Connection::ws_close(std::uint16_t code, std::string_view reason) {
  if (ws_->close_sent || ws_->upgrade) {
    return;
  }
  ws_->close_sent = true;
  ws_write(ws::Opcode::close, ws::close_payload(code, reason));
}

void Connection::ws_refuse(std::uint16_t code, const std::string& message) {
  ws_close(code, message);
  fail(Reason::protocol, "WebSocket: " + message);
}

}  // namespace lifeline::detail
