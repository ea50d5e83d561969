// Fuzz target: the frame decoder and every payload parser, as a server or a
// client meets them. The first byte picks where the input is split into two
// reads; the decoder must never hold more than one frame's limit, and every
// complete frame goes through its type's parser. Invariant violations abort.

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "bytes.hpp"
#include "lifeline/frame_decoder.hpp"
#include "lifeline/protocol.hpp"

namespace {
using namespace lifeline::proto;

constexpr std::uint32_t kMaxData = 65536;
constexpr std::size_t kLargestLimit = std::size_t{1} << 20U;  // LIST_REPLY

void parse_payload(const Frame& f) {
  ParseError err;
  switch (f.type) {
    case FrameType::hello: (void)parse_hello(f.payload, err); break;
    case FrameType::welcome: (void)parse_welcome(f.payload, err); break;
    case FrameType::bye: (void)parse_bye(f.payload, err); break;
    case FrameType::error: (void)parse_error(f.payload, err); break;
    case FrameType::list_reply:
      (void)parse_list_reply(f.payload, 1, err);
      (void)parse_list_reply(f.payload, 2, err);
      break;
    case FrameType::event:
      (void)parse_event(f.payload, 1, err);
      (void)parse_event(f.payload, 2, err);
      break;
    case FrameType::subscribe: (void)parse_subscribe(f.payload, err); break;
    case FrameType::ping:
    case FrameType::pong: (void)read_u64(f.payload); break;
    case FrameType::list: (void)read_u32(f.payload); break;
    default: break;
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const std::size_t split = data[0] % size;
  const Bytes input(data + 1, size - 1);
  FrameDecoder decoder(FrameLimits{kMaxData});
  const auto on_frame = [](const Frame& f) {
    parse_payload(f);
    return true;
  };
  auto err = decoder.feed(input.first(std::min(split, input.size())), on_frame);
  if (decoder.heap_bytes() > kLargestLimit) {
    std::abort();  // more than one frame's limit buffered
  }
  if (!err) {
    err = decoder.feed(input.subspan(std::min(split, input.size())), on_frame);
  }
  if (decoder.heap_bytes() > kLargestLimit || (err && err->message.empty())) {
    std::abort();  // an error must say what was wrong
  }
  return 0;
}
