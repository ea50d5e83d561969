#pragma once
/// Incremental frame decoder: accepts the byte stream split at any point and
/// hands out complete frames. Not thread-safe: one decoder per connection.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "lifeline/protocol.hpp"

namespace lifeline::proto {

struct Frame {
  FrameType type;
  Bytes payload;  ///< valid only during the callback
};

class FrameDecoder {
 public:
  explicit FrameDecoder(FrameLimits limits = {}) : limits_(limits) {}

  /// Decodes `bytes`, calling `on_frame(const Frame&) -> bool` for each complete
  /// frame, in order; returning false stops decoding (the rest is discarded).
  /// A frame lying wholly inside `bytes` is passed without copying; only a
  /// frame split across calls is buffered, and never beyond its type's limit,
  /// which is checked from the header before any payload is kept.
  /// Returns the protocol error of an invalid header; the decoder is then
  /// poisoned and ignores further input.
  template <class OnFrame>
  std::optional<ParseError> feed(Bytes bytes, OnFrame&& on_frame) {
    return feed(bytes, on_frame, [](FrameType, std::uint32_t) { return std::optional<ParseError>(); });
  }
  /// As above; `on_header(FrameType, std::uint32_t length) -> std::optional<ParseError>`
  /// sees each valid header before any of its payload is buffered, and may
  /// refuse it (say, any frame but HELLO before the handshake): a refused
  /// header poisons the decoder like an invalid one, so what a peer may make
  /// the decoder hold is bounded by what the caller accepts at that moment.
  template <class OnFrame, class OnHeader>
  std::optional<ParseError> feed(Bytes bytes, OnFrame&& on_frame, OnHeader&& on_header);

  /// Bytes held for an incomplete frame (0 between frames).
  std::size_t buffered() const { return header_fill_ + partial_.size(); }
  /// Bytes still needed to complete the frame in progress (0 between frames).
  std::size_t missing() const;
  /// Memory held by the decoder beyond its own size.
  std::size_t heap_bytes() const { return partial_.capacity(); }

 private:
  // Parses a complete header against the limits (sets want_, the payload
  // length) or returns its error. The caller's on_header screens it after this
  // (the server's Session::screen_frame_type), hence the different name.
  std::optional<ParseError> parse_header(const std::uint8_t* h);

  FrameLimits limits_;
  std::array<std::uint8_t, kHeaderSize> header_{};
  std::uint8_t header_fill_ = 0;
  bool in_payload_ = false;  // header complete, payload being collected in partial_
  bool poisoned_ = false;
  std::uint32_t want_ = 0;  // payload length of the frame in progress
  std::vector<std::uint8_t> partial_;
};

template <class OnFrame, class OnHeader>
std::optional<ParseError> FrameDecoder::feed(Bytes bytes, OnFrame&& on_frame, OnHeader&& on_header) {
  if (poisoned_) {
    return std::nullopt;
  }
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    if (!in_payload_) {
      // Fast path: a whole header and payload in the input, no copy.
      if (header_fill_ == 0 && bytes.size() - pos >= kHeaderSize) {
        const auto type = static_cast<FrameType>(bytes[pos + 4]);
        if (auto err = parse_header(bytes.data() + pos); err || (err = on_header(type, want_))) {
          poisoned_ = true;
          return err;
        }
        if (bytes.size() - pos - kHeaderSize >= want_) {
          const Frame f{type, bytes.subspan(pos + kHeaderSize, want_)};
          pos += kHeaderSize + want_;
          if (!on_frame(f)) {
            return std::nullopt;
          }
          continue;
        }
        header_ = {bytes[pos], bytes[pos + 1], bytes[pos + 2], bytes[pos + 3], bytes[pos + 4]};
        header_fill_ = kHeaderSize;
        pos += kHeaderSize;
        in_payload_ = true;
        partial_.reserve(want_);
        continue;
      }
      // Slow path: collect the header byte by byte across calls.
      header_[header_fill_++] = bytes[pos++];
      if (header_fill_ < kHeaderSize) {
        continue;
      }
      if (auto err = parse_header(header_.data());
          err || (err = on_header(static_cast<FrameType>(header_[4]), want_))) {
        poisoned_ = true;
        return err;
      }
      in_payload_ = true;
      partial_.reserve(want_);
    }
    const std::size_t take = std::min<std::size_t>(want_ - partial_.size(), bytes.size() - pos);
    partial_.insert(partial_.end(), bytes.begin() + static_cast<std::ptrdiff_t>(pos),
                    bytes.begin() + static_cast<std::ptrdiff_t>(pos + take));
    pos += take;
    if (partial_.size() == want_) {
      const Frame f{static_cast<FrameType>(header_[4]), Bytes(partial_.data(), partial_.size())};
      const bool go_on = on_frame(f);
      // Release the buffer: an idle connection keeps no payload memory.
      std::vector<std::uint8_t>().swap(partial_);
      header_fill_ = 0;
      in_payload_ = false;
      if (!go_on) {
        return std::nullopt;
      }
    }
  }
  return std::nullopt;
}

}  // namespace lifeline::proto
