#include "stream.hpp"

namespace lifeline::ws {

std::size_t frame_header(Opcode op, std::uint64_t length, std::array<std::uint8_t, kMaxServerHeader>& out) {
  out[0] = static_cast<std::uint8_t>(0x80U | static_cast<std::uint8_t>(op));
  if (length < 126) {
    out[1] = static_cast<std::uint8_t>(length);
    return 2;
  }
  if (length <= 0xFFFF) {
    out[1] = 126;
    out[2] = static_cast<std::uint8_t>(length >> 8U);
    out[3] = static_cast<std::uint8_t>(length & 0xFFU);
    return 4;
  }
  out[1] = 127;
  for (std::size_t i = 0; i < 8; ++i) {
    out[2 + i] = static_cast<std::uint8_t>((length >> (8 * (7 - i))) & 0xFFU);
  }
  return 10;
}

std::string close_payload(std::uint16_t code, std::string_view reason) {
  std::string out;
  out += static_cast<char>(code >> 8U);
  out += static_cast<char>(code & 0xFFU);
  if (reason.size() > 123) {
    std::size_t cut = 123;
    while (cut > 0 && (static_cast<std::uint8_t>(reason[cut]) & 0xC0U) == 0x80) {
      --cut;  // not inside a multi-byte character
    }
    reason = reason.substr(0, cut);
  }
  out += reason;
  return out;
}

}  // namespace lifeline::ws
