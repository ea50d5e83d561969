// Fuzz target: the WebSocket upgrade (Beast's parser and the checks around
// it) and the frame reader, in process, as a connection would feed them: the
// input is cut into reads at every 0xFF byte (the separator is dropped), the
// upgrade takes reads until it decides, and once it accepts, the rest goes to
// the frame reader. Invariants: the upgrade decides within its byte limit;
// the reader never hands on more payload than the frames declared, nor a
// control frame over 125 bytes, and stops at its first error.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "ws/frame_reader.hpp"
#include "ws/upgrade.hpp"

namespace {
const lifeline::ws::UpgradeRules& rules() {
  static const lifeline::ws::UpgradeRules r{"/lifeline", {"http://ok.example"}, 1024};
  return r;
}

struct Sink {
  std::size_t total = 0;
  bool payload(std::span<const std::uint8_t> p) {
    total += p.size();
    return true;
  }
  bool message_end() { return true; }
  bool control(lifeline::ws::Opcode, std::span<const std::uint8_t> p) {
    if (p.size() > 125) {
      std::abort();  // RFC 6455 5.5: the reader must have refused it
    }
    return true;
  }
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  lifeline::ws::Upgrade upgrade(rules());
  lifeline::ws::FrameReader reader(1U << 20U);
  Sink sink;
  bool upgraded = false;
  bool done = false;
  std::size_t fed = 0;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= size && !done; ++i) {
    if (i != size && data[i] != 0xFF) {
      continue;
    }
    std::vector<std::uint8_t> read(data + start, data + i);  // the reader unmasks in place
    start = i + 1;
    std::span<std::uint8_t> rest(read);
    if (!upgraded) {
      std::size_t used = 0;
      const auto status = upgrade.feed(rest, used);
      fed += used;
      if (status == lifeline::ws::Upgrade::Status::need_more) {
        if (fed > rules().max_request_bytes) {
          std::abort();  // an upgrade past its limit must have been refused
        }
        continue;
      }
      if (status == lifeline::ws::Upgrade::Status::refused || used > rest.size()) {
        if (upgrade.response().empty() || upgrade.problem().empty()) {
          std::abort();  // a refusal always says why
        }
        return 0;
      }
      upgraded = true;
      rest = rest.subspan(used);
    }
    if (reader.feed(rest, sink)) {
      done = true;  // the first error ends the connection
    }
    if (sink.total > size) {
      std::abort();  // more payload than bytes were given
    }
  }
  return 0;
}
