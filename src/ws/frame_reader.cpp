#include "frame_reader.hpp"

#include <string>

namespace lifeline::ws {

namespace {
FrameError protocol_error(std::string message) { return FrameError{CloseCode::protocol_error, std::move(message)}; }
}  // namespace

std::optional<FrameError> FrameReader::begin_frame() {
  const std::uint8_t b0 = header_[0];
  const std::uint8_t b1 = header_[1];
  have_ = 0;
  fin_ = (b0 & 0x80U) != 0;
  opcode_ = b0 & 0x0FU;
  if ((b0 & 0x70U) != 0) {
    return protocol_error("RSV bits set, but no extension was negotiated");
  }
  if ((b1 & 0x80U) == 0) {
    return protocol_error("client frame not masked (RFC 6455 section 5.1)");
  }
  const std::uint8_t len7 = b1 & 0x7FU;
  std::size_t at = 2;
  std::uint64_t len = len7;
  if (len7 == 126) {
    len = (std::uint64_t{header_[2]} << 8U) | header_[3];
    at = 4;
    if (len < 126) {
      return protocol_error("frame length " + std::to_string(len) + " not in its shortest form");
    }
  } else if (len7 == 127) {
    len = 0;
    for (std::size_t i = 2; i < 10; ++i) {
      len = (len << 8U) | header_[i];
    }
    at = 10;
    if ((len >> 63U) != 0) {
      return protocol_error("frame length has its most significant bit set");
    }
    if (len <= 0xFFFF) {
      return protocol_error("frame length " + std::to_string(len) + " not in its shortest form");
    }
  }
  for (std::size_t i = 0; i < 4; ++i) {
    mask_[i] = header_[at + i];
  }
  mask_at_ = 0;
  left_ = len;
  switch (static_cast<Opcode>(opcode_)) {
    case Opcode::close:
    case Opcode::ping:
    case Opcode::pong:
      if (!fin_) {
        return protocol_error("fragmented control frame (opcode " + std::to_string(opcode_) + ")");
      }
      if (len > kMaxControl) {
        return protocol_error("control frame of " + std::to_string(len) + " bytes (at most 125)");
      }
      break;
    case Opcode::text:
      return FrameError{CloseCode::unsupported_data,
                        "text message: lifeline frames travel in binary messages (docs/protocol.md section 11)"};
    case Opcode::binary:
      if (in_message_) {
        return protocol_error("a new message began before the fragmented one ended");
      }
      in_message_ = !fin_;
      break;
    case Opcode::continuation:
      if (!in_message_) {
        return protocol_error("continuation frame with no fragmented message to continue");
      }
      break;
    default: return protocol_error("reserved opcode " + std::to_string(opcode_));
  }
  if (!control_frame()) {
    message_size_ += len;
    if (message_size_ > max_message_) {
      return FrameError{CloseCode::too_big, "message of more than " + std::to_string(max_message_) + " bytes"};
    }
  }
  in_frame_ = true;
  return std::nullopt;
}

void FrameReader::unmask(std::span<std::uint8_t> bytes) {
  for (auto& b : bytes) {
    b ^= mask_[mask_at_];
    mask_at_ = static_cast<std::uint8_t>((mask_at_ + 1U) & 3U);
  }
}

}  // namespace lifeline::ws
