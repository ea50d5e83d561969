#include "lifeline/frame_decoder.hpp"

#include <cstdio>

namespace lifeline::proto {

std::optional<ParseError> FrameDecoder::parse_header(const std::uint8_t* h) {
  const std::uint32_t len =
      (std::uint32_t{h[0]} << 24U) | (std::uint32_t{h[1]} << 16U) | (std::uint32_t{h[2]} << 8U) | std::uint32_t{h[3]};
  const std::uint8_t type = h[4];
  const auto range = length_range(type, limits_);
  if (!range) {
    char hex[8];
    std::snprintf(hex, sizeof hex, "0x%02x", type);
    return ParseError{ErrorCode::unknown_type, std::string("unknown frame type ") + hex};
  }
  const auto name = std::string(to_string(static_cast<FrameType>(type)));
  if (len > range->max) {
    return ParseError{ErrorCode::too_large, name + " length " + std::to_string(len) + " exceeds the limit of " +
                                                std::to_string(range->max) + " bytes"};
  }
  if (len < range->min) {
    return ParseError{ErrorCode::malformed, name + " length " + std::to_string(len) + " is below the minimum of " +
                                                std::to_string(range->min) + " bytes"};
  }
  want_ = len;
  return std::nullopt;
}

std::size_t FrameDecoder::missing() const {
  if (in_payload_) {
    return want_ - partial_.size();
  }
  return header_fill_ == 0 ? 0 : kHeaderSize - header_fill_;
}

}  // namespace lifeline::proto
