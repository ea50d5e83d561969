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

bool valid_utf8(std::span<const std::uint8_t> s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = s[i];
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if ((c & 0xE0U) == 0xC0) {
      n = 1;
      cp = c & 0x1FU;
    } else if ((c & 0xF0U) == 0xE0) {
      n = 2;
      cp = c & 0x0FU;
    } else if ((c & 0xF8U) == 0xF0) {
      n = 3;
      cp = c & 0x07U;
    } else {
      return false;
    }
    if (i + n >= s.size()) {
      return false;  // cut short
    }
    for (std::size_t k = 1; k <= n; ++k) {
      if ((s[i + k] & 0xC0U) != 0x80) {
        return false;
      }
      cp = (cp << 6U) | (s[i + k] & 0x3FU);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    static constexpr std::uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) {
      return false;
    }
    i += n + 1;
  }
  return true;
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
