// Minimal MQTT 3.1.1 for lifeline-bench --protocol mqtt: CONNECT with a clean
// session and a keepalive; PINGREQ is a constant in bench.hpp. The decoder is
// in the header (a template on the callback).

#include <algorithm>

#include "bench.hpp"

namespace lifeline::app::bench::mqtt {

std::uint16_t keepalive_for(unsigned timeout_ms) {
  // MQTT 3.1.1 section 3.1.2.10: the server disconnects after 1.5 x keepalive
  // without a control packet. ceil(timeout / 1500 ms) keeps the bound >= timeout.
  return static_cast<std::uint16_t>(std::clamp<unsigned>((timeout_ms + 1499) / 1500, 1, 65535));
}

void encode_connect(std::string_view client_id, std::uint16_t keepalive_s, std::string& out) {
  const auto put16 = [&out](std::size_t v) {
    out.push_back(static_cast<char>((v >> 8) & 0xFF));
    out.push_back(static_cast<char>(v & 0xFF));
  };
  // Variable header: "MQTT", level 4, flags 0x02 (clean session), keepalive;
  // payload: the client id. Remaining length fits in one byte for ids < 100 bytes.
  const std::size_t remaining = 10 + 2 + client_id.size();
  out.push_back(static_cast<char>(0x10));
  std::size_t r = remaining;
  do {
    std::uint8_t b = r & 0x7F;
    r >>= 7;
    if (r > 0) b |= 0x80;
    out.push_back(static_cast<char>(b));
  } while (r > 0);
  put16(4);
  out += "MQTT";
  out.push_back(4);
  out.push_back(0x02);
  put16(keepalive_s);
  put16(client_id.size());
  out += client_id;
}

}  // namespace lifeline::app::bench::mqtt
