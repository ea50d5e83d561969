#pragma once
// RFC 6455 frames from a client, read incrementally as bytes arrive: the
// framing of a WebSocket session (docs/protocol.md section 11). Payload is
// unmasked in place and handed on in the pieces it arrived in, so a message
// is never buffered here: the protocol session's FrameDecoder already bounds
// what it keeps. Only a control frame split across reads (at most 125 bytes)
// is collected. About 64 bytes of state; no allocation on the heartbeat path.
//
// Why not libwslay: its frame context holds a 4 KiB input buffer per
// connection (wslay_frame_context), seven times a whole idle TCP session;
// docs/architecture.md "WebSocket" has the measurement.
//
// Not thread-safe: one reader per connection, on its shard's thread.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

namespace lifeline::ws {

enum class Opcode : std::uint8_t { continuation = 0x0, text = 0x1, binary = 0x2, close = 0x8, ping = 0x9, pong = 0xA };

/// Close codes this server sends (RFC 6455 section 7.4.1).
enum class CloseCode : std::uint16_t {
  normal = 1000,
  going_away = 1001,
  protocol_error = 1002,
  unsupported_data = 1003,
  invalid_data = 1007,
  policy_violation = 1008,
  too_big = 1009,
};

/// A frame the server must refuse: the close code to send and what was wrong.
struct FrameError {
  CloseCode code = CloseCode::protocol_error;
  std::string message;
};

/// True for a close code a peer may send (RFC 6455 section 7.4).
constexpr bool valid_close_code(std::uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

class FrameReader {
 public:
  /// `max_message`: the most payload one data message (all its fragments) may carry.
  explicit FrameReader(std::uint64_t max_message) : max_message_(max_message) {}

  /// Reads `in` (unmasking it in place). Calls, in order of the bytes:
  ///   sink.payload(std::span<const std::uint8_t>)   a piece of a binary message
  ///   sink.message_end()                            a binary message ended (FIN)
  ///   sink.control(Opcode, std::span<const std::uint8_t>)  a whole ping, pong or close
  /// Each returns false to stop reading (the connection is closing). Returns
  /// the first violation; nothing is read after it.
  template <class Sink>
  std::optional<FrameError> feed(std::span<std::uint8_t> in, Sink& sink);

  /// True while a frame or a fragmented message is only partly read.
  bool mid_message() const { return have_ > 0 || in_frame_ || in_message_; }

 private:
  static constexpr std::size_t kMaxHeader = 14;
  static constexpr std::size_t kMaxControl = 125;

  /// Once the header is whole: checks it and starts the frame.
  std::optional<FrameError> begin_frame();
  void unmask(std::span<std::uint8_t> bytes);
  bool control_frame() const { return (opcode_ & 0x8U) != 0; }

  std::uint64_t max_message_;
  std::uint64_t message_size_ = 0;  // payload of the current data message so far
  std::uint64_t left_ = 0;          // payload bytes of the current frame still to come
  std::array<std::uint8_t, kMaxHeader> header_{};
  std::array<std::uint8_t, 4> mask_{};
  std::uint8_t have_ = 0;  // header bytes collected
  std::uint8_t mask_at_ = 0;
  std::uint8_t opcode_ = 0;
  bool fin_ = false;
  bool in_frame_ = false;    // reading a frame's payload
  bool in_message_ = false;  // a fragmented binary message awaits its continuation
  std::string control_;      // a control frame's payload split across reads (rare)
};

template <class Sink>
std::optional<FrameError> FrameReader::feed(std::span<std::uint8_t> in, Sink& sink) {
  for (;;) {
    if (!in_frame_) {
      if (in.empty()) {
        return std::nullopt;
      }
      // Collect the header: 2 bytes say how long the rest of it is.
      std::size_t need = 2;
      if (have_ >= 2) {
        const auto len7 = header_[1] & 0x7FU;
        need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((header_[1] & 0x80U) != 0 ? 4 : 0);
      }
      while (have_ < need && !in.empty()) {
        header_[have_++] = in[0];
        in = in.subspan(1);
        if (have_ == 2) {
          const auto len7 = header_[1] & 0x7FU;
          need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((header_[1] & 0x80U) != 0 ? 4 : 0);
        }
      }
      if (have_ < need) {
        return std::nullopt;  // the rest of the header comes with the next read
      }
      if (auto err = begin_frame()) {
        return err;
      }
    }
    if (left_ > 0 && in.empty()) {
      return std::nullopt;  // the rest of the payload comes with the next read
    }
    const auto take = static_cast<std::size_t>(std::min<std::uint64_t>(left_, in.size()));
    auto piece = in.first(take);
    in = in.subspan(take);
    left_ -= take;
    unmask(piece);
    bool go_on = true;
    if (!control_frame()) {
      if (!piece.empty()) {
        go_on = sink.payload(std::span<const std::uint8_t>(piece));
      }
      if (go_on && left_ == 0) {
        in_frame_ = false;
        if (fin_) {
          in_message_ = false;
          message_size_ = 0;
          go_on = sink.message_end();
        }
      }
    } else if (left_ == 0 && control_.empty()) {
      in_frame_ = false;  // the whole control frame is in this read
      go_on = sink.control(static_cast<Opcode>(opcode_), std::span<const std::uint8_t>(piece));
    } else {
      control_.append(reinterpret_cast<const char*>(piece.data()), piece.size());
      if (left_ == 0) {
        in_frame_ = false;
        const std::string payload = std::move(control_);
        control_.clear();
        go_on = sink.control(static_cast<Opcode>(opcode_),
                             std::span(reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()));
      }
    }
    if (!go_on) {
      return std::nullopt;
    }
  }
}

}  // namespace lifeline::ws
